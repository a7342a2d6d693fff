#!/usr/bin/env bash
# `make demo`: start the local Pebble stack and run the demo playbook against it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/stack.sh start
eval "$(scripts/stack.sh env)"
export ANSIBLE_COLLECTIONS_PATH=$PWD/build/collections ANSIBLE_LOCALHOST_WARNING=0
ansible-playbook -i localhost, -c local -e "ansible_python_interpreter=$(command -v python3)" \
    -e "demo_dir=$PWD/build/demo" playbooks/demo.yml
