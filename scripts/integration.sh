#!/usr/bin/env bash
# The integration tests (what `make integration` runs). The storage suites need no ACME stack: when this
# runs as root with `ip netns`, they run at the same time as the rest, in a network namespace of their own
# (their own loopback, their own moto, redis-server and fake-gcs-server under build/services-storage);
# otherwise (or with AUTOTLS_SERIAL=1) one after the other. Then the issuance tests run again with Pebble
# rejecting 90% of nonces. Arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
PYTHON=${PYTHON:-python3}
rc=0
ns=""
if [[ $(id -u) == 0 && -z ${AUTOTLS_SERIAL:-} ]] && command -v ip >/dev/null; then
    ns=autotls-storage-$$
    if ! { ip netns add "$ns" && ip netns exec "$ns" ip link set lo up; } 2>/dev/null; then
        ip netns del "$ns" 2>/dev/null
        ns=""
    fi
fi
if [[ -n $ns ]]; then
    mkdir -p build
    log=build/storage-tests.log
    echo "integration: the storage suites run meanwhile in network namespace $ns (output below when done)"
    ip netns exec "$ns" env SERVICES_DIR="$PWD/build/services-storage" \
        "$PYTHON" -m pytest tests/integration/storage -q "$@" >"$log" 2>&1 &
    storage_pid=$!
    "$PYTHON" -m pytest tests/integration -q --durations=25 --ignore=tests/integration/storage "$@" || rc=$?
    wait "$storage_pid" || rc=$?
    echo "integration: the storage suites:"
    cat "$log"
    ip netns exec "$ns" env SERVICES_DIR="$PWD/build/services-storage" scripts/services.sh stop >/dev/null 2>&1
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
    ip netns del "$ns" 2>/dev/null
else
    "$PYTHON" -m pytest tests/integration -q "$@" || rc=$?
fi
if [[ $rc == 0 ]]; then
    echo "integration: issuance again with PEBBLE_WFE_NONCEREJECT=90"
    PEBBLE_WFE_NONCEREJECT=90 "$PYTHON" -m pytest tests/integration -q -m issuance "$@" || rc=$?
fi
exit $rc
