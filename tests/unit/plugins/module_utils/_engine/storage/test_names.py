"""Names and keys: what may become a file path or an object key."""
import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import base, bundles

STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"


@pytest.mark.parametrize("name", ["www.example.com", "web-frontend", "*.example.com", "a_b", "x1", "a@b+c=d,e~f",
                                  "A" * 200])
def test_good_names(name):
    assert bundles.validate_name(name) == name


@pytest.mark.parametrize("name, problem", [
    ("", "non-empty"),
    (None, "non-empty"),
    ("../etc", "path separator"),
    ("a/b", "path separator"),
    ("a\\b", "path separator"),
    ("..", "'..'"),
    ("a..b", "'..'"),
    ("x\x00y", "control character"),
    ("x\ny", "control character"),
    ("x\x7fy", "control character"),
    (".hidden", "must not start with '.'"),
    ("a" * 201, "longer than 200"),
    ("sp ace", "may only contain"),
    ("ümlaut", "may only contain"),
    ("-dash-first", "may only contain"),
])
def test_bad_names_are_refused_naming_the_field(name, problem):
    with pytest.raises(InputError) as err:
        bundles.validate_name(name, "names")
    assert err.value.field == "names" and problem in err.value.msg and err.value.msg.startswith("names: ")


def test_control_characters_are_escaped_in_messages():
    with pytest.raises(InputError) as err:
        bundles.validate_name("a\x1b[31mred")
    assert "\x1b" not in err.value.msg and "\\x1b" in err.value.msg


def test_directory_slug_separates_directories_and_is_a_safe_key_component():
    staging, production = bundles.directory_slug(STAGING), bundles.directory_slug(PRODUCTION)
    assert staging != production
    assert staging.startswith("acme-staging-v02.api.letsencrypt.org-directory-")
    assert bundles.directory_slug(STAGING + "/") == staging          # a trailing slash is the same directory
    assert bundles.directory_slug("https://127.0.0.1:14000/dir").startswith("127.0.0.1-14000-dir-")
    # same readable part, different URL: the hash keeps them apart
    assert bundles.directory_slug("https://ca.example/a-b") != bundles.directory_slug("https://ca.example/a/b")
    for url in (STAGING, PRODUCTION, "https://x.example/" + "../" * 30 + "dir", "https://x.example:8443/A B/..."):
        slug = bundles.directory_slug(url)
        assert base.check_key(slug) == slug and ".." not in slug and len(slug) <= 71


@pytest.mark.parametrize("url", ["", None, "ftp://ca.example/dir", "not a url", "https:///nohost"])
def test_bad_directory_urls(url):
    with pytest.raises(InputError) as err:
        bundles.directory_slug(url)
    assert err.value.field == "acme_directory"


@pytest.mark.parametrize("key", ["a", "a/b/c.json", "certs/x-1/www.example.com/current.json", "v/2026.1Z-ab/k.pem"])
def test_good_keys(key):
    assert base.check_key(key) == key


@pytest.mark.parametrize("key", ["", "/a", "a/", "a//b", "../a", "a/../b", "a/..", ".a", "a/.b", "a b", "a\tb",
                                 "locks", "locks/a", "x" * 901])
def test_bad_keys(key):
    with pytest.raises(InputError):
        base.check_key(key)


def test_reserved_prefix_is_allowed_only_when_asked():
    assert base.check_key("locks/a", allow_reserved=True) == "locks/a"


def test_ttl_bounds():
    assert base.check_ttl("30") == 30.0
    for bad in (0, 0.5, -1, 8 * 86400, "x", None):
        with pytest.raises(InputError) as err:
            base.check_ttl(bad)
        assert err.value.field == "lock_ttl"
