"""Issue 9: every bad input is refused with a message naming the field, no traceback, and nothing created.

Modules are run as Ansible runs them on a host - the module file as its own process with its
arguments as JSON - many cases side by side (no ansible-playbook start-up per case). The role's
cases run in ONE ansible-playbook (each case an include_role inside block/rescue), with
ANSIBLE_DISPLAY_TRACEBACK=error. "Nothing created" is checked three ways: each case's sandbox
directory (webroot, storage path, key and certificate paths) is byte-for-byte the same tree after
the case; the S3 bucket and Redis hold no new objects; and Pebble's own log shows no new order.
"""
import base64
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from ansible_collections.autotls.acme.plugins.module_utils._engine import keys

from ..conftest import ROOT
from ..role.conftest import new_orders
from ..storage.conftest import boto_client, services  # noqa: F401 (fixtures)  # pylint: disable=unused-import

MODULES = os.path.join(ROOT, "plugins", "modules")
COLLECTIONS = os.path.join(ROOT, "build", "collections")
NOBODY = 65534


def rsa_pem(bits):
    from cryptography.hazmat.primitives.asymmetric import rsa
    return keys.private_key_to_pem(rsa.generate_private_key(public_exponent=65537, key_size=bits)).decode()


def csr_pem(key, names=("www.example.com",)):
    return keys.make_csr(key, keys.parse_identifiers(list(names))).decode()


def weak_csr():
    from cryptography.hazmat.primitives.asymmetric import rsa
    return csr_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))


def p521_csr():
    from cryptography.hazmat.primitives.asymmetric import ec
    return csr_pem(ec.generate_private_key(ec.SECP521R1()))


