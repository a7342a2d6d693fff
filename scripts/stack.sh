#!/usr/bin/env bash
# Local ACME test stack, all on loopback, all state under build/stack/:
#   pebble               ACME CA           https://127.0.0.1:14000/dir (mgmt :15000)
#   pebble-challtestsrv  mock DNS          127.0.0.1:8053, answers every name with 127.0.0.1
#                        (mgmt http://127.0.0.1:8055 to add/override records)
#   nginx                one instance per addr in STACK_WEB_ADDRS (each a "web host"):
#                        HTTP-01 responder on <addr>:5002, and whatever server blocks
#                        build/stack/nginx-<addr>/sites/*.conf add (tests put TLS there)
#   named (bind9)        authoritative DNS on 127.0.0.1:$STACK_DNS_PORT (default 8054) for the test
#                        zones dns.test (TSIG-signed updates with key autotls-test.), validation.test
#                        (CNAME delegation target, key autotls-deleg.), lag.test and web.test.
#                        Every zone has two name servers: ns1 = 127.0.0.1, ns2 = 127.0.0.3 (a second
#                        view of the same named; lag.test's ns2 serves a stale copy that never
#                        receives updates). Keys and addresses: scripts/stack.sh env.
#   pebble (DNS-01)      a second Pebble, https://127.0.0.1:14001/dir (mgmt :15001), resolving through
#                        named instead of challtestsrv: DNS-01 for *.dns.test, HTTP-01 for *.web.test
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
PEBBLE_DNS_ROOT=$STACK/pebble-dns-root.pem
DNS=$STACK/dns
DNS_PORT=${STACK_DNS_PORT:-8054}
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

