"""One table per fact: every place that restates an option table must agree with its source.

Sources: the engine's factory.BACKEND_OPTIONS (which backend takes which option) and the argument specs in
plugins/module_utils/_argspec.py (types, choices, no_log). Derived or checked here: the module doc fragments,
the role's argument_specs (and through them the README's role variables table, see test_readme.py).
"""
import importlib
import os

import yaml

from ansible_collections.autotls.acme.plugins.module_utils import _argspec
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import factory

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fragment_options(name):
    module = importlib.import_module("ansible_collections.autotls.acme.plugins.doc_fragments." + name)
    return yaml.safe_load(module.ModuleDocFragment.DOCUMENTATION)["options"]


def role_options(role, variable):
    with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")) as handle:
        spec = yaml.safe_load(handle)
    return spec["argument_specs"]["main"]["options"][variable]["options"]


def same_types(spec, documented, where):
    assert sorted(documented) == sorted(spec), "%s: options differ: only documented %s, only in the spec %s" % (
        where, sorted(set(documented) - set(spec)), sorted(set(spec) - set(documented)))
    for name, entry in spec.items():
        doc = documented[name] or {}
        assert doc.get("type", "str") == entry.get("type", "str"), (where, name)
        assert doc.get("choices") == entry.get("choices"), (where, name)
        assert bool(doc.get("required")) == bool(entry.get("required")), (where, name)


def test_engine_backend_table_and_argument_spec_name_the_same_options():
    spec = _argspec.storage_argument_spec()
    engine = set().union(*factory.BACKEND_OPTIONS.values()) | factory.COMMON_OPTIONS
    assert set(spec) - {"backend"} == engine
    assert spec["backend"]["choices"] == list(factory.BACKENDS)


def test_storage_doc_fragment_matches_the_argument_spec():
    same_types(_argspec.storage_argument_spec(), fragment_options("storage"), "doc_fragments/storage.py")


def test_acme_doc_fragment_matches_the_argument_spec():
    same_types(_argspec.acme_argument_spec(), fragment_options("acme"), "doc_fragments/acme.py")


def test_role_storage_options_match_the_argument_spec():
    spec = _argspec.storage_argument_spec()
    documented = role_options("certificate", "certificate_storage")
    assert sorted(documented) == sorted(spec)
    for name, entry in spec.items():
        assert documented[name].get("type", "str") == entry.get("type", "str"), name
        if entry.get("no_log"):
            assert documented[name].get("no_log") is True, "%s is secret: the role must not log it" % name


def test_secret_storage_options_are_no_log():
    spec = _argspec.storage_argument_spec()
    for name in ("s3_secret_key", "s3_session_token", "redis_url", "gcs_credentials_content"):
        assert spec[name]["no_log"] is True, name