def tree(path):
    """Everything under path: relative names, types, modes, sizes (what "nothing created" compares)."""
    found = {}
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(root, name)
            st = os.lstat(full)
            found[os.path.relpath(full, path)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return found


def symlinked(sandbox, name):
    """sandbox/name -> sandbox/elsewhere-<name>, owned by an unprivileged user (as a webroot owner could make it)."""
    target = os.path.join(sandbox, "elsewhere-" + name.replace("/", "-"))
    os.makedirs(target, exist_ok=True)
    link = os.path.join(sandbox, name)
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(target, link)
    os.lchown(link, NOBODY, NOBODY)
    return link


class Case:
    def __init__(self, cid, module, args, field, setup=None, check_mode=False, also=None):
        self.id, self.module, self.args, self.field = cid, module, args, field
        self.setup, self.check_mode, self.also = setup, check_mode, also


def module_cases(env):
    """(id, module, args (with {s} for the sandbox), field the message must name, setup)."""
    acme = {"acme_directory": env["ACME_DIRECTORY"], "ca_bundle": env["ACME_CA_BUNDLE"]}
    account_key = keys.private_key_to_pem(keys.generate_private_key("ecdsa-p256")).decode()
    order = dict(acme, account_key_content=account_key, webroot="{s}/www", private_key_path="{s}/out/key.pem",
                 fullchain_path="{s}/out/fullchain.pem")

    def o(cid, field, setup=None, **args):
        return Case(cid, "acme_order", dict(order, **args), field, setup)

    many = ["n%d.example.com" % i for i in range(101)]
    cases = [
        o("ipv4-999", "identifiers", identifiers=["999.1.1.1"]),
        o("ipv4-300", "identifiers", identifiers=["10.0.0.300"]),
        o("ipv4-leading-zeros", "identifiers", identifiers=["127.000.000.001"]),
        o("ipv4-short", "identifiers", identifiers=["1.2.3"]),
        o("ipv4-hex", "identifiers", identifiers=["0x7f.0.0.1"]),
        o("ipv6-zone", "identifiers", identifiers=["fe80::1%eth0"]),
        o("ipv6-brackets", "identifiers", identifiers=["[::1]"]),
        o("ipv6-bad", "identifiers", identifiers=["2001:db8::g"]),
        o("wildcard", "identifiers", identifiers=["*.example.com"]),
        o("empty-name", "identifiers", identifiers=[""]),
        o("space", "identifiers", identifiers=["exa mple.com"]),
        o("single-label", "identifiers", identifiers=["localhost"]),
        o("leading-hyphen", "identifiers", identifiers=["-bad.example.com"]),
        o("label-64", "identifiers", identifiers=["a" * 64 + ".example.com"]),
        o("bad-a-label", "identifiers", identifiers=["xn--zz.example.com"]),
        o("numeric-tld", "identifiers", identifiers=["www.example.123"]),
        o("101-names", "identifiers", identifiers=many),
        o("101-names-dedup-still-101", "identifiers", identifiers=many + [n.upper() + "." for n in many]),
        o("max-identifiers-0", "max_identifiers", identifiers=["www.example.com"], max_identifiers=0),
        o("renew-before-negative", "renew_before_days", identifiers=["www.example.com"], renew_before_days=-1),
        o("webroot-is-file", "webroot", setup=lambda s: _write(s, "afile", "x"), identifiers=["www.example.com"],
          webroot="{s}/afile"),
        o("webroot-missing", "webroot", identifiers=["www.example.com"], webroot="{s}/nowhere"),
        o("webroot-relative", "webroot", identifiers=["www.example.com"], webroot="www"),
        o("webroot-symlinked-challenge-dir", "webroot",
          setup=lambda s: symlinked(s, "www/.well-known/acme-challenge"), identifiers=["www.example.com"]),
        o("webroot-symlinked-well-known", "webroot", setup=lambda s: symlinked(s, "www/.well-known"),
          identifiers=["www.example.com"]),
        o("directory-http", "acme_directory", identifiers=["www.example.com"],
          acme_directory=env["ACME_DIRECTORY"].replace("https://", "http://")),
        o("directory-ftp", "acme_directory", identifiers=["www.example.com"], acme_directory="ftp://127.0.0.1/dir"),
        o("directory-not-acme", "acme_directory", identifiers=["www.example.com"],
          acme_directory=env["ACME_DIRECTORY"].rsplit("/", 1)[0] + "/not-a-directory"),
        o("ca-bundle-missing", "ca_bundle", identifiers=["www.example.com"], ca_bundle="{s}/no-such-ca.pem"),
        o("reuse-weak-rsa-key", "private_key_path",
          setup=lambda s: _write(s, "out/key.pem", rsa_pem(1024)), identifiers=["www.example.com"], reuse_key=True),
        o("csr-weak-rsa", "csr_content", identifiers=None, csr_content=weak_csr()),
        o("csr-p521", "csr_content", identifiers=None, csr_content=p521_csr()),
        o("csr-garbage", "csr_content", identifiers=None, csr_content="not a csr"),
        o("csr-names-differ", "identifiers", identifiers=["other.example.com"],
          csr_content=csr_pem(keys.generate_private_key("ecdsa-p256"))),
        o("key-dir-is-file", "private_key_path", setup=lambda s: _write(s, "out", "x"),
          identifiers=["www.example.com"]),
        o("output-dir-symlinked", "private_key_path", setup=lambda s: symlinked(s, "out"),
          identifiers=["www.example.com"]),
        o("no-certificate-path", "certificate_path", identifiers=["www.example.com"], fullchain_path=None),
        o("request-timeout-0", "request_timeout", identifiers=["www.example.com"], request_timeout=0),
        o("replaces-not-an-id", "replaces", identifiers=["www.example.com"], replaces="not an ari id"),
        o("key-type-unknown", "key_type", identifiers=["www.example.com"], key_type="dsa-1024"),
        Case("batch-concurrency-0", "acme_order", dict(order, concurrency=0, certificates=[
            {"name": "a", "identifiers": ["a.example.com"]}]), "concurrency"),
        Case("batch-entry-bad-ip", "acme_order", dict(order, certificates=[
            {"name": "a", "identifiers": ["999.1.1.1"]}]), "identifiers"),
    ]
    account = dict(acme, account_key_path="{s}/acct/account.key", contact=["ops@example.com"], terms_agreed=True)

    def a(cid, field, setup=None, **args):
        return Case(cid, "acme_account", dict(account, **args), field, setup)

    cases += [
        a("account-directory-http", "acme_directory", acme_directory=env["ACME_DIRECTORY"].replace("https", "http")),
        a("account-directory-not-acme", "acme_directory",
          acme_directory=env["ACME_DIRECTORY"].rsplit("/", 1)[0] + "/not-a-directory"),
        a("account-directory-no-host", "acme_directory", acme_directory="https:///dir"),
        a("eab-plus-slash", "external_account_binding.hmac_key",
          external_account_binding={"kid": "kid-1", "hmac_key": "abc+def/ghijklmnopqrstuvwxyz0123"}),
        a("eab-space", "external_account_binding.hmac_key",
          external_account_binding={"kid": "kid-1", "hmac_key": "abcdefgh ijklmnopqrstuvwxyz012345"}),
        a("eab-short", "external_account_binding.hmac_key",
          external_account_binding={"kid": "kid-1", "hmac_key": "YWJj"}),
        a("eab-empty-kid", "external_account_binding.kid",
          external_account_binding={"kid": "", "hmac_key": base64.urlsafe_b64encode(b"k" * 32).decode()}),
        a("contact-not-email", "contact", contact=["not-an-email"]),
        a("contact-empty", "contact", contact=[]),
        a("account-key-garbage", "account_key_content", account_key_path=None, account_key_content="garbage"),
        a("account-key-dir-symlinked", "account_key_path", setup=lambda s: symlinked(s, "acct")),
        a("account-ca-bundle-missing", "ca_bundle", ca_bundle="{s}/none.pem"),
        a("account-retry-timeout-negative", "retry_timeout", retry_timeout=-1),
    ]
    store = {"backend": "local", "local_path": "{s}/store", "acme_directory": env["ACME_DIRECTORY"]}

    def c(cid, field, setup=None, check_mode=False, **args):
        module = "cert_store"
        if args.get("state") == "info":   # the read-only query is its own module
            module = "cert_store_info"
            args.pop("state")
        case = Case(cid, module, dict(store, **args), field, setup, check_mode)
        return case

    cases += [
        c("store-name-dotdot", "names", state="info", names=["../x"]),
        c("store-name-slash", "name", state="info", name="a/b"),
        c("store-name-dot", "name", state="absent", name=".hidden"),
        c("store-state-bogus", "state", state="bogus", name="x"),
        c("store-option-of-other-backend", "s3_bucket", state="info", s3_bucket="b"),
        c("store-local-path-is-file", "local_path", setup=lambda s: _write(s, "store", "x"), state="info"),
        c("store-lock-ttl-0", "lock_ttl", state="locked", name="x", lock_ttl=0),
        c("store-lock-ttl-negative", "lock_ttl", state="locked", names=["x"], lock_ttl=-5),
        c("store-lock-timeout-negative", "lock_timeout", state="locked", name="x", lock_timeout=-1),
        c("store-renew-before-negative", "renew_before_days", state="info", renew_before_days=-1),
        c("store-requests-bad-ip", "requests[0].identifiers", state="info",
          requests=[{"name": "a", "identifiers": ["999.1.1.1"]}]),
        c("store-requests-duplicate", "requests[1].name", state="info",
          requests=[{"name": "a", "identifiers": ["a.example.com"]}, {"name": "a", "identifiers": ["b.example.com"]}]),
        c("store-requests-101", "requests[0].identifiers", state="info",
          requests=[{"name": "a", "identifiers": many}]),
        c("store-certificate-garbage", "certificate_content", state="present", name="x",
          private_key_content=keys.private_key_to_pem(keys.generate_private_key("ecdsa-p256")).decode(),
          certificate_content="not a certificate"),
        c("store-info-check-mode-ari-http", "acme_directory", check_mode=True, state="info", ari=True,
          acme_directory=env["ACME_DIRECTORY"].replace("https", "http")),
        c("store-redis-unreachable", "cannot reach Redis", backend="redis", local_path=None, redis_url="redis://127.0.0.1:1/0",
          state="info"),
        c("store-s3-missing-bucket", "s3_bucket", backend="s3", local_path=None, s3_bucket="no-such-bucket-autotls",
          s3_endpoint_url=env["S3_ENDPOINT_URL"], s3_access_key="testing", s3_secret_key="testing",
          s3_region="us-east-1", state="info", names=["x"]),
    ]

    def d(cid, field, setup=None, **args):
        base = {"files": [{"dest": "{s}/live/x/cert.pem", "content": base64.b64encode(b"c").decode()}]}
        base.update(args)
        return Case(cid, "cert_deploy", base, field, setup)

    cases += [
        d("deploy-dest-relative", "files[0].dest", files=[{"dest": "live/cert.pem", "content": "Yw=="}]),
        d("deploy-mode-bad", "files[0].mode", files=[{"dest": "{s}/live/c.pem", "content": "Yw==", "mode": "abc"}]),
        d("deploy-owner-unknown", "owner", owner="no-such-user-autotls"),
        d("deploy-key-mode-world", "key_mode", key_mode="0644"),
        d("deploy-key-file-mode-world", "files[0].mode",
          files=[{"dest": "{s}/live/k.pem", "content": "Yw==", "key": True, "mode": "0604"}]),
        d("deploy-symlinked-dir", "files[0].dest", setup=lambda s: symlinked(s, "live")),
    ]

    def t(cid, field, **args):
        base = {"checks": [{"address": "127.0.0.1", "port": 8443, "server_name": "www.example.com"}]}
        base.update(args)
        return Case(cid, "tls_check", base, field)

    cases += [
        t("tls-timeout-negative", "timeout", timeout=-1),
        t("tls-timeout-zero", "timeout", timeout=0),
        t("tls-settle-negative", "settle_timeout", settle_timeout=-1),
        t("tls-port-range", "checks[0].port", checks=[{"address": "127.0.0.1", "port": 70000,
                                                       "server_name": "www.example.com"}]),
        t("tls-server-name-empty", "checks[0].server_name", checks=[{"address": "127.0.0.1", "server_name": " "}]),
        t("tls-server-name-fake-ip", "checks[0].server_name",
          checks=[{"address": "127.0.0.1", "server_name": "999.1.1.1"}]),
        t("tls-ca-bundle-missing", "ca_bundle", ca_bundle="/nonexistent/ca.pem"),
    ]
    return cases


def _write(sandbox, rel, text):
    path = os.path.join(sandbox, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


def _fill(value, sandbox):
    if isinstance(value, str):
        return value.replace("{s}", sandbox)
    if isinstance(value, list):
        return [_fill(v, sandbox) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, sandbox) for k, v in value.items()}
    return value


def run_module(case, sandbox):
    args = {k: v for k, v in _fill(case.args, sandbox).items() if v is not None}
    args["_ansible_check_mode"] = case.check_mode
    argfile = os.path.join(os.path.dirname(sandbox), case.id + ".args.json")
    with open(argfile, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    proc = subprocess.run([sys.executable, os.path.join(MODULES, case.module + ".py"), argfile],
                          capture_output=True, text=True, env=env, cwd=sandbox, timeout=120, check=False)
    return proc


@pytest.fixture(scope="module")
def env(stack, services):  # noqa: F811
    return dict(stack, **services)


def test_every_module_refuses_bad_input_naming_the_field_creating_nothing(env, tmp_path):
    cases = module_cases(env)
    assert len({case.id for case in cases}) == len(cases)
    s3 = boto_client(env["S3_ENDPOINT_URL"])
    buckets_before = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
    import redis
    redis_client = redis.Redis.from_url(env["REDIS_URL"])
    redis_keys_before = redis_client.dbsize()
    orders_before = new_orders()

    def one(case):
        sandbox = str(tmp_path / case.id / "sandbox")
        os.makedirs(os.path.join(sandbox, "www"))
        if case.setup:
            case.setup(sandbox)
        before = tree(sandbox)
        proc = run_module(case, sandbox)
        return case, proc, before, tree(sandbox)

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(one, cases))
    problems = []
    for case, proc, before, after in outcomes:
        where = "%s (%s)" % (case.id, case.module)
        if "Traceback" in proc.stderr or "Traceback" in proc.stdout:
            problems.append("%s: traceback:\n%s" % (where, (proc.stderr or proc.stdout)[-1500:]))
            continue
        try:
            result = json.loads(proc.stdout)
        except ValueError:
            problems.append("%s: no JSON result: %r %r" % (where, proc.stdout[-500:], proc.stderr[-500:]))
            continue
        if not result.get("failed"):
            problems.append("%s: not refused: %s" % (where, json.dumps(result)[:500]))
            continue
        message = result.get("msg", "")
        if case.field not in message:
            problems.append("%s: message does not name %r: %s" % (where, case.field, message[:400]))
        if after != before:
            changed = sorted(set(after) ^ set(before)) or sorted(k for k in after if after[k] != before.get(k))
            problems.append("%s: created or changed %s" % (where, changed))
    assert not problems, "\n".join(problems)
    # the CA was asked for nothing, and no storage object exists that did not before
    assert new_orders() == orders_before
    assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == buckets_before
    assert redis_client.dbsize() == redis_keys_before
    print("bad inputs tried against the modules: %d" % len(cases))


# ---- the role: every case in one ansible-playbook run -------------------------------------------------------

def role_cases(env):
    """(id, variables over the good baseline, text the first error line must contain)."""
    many = ["n%d.example.com" % i for i in range(101)]
    one = [{"name": "site", "identifiers": ["site.example.com"]}]
    return [
        ("http-directory", {"certificate_acme_directory": env["ACME_DIRECTORY"].replace("https", "http")},
         "certificate_acme_directory"),
        ("lock-ttl-0", {"certificate_lock_ttl": 0}, "certificate_lock_ttl"),
        ("lock-ttl-negative", {"certificate_lock_ttl": -1}, "certificate_lock_ttl"),
        ("lock-timeout-negative", {"certificate_lock_timeout": -1}, "certificate_lock_timeout"),
        ("s3-without-bucket", {"certificate_storage": {"backend": "s3"}}, "certificate_storage.s3_bucket"),
        ("local-with-s3-option", {"certificate_storage": {"backend": "local", "local_path": "/tmp/x", "s3_bucket": "b"}},  # noqa: E501
         "certificate_storage.s3_bucket"),
        # named as the role's argument spec says it (value of backend ... found in certificate_storage)
        ("backend-unknown", {"certificate_storage": {"backend": "ftp"}},
         "backend must be one of: local, s3, redis, gcs, got: ftp found in certificate_storage"),
        ("fake-ipv4", {"certificate_list": [{"name": "a", "identifiers": ["999.1.1.1"]}]},
         "certificate_list[0].identifiers"),
        ("leading-zero-ipv4", {"certificate_list": [{"name": "a", "identifiers": ["127.000.000.001"]}]},
         "certificate_list[0].identifiers"),
        ("zone-ipv6", {"certificate_list": [{"name": "a", "identifiers": ["fe80::1%eth0"]}]},
         "certificate_list[0].identifiers"),
        ("101-names", {"certificate_list": [{"name": "a", "identifiers": many}]}, "certificate_list[0].identifiers"),
        ("max-identifiers-0", {"certificate_max_identifiers": 0}, "certificate_max_identifiers"),
        ("name-twice", {"certificate_list": one + one}, "certificate_list[1].name"),
        ("name-dotdot", {"certificate_list": [{"name": "../x", "identifiers": ["a.example.com"]}]},
         "certificate_list[0].name"),
        ("eab-not-base64url", {"certificate_eab": {"kid": "k", "hmac_key": "a+b/c=d"}}, "certificate_eab.hmac_key"),
        ("renew-before-negative", {"certificate_renew_before_days": -1}, "certificate_renew_before_days"),
        ("item-renew-before-negative",
         {"certificate_list": [{"name": "a", "identifiers": ["a.example.com"], "renew_before_days": -2}]},
         "certificate_list[0].renew_before_days"),
        ("contact-not-email", {"certificate_contact_email": "nobody"}, "certificate_contact_email"),
        ("key-mode-world-readable", {"certificate_key_mode": "0644"}, "certificate_key_mode"),
        ("cert-mode-bad", {"certificate_cert_mode": "rw-r--r--"}, "certificate_cert_mode"),
        ("concurrency-0", {"certificate_concurrency": 0}, "certificate_concurrency"),
        ("deploy-dir-relative", {"certificate_deploy_dir": "live"}, "certificate_deploy_dir"),
        ("webroot-relative", {"certificate_webroot": "www"}, "certificate_webroot"),
        ("verify-port-0", {"certificate_verify_port": 0}, "certificate_verify_port"),
        ("unknown-service", {"certificate_list": [{"name": "a", "identifiers": ["a.example.com"],
                                                   "services": ["exim"]}]}, "certificate_list[0].services"),
        ("deploy-path-relative", {"certificate_list": [{"name": "a", "identifiers": ["a.example.com"],
                                                        "fullchain_path": "fc.pem"}]},
         "certificate_list[0].fullchain_path"),
        ("key-type-unknown", {"certificate_key_type": "dsa"}, "certificate_key_type"),
        ("identifier-empty", {"certificate_list": [{"name": "a", "identifiers": [""]}]},
         "certificate_list[0].identifiers"),
        # found only by asking storage - still before any webroot, key, account or order exists
        ("redis-unreachable", {"certificate_storage": {"backend": "redis", "redis_url": "redis://127.0.0.1:1/0"}},
         "cannot reach Redis"),
        ("s3-missing-bucket", {"certificate_storage": {
            "backend": "s3", "s3_bucket": "no-such-bucket-autotls", "s3_endpoint_url": env["S3_ENDPOINT_URL"],
            "s3_access_key": "testing", "s3_secret_key": "testing", "s3_region": "us-east-1"}}, "no-such-bucket-autotls"),  # noqa: E501
    ]


def test_the_role_refuses_bad_input_in_its_first_tasks_creating_nothing(env, tmp_path):
    cases = role_cases(env)
    work = str(tmp_path)
    webroot = os.path.join(work, "webroot")
    os.makedirs(webroot)
    baseline = {
        "certificate_acme_directory": env["ACME_DIRECTORY"], "certificate_ca_bundle": env["ACME_CA_BUNDLE"],
        "certificate_contact_email": "ops@example.com", "certificate_terms_agreed": True,
        "certificate_account_key_path": os.path.join(work, "account", "account.key"),
        "certificate_storage": {"backend": "local", "local_path": os.path.join(work, "store")},
        "certificate_list": [{"name": "site", "identifiers": ["site.example.com"]}],
        "certificate_webroot": webroot, "certificate_deploy_dir": os.path.join(work, "live"),
        "certificate_staging_base": os.path.join(work, "staging"),
        "certificate_status_file": os.path.join(work, "status.json"),
    }
    os.makedirs(baseline["certificate_staging_base"])
    tasks = []
    for cid, variables, _field in cases:
        tasks.append({"name": "case " + cid, "block": [
            {"name": "run the role (" + cid + ")", "ansible.builtin.include_role": {"name": "autotls.acme.certificate"},
             "vars": dict(baseline, **variables)},
            {"name": "not refused", "ansible.builtin.set_fact": {"_outcomes": "{{ _outcomes + [{'id': '%s', 'refused': false}] }}" % cid}},  # noqa: E501
        ], "rescue": [
            {"name": "record the refusal", "ansible.builtin.set_fact": {"_outcomes": (
                "{{ _outcomes + [{'id': '%s', 'refused': true, 'task': ansible_failed_task.name,"
                " 'msg': ansible_failed_result.msg | default('') | string}] }}" % cid)}},
        ]})
    tasks.append({"name": "write the outcomes", "ansible.builtin.copy": {
        "dest": os.path.join(work, "outcomes.json"), "content": "{{ _outcomes | to_json }}", "mode": "0644"}})
    playbook = [{"name": "bad role inputs", "hosts": "web", "gather_facts": False, "vars": {"_outcomes": []},
                 "tasks": tasks}]
    path = os.path.join(work, "bad-role-inputs.yml")
    with open(path, "w") as handle:
        yaml.safe_dump(playbook, handle, sort_keys=False)
    inventory = os.path.join(work, "inventory.yml")
    python = subprocess.run(["which", "python3"], capture_output=True, text=True, check=True).stdout.strip()
    with open(inventory, "w") as handle:
        yaml.safe_dump({"all": {"children": {"web": {"hosts": {"web1": {"ansible_host": "127.0.0.1"}}, "vars": {
            "ansible_connection": "local", "ansible_python_interpreter": python}}}}}, handle)
    before = tree(work)
    orders = new_orders()
    env_vars = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_DISPLAY_TRACEBACK="error",
                    ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0")
    proc = subprocess.run(["ansible-playbook", "-i", inventory, path], capture_output=True, text=True, env=env_vars,
                          timeout=900, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    # ansible-core 2.19 with ANSIBLE_DISPLAY_TRACEBACK=error shows the controller's own stack for every failed
    # task (ending in AnsibleTaskError / an AnsibleError). A crash of our code is a MODULE FAILURE (module_stderr)
    # or a traceback ending in any other exception: none may appear.
    assert "MODULE FAILURE" not in output and "module_stderr" not in output, output[-5000:]
    for block in output.split("Traceback (most recent call last):")[1:]:
        # the exception a stack ends in: its first unindented line; the controller's own classes (ansible.*) only,
        # any other exception would be a crash
        raised = next((line for line in block.splitlines() if line.strip() and not line.startswith(" ")), "")
        # (a module stack ends in "Message: ..." after its fail_json frame: a deliberate failure, not a crash)
        assert raised.startswith(("ansible.", "Message: ")), block[:3000]
    with open(os.path.join(work, "outcomes.json")) as handle:
        outcomes = {item["id"]: item for item in json.load(handle)}
    problems = []
    for cid, _variables, field in cases:
        got = outcomes.get(cid)
        if not got or not got["refused"]:
            problems.append("%s: not refused" % cid)
        elif field not in got["msg"]:
            problems.append("%s: the message (task %r) does not name %r: %s" % (cid, got["task"], field, got["msg"][:400]))  # noqa: E501
    assert not problems, "\n".join(problems)
    after = tree(work)
    created = sorted(set(after) - set(before) - {"outcomes.json"})
    # No webroot directory, store, account key, staging or deployed file. The two cases found only by asking
    # storage (unreachable Redis, missing bucket) are failed runs that monitoring must see: the report writes
    # the status file for them (a record of the refusal, not certificate state), and nothing else.
    assert created in ([], ["status.json"]), created
    if created:
        with open(os.path.join(work, "status.json")) as handle:
            assert '"failed"' in handle.read()
    assert new_orders() == orders
    print("bad inputs tried against the role: %d" % len(cases))
