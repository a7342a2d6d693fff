"""Challenge tokens become file names only when they are base64url."""
import os
import stat

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import challenge
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import ChallengeError, InputError


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
    with pytest.raises(InputError, match="webroot: .* does not exist"):
        challenge.publish(str(tmp_path / "nope"), [challenge.ChallengeFile("a.example.com", "tok", "c")])


def test_a_webroot_that_is_a_file_or_not_writable_is_refused(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(InputError, match="webroot: .* is not a directory"):
        challenge.check_webroot(str(afile))
    with pytest.raises(InputError, match="webroot: must be an absolute path"):
        challenge.check_webroot("relative/dir")
    with pytest.raises(InputError, match="webroot: must be the path"):
        challenge.check_webroot("")
    # cleanup after a failure never raises (it would hide the real error)
    challenge.remove(str(afile), [challenge.ChallengeFile("a.example.com", "tok", "c")])


def test_a_symlinked_challenge_directory_is_refused_unless_followed(tmp_path):
    webroot = tmp_path / "www"
    (webroot / ".well-known").mkdir(parents=True)
    target = tmp_path / "elsewhere"
    target.mkdir()
    link = webroot / ".well-known" / "acme-challenge"
    link.symlink_to(target)
    os.lchown(str(link), 65534, 65534)   # made by the (unprivileged) owner of the webroot
    files = [challenge.ChallengeFile("a.example.com", "tok", "c")]
    with pytest.raises(InputError, match="webroot: .*acme-challenge is a symlink"):
        challenge.publish(str(webroot), files)
    assert os.listdir(str(target)) == []
    challenge.publish(str(webroot), files, follow_symlinks=True)
    assert os.listdir(str(target)) == ["tok"]
