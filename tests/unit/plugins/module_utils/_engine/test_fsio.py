"""Atomic writes: modes, idempotence, switching several files together, rollback."""
import os
import stat

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import fsio
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import EngineError


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_key_is_never_readable_by_others_even_with_a_loose_umask(tmp_path):
    old = os.umask(0)
    try:
        path = tmp_path / "sub" / "key.pem"
        assert fsio.write_atomic(fsio.FileSpec(str(path), b"secret", fsio.KEY_MODE), dir_mode=0o700)
    finally:
        os.umask(old)
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert path.read_bytes() == b"secret"


def test_rewrite_is_idempotent_and_fixes_mode(tmp_path):
    path = str(tmp_path / "cert.pem")
    spec = fsio.FileSpec(path, b"cert", 0o644)
    assert fsio.write_atomic(spec)
    assert not fsio.write_atomic(spec)
    os.chmod(path, 0o666)
    assert fsio.write_atomic(spec) and mode(path) == 0o644


def test_no_temp_files_are_left_behind(tmp_path):
    fsio.write_together([fsio.FileSpec(str(tmp_path / n), n.encode()) for n in ("a", "b", "c")])
    fsio.write_together([fsio.FileSpec(str(tmp_path / n), b"new " + n.encode()) for n in ("a", "b", "c")])
    assert sorted(os.listdir(tmp_path)) == ["a", "b", "c"]
    assert (tmp_path / "b").read_bytes() == b"new b"


def test_only_changed_files_are_reported(tmp_path):
    fsio.write_together([fsio.FileSpec(str(tmp_path / "k"), b"k1", 0o600), fsio.FileSpec(str(tmp_path / "c"), b"c1")])
    changed = fsio.write_together([fsio.FileSpec(str(tmp_path / "k"), b"k1", 0o600),
                                   fsio.FileSpec(str(tmp_path / "c"), b"c2")])
    assert changed == [str(tmp_path / "c")]


def test_failed_switch_rolls_back_the_files_already_replaced(tmp_path, monkeypatch):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    key.write_bytes(b"old key")
    cert.write_bytes(b"old cert")
    real_rename = os.rename
    calls = []

    def rename(src, dst):
        calls.append(dst)
        if str(dst) == str(cert) and src.endswith(".tmp"):
            raise OSError(28, "No space left on device", str(dst))
        return real_rename(src, dst)

    monkeypatch.setattr(fsio.os, "rename", rename)
    with pytest.raises(EngineError, match="cannot replace"):
        fsio.write_together([fsio.FileSpec(str(key), b"new key", 0o600), fsio.FileSpec(str(cert), b"new cert")])
    assert key.read_bytes() == b"old key" and cert.read_bytes() == b"old cert"
    assert sorted(os.listdir(tmp_path)) == ["cert.pem", "key.pem"]


def test_unusable_directory_is_reported_and_nothing_is_left(tmp_path):
    blocker = tmp_path / "certs"
    blocker.write_bytes(b"a file where a directory should be")
    with pytest.raises(EngineError, match="cannot write"):
        fsio.write_together([fsio.FileSpec(str(tmp_path / "key.pem"), b"k", 0o600),
                             fsio.FileSpec(str(blocker / "cert.pem"), b"c")])
    assert sorted(os.listdir(tmp_path)) == ["certs"]  # the key was not written alone


def test_owner_group_and_mode_parsing_names_the_field():
    assert fsio.uid_of("root") == 0 and fsio.uid_of("0") == 0 and fsio.uid_of(None) is None
    assert fsio.gid_of("root") == 0 and fsio.gid_of("") is None
    with pytest.raises(EngineError, match="owner: no such user or group 'no-such-user-x'"):
        fsio.uid_of("no-such-user-x")
    assert fsio.mode_of("0640", "mode") == 0o640 and fsio.mode_of(None, "mode", 0o600) == 0o600
    with pytest.raises(EngineError, match="key_mode: must be an octal mode"):
        fsio.mode_of("rw-r--r--", "key_mode")
    with pytest.raises(EngineError, match="mode: 10000 is not a file mode"):
        fsio.mode_of("10000", "mode")


def test_needs_write_judges_content_by_a_digest_when_asked(tmp_path):
    import hashlib
    path = str(tmp_path / "cert.pem")
    spec = fsio.FileSpec(path, b"", 0o644)
    digest = hashlib.sha256(b"the certificate").hexdigest()

    def same(data):
        return hashlib.sha256(data).hexdigest() == digest
    assert fsio.needs_write(spec, same)   # missing
    fsio.write_atomic(fsio.FileSpec(path, b"the certificate", 0o644))
    assert not fsio.needs_write(spec, same)
    assert fsio.needs_write(spec, lambda data: False)
    assert fsio.needs_write(fsio.FileSpec(path, b"", 0o600), same)   # mode differs


