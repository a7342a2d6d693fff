#!/usr/bin/env bash
# Run `ansible-test sanity --venv --python 3.11` on the collection.
# Extra arguments go to ansible-test (e.g. `scripts/sanity.sh --test pep8`).
#
# ansible-test insists on running from .../ansible_collections/<ns>/<name>, so
# we copy the working tree (tracked files plus untracked, non-ignored ones) to
# build/sanity/ansible_collections/autotls/acme, fresh every run.
# The copy gets its own (empty) git repo: ansible-test lists files with git from
# the nearest .git upwards, and from our repo's .git it would see only the
# ignored build/ directory and skip every target.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
PYVER=${SANITY_PYTHON:-3.11}
DEST=$ROOT/build/sanity/ansible_collections/autotls/acme

rm -rf "$ROOT/build/sanity"
mkdir -p "$DEST"
cd "$ROOT"
git ls-files -z -co --exclude-standard \
    | while IFS= read -r -d '' f; do [[ -e $f || -L $f ]] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf - | tar -xf - -C "$DEST"
git -C "$DEST" init -q

# ansible-test bootstraps pip in each venv with get-pip-<ver>.py downloaded from
# a host we cannot reach, unless ~/.ansible/test/cache/get_pip_<ver_with_underscores>.py
# exists. Put our ensurepip-based stand-in there (the version comes from the
# installed ansible-test, so this follows ansible-core upgrades).
pip_ver=$("$PYTHON" -c 'import types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="'"$PYVER"'"))["pip"])')
cache=$HOME/.ansible/test/cache/get_pip_${pip_ver//./_}.py
# A real get-pip.py already there (cached on a machine with access) is kept;
# an older copy of the stand-in is refreshed.
if [[ ! -f $cache ]] || { grep -q 'Offline stand-in' "$cache" && ! cmp -s scripts/get_pip_standin.py "$cache"; }; then
    mkdir -p "$(dirname "$cache")"
    cp scripts/get_pip_standin.py "$cache"
    echo "sanity: installed get-pip stand-in at $cache"
fi

cd "$DEST"
exec ansible-test sanity --venv --python "$PYVER" --color no "$@"
