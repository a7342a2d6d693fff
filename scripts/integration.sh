#!/usr/bin/env bash
# The integration tests (what `make integration` runs), against the real parts: Pebble, challtestsrv, bind9,
# nginx (scripts/stack.sh), moto, redis-server, fake-gcs-server (scripts/services.sh), Apache, HAProxy,
# Postfix, Dovecot (scripts/servers.sh). The issuance tests (marker `issuance`) run a second time with Pebble
# rejecting 90% of all nonces.
#
# As root with `ip netns`, the suite runs in shards at the same time, each in a network namespace of its own
# (its own loopback, so every shard has its own Pebble, nginx, ... on the same fixed ports) and in a copy of
# the working tree under build/shards/NAME (its own build/ state, its own Pebble log to count orders in).
# Otherwise (or with AUTOTLS_SERIAL=1) everything runs here, one pass after the other.
# Arguments go to every pytest. Output of each shard: build/shards/NAME.log, printed at the end.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
PYTHON=${PYTHON:-python3}
I=tests/integration

# NAME|EXTRA-ENV|PYTEST-ARGS, balanced by the durations of a full run (each shard prints its 10 slowest tests)
R=$I/role
KILL=$I/faults/test_faults.py::test_kill_9_twenty_times_then_a_renewal_recovers
ROLE_A="$R/test_site.py $R/test_cron.py"
ROLE_B="$R/test_renew.py $R/test_status.py $R/test_account_storage_role.py $R/test_first_run.py $R/test_one_decision.py"
SHARDS=(
    "storage||$I/storage"
    "nonce|PEBBLE_WFE_NONCEREJECT=90|-m issuance $I --ignore=$I/storage"
    "kill||$KILL"
    "faults||$I/faults/test_faults.py --deselect $KILL $I/faults/test_nonce_storm.py $I/servers"
    "operations||$I/faults/test_operations.py"
    "role-a||$ROLE_A"
    "role-b||$ROLE_B"
    "role-c||$R ${ROLE_A//$R\//--ignore=$R/} ${ROLE_B//$R\//--ignore=$R/}"
    "modules||$I --ignore=$I/storage --ignore=$I/faults --ignore=$I/servers --ignore=$R"
)

serial() {
    local rc=0
    "$PYTHON" -m pytest $I -q --durations=25 "$@" || rc=$?
    if [[ $rc == 0 ]]; then
        echo "integration: issuance again with PEBBLE_WFE_NONCEREJECT=90"
        PEBBLE_WFE_NONCEREJECT=90 "$PYTHON" -m pytest $I -q -m issuance --ignore=$I/storage "$@" || rc=$?
    fi
    return $rc
}

can_shard() {
    [[ $(id -u) == 0 && -z ${AUTOTLS_SERIAL:-} ]] && command -v ip >/dev/null || return 1
    local probe=autotls-probe-$$
    ip netns add "$probe" 2>/dev/null || return 1
    ip netns del "$probe"
}

# copy_tree DEST: the working tree without build/ and .git (tracked and untracked, not ignored, files)
copy_tree() {
    rm -rf "$1" && mkdir -p "$1"
    if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$ROOT" ls-files -z --cached --others --exclude-standard | tar -C "$ROOT" --null -T - -cf - 2>/dev/null \
            | tar -C "$1" -xf -
    else
        tar -C "$ROOT" --exclude=./build --exclude=./.git -cf - . | tar -C "$1" -xf -
    fi
}

if ! can_shard; then
    serial "$@"
    exit $?
fi

mkdir -p build/shards
declare -A PIDS NS DIRS
start=$(date +%s)
for shard in "${SHARDS[@]}"; do
    IFS='|' read -r name extra args <<<"$shard"
    dir=$ROOT/build/shards/$name
    ns=autotls-$name-$$
    copy_tree "$dir"
    mkdir -p "$dir/build/collections/ansible_collections/autotls"
    ln -sfn "$dir" "$dir/build/collections/ansible_collections/autotls/acme"
    ip netns add "$ns" && ip netns exec "$ns" ip link set lo up
    NS[$name]=$ns DIRS[$name]=$dir
    # shellcheck disable=SC2086  # args and extra are word lists
    (cd "$dir" && exec ip netns exec "$ns" env $extra ANSIBLE_COLLECTIONS_PATH="$dir/build/collections" \
        PYTHONPATH="$dir/build/collections" "$PYTHON" -m pytest $args -q -p no:cacheprovider --durations=10 "$@") \
        >"build/shards/$name.log" 2>&1 &
    PIDS[$name]=$!
    echo "integration: shard $name started (network namespace $ns): ${args//$I\//}${extra:+ with $extra}"
done

rc=0
for name in "${!PIDS[@]}"; do
    if wait "${PIDS[$name]}"; then status=passed; else status="FAILED"; rc=1; fi
    echo "integration: shard $name $status after $(( $(date +%s) - start )) s"
done
for shard in "${SHARDS[@]}"; do
    IFS='|' read -r name _ _ <<<"$shard"
    echo "===================== shard $name ====================="
    cat "build/shards/$name.log"
    dir=${DIRS[$name]} ns=${NS[$name]}
    for script in stack.sh services.sh servers.sh; do
        (cd "$dir" && ip netns exec "$ns" "scripts/$script" stop) >/dev/null 2>&1
    done
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
    ip netns del "$ns" 2>/dev/null
    rm -rf "$dir"    # the copy; its log stays
done
echo "integration: all shards done in $(( $(date +%s) - start )) s"
exit $rc
