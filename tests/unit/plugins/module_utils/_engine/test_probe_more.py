"""STARTTLS dialogues against a scripted socket (no network): servers that greet wrongly, refuse, never stop
talking, hang up, or whose connection fails mid-exchange."""
import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import probe
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import EngineError


class ScriptedSocket:
    """recv() hands out the scripted chunks one by one (b"" once they run out); sendall() records."""

    def __init__(self, *chunks, fail_with=None):
        self.chunks, self.sent, self.fail_with = list(chunks), [], fail_with

    def recv(self, size):
        if self.fail_with is not None and not self.chunks:
            raise self.fail_with
        return self.chunks.pop(0) if self.chunks else b""

    def sendall(self, data):
        self.sent.append(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def dialogue(protocol, *chunks):
    sock = ScriptedSocket(*chunks)
    probe._STARTTLS[protocol](probe._Lines(sock, "mx:25"), "mx:25")
    return sock.sent


def test_lines_are_split_across_and_within_chunks():
    lines = probe._Lines(ScriptedSocket(b"220 mx ES", b"MTP\r\n250 ok\r\n"), "mx:25")
    assert lines.read() == "220 mx ESMTP" and lines.read() == "250 ok"
    with pytest.raises(EngineError, match="mx:25 closed the connection during the STARTTLS exchange"):
        lines.read()


def test_an_endless_line_is_refused(monkeypatch):
    monkeypatch.setattr(probe, "MAX_LINE", 10)
    lines = probe._Lines(ScriptedSocket(b"x" * 8, b"y" * 8, b"\r\n"), "mx:25")
    with pytest.raises(EngineError, match="sent a line longer than 10 bytes"):
        lines.read()


def test_smtp_full_upgrade_sends_ehlo_then_starttls():
    sent = dialogue("smtp", b"220-mx.example.com\r\n220 ESMTP\r\n", b"250-mx\r\n250-SIZE 1000\r\n250 STARTTLS\r\n",
                    b"220 go ahead\r\n")
    assert sent == [b"EHLO autotls-check.invalid\r\n", b"STARTTLS\r\n"]


@pytest.mark.parametrize("chunks, words", [
    ((b"554 go away\r\n",), "did not greet as an SMTP server: 554 go away"),
    ((b"220 hi\r\n", b"502 no EHLO\r\n"), "refused EHLO: 502 no EHLO"),
    ((b"220 hi\r\n", b"250-mx\r\n250 STARTTLS\r\n", b"454 TLS not available\r\n"),
     "refused STARTTLS: 454 TLS not available"),
])
def test_smtp_refusals_are_named(chunks, words):
    with pytest.raises(EngineError, match=words):
        dialogue("smtp", *chunks)


def test_an_endless_smtp_reply_is_refused(monkeypatch):
    monkeypatch.setattr(probe, "MAX_LINES", 3)
    with pytest.raises(EngineError, match="mx:25 sent an endless SMTP reply"):
        dialogue("smtp", b"220-a\r\n220-b\r\n220-c\r\n220-d\r\n220 e\r\n")


def test_imap_greeting_endless_response_and_refused_starttls(monkeypatch):
    with pytest.raises(EngineError, match="did not greet as an IMAP server: \\* BYE"):
        dialogue("imap", b"* BYE busy\r\n")
    with pytest.raises(EngineError, match="refused STARTTLS: NO not now"):
        dialogue("imap", b"* OK ready\r\n", b"* CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK done\r\n", b"a2 NO not now\r\n")
    sent = dialogue("imap", b"* OK ready\r\n", b"* CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK\r\n", b"a2 OK begin\r\n")
    assert sent == [b"a1 CAPABILITY\r\n", b"a2 STARTTLS\r\n"]
    monkeypatch.setattr(probe, "MAX_LINES", 2)
    with pytest.raises(EngineError, match="sent an endless IMAP response"):
        dialogue("imap", b"* OK ready\r\n", b"* x\r\n* y\r\n* z\r\n")


def test_pop3_greeting_refused_stls_and_a_failed_capa():
    with pytest.raises(EngineError, match="did not greet as a POP3 server: -ERR"):
        dialogue("pop3", b"-ERR no\r\n")
    with pytest.raises(EngineError, match="refused STLS: -ERR not today"):
        dialogue("pop3", b"+OK pop\r\n", b"+OK caps\r\nUSER\r\nSTLS\r\n.\r\n", b"-ERR not today\r\n")
    with pytest.raises(probe.StartTLSNotOffered, match="POP3 capabilities: none"):
        dialogue("pop3", b"+OK pop\r\n", b"-ERR no CAPA\r\n")


def test_a_connection_that_fails_during_starttls_names_the_protocol(monkeypatch):
    sock = ScriptedSocket(b"220 hi\r\n", fail_with=ConnectionResetError(104, "Connection reset by peer"))
    monkeypatch.setattr(probe.socket, "create_connection", lambda address, timeout: sock)
    with pytest.raises(EngineError) as err:
        probe.served_certificate("192.0.2.1", 25, "mx.example.com", starttls="smtp")
    assert "192.0.2.1:25: the SMTP STARTTLS exchange failed" in err.value.msg and "reset" in err.value.msg
    assert err.value.details["port"] == 25
