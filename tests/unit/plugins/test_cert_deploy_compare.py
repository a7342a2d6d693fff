"""cert_deploy's comparison given one entry per certificate (certificates) reports exactly what the same files
given one entry each (files) report; the role's filters make both from the same plan and storage hashes."""
import hashlib
import os
from types import SimpleNamespace

import pytest

from ansible_collections.autotls.acme.plugins.filter import certificate_role as f
from ansible_collections.autotls.acme.plugins.module_utils._engine import deployed as compared
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError
from ansible_collections.autotls.acme.plugins.modules import cert_deploy

CERT_DEFAULTS = {"paths": None, "key": "privkey.pem", "combined": None, "combined_parts": ["privkey.pem",
                                                                                           "fullchain.pem"]}
FILE_DEFAULTS = {"mode": None, "key": False, "sha256": None, "sha256_parts": None, "group": None,
                 "state": "present", "content": None}


def digest(data):
    return hashlib.sha256(data).hexdigest()


def run(tmp_path, files=None, certificates=None, compare_only=True):
    params = {"files": None if files is None else [dict(FILE_DEFAULTS, **x) for x in files],
              "certificates": None if certificates is None else [dict(CERT_DEFAULTS, **x) for x in certificates],
              "compare_only": compare_only, "owner": None, "group": None, "mode": "0644", "key_mode": "0600",
              "follow_symlinks": False}
    return cert_deploy._work(SimpleNamespace(params=params, check_mode=False, _diff=False))


@pytest.fixture
def deployed(tmp_path):
    """a: current; b: its chain differs; c: nothing deployed; d: current, key elsewhere and HAProxy's combined file."""
    filenames = ("privkey.pem", "cert.pem", "chain.pem", "fullchain.pem")
    contents = {name: {fn: ("%s %s\n" % (name, fn)).encode() for fn in filenames} for name in "abcd"}
    live = tmp_path / "live"
    for name in "abd":
        (live / name).mkdir(parents=True)
        for filename, data in contents[name].items():
            path = tmp_path / "keys" / "d.key" if (name, filename) == ("d", "privkey.pem") else live / name / filename
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(b"old\n" if (name, filename) == ("b", "chain.pem") else data)
            os.chmod(path, 0o600 if filename == "privkey.pem" else 0o644)
    combined = tmp_path / "haproxy" / "d.pem"
    combined.parent.mkdir()
    combined.write_bytes(contents["d"]["privkey.pem"] + contents["d"]["fullchain.pem"])
    os.chmod(combined, 0o600)
    info = {"certificates": [{"name": n, "file_sha256": {fn: digest(data) for fn, data in contents[n].items()}}
                             for n in "abcd"]}
    plan = f.certificate_plan([{"name": n, "identifiers": ["%s.example.com" % n]} for n in "abc"]
                              + [{"name": "d", "identifiers": ["d.example.com"], "combined_path": str(combined),
                                  "private_key_path": str(tmp_path / "keys" / "d.key")}], "/tmp/stage")
    return plan, str(live), info


def test_one_entry_per_certificate_reports_what_one_entry_per_file_does(tmp_path, deployed):
    plan, live, info = deployed
    per_file = run(tmp_path, files=f.certificate_deploy_files(plan, live, info))
    compact = f.certificate_deploy_compare(plan, live, info)
    assert len(compact) == 4 and compact[3]["paths"] == {"privkey.pem": str(tmp_path / "keys" / "d.key")}
    per_cert = run(tmp_path, certificates=compact)
    assert per_file == per_cert
    assert per_cert["stale_groups"] == ["b", "c"] and per_cert["missing_groups"] == ["c"]
    assert per_cert["changed"] is False


def test_the_same_files_are_compared(deployed):
    plan, live, info = deployed
    expanded = compared.certificate_files(
        [dict(CERT_DEFAULTS, **x) for x in f.certificate_deploy_compare(plan, live, info)])
    per_file = f.certificate_deploy_files(plan, live, info)
    strip = [{k: v for k, v in x.items() if k not in ("mode",) and v is not None} for x in expanded]
    assert strip == per_file


def test_storage_without_hashes_makes_every_certificate_stale(tmp_path, deployed):
    plan, live, _info = deployed
    result = run(tmp_path, certificates=f.certificate_deploy_compare(plan, live, {"certificates": []}))
    assert result["stale_groups"] == ["a", "b", "c", "d"]


@pytest.mark.parametrize("certificates, compare_only, field", [
    ([{"name": "a", "dir": "relative", "sha256": {"cert.pem": ""}}], True, "certificates[0].dir"),
    ([{"name": "a", "dir": "/x", "sha256": {"../cert.pem": ""}}], True, "certificates[0].sha256"),
    ([{"name": "a", "dir": "/x", "sha256": {"cert.pem": ""}, "paths": {"key.pem": "/k"}}], True,
     "certificates[0].paths"),
    ([{"name": "a", "dir": "/x", "sha256": {"cert.pem": ""}, "combined": "/c.pem"}], True,
     "certificates[0].combined_parts"),
    ([{"name": "a", "dir": "/x", "sha256": {"cert.pem": ""}}], False, "certificates"),
])
def test_bad_certificates_entries_are_refused_naming_the_field(tmp_path, certificates, compare_only, field):
    with pytest.raises(InputError) as error:
        run(tmp_path, certificates=certificates, compare_only=compare_only)
    assert error.value.field == field


def test_files_or_certificates(tmp_path):
    with pytest.raises(InputError) as error:
        run(tmp_path)
    assert error.value.field == "files"
    with pytest.raises(InputError) as error:
        run(tmp_path, files=[{"dest": "/x/y", "sha256": ""}], certificates=[{"name": "a", "dir": "/x", "sha256": {}}])
    assert error.value.field == "certificates"
