"""probe.served_certificate over STARTTLS (SMTP, IMAP, POP3) against small scripted servers on loopback.

The real Postfix and Dovecot are exercised by tests/integration/servers; these pin the protocol details
(multi-line replies, capability parsing) and the error when a server does not offer STARTTLS.
"""
import datetime
import socket
import ssl
import threading

import pytest
from cryptography.hazmat.primitives import serialization

from ansible_collections.autotls.acme.plugins.module_utils._engine import keys, probe
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import EngineError

from .certs import make_cert

# (greeting, {command: reply}, command that starts TLS, its reply)
DIALOGUES = {
    "smtp": ("220 mail.example.com ESMTP\r\n",
             {"EHLO": "250-mail.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n"
                      "250 8BITMIME\r\n"},
             "STARTTLS", "220 2.0.0 Ready to start TLS\r\n"),
    "imap": ("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] ready\r\n",
             {"a1": "* CAPABILITY IMAP4rev1 SASL-IR STARTTLS LOGINDISABLED\r\na1 OK done\r\n"},
             "a2", "a2 OK Begin TLS negotiation now\r\n"),
    "pop3": ("+OK ready\r\n",
             {"CAPA": "+OK\r\nTOP\r\nUIDL\r\nSTLS\r\nSASL\r\n.\r\n"},
             "STLS", "+OK Begin TLS negotiation\r\n"),
}


class Server:
    """One connection: the plaintext dialogue, then (if STARTTLS is offered and asked) a TLS handshake."""

    def __init__(self, protocol, offer=True, tmp_path=None):
        greeting, replies, self.start, self.start_reply = DIALOGUES[protocol]
        if not offer:
            replies = {cmd: reply.replace("250-STARTTLS\r\n", "").replace(" STARTTLS", "").replace("STLS\r\n", "")
                       for cmd, reply in replies.items()}
        self.greeting, self.replies = greeting, replies
        cert_pem, key = make_cert(("mail.example.com",), not_before=datetime.datetime.now(datetime.timezone.utc)
                                  - datetime.timedelta(days=1))
        (tmp_path / "cert.pem").write_bytes(cert_pem)
        (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
        self.serial = keys.parse_certificate(cert_pem).serial
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.commands = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn = self.listener.accept()[0]
        conn.settimeout(5)
        reader = conn.makefile("rb")
        conn.sendall(self.greeting.encode())
        try:
            for raw in reader:
                line = raw.decode("utf-8", "replace").strip()
                self.commands.append(line)
                word = line.split(" ")[0]
                if word == self.start and (self.start != "a2" or line.endswith("STARTTLS")):
                    conn.sendall(self.start_reply.encode())
                    with self.context.wrap_socket(conn, server_side=True) as tls:
                        tls.recv(1)   # until the client closes
                    return
                if word in self.replies:
                    conn.sendall(self.replies[word].encode())
                elif line.upper() in ("QUIT", "A2 LOGOUT"):
                    return
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()
            self.listener.close()


@pytest.mark.parametrize("protocol", ["smtp", "imap", "pop3"])
def test_starttls_upgrades_and_reads_the_served_certificate(protocol, tmp_path):
    server = Server(protocol, tmp_path=tmp_path)
    result = probe.served_certificate("127.0.0.1", server.port, "mail.example.com", timeout=5, pinned=True,
                                      starttls=protocol)
    assert result["serial"] == server.serial and result["starttls"] == protocol
    assert server.commands[-1] in ("STARTTLS", "a2 STARTTLS", "STLS")


@pytest.mark.parametrize("protocol, offered", [("smtp", "PIPELINING, SIZE, 8BITMIME"),
                                               ("imap", "IMAP4REV1 SASL-IR LOGINDISABLED"),
                                               ("pop3", "TOP, UIDL, SASL")])
def test_a_server_without_starttls_is_a_clear_error(protocol, offered, tmp_path):
    server = Server(protocol, offer=False, tmp_path=tmp_path)
    with pytest.raises(probe.StartTLSNotOffered) as err:
        probe.served_certificate("127.0.0.1", server.port, "mail.example.com", timeout=5, pinned=True,
                                 starttls=protocol)
    label = "SMTP EHLO extensions" if protocol == "smtp" else protocol.upper() + " capabilities"
    assert err.value.msg == "127.0.0.1:%d does not offer STARTTLS (%s: %s)" % (server.port, label, offered)
    assert err.value.details["starttls"] == protocol
    # the client said goodbye instead of trying STARTTLS anyway
    server.thread.join(5)
    assert server.commands[-1] in ("QUIT", "a2 LOGOUT")


def test_plain_tls_sent_to_a_starttls_port_names_the_protocol(tmp_path):
    server = Server("smtp", tmp_path=tmp_path)
    with pytest.raises(EngineError, match="cannot complete a TLS handshake with 127.0.0.1:%d" % server.port):
        probe.served_certificate("127.0.0.1", server.port, "mail.example.com", timeout=1, pinned=True)


def test_unknown_starttls_protocol_is_refused():
    with pytest.raises(EngineError, match="starttls must be one of smtp, imap, pop3"):
        probe.served_certificate("127.0.0.1", 1, "x", starttls="ftp")
