#!/usr/bin/env bash
# Local ACME test stack, all on loopback, all state under build/stack/:
#   pebble               ACME CA           https://127.0.0.1:14000/dir (mgmt :15000)
#   pebble-challtestsrv  mock DNS          127.0.0.1:8053, answers every name with 127.0.0.1
#                        (mgmt http://127.0.0.1:8055 to add/override records)
#   nginx                one instance per addr in STACK_WEB_ADDRS (each a "web host"):
#                        HTTP-01 responder on <addr>:5002, and whatever server blocks
#                        build/stack/nginx-<addr>/sites/*.conf add (tests put TLS there)
#
# Usage: scripts/stack.sh start|stop|status|env
#
# Environment:
#   STACK_WEB_ADDRS        addresses nginx listens on (default "127.0.0.1"; space/comma separated).
#                          With several, each gets its own webroot build/stack/webroot-<addr>;
#                          the first one is build/stack/webroot.
#   PEBBLE_VA_NOSLEEP      default 1 here (Pebble itself defaults to sleeping up to 15 s per validation)
#   PEBBLE_WFE_NONCEREJECT passed through; unset = Pebble's default (rejects 5% of nonces)
#   PEBBLE_AUTHZREUSE      passed through; unset = Pebble's default
#   STACK_STRICT=1         run pebble with -strict
#   STACK_TIMEOUT          seconds to wait for each service (default 30)
# `start` on a running stack restarts it, so changed variables take effect.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STACK=$ROOT/build/stack
TLS=$STACK/tls
WEBROOT=$STACK/webroot
CA=$TLS/ca.pem
PEBBLE_ROOT=$STACK/pebble-root.pem
TIMEOUT=${STACK_TIMEOUT:-30}
WEB_ADDRS_RAW=${STACK_WEB_ADDRS:-127.0.0.1}
read -r -a WEB_ADDRS <<<"${WEB_ADDRS_RAW//,/ }"  # "a b" or "a,b"

# Ignore any proxy settings: everything here is on loopback. Always pass the
# CA explicitly (the environment points CURL_CA_BUNDLE at the system store).
lcurl() { curl --noproxy '*' -sS --max-time 5 "$@"; }

# --- TLS material for Pebble's own HTTPS listeners (Debian's pebble ships none) ---
gen_tls() {
    # Regenerate if missing or expiring within a day.
    if [[ -f $TLS/server.pem ]] && openssl x509 -checkend 86400 -noout -in "$TLS/server.pem" >/dev/null; then
        return
    fi
    echo "stack: generating test CA and server certificate in $TLS"
    rm -rf "$TLS" && mkdir -p "$TLS"
    openssl req -x509 -new -noenc -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
        -keyout "$TLS/ca.key" -out "$CA" -days 3650 -subj "/CN=autotls test stack CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -new -noenc -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
        -keyout "$TLS/server.key" -out "$TLS/server.csr" -subj "/CN=localhost" 2>/dev/null
    openssl x509 -req -in "$TLS/server.csr" -CA "$CA" -CAkey "$TLS/ca.key" \
        -set_serial "0x$(openssl rand -hex 12)" -days 825 -out "$TLS/server.pem" -extfile <(printf '%s\n' \
            "subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:pebble" \
            "basicConstraints=critical,CA:FALSE" \
            "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=serverAuth" \
            "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid") 2>/dev/null
    rm -f "$TLS/server.csr"
}

