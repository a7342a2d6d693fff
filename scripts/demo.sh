#!/usr/bin/env bash
# `make demo`: the main job end to end on an embedded default.
#  - a local ACME CA (Pebble) and two "web hosts": nginx on 127.0.0.1 and 127.0.0.2;
#  - certificate storage in S3 (moto's S3 server on 127.0.0.1:9000);
#  - playbooks/site.yml issues the certificate once (web1), then a "new host" (web2)
#    joins and gets it from S3 without a new order; both serve it over TLS.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO=$ROOT/build/demo
mkdir -p "$DEMO"

STACK_WEB_ADDRS="127.0.0.1 127.0.0.2" scripts/stack.sh start
scripts/services.sh start
eval "$(scripts/stack.sh env)"
eval "$(scripts/services.sh env)"
export ANSIBLE_COLLECTIONS_PATH=$ROOT/build/collections ANSIBLE_LOCALHOST_WARNING=0 ANSIBLE_NOCOLOR=${ANSIBLE_NOCOLOR:-}
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_DEFAULT_REGION=us-east-1

python3 - "$S3_ENDPOINT_URL" <<'PY'
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
if "autotls-demo" not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
    s3.create_bucket(Bucket="autotls-demo")
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="autotls-demo"):  # every demo starts empty
    for obj in page.get("Contents", []):
        s3.delete_object(Bucket="autotls-demo", Key=obj["Key"])
PY

# nginx on each web host serves the deployed certificate on :8443
for addr in 127.0.0.1 127.0.0.2; do
    live=$DEMO/$addr/live/demo
    cat >"$ROOT/build/stack/nginx-$addr/sites/demo.conf" <<CONF
server {
    listen $addr:8443 ssl;
    server_name demo.example.com www.demo.example.com;
    ssl_certificate $live/fullchain.pem;
    ssl_certificate_key $live/privkey.pem;
    location / { return 200 "autotls demo on $addr\n"; }
}
CONF
done

python3 - "$DEMO" "$ACME_DIRECTORY" "$ACME_CA_BUNDLE" "$S3_ENDPOINT_URL" "$(command -v python3)" "$ROOT" <<'PY'
import json, sys
demo, directory, ca, s3, python, root = sys.argv[1:]
def host(addr):
    prefix = "%s/build/stack/nginx-%s" % (root, addr)
    nginx = "nginx -p %s/ -c %s/nginx.conf" % (prefix, prefix)
    return {"ansible_host": addr, "certificate_webroot": "%s/build/stack/webroot-%s" % (root, addr),
            "certificate_deploy_dir": "%s/%s/live" % (demo, addr),
            "certificate_service_commands": {"nginx": {"check": nginx + " -t -q", "reload": nginx + " -s reload"}}}
inventory = {"all": {"children": {"web": {
    "hosts": {"web1": host("127.0.0.1"), "web2": host("127.0.0.2")},
    "vars": {"ansible_connection": "local", "ansible_python_interpreter": python,
             "certificate_contact_email": "demo@example.com", "certificate_terms_agreed": True,
             "certificate_acme_directory": directory, "certificate_ca_bundle": ca,
             "certificate_account_key_path": demo + "/account.key",
             "certificate_storage": {"backend": "s3", "s3_bucket": "autotls-demo", "s3_prefix": "demo/",
                                     "s3_endpoint_url": s3},
             "certificate_list": [{"name": "demo", "identifiers": ["demo.example.com", "www.demo.example.com"],
                                   "services": ["nginx"]}],
             "certificate_verify_port": 8443, "certificate_owner": "root", "certificate_group": "root",
             "certificate_status_file": demo + "/status.json", "certificate_metrics_file": demo + "/autotls.prom"}}}}}
with open(demo + "/inventory.yml", "w") as handle:
    json.dump(inventory, handle, indent=1)
PY

orders() { grep -c 'Added order .* to the db' build/stack/pebble.log || true; }
echo "== 1. site.yml on web1: issue, store in S3, deploy, reload nginx, verify"
ansible-playbook -i "$DEMO/inventory.yml" playbooks/site.yml --limit web1
echo "== orders so far: $(orders)"
echo "== 2. a new host (web2) joins: the certificate comes from S3, no new order"
ansible-playbook -i "$DEMO/inventory.yml" playbooks/site.yml
echo "== orders so far: $(orders)"
echo "== 3. what nginx actually serves"
ansible-playbook -i "$DEMO/inventory.yml" playbooks/demo.yml
