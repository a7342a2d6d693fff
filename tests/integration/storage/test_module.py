"""The cert_store module through ansible-playbook, against every backend."""
import datetime
import json
import os
import pathlib
import stat
import subprocess

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import keys, policy
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import bundles
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.factory import open_backend

from ..conftest import run_tasks as run_playbook
from .conftest import ROOT, STAGING, stored_keys

MANY_DIRECTORY = "https://acme.example.test/many/directory"
UTC = datetime.timezone.utc


def task(register, args, **keywords):
    """A cert_store task; state=info is the read-only cert_store_info module."""
    module = "autotls.acme.cert_store"
    if args.get("state") == "info":
        module = "autotls.acme.cert_store_info"
        args = {k: v for k, v in args.items() if k != "state"}
    entry = {"name": register, module: args, "register": register}
    entry.update(keywords)
    return entry


def write(path, data, mode=0o600):
    with open(path, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)
    return str(path)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def populate_many(kind, options, ca, count):
    """count certificates of MANY_DIRECTORY with spread ages; return the names that are due."""
    many = bundles.CertificateStore(open_backend(kind, options), MANY_DIRECTORY)
    now = datetime.datetime.now(UTC)
    due = set()
    for i in range(count):
        age = (i * 7) % 100    # days since issuance of a 90-day certificate
        key_pem, cert_pem, chain_pem = ca.issue(("m%d.example.com" % i,), days=90,
                                                not_before=now - datetime.timedelta(days=age))
        many.put("m%03d" % i, bundles.make_bundle(key_pem, cert_pem, chain_pem))
        if policy.decide(keys.parse_certificate(cert_pem), now=now).due:
            due.add("m%03d" % i)
    assert 0 < len(due) < count
    return due


@pytest.mark.parametrize("kind, full, many", [("local", True, 100), ("s3", False, 30), ("redis", False, 100),
                                              ("gcs", False, 30)],
                         ids=["local-all-states", "s3-main-states", "redis-main-states", "gcs-main-states"])
