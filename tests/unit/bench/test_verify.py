"""bench.verify and the contenders' verify(): a run counts only when it really did the work."""
import datetime
import os
import shutil
import time
import types

import pytest

from bench import verify
from bench.contenders.certbot import CertbotIssue
from bench.contenders.floor import Floor
from bench.verify import VerifyError

from .pki import Chain, entry


@pytest.fixture(name="chain", scope="module")
def chain_fixture(tmp_path_factory):
    return Chain(str(tmp_path_factory.mktemp("pki")))


def issue(chain, out, names, **kwargs):
    for name in names:
        chain.leaf(out, name, **kwargs)
    return [entry(out, name) for name in names]


def test_good_certificates_pass(chain, tmp_path):
    entries = issue(chain, str(tmp_path), ["a.example.com", "b.example.com"])
    verify.verify_certificates(entries, chain.root_path, time.time())


def test_missing_certificate_is_rejected(chain, tmp_path):
    entries = issue(chain, str(tmp_path), ["a.example.com", "b.example.com"])
    os.remove(entries[1]["fullchain"])
    with pytest.raises(VerifyError, match=r"1 of 2 certificates bad: b\.example\.com: missing .*fullchain\.pem"):
        verify.verify_certificates(entries, chain.root_path, time.time())


def test_wrong_name_is_rejected(chain, tmp_path):
    chain.leaf(str(tmp_path), "a.example.com", names=("a.example.com", "extra.example.com"))
    with pytest.raises(VerifyError, match=r"certificate names \['a.example.com', 'extra.example.com'\]"):
        verify.verify_certificates([entry(str(tmp_path), "a.example.com")], chain.root_path, time.time())


def test_leaf_without_intermediate_is_rejected(chain, tmp_path):
    chain.leaf(str(tmp_path), "a.example.com", chain=False)
    with pytest.raises(VerifyError, match="fullchain has 1 certificate"):
        verify.verify_certificates([entry(str(tmp_path), "a.example.com")], chain.root_path, time.time())


def test_certificate_older_than_the_run_is_rejected(chain, tmp_path):
    """A certificate left over from before the run (notBefore earlier than start - slack) was not issued by it."""
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    entries = issue(chain, str(tmp_path), ["a.example.com"], not_before=old)
    with pytest.raises(VerifyError, match="before this run started"):
        verify.verify_certificates(entries, chain.root_path, time.time())
    # the same certificate counts for a run that started before it
    verify.verify_certificates(entries, chain.root_path, time.time() - 7200)


def test_other_root_is_rejected(chain, tmp_path):
    entries = issue(chain, str(tmp_path), ["a.example.com"])
    other = Chain(str(tmp_path), cn="another root")
    with pytest.raises(VerifyError, match="1 of 1 certificates bad: a.example.com"):
        verify.verify_certificates(entries, other.root_path, time.time())


def test_key_not_matching_is_rejected(chain, tmp_path):
    entries = issue(chain, str(tmp_path), ["a.example.com", "b.example.com"])
    shutil.copy(entries[1]["key"], entries[0]["key"])
    with pytest.raises(VerifyError, match="a.example.com: private key does not match"):
        verify.verify_certificates(entries, chain.root_path, time.time())


def test_cert_file_not_the_leaf_is_rejected(chain, tmp_path):
    entries = issue(chain, str(tmp_path), ["a.example.com", "b.example.com"])
    shutil.copy(entries[1]["cert"], entries[0]["cert"])
    with pytest.raises(VerifyError, match="is not the fullchain's leaf"):
        verify.verify_certificates(entries, chain.root_path, time.time())


def test_floor_contender_missing_a_certificate_is_rejected(chain, tmp_path):
    """Floor.verify checks <dir>/out/<name>/ for every name it was asked for."""
    floor = Floor()
    floor.dir, floor.names, floor.started = str(tmp_path), ["c0.example.com", "c1.example.com"], time.time()
    ctx = types.SimpleNamespace(stack=types.SimpleNamespace(root=chain.root_path))
    chain.leaf(os.path.join(floor.dir, "out"), "c0.example.com")
    with pytest.raises(VerifyError, match="c1.example.com: missing"):
        floor.verify(ctx, 2, None)
    chain.leaf(os.path.join(floor.dir, "out"), "c1.example.com")
    floor.verify(ctx, 2, None)


def test_certbot_contender_reads_its_live_directory(chain, tmp_path):
    certbot = CertbotIssue()
    certbot.dir, certbot.names, certbot.started = str(tmp_path), ["c0.example.com"], time.time()
    ctx = types.SimpleNamespace(stack=types.SimpleNamespace(root=chain.root_path))
    chain.leaf(os.path.join(certbot.dir, "out"), "c0.example.com")  # not where certbot keeps it
    with pytest.raises(VerifyError, match="missing"):
        certbot.verify(ctx, 1, None)
    chain.leaf(os.path.join(certbot.dir, "config", "live"), "c0.example.com")
    certbot.verify(ctx, 1, None)


RECAP_OK = """
PLAY RECAP *********************************************************************
localhost                  : ok=4    changed=2    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0
"""


def test_recap_parsed_from_the_last_play_recap():
    text = RECAP_OK.replace("failed=0", "failed=1") + RECAP_OK
    assert verify.ansible_recap(text) == {"host": "localhost", "ok": 4, "changed": 2, "unreachable": 0,
                                          "failed": 0}


