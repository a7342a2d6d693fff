"""Challenge tokens become file names only when they are base64url."""
import os
import stat

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import challenge
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import ChallengeError


@pytest.mark.parametrize("token", ["../../etc/passwd", "a/b", "a\x00b", "", "tok en", "abc=", None, "..", "a.b"])
def test_unsafe_tokens_are_refused(token, tmp_path):
    with pytest.raises(ChallengeError, match="not base64url"):
        challenge.publish(str(tmp_path), [challenge.ChallengeFile("x.example.com", token, "content")])
    assert not os.path.exists(tmp_path / ".well-known")


def test_publish_and_remove(tmp_path):
    files = [challenge.ChallengeFile("a.example.com", "tok-EN_123", "tok-EN_123.thumb")]
    written = challenge.publish(str(tmp_path), files)
    path = tmp_path / ".well-known" / "acme-challenge" / "tok-EN_123"
    assert written == [str(path)]
    assert path.read_text() == "tok-EN_123.thumb"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # the web server must read it
    assert files[0].to_result()["path"] == ".well-known/acme-challenge/tok-EN_123"
    challenge.remove(str(tmp_path), files)
    assert not path.exists()
    challenge.remove(str(tmp_path), files)  # idempotent


def test_missing_webroot_is_named(tmp_path):
    with pytest.raises(ChallengeError, match="webroot: .* is not a directory"):
        challenge.publish(str(tmp_path / "nope"), [challenge.ChallengeFile("a.example.com", "tok", "c")])