def test_cert_store_through_ansible(kind, full, many, options, tmp_path, ca):
    """Every state on the local backend; the main ones (with check mode and diff) on S3, Redis and GCS, whose
    semantics the contract suite covers. (many: certificates for one info task; S3 on moto is slow to fill.)"""
    backend_args = dict(options, backend=kind)
    key1, cert1, chain1 = ca.issue(("app.example.com", "www.example.com"))
    key2, cert2, chain2 = ca.issue(("app.example.com",))
    src = tmp_path / "src"
    src.mkdir()
    paths = {"private_key_path": write(src / "key.pem", key1), "certificate_path": write(src / "cert.pem", cert1),
             "chain_path": write(src / "chain.pem", chain1)}
    dest = tmp_path / "dest"
    dests = {"private_key_path": str(dest / "app.key"), "certificate_path": str(dest / "app.crt"),
             "chain_path": str(dest / "chain.crt"), "fullchain_path": str(dest / "fullchain.crt")}
    serial1, serial2 = (keys.parse_certificate(c).serial for c in (cert1, cert2))
    expected_due = populate_many(kind, options, ca, many)

    def cs(register, **args):
        merged = dict(backend_args, name="app")
        merged.update(args)
        return task(register, {k: v for k, v in merged.items() if v is not None})

    tasks = [
        cs("present_files", account_uri="https://ca.example/acct/7", **paths),
        cs("present_again", account_uri="https://ca.example/acct/7", **paths),
        dict(cs("present_new_check", private_key_content=key2.decode(), certificate_content=cert2.decode(),
                chain_content=chain2.decode()), check_mode=True, diff=True),
        cs("fetch", state="fetched", mode="0640", **dests),
        task("info_many", dict(backend_args, state="info", acme_directory=MANY_DIRECTORY)),
        cs("lock", state="locked", lock_ttl=60),
        cs("unlock", state="unlocked", lock_token="{{ lock.lock.token }}"),
        cs("absent", state="absent"),
    ]
    if full:
        tasks[2:2] = [
            cs("present_content", private_key_content=key1.decode(), fullchain_content=(cert1 + chain1).decode())]
        tasks[4:4] = [dict(cs("fetch_check", state="fetched", mode="0640", **dests), check_mode=True, diff=True)]
        tasks[6:6] = [
            cs("fetch_again", state="fetched", mode="0640", **dests),
            cs("info_all", state="info", name=None, acme_directory=STAGING),
            cs("info_names", state="info", name=None, acme_directory=STAGING, names=["app", "ghost"],
               renew_before_days=100)]   # capped
        tasks[10:10] = [dict(cs("lock_check", state="locked", lock_ttl=60), check_mode=True, diff=True)]
        tasks[12:12] = [
            dict(cs("lock_other", state="locked", lock_ttl=60, lock_timeout=0.5), ignore_errors=True),
            cs("lock_extend", state="locked", lock_ttl=120, lock_token="{{ lock.lock.token }}"),
            dict(cs("unlock_check", state="unlocked", lock_token="{{ lock.lock.token }}"), check_mode=True)]
        tasks[16:16] = [
            cs("unlock_again", state="unlocked", lock_token="{{ lock.lock.token }}"),
            cs("attempt", state="attempted", attempt_error="urn:ietf:params:acme:error:rateLimited: too many"),
            cs("info_after_attempt", state="info", acme_directory=STAGING),
            dict(cs("absent_check", state="absent"), check_mode=True, diff=True)]
        tasks += [cs("absent_again", state="absent"),
                  dict(cs("fetch_missing", state="fetched", **dests), ignore_errors=True)]
    r, output = run_playbook(tmp_path, tasks)

    # nothing in any result or in the output contains key material
    assert "PRIVATE KEY" not in json.dumps(r) and "PRIVATE KEY" not in output
    assert r["present_files"]["changed"] and r["present_files"]["certificate"]["serial"] == serial1
    assert r["present_files"]["certificate"]["account_uri"] == "https://ca.example/acct/7"
    assert r["present_files"]["certificate"]["identifiers"] == ["app.example.com", "www.example.com"]
    assert not r["present_again"]["changed"]
    check = r["present_new_check"]
    assert check["changed"] and check["diff"]["before"]["serial"] == serial1
    assert check["diff"]["after"]["serial"] == serial2 and "files" not in check["diff"]["after"]
    assert r["fetch"]["changed"] and sorted(r["fetch"]["files"]) == sorted(dests.values())
    assert r["fetch"]["certificate"]["serial"] == serial1    # the check-mode upload stored nothing
    assert pathlib.Path(dests["private_key_path"]).read_bytes() == key1 and mode_of(dests["private_key_path"]) == 0o600
    assert pathlib.Path(dests["certificate_path"]).read_bytes() == cert1 and mode_of(dests["certificate_path"]) == 0o640
    assert pathlib.Path(dests["chain_path"]).read_bytes() == chain1
    assert pathlib.Path(dests["fullchain_path"]).read_bytes() == cert1 + chain1
    assert r["info_many"]["count"] == many and set(r["info_many"]["due"]) == expected_due
    token = r["lock"]["lock"]["token"]
    assert r["lock"]["changed"] and token
    assert r["unlock"]["changed"] and r["unlock"]["released"]
    assert r["absent"]["changed"]
    assert bundles.CertificateStore(open_backend(kind, options), STAGING).get("app") is None
    if not full:
        return

    assert not r["present_content"]["changed"]
    assert r["fetch_check"]["changed"] and sorted(r["fetch_check"]["files"]) == sorted(dests.values())
    assert r["fetch_check"]["diff"]["before"] == {}
    assert not r["fetch_again"]["changed"]
    assert r["info_all"]["count"] == 1 and r["info_all"]["not_due"] == ["app"]
    assert [(c["name"], c["due"], c["reason"], c["exists"]) for c in r["info_names"]["certificates"]] == [
        ("app", False, "not_due", True), ("ghost", True, "missing", False)]
    assert "renew_before_days 100 is not below" in r["info_names"]["certificates"][0]["decision_warnings"][0]
    assert r["lock_check"]["changed"] and "token" not in r["lock_check"]["lock"]
    assert r["lock_other"]["failed"] and "held by another owner" in r["lock_other"]["msg"]
    assert token not in json.dumps(r["lock_other"])
    assert r["lock_extend"]["lock"]["token"] == token
    assert r["lock_extend"]["lock"]["expires"] > r["lock"]["lock"]["expires"]
    assert r["unlock_check"]["changed"]
    assert not r["unlock_again"]["changed"] and not r["unlock_again"]["released"]
    assert r["attempt"]["changed"] and r["attempt"]["status"]["consecutive_failures"] == 1
    item = r["info_after_attempt"]["certificates"][0]
    assert item["last_error"].startswith("urn:ietf:params:acme:error:rateLimited")
    assert item["consecutive_failures"] == 1
    assert r["absent_check"]["changed"] and r["absent_check"]["diff"]["before"]["serial"] == serial1
    assert r["absent_check"]["diff"]["after"] == {}
    assert not r["absent_again"]["changed"]
    assert r["fetch_missing"]["failed"] and "no certificate named 'app'" in r["fetch_missing"]["msg"]