write_pebble_config() {
    # Pebble 2.4 (Debian) knows no "retryAfter" (added in 2.5) and silently ignores
    # unknown keys, so it is not written here.
    cat >"$STACK/pebble-config.json" <<EOF
{
  "pebble": {
    "listenAddress": "127.0.0.1:14000",
    "managementListenAddress": "127.0.0.1:15000",
    "certificate": "$TLS/server.pem",
    "privateKey": "$TLS/server.key",
    "httpPort": 5002,
    "tlsPort": 5001,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
EOF
}

webroot_for() {  # webroot_for INDEX ADDR
    if (($1 == 0)); then echo "$WEBROOT"; else echo "$STACK/webroot-$2"; fi
}

nginx_dir() { echo "$STACK/nginx-$1"; }  # nginx_dir ADDR: prefix of that host's nginx

write_nginx_configs() {
    mkdir -p "$WEBROOT/.well-known/acme-challenge"
    local i addr
    for i in "${!WEB_ADDRS[@]}"; do
        addr=${WEB_ADDRS[$i]}
        write_nginx_config "$addr" "$(webroot_for "$i" "$addr")"
    done
    # webroot-<first addr> names the same directory as webroot, so tests can
    # address every host uniformly as webroot-<addr>.
    ln -sfn webroot "$STACK/webroot-${WEB_ADDRS[0]}"
    echo "${WEB_ADDRS[*]}" >"$STACK/web-addrs"
}

write_nginx_config() {  # write_nginx_config ADDR WEBROOT
    local addr=$1 root=$2 NGX
    NGX=$(nginx_dir "$addr")
    mkdir -p "$NGX/sites" "$root/.well-known/acme-challenge"
    rm -f "$NGX/sites/"*.conf  # a fresh stack serves nothing that an earlier test added
    local servers="
    server {
        listen $addr:5002;
        server_name _;
        location /.well-known/acme-challenge/ {
            root $root;
            default_type text/plain;
        }
        location / { return 404; }
    }
    include $NGX/sites/*.conf;"
    cat >"$NGX/nginx.conf" <<EOF
# generated by scripts/stack.sh
$( ((EUID == 0)) && echo "user root;")
worker_processes 1;
daemon on;
pid $NGX/nginx.pid;
error_log $NGX/error.log info;
events { worker_connections 256; }
http {
    access_log $NGX/access.log;
    client_body_temp_path $NGX/client_body;
    proxy_temp_path $NGX/proxy;
    fastcgi_temp_path $NGX/fastcgi;
    uwsgi_temp_path $NGX/uwsgi;
    scgi_temp_path $NGX/scgi;
    types { }
$servers
}
EOF
}

# spawn NAME CMD...: run CMD detached (own session, so a Ctrl-C in the calling
# terminal does not reach it), log to $STACK/NAME.log, pid in $STACK/NAME.pid.
spawn() {
    local name=$1; shift
    setsid "$@" </dev/null >"$STACK/$name.log" 2>&1 &
    echo $! >"$STACK/$name.pid"
}

fail() {  # fail NAME MESSAGE: show the service's log, tear down, exit
    local name=$1 log=$STACK/$1.log
    [[ $name == nginx-* ]] && log=$(nginx_dir "${name#nginx-}")/error.log
    echo "stack: ERROR: $2" >&2
    echo "---- last lines of $log ----" >&2
    tail -n 20 "$log" >&2 2>/dev/null || true
    stop >/dev/null
    exit 1
}

# wait_for NAME CMD...: poll CMD until it succeeds, at most $TIMEOUT seconds.
wait_for() {
    local name=$1; shift
    local deadline=$((SECONDS + TIMEOUT))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || fail "$name" "$name did not answer within ${TIMEOUT}s ($*)"
        if [[ $name != nginx-* ]] && ! running "$(cat "$STACK/$name.pid")"; then
            fail "$name" "$name exited during startup"
        fi
        sleep 0.2
    done
}

http_up() { [[ $(lcurl -o /dev/null -w '%{http_code}' "$1" 2>/dev/null) != 000 ]]; }  # any HTTP answer

start() {
    stop >/dev/null
    mkdir -p "$STACK"
    gen_tls
    write_pebble_config
    write_nginx_configs

    spawn challtestsrv pebble-challtestsrv -http01 "" -https01 "" -tlsalpn01 "" \
        -dns01 127.0.0.1:8053 -management 127.0.0.1:8055 -defaultIPv4 127.0.0.1 -defaultIPv6 ""
    wait_for challtestsrv http_up http://127.0.0.1:8055/

    local strict=()
    [[ ${STACK_STRICT:-0} == 1 ]] && strict=(-strict)
    PEBBLE_VA_NOSLEEP=${PEBBLE_VA_NOSLEEP:-1} \
        spawn pebble pebble -config "$STACK/pebble-config.json" -dnsserver 127.0.0.1:8053 "${strict[@]}"
    wait_for pebble lcurl -f --cacert "$CA" -o /dev/null https://127.0.0.1:14000/dir

    # nginx daemonizes itself and writes its own pidfile; -e keeps even the
    # earliest startup errors out of /var/log/nginx.
    local addr NGX
    for addr in "${WEB_ADDRS[@]}"; do
        NGX=$(nginx_dir "$addr")
        nginx -p "$NGX/" -c "$NGX/nginx.conf" -e "$NGX/error.log" >"$STACK/nginx.log" 2>&1 \
            || { cat "$STACK/nginx.log" >&2; fail "nginx-$addr" "nginx on $addr failed to start"; }
        wait_for "nginx-$addr" http_up "http://$addr:5002/.well-known/acme-challenge/stack-probe"
    done

    # Pebble makes a new issuing root at every start.
    lcurl -f --cacert "$CA" -o "$PEBBLE_ROOT" https://127.0.0.1:15000/roots/0 \
        || fail pebble "could not fetch Pebble's root from the management API"

    echo "stack: up (pebble pid $(cat "$STACK/pebble.pid"), challtestsrv pid $(cat "$STACK/challtestsrv.pid")," \
        "nginx on ${WEB_ADDRS[*]}; VA_NOSLEEP=${PEBBLE_VA_NOSLEEP:-1}" \
        "WFE_NONCEREJECT=${PEBBLE_WFE_NONCEREJECT:-default} AUTHZREUSE=${PEBBLE_AUTHZREUSE:-default}" \
        "strict=${STACK_STRICT:-0})"
}

# running PID: the process exists and is not a zombie (this machine's init can
# be slow to reap orphans, and kill -0 succeeds on a zombie).
running() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $st && $st != Z* ]]
}

pidfile() { if [[ $1 == nginx-* ]]; then echo "$(nginx_dir "${1#nginx-}")/nginx.pid"; else echo "$STACK/$1.pid"; fi; }

# The nginx instances of the last start (their addresses are recorded at start).
nginx_names() {
    local addr addrs=()
    [[ -f $STACK/web-addrs ]] && read -r -a addrs <"$STACK/web-addrs"
    for addr in "${addrs[@]}"; do echo "nginx-$addr"; done
}

# alive NAME: true if NAME's pidfile names a live process that is really NAME
# (guards against a stale pidfile whose pid was reused).
alive() {
    local f pid comm
    f=$(pidfile "$1")
    [[ -f $f ]] || return 1
    pid=$(cat "$f")
    running "$pid" || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1  # truncated to 15 chars
    case $1 in
        challtestsrv) [[ $comm == pebble-challtes* ]] ;;
        nginx-*) [[ $comm == nginx ]] ;;
        *) [[ $comm == "$1" ]] ;;
    esac
}

stop() {
    local name pid i
    for name in $(nginx_names) pebble challtestsrv; do
        if alive "$name"; then
            pid=$(cat "$(pidfile "$name")")
            kill "$pid" 2>/dev/null || true
            for i in $(seq 50); do running "$pid" || break; sleep 0.1; done
            running "$pid" && kill -9 "$pid" 2>/dev/null
            echo "stack: stopped $name ($pid)"
        fi
        rm -f "$(pidfile "$name")"
    done
}

status() {
    local name rc=0
    for name in pebble challtestsrv $(nginx_names); do
        if alive "$name"; then
            echo "$name: running (pid $(cat "$(pidfile "$name")"))"
        else
            echo "$name: stopped"; rc=1
        fi
    done
    return $rc
}

env_() {
    echo "export ACME_DIRECTORY=https://127.0.0.1:14000/dir"
    echo "export ACME_CA_BUNDLE=$CA"
    echo "export ACME_WEBROOT=$WEBROOT"
    echo "export PEBBLE_ROOT=$PEBBLE_ROOT"
    echo "export CHALLTESTSRV=http://127.0.0.1:8055"
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) env_ ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
