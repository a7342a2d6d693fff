#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian 12 machine.
# Idempotent and fast on a machine that already has it all:
#  - apt runs only if one of the packages is missing (checked with dpkg-query);
#  - pip runs only if requirements*.txt or the Python changed since the last
#    successful install (stamp file under build/).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
APT_PACKAGES=(pebble nginx-light redis-server openssl curl shellcheck cron bind9 bind9-dnsutils iproute2
              apache2 haproxy postfix dovecot-imapd dovecot-pop3d)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    # "install ok installed" is the only status that means the package is usable.
    [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) == 'install ok installed' ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "install-deps: apt packages missing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # The tests run their own instances of the servers (scripts/servers.sh, on loopback, own ports): the
    # packages' system-wide instances must not start on the standard ports. Where no policy-rc.d says so
    # already (Docker images ship one), one denies service starts for the duration of the install.
    policy=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\n# temporary, scripts/install-deps.sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get update -q
    apt-get install -y -q "${missing[@]}"
    if [[ -n $policy ]]; then rm -f "$policy"; trap - EXIT; fi
else
    echo "install-deps: apt packages present"
fi

# Key the stamp on the requirement files and the interpreter, so that editing a
# requirements file or switching Python re-runs pip.
stamp=build/deps/pip.stamp
key=$(cat requirements.txt requirements-test.txt <("$PYTHON" -c 'import sys; print(sys.executable, sys.version)') | sha256sum | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$key" ]]; then
    echo "install-deps: python requirements up to date"
else
    echo "install-deps: pip install -r requirements.txt -r requirements-test.txt"
    "$PYTHON" -m pip install -q --root-user-action=ignore -r requirements.txt -r requirements-test.txt
    mkdir -p "$(dirname "$stamp")"
    echo "$key" >"$stamp"
fi