def test_cert_deploy_compares_through_needs_write(tmp_path):
    import hashlib
    from ansible_collections.autotls.acme.plugins.module_utils._engine import deployed
    path = str(tmp_path / "fullchain.pem")
    digest = hashlib.sha256(b"chain").hexdigest()
    assert deployed.stale(path, digest, 0o644, None, None)
    fsio.write_atomic(fsio.FileSpec(path, b"chain", 0o644))
    assert not deployed.stale(path, digest, 0o644, None, None)
    assert deployed.stale(path, digest, 0o640, None, None)
    assert deployed.stale(path, hashlib.sha256(b"other").hexdigest(), 0o644, None, None)
    assert deployed.stale(path, None, 0o644, None, None)   # no digest known: never current
    assert deployed.stale(path, digest, 0o644, os.getuid() + 1, None)


def test_cert_deploy_compares_a_combined_file_by_its_parts(tmp_path):
    import hashlib
    from ansible_collections.autotls.acme.plugins.module_utils._engine import deployed
    key, chain = b"KEY\n", b"LEAF\nINTERMEDIATE\n"
    parts = [hashlib.sha256(key).hexdigest(), hashlib.sha256(chain).hexdigest()]
    path = str(tmp_path / "haproxy.pem")
    assert deployed.stale(path, None, 0o600, None, None, parts)
    fsio.write_atomic(fsio.FileSpec(path, key + chain, 0o600))
    assert not deployed.stale(path, None, 0o600, None, None, parts)
    assert deployed.stale(path, None, 0o600, None, None, list(reversed(parts)))
    assert deployed.stale(path, None, 0o644, None, None, parts)


def test_symlinks_are_refused_unless_trusted_or_followed(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    private = tmp_path / "private"
    private.mkdir(mode=0o755)
    os.chmod(str(private), 0o755)
    trusted = private / "link"
    trusted.symlink_to(target)   # ours, in a directory only its owner can write: like /var/run -> /run
    assert fsio.write_atomic(fsio.FileSpec(str(trusted / "a.pem"), b"a"))
    os.lchown(str(trusted), 65534, 65534)   # someone else's link
    with pytest.raises(EngineError, match="is a symlink .* that this run did not create"):
        fsio.write_atomic(fsio.FileSpec(str(trusted / "b.pem"), b"b"))
    assert fsio.write_atomic(fsio.FileSpec(str(trusted / "b.pem"), b"b"), follow_symlinks=True)
    leaf = tmp_path / "leaf.pem"
    leaf.symlink_to(target / "a.pem")
    with pytest.raises(EngineError, match="is a symlink"):
        fsio.write_atomic(fsio.FileSpec(str(leaf), b"x", 0o600))
    assert (target / "a.pem").read_bytes() == b"a"   # nothing written through the link


def test_key_directories_are_private_and_ownership_is_set_on_descriptors(tmp_path):
    key = fsio.FileSpec(str(tmp_path / "k" / "key.pem"), b"k", fsio.KEY_MODE, owner=0, group=0)
    cert = fsio.FileSpec(str(tmp_path / "k" / "cert.pem"), b"c", fsio.PUBLIC_MODE, owner=0, group=0)
    assert fsio.dir_mode_for([cert]) == 0o755 and fsio.dir_mode_for([key, cert]) == 0o750
    assert fsio.dir_mode_for([fsio.FileSpec("/x", b"", fsio.KEY_MODE)]) == 0o700
    assert sorted(fsio.write_together([key, cert])) == sorted([key.path, cert.path])
    assert oct(os.stat(str(tmp_path / "k")).st_mode & 0o777) == "0o750"
    assert not fsio.needs_write(key)
    assert fsio.needs_write(fsio.FileSpec(key.path, b"k", fsio.KEY_MODE, owner=65534))
    assert fsio.needs_write(fsio.FileSpec(key.path, b"k", fsio.KEY_MODE, group=65534))
    with pytest.raises(EngineError, match="mode: a file mode is required"):
        fsio.mode_of("", "mode")
    created = fsio.ensure_dir(str(tmp_path / "a" / "b"), 0o700)
    assert created == [str(tmp_path / "a"), str(tmp_path / "a" / "b")] and fsio.ensure_dir(str(tmp_path / "a")) == []
