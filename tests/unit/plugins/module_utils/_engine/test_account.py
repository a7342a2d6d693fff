"""Contact validation and account key handling, before anything reaches a CA."""
import os
import stat

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import account, inputs, keys
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError


def test_contacts_become_mailto_uris():
    assert inputs.validate_contacts(["ops@example.com", "mailto:sec@example.org"]) == [
        "mailto:ops@example.com", "mailto:sec@example.org"]


@pytest.mark.parametrize("contacts, message", [
    ([], "at least one contact email address is required"),
    (None, "at least one contact email address is required"),
    ([""], "a contact email address is empty"),
    (["mailto:"], "a contact email address is empty"),
    (["ops"], "'ops' is not a valid email address"),
    (["ops@localhost"], "not a valid email address"),
    (["a@b.com,c@d.com"], "not a valid email address"),
    (["ops@example.com", "two words@example.com"], "not a valid email address"),
])
def test_bad_contacts_name_the_field(contacts, message):
    with pytest.raises(InputError) as err:
        inputs.validate_contacts(contacts)
    assert err.value.field == "contact" and message in err.value.msg


def test_contacts_optional_when_not_required():
    assert inputs.validate_contacts([], required=False) == []


def test_missing_account_key_is_generated_0600(tmp_path):
    path = tmp_path / "acme" / "account.key"
    key, generated = account.load_account_key(str(path))
    assert generated and keys.key_type_of(key) == "ecdsa-p256"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    again, generated = account.load_account_key(str(path))
    assert not generated and keys.public_key_sha256(again) == keys.public_key_sha256(key)


def test_check_mode_generates_nothing_on_disk(tmp_path):
    _key, generated = account.load_account_key(str(tmp_path / "account.key"), check_mode=True)
    assert generated and os.listdir(tmp_path) == []


def test_missing_key_without_creation_names_the_field(tmp_path):
    with pytest.raises(InputError, match="account_key_path: .* does not exist"):
        account.load_account_key(str(tmp_path / "none.key"), create=False)


def test_key_content_wins_and_is_validated():
    with pytest.raises(InputError, match="account_key_content: not a readable PEM private key"):
        account.load_account_key(content="-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