write_pebble_config() {  # write_pebble_config FILE PORT MGMT_PORT
    # Pebble 2.4 (Debian) knows no "retryAfter" (added in 2.5) and silently ignores
    # unknown keys, so it is not written here.
    cat >"$1" <<EOF
{
  "pebble": {
    "listenAddress": "127.0.0.1:$2",
    "managementListenAddress": "127.0.0.1:$3",
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

# --- bind9: authoritative for the test zones, TSIG keys kept across restarts ---
zone_file() {  # zone_file ZONE EXTRA-RECORDS
    cat <<EOF
\$TTL 60
@       IN SOA ns1.$1. hostmaster.$1. 1 3600 600 86400 1
@       IN NS  ns1.$1.
@       IN NS  ns2.$1.
ns1     IN A   127.0.0.1
ns2     IN A   127.0.0.3
$2
EOF
}

write_dns_config() {
    # The TSIG keys are made once per build directory and kept across restarts: a test session reads
    # them once, and some tests restart the stack (other Pebble settings) in the middle of a session.
    local key deleg ro
    if [[ -f $DNS/keys.env ]]; then
        # shellcheck disable=SC1091
        key=$(. "$DNS/keys.env"; echo "$DNS_TSIG_SECRET")
        deleg=$(. "$DNS/keys.env"; echo "$DNS_DELEG_TSIG_SECRET")
        ro=$(. "$DNS/keys.env"; echo "$DNS_READONLY_TSIG_SECRET")
    fi
    [[ -n ${key:-} && -n ${deleg:-} && -n ${ro:-} ]] ||
        { key=$(openssl rand -base64 32) deleg=$(openssl rand -base64 32) ro=$(openssl rand -base64 32); }
    rm -rf "$DNS" && mkdir -p "$DNS"
    {
        echo "export DNS_TSIG_NAME=autotls-test."
        echo "export DNS_TSIG_SECRET=$key"
        echo "export DNS_DELEG_TSIG_NAME=autotls-deleg."
        echo "export DNS_DELEG_TSIG_SECRET=$deleg"
        echo "export DNS_READONLY_TSIG_NAME=autotls-readonly."
        echo "export DNS_READONLY_TSIG_SECRET=$ro"
    } >"$DNS/keys.env"
    zone_file dns.test '@ IN A 127.0.0.1
_acme-challenge.deleg IN CNAME _acme-challenge.deleg.validation.test.' >"$DNS/dns.test.zone"
    zone_file validation.test '' >"$DNS/validation.test.zone"
    zone_file lag.test '' >"$DNS/lag.test.zone"
    cp "$DNS/lag.test.zone" "$DNS/lag.test.stale.zone"
    zone_file web.test '* IN A 127.0.0.1' >"$DNS/web.test.zone"
    # A root zone of its own: named answers every name (NXDOMAIN outside the test zones) without ever
    # leaving the machine, and as a recursive resolver follows CNAMEs from one test zone into another
    # (the acme-dns delegation), as the CA's resolver does.
    # shellcheck disable=SC2016  # a literal $TTL
    printf '%s\n' '$TTL 60' '@ IN SOA ns.root.test. hostmaster.root.test. 1 3600 600 86400 1' \
        '@ IN NS ns.root.test.' 'ns.root.test. IN A 127.0.0.1' >"$DNS/root.zone"
    # Two views of one named: "primary" on 127.0.0.1, "secondary" on 127.0.0.3. The secondary view shares
    # every zone with the primary (in-view) except lag.test, of which it serves a copy that is never
    # updated: a name server that lags behind, for the propagation tests.
    cat >"$DNS/named.conf" <<EOF
# generated by scripts/stack.sh
key "autotls-test." { algorithm hmac-sha256; secret "$key"; };
key "autotls-deleg." { algorithm hmac-sha256; secret "$deleg"; };
key "autotls-readonly." { algorithm hmac-sha256; secret "$ro"; };
options {
    directory "$DNS";
    pid-file "$DNS/named.pid";
    session-keyfile "$DNS/session.key";
    managed-keys-directory "$DNS";
    listen-on port $DNS_PORT { 127.0.0.1; 127.0.0.3; };
    listen-on-v6 { none; };
    recursion yes;
    allow-recursion { 127.0.0.0/8; };
    notify no;
    dnssec-validation no;
    allow-query { any; };
};
controls { };
view "primary" {
    match-destinations { 127.0.0.1; };
    zone "." { type primary; file "$DNS/root.zone"; };
    zone "dns.test" { type primary; file "$DNS/dns.test.zone"; allow-update { key "autotls-test."; }; };
    zone "validation.test" { type primary; file "$DNS/validation.test.zone"; allow-update { key "autotls-deleg."; }; };
    zone "lag.test" { type primary; file "$DNS/lag.test.zone"; allow-update { key "autotls-test."; }; };
    zone "web.test" { type primary; file "$DNS/web.test.zone"; };
};
view "secondary" {
    match-destinations { 127.0.0.3; };
    zone "." { in-view "primary"; };
    zone "dns.test" { in-view "primary"; };
    zone "validation.test" { in-view "primary"; };
    zone "web.test" { in-view "primary"; };
    zone "lag.test" { type primary; file "$DNS/lag.test.stale.zone"; };
};
EOF
    named-checkconf "$DNS/named.conf" >"$STACK/named.log" 2>&1 || fail named "named.conf does not check"
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
    write_pebble_config "$STACK/pebble-config.json" 14000 15000
    write_pebble_config "$STACK/pebble-dns-config.json" 14001 15001
    write_nginx_configs
    write_dns_config

    # named only listens on addresses of an interface: give loopback the second name server's address.
    ip -4 addr show dev lo | grep -q 'inet 127\.0\.0\.3/' || ip addr add 127.0.0.3/32 dev lo \
        || fail named "cannot add 127.0.0.3 to the loopback interface (the second name server's address)"
    # named -g stays in the foreground (logging to stderr): spawn detaches it like the others.
    spawn named named -g -4 -u root -c "$DNS/named.conf"
    wait_for named dig +time=1 +tries=1 -p "$DNS_PORT" @127.0.0.1 dns.test SOA +short

    spawn challtestsrv pebble-challtestsrv -http01 "" -https01 "" -tlsalpn01 "" \
        -dns01 127.0.0.1:8053 -management 127.0.0.1:8055 -defaultIPv4 127.0.0.1 -defaultIPv6 ""
    wait_for challtestsrv http_up http://127.0.0.1:8055/

    local strict=()
    [[ ${STACK_STRICT:-0} == 1 ]] && strict=(-strict)
    PEBBLE_VA_NOSLEEP=${PEBBLE_VA_NOSLEEP:-1} \
        spawn pebble pebble -config "$STACK/pebble-config.json" -dnsserver 127.0.0.1:8053 "${strict[@]}"
    wait_for pebble lcurl -f --cacert "$CA" -o /dev/null https://127.0.0.1:14000/dir
    PEBBLE_VA_NOSLEEP=${PEBBLE_VA_NOSLEEP:-1} \
        spawn pebble-dns pebble -config "$STACK/pebble-dns-config.json" -dnsserver "127.0.0.1:$DNS_PORT" \
        "${strict[@]}"
    wait_for pebble-dns lcurl -f --cacert "$CA" -o /dev/null https://127.0.0.1:14001/dir

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
    lcurl -f --cacert "$CA" -o "$PEBBLE_DNS_ROOT" https://127.0.0.1:15001/roots/0 \
        || fail pebble-dns "could not fetch the DNS Pebble's root from the management API"

    echo "stack: up (pebble pid $(cat "$STACK/pebble.pid"), challtestsrv pid $(cat "$STACK/challtestsrv.pid")," \
        "named on 127.0.0.1:$DNS_PORT, pebble-dns pid $(cat "$STACK/pebble-dns.pid")," \
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
        pebble-dns) [[ $comm == pebble ]] ;;
        named) [[ $comm == named || $comm == isc-* ]] ;;
        nginx-*) [[ $comm == nginx ]] ;;
        *) [[ $comm == "$1" ]] ;;
    esac
}

stop() {
    local name pid i
    for name in $(nginx_names) pebble pebble-dns named challtestsrv; do
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
    for name in pebble pebble-dns named challtestsrv $(nginx_names); do
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
    echo "export ACME_DNS_DIRECTORY=https://127.0.0.1:14001/dir"
    echo "export PEBBLE_DNS_ROOT=$PEBBLE_DNS_ROOT"
    echo "export DNS_SERVER=127.0.0.1"
    echo "export DNS_SERVER2=127.0.0.3"
    echo "export DNS_PORT=$DNS_PORT"
    if [[ -f $DNS/keys.env ]]; then cat "$DNS/keys.env"; fi
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) env_ ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
