#!/usr/bin/env bash
# The oldest supported versions (requirements-oldest.txt: ansible-core as meta/runtime.yml declares it, the
# oldest acme, josepy, cryptography, ...): unit tests and ansible-test sanity in a venv of their own under
# build/matrix/oldest, and the benchmark smoke run (the role end to end). The main test environment
# (requirements.txt, newest versions) covers the other end.
# The venv is rebuilt only when requirements-oldest.txt or the test requirements change.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
VENV=$ROOT/build/matrix/oldest
cd "$ROOT"

key=$(cat requirements-oldest.txt <("$PYTHON" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)
if [[ ! -x $VENV/bin/python || $(cat "$VENV/.stamp" 2>/dev/null) != "$key" ]]; then
    echo "matrix: building $VENV from requirements-oldest.txt"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements-oldest.txt \
        pytest pytest-timeout hypothesis
    echo "$key" >"$VENV/.stamp"
fi
"$VENV/bin/python" - <<'PY'
import acme, ansible.release, importlib.metadata as md
print("matrix: oldest = ansible-core %s, acme %s, josepy %s, cryptography %s"
      % (ansible.release.__version__, md.version("acme"), md.version("josepy"), md.version("cryptography")))
PY
export PATH=$VENV/bin:$PATH
export ANSIBLE_COLLECTIONS_PATH=$ROOT/build/collections PYTHONPATH=$ROOT/build/collections
python -m pytest -q -p no:cacheprovider tests/unit --deselect tests/unit/test_tarball.py
PYTHON=$VENV/bin/python scripts/sanity.sh
# The role end to end on the oldest ansible-core too (the benchmark's smoke run: site.yml issuing, renew.yml with
# nothing to do over two hosts, against the local Pebble stack): templating differs between ansible-core versions.
"$VENV/bin/python" bench/run.py --smoke --out build/bench/smoke-oldest