def test_recap_missing_is_rejected():
    with pytest.raises(VerifyError, match="no PLAY RECAP"):
        verify.ansible_recap("ERROR! the playbook could not be found\n")


@pytest.mark.parametrize("text, noop, error", [
    (RECAP_OK, False, None),
    (RECAP_OK, True, "changed=2 on a no-op run"),
    (RECAP_OK.replace("changed=2", "changed=0"), True, None),
    (RECAP_OK.replace("failed=0", "failed=1"), False, "failed=1 unreachable=0"),
    (RECAP_OK.replace("unreachable=0", "unreachable=1"), True, "failed=0 unreachable=1"),
])
def test_check_recap(tmp_path, text, noop, error):
    log = tmp_path / "run.log"
    log.write_text("$ ansible-playbook ...\n" + text)
    if error is None:
        verify.check_recap(str(log), noop)
    else:
        with pytest.raises(VerifyError, match=error):
            verify.check_recap(str(log), noop)


def test_snapshot_comparison_catches_every_change(tmp_path):
    top = tmp_path / "certs"
    (top / "a").mkdir(parents=True)
    (top / "a" / "cert.pem").write_bytes(b"one")
    (top / "a" / "link.pem").symlink_to("cert.pem")
    before = verify.snapshot(str(top))
    verify.compare_snapshots(before, verify.snapshot(str(top)))  # nothing happened

    (top / "a" / "cert.pem").write_bytes(b"two")
    (top / "a" / "new.pem").write_bytes(b"")
    with pytest.raises(VerifyError, match=r"changed 2 file\(s\): a/cert.pem changed, a/new.pem added"):
        verify.compare_snapshots(before, verify.snapshot(str(top)))


def test_snapshot_mode_change_counts_and_normalize_may_excuse(tmp_path):
    top = tmp_path / "certs"
    top.mkdir()
    (top / "privkey.pem").write_bytes(b"key")
    before = verify.snapshot(str(top))
    os.chmod(top / "privkey.pem", 0o644 if before["privkey.pem"][3] & 0o777 != 0o644 else 0o600)
    after = verify.snapshot(str(top))
    with pytest.raises(VerifyError, match="privkey.pem changed"):
        verify.compare_snapshots(before, after)
    verify.compare_snapshots(before, after, normalize=lambda rel, old, new: rel == "privkey.pem")


def test_snapshot_skip(tmp_path):
    (tmp_path / "keep").write_bytes(b"x")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "f").write_bytes(b"y")
    assert set(verify.snapshot(str(tmp_path), skip=("cache",))) == {"keep"}


CERTBOT_NOOP = """Saving debug log to /tmp/letsencrypt.log

- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -
Processing /x/config/renewal/s0000.seed.bench.example.com.conf
- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -
Certificate not yet due for renewal

- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -
The following certificates are not due for renewal yet:
  /x/config/live/s0000.seed.bench.example.com/fullchain.pem expires on 2031-11-28 (skipped)
  /x/config/live/s0001.seed.bench.example.com/fullchain.pem expires on 2031-11-28 (skipped)
No renewals were attempted.
- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -
"""


def test_certbot_noop_output():
    verify.check_certbot_noop(CERTBOT_NOOP, 2)
    with pytest.raises(VerifyError, match="3 skipped lineages, got 2"):
        verify.check_certbot_noop(CERTBOT_NOOP, 3)
    renewed = CERTBOT_NOOP.replace("No renewals were attempted.", "Congratulations, all renewals succeeded:")
    with pytest.raises(VerifyError, match="expected 'No renewals were attempted.'"):
        verify.check_certbot_noop(renewed, 2)


PEBBLE_LOG = """Pebble 2024/01/01 10:00:00 Listening on: 0.0.0.0:14000
Pebble 2024/01/01 10:00:01 There are now 1 accounts in memory
Pebble 2024/01/01 10:00:01 Added order "abc" to the db
Pebble 2024/01/01 10:00:01 Added order "abd" to the db
Pebble 2024/01/01 10:00:02 Added authorization "xyz" to the db
Pebble 2024/01/01 10:00:03 Added order "abe" to the db
"""


def test_pebble_orders_counts_only_orders():
    assert verify.pebble_orders(PEBBLE_LOG) == 3
    assert verify.pebble_orders("") == 0


def test_hosts_recap_needs_every_host_and_no_failure(tmp_path):
    from bench.contenders.hosts import check_recap_hosts
    line = "%s            : ok=4    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0\n"
    log = tmp_path / "run.log"
    log.write_text("PLAY RECAP ****\n" + line % "localhost" + line % "h001" + line % "h002")
    check_recap_hosts(str(log), ["h001", "h002"], noop=True)
    with pytest.raises(VerifyError, match="1 host.s. missing from the PLAY RECAP: h003"):
        check_recap_hosts(str(log), ["h001", "h002", "h003"], noop=True)
    log.write_text("PLAY RECAP ****\n" + (line % "h001").replace("changed=0", "changed=1") + line % "h002")
    with pytest.raises(VerifyError, match="changed=1 on a no-op run .h001."):
        check_recap_hosts(str(log), ["h001", "h002"], noop=True)
