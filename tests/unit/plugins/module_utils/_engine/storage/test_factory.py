"""open_backend: option names and values are checked before anything is created."""
import os

import pytest
import yaml

from ansible_collections.autotls.acme.plugins.module_utils._argspec import storage_argument_spec as argument_spec
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.factory import (
    BACKEND_OPTIONS, check_options, open_backend)


def test_unknown_backend():
    with pytest.raises(InputError) as err:
        open_backend("ftp", {})
    assert err.value.field == "backend"


def test_unknown_option_is_named(tmp_path):
    with pytest.raises(InputError) as err:
        open_backend("local", {"local_path": str(tmp_path), "local_pth": "x"})
    assert err.value.field == "local_pth" and "not a storage option" in err.value.msg


def test_option_of_another_backend_is_named(tmp_path):
    with pytest.raises(InputError) as err:
        open_backend("local", {"local_path": str(tmp_path), "redis_url": "redis://x"})
    assert err.value.field == "redis_url" and "not of backend local" in err.value.msg
    assert not os.listdir(tmp_path)


def test_unset_options_are_ignored():
    assert check_options("redis", {"redis_url": "redis://h", "s3_bucket": None}) == {"redis_url": "redis://h"}


@pytest.mark.parametrize("kind, options, field", [
    ("local", {}, "local_path"),
    ("s3", {}, "s3_bucket"),
    ("s3", {"s3_bucket": "a/b"}, "s3_bucket"),
    ("s3", {"s3_bucket": "b", "s3_prefix": "../x"}, "s3_prefix"),
    ("s3", {"s3_bucket": "b", "s3_sse": "DES"}, "s3_sse"),
    ("s3", {"s3_bucket": "b", "s3_kms_key_id": "k"}, "s3_kms_key_id"),
    ("s3", {"s3_bucket": "b", "s3_access_key": "AKIA"}, "s3_secret_key"),
    ("s3", {"s3_bucket": "b", "s3_secret_key": "s"}, "s3_access_key"),
    ("s3", {"s3_bucket": "b", "s3_session_token": "t"}, "s3_access_key"),
    ("s3", {"s3_bucket": "b", "s3_endpoint_url": "127.0.0.1:9000"}, "s3_endpoint_url"),
    ("s3", {"s3_bucket": "b", "s3_ca_bundle": "/nonexistent/ca.pem"}, "s3_ca_bundle"),
    ("s3", {"s3_bucket": "b", "s3_max_attempts": 0}, "s3_max_attempts"),
    ("s3", {"s3_bucket": "b", "storage_timeout": 0}, "storage_timeout"),
    ("redis", {}, "redis_url"),
    ("redis", {"redis_url": "http://h"}, "redis_url"),
    ("redis", {"redis_url": "redis://h", "redis_prefix": "a b"}, "redis_prefix"),
])
def test_bad_values_name_the_field(kind, options, field):
    with pytest.raises(InputError) as err:
        open_backend(kind, options)
    assert err.value.field == field


def test_s3_defaults_to_server_side_encryption():
    backend = open_backend("s3", {"s3_bucket": "b", "s3_region": "us-east-1", "s3_access_key": "a",
                                  "s3_secret_key": "s", "s3_prefix": "/team/certs/"})
    assert backend.sse_args == {"ServerSideEncryption": "AES256"}
    assert backend.prefix == "team/certs/" and backend.describe() == "s3://b/team/certs/"
    kms = open_backend("s3", {"s3_bucket": "b", "s3_region": "us-east-1", "s3_access_key": "a", "s3_secret_key": "s",
                              "s3_sse": "aws:kms", "s3_kms_key_id": "alias/certs"})
    assert kms.sse_args == {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/certs"}
    plain = open_backend("s3", {"s3_bucket": "b", "s3_region": "us-east-1", "s3_sse": "none", "s3_access_key": "a",
                                "s3_secret_key": "s"})
    assert plain.sse_args == {}


def test_redis_url_password_never_appears_in_descriptions():
    from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.redis_store import redact_url
    backend = open_backend("redis", {"redis_url": "redis://user:s3cret@cache.example:6380/2"})
    assert "s3cret" not in backend.describe() and "cache.example:6380/2" in backend.describe()
    assert redact_url("rediss://:pw@h/0") == "rediss://***@h/0"
    assert redact_url("redis://h:6379") == "redis://h:6379"


def test_argument_spec_mirrors_the_doc_fragment():
    from ansible_collections.autotls.acme.plugins.doc_fragments.storage import ModuleDocFragment
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = argument_spec()
    assert set(documented) == set(spec)
    for name, doc in documented.items():
        assert doc["type"] == spec[name]["type"], name
        assert doc.get("choices") == spec[name].get("choices"), name
        assert "default" not in spec[name] and "default" not in doc, name
    known = set().union(*BACKEND_OPTIONS.values()) | {"backend", "storage_timeout"}
    assert known == set(spec)
    assert spec["s3_secret_key"]["no_log"] and spec["s3_session_token"]["no_log"] and spec["redis_url"]["no_log"]