def test_bad_input_fails_naming_the_field_and_stores_nothing(backends, tmp_path, ca):
    local = backends.options("local")
    s3 = backends.options("s3")
    key1, cert1, chain1 = ca.issue()
    key2 = ca.issue()[0]
    good = {"private_key_path": write(tmp_path / "key.pem", key1), "certificate_path": write(tmp_path / "c.pem", cert1)}
    local_args = dict(local, backend="local", name="www")
    s3_args = dict(s3, backend="s3", name="www")

    def bad(register, args):
        return task(register, {k: v for k, v in args.items() if v is not None}, ignore_errors=True)

    cases = {  # register: (args, text the error message must contain)
        "unknown_option": (dict(s3_args, s3_bukket="x", **good), "s3_bukket"),
        "other_backend_option": (dict(local_args, s3_bucket="b", **good),
                                 "s3_bucket: is an option of another backend, not of backend local"),
        "missing_bucket_option": (dict({k: v for k, v in s3_args.items() if k != "s3_bucket"}, **good),
                                  "s3_bucket: is required for backend s3"),
        "missing_bucket": (dict(s3_args, s3_bucket="no-such-bucket-autotls", **good),
                           "s3_bucket: bucket 'no-such-bucket-autotls' does not exist at %s" % s3["s3_endpoint_url"]),
        "missing_bucket_info": (dict(s3_args, s3_bucket="no-such-bucket-autotls", state="info", name=None,
                                     acme_directory=STAGING),
                                "s3_bucket: bucket 'no-such-bucket-autotls' does not exist"),
        "missing_key_file": (dict(local_args, private_key_path=str(tmp_path / "nope.pem"),
                                  certificate_path=good["certificate_path"]),
                             "private_key_path: cannot read %s: No such file or directory" % (tmp_path / "nope.pem")),
        "garbage_key": (dict(local_args, private_key_path=write(tmp_path / "junk.pem", b"junk"),
                             certificate_path=good["certificate_path"]),
                        "private_key_path: not a readable PEM private key"),
        "mismatched_key": (dict(s3_args, private_key_content=key2.decode(), certificate_content=cert1.decode(),
                                chain_content=chain1.decode()), "private_key_content: does not match the certificate"),
        "traversal": (dict(s3_args, name="../../etc/passwd", **good), "name: '../../etc/passwd' contains a path"),
        "control_char": (dict(local_args, name="a\u0001b", **good), "name: 'a\\x01b' contains a control character"),
        "traversal_in_names": (dict(local_args, name=None, names=["ok", "x/../../y"], state="info",
                                    acme_directory=STAGING), "names: "),
        "bad_mode": (dict(local_args, state="fetched", mode="rw-r--r--",
                          certificate_path=str(tmp_path / "out.pem")), "mode: must be an octal mode"),
    }
    tasks = [bad(name, case[0]) for name, case in cases.items()]
    r, output = run_playbook(tmp_path, tasks)
    for name, (_args, text) in cases.items():
        assert r[name]["failed"], name
        assert text in r[name]["msg"], (name, r[name]["msg"])
        if "field" in r[name]:
            assert text.startswith(r[name]["field"] + ":"), (name, r[name])
    assert "PRIVATE KEY" not in output
    assert stored_keys("local", local) == []
    assert stored_keys("s3", s3) == []
    assert not os.path.exists(tmp_path / "out.pem")


@pytest.mark.parametrize("module, options", [
    ("cert_store", ("s3_secret_key", "redis_url", "gcs_bucket", "gcs_kms_key_name", "lock_ttl", "private_key_content")),
    ("cert_store_info", ("s3_secret_key", "redis_url", "gcs_bucket", "renew_before_days", "ari")),
])
def test_ansible_doc_renders(module, options):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "collections"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(["ansible-doc", "autotls.acme." + module], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    for option in options:
        assert option in proc.stdout


@pytest.mark.parametrize("secret_option", ["s3_secret_key", "s3_session_token", "redis_url", "private_key_content",
                                           "gcs_credentials_content"])
def test_secrets_are_no_log(secret_option):
    from ansible_collections.autotls.acme.plugins.module_utils._argspec import storage_argument_spec as argument_spec
    import ansible_collections.autotls.acme.plugins.modules.cert_store as module_file
    source = pathlib.Path(module_file.__file__).read_text()
    spec = argument_spec()
    if secret_option in spec:
        assert spec[secret_option]["no_log"] is True
    else:
        assert "%s=dict(type=\"str\", no_log=True)" % secret_option in source
