"""The bundle's files are named once (layout); storage, cert_store and the role filter derive from it."""
import dataclasses

from ansible_collections.autotls.acme.plugins.filter import certificate_role
from ansible_collections.autotls.acme.plugins.module_utils._engine import layout
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import bundles


def test_the_table():
    assert layout.FILES == (("private_key", "privkey.pem"), ("certificate", "cert.pem"), ("chain", "chain.pem"),
                            ("fullchain", "fullchain.pem"))
    assert layout.KINDS == ("privkey", "cert", "chain", "fullchain") and layout.KEY_FILE == "privkey.pem"


def test_storage_and_the_role_use_it():
    assert tuple(field.name for field in dataclasses.fields(bundles.Bundle)) == layout.PARTS
    bundle = bundles.Bundle(b"k", b"c", b"i", b"f")
    assert bundle.files() == {"privkey.pem": b"k", "cert.pem": b"c", "chain.pem": b"i", "fullchain.pem": b"f"}
    assert bundles.Bundle.from_files(bundle.files()) == bundle
    plan = certificate_role.certificate_plan([{"name": "www", "identifiers": ["www.example.com"]}], "/stage")
    assert plan[0]["staging"] == {"privkey": "/stage/www/privkey.pem", "cert": "/stage/www/cert.pem",
                                  "chain": "/stage/www/chain.pem", "fullchain": "/stage/www/fullchain.pem"}
    requests = certificate_role.certificate_order_requests(plan, ["www"])
    assert [requests[0][part + "_path"] for part in layout.PARTS] == [
        "/stage/www/privkey.pem", "/stage/www/cert.pem", "/stage/www/chain.pem", "/stage/www/fullchain.pem"]
    files = certificate_role.certificate_deploy_files(plan, "/etc/ssl", info={"certificates": [
        {"name": "www", "file_sha256": {"privkey.pem": "a", "cert.pem": "b", "chain.pem": "c", "fullchain.pem": "d"}}]})
    assert [(f["dest"], f["key"], f["sha256"]) for f in files] == [
        ("/etc/ssl/www/privkey.pem", True, "a"), ("/etc/ssl/www/cert.pem", False, "b"),
        ("/etc/ssl/www/chain.pem", False, "c"), ("/etc/ssl/www/fullchain.pem", False, "d")]


def test_the_role_documents_the_same_default_file_names():
    import pathlib
    import re
    import yaml
    root = pathlib.Path(__file__).resolve().parents[5]
    specs = yaml.safe_load((root / "roles" / "certificate" / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]["certificate_list"]["options"]
    for part, filename in layout.FILES:
        text = options[part + "_path"]["description"]
        assert re.search(r"<name>/%s\b" % re.escape(filename), text), (part, text)


def test_revocation_reads_the_fetched_files_by_their_layout_names():
    assert certificate_role.certificate_revoke_requests([{"name": "www"}, {"name": "api"}], "/fetched") == [
        {"name": "www", "certificate_path": "/fetched/www/cert.pem", "private_key_path": "/fetched/www/privkey.pem"},
        {"name": "api", "certificate_path": "/fetched/api/cert.pem", "private_key_path": "/fetched/api/privkey.pem"}]
