# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What certificate does a TLS server really serve? (the proof that a reload happened)

Over TLS from the first byte (HTTPS, IMAPS, SMTPS, POP3S, HAProxy...) or, for the mail
protocols, after STARTTLS: SMTP (RFC 3207: EHLO, STARTTLS), IMAP (RFC 9051: CAPABILITY,
STARTTLS) and POP3 (RFC 2595: CAPA, STLS). A server that does not offer STARTTLS is an
error saying so, with what it offered instead.
"""
from __future__ import annotations

import socket
import ssl

from . import keys
from .errors import EngineError

STARTTLS_PROTOCOLS = ("smtp", "imap", "pop3")
MAX_LINE = 8192
MAX_LINES = 200


class StartTLSNotOffered(EngineError):
    """The server answered but does not offer STARTTLS: probing again will not help."""


class _Lines:
    """CRLF lines read from a plain socket, one recv at a time (nothing is read past what the server sent
    before the TLS handshake)."""

    def __init__(self, sock: socket.socket, where: str) -> None:
        self.sock, self.where, self.buffer = sock, where, b""

    def read(self) -> str:
        while b"\n" not in self.buffer:
            if len(self.buffer) > MAX_LINE:
                raise EngineError("%s sent a line longer than %d bytes" % (self.where, MAX_LINE))
            data = self.sock.recv(4096)
            if not data:
                raise EngineError("%s closed the connection during the STARTTLS exchange" % self.where)
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def send(self, command: str) -> None:
        self.sock.sendall(command.encode() + b"\r\n")


def _smtp_reply(lines: _Lines) -> tuple[str, list[str]]:
    """(code, [text of each line]) of a possibly multi-line SMTP reply."""
    texts = []
    for _line in range(MAX_LINES):
        line = lines.read()
        texts.append(line[4:])
        if len(line) < 4 or line[3] != "-":
            return line[:3], texts
    raise EngineError("%s sent an endless SMTP reply" % lines.where)


def _starttls_smtp(lines: _Lines, where: str) -> None:
    code, texts = _smtp_reply(lines)
    if code != "220":
        raise EngineError("%s did not greet as an SMTP server: %s %s" % (where, code, " ".join(texts)))
    lines.send("EHLO autotls-check.invalid")
    code, texts = _smtp_reply(lines)
    if code != "250":
        raise EngineError("%s refused EHLO: %s %s" % (where, code, " ".join(texts)))
    extensions = [text.split(" ")[0].upper() for text in texts[1:]]
    if "STARTTLS" not in extensions:
        lines.send("QUIT")
        raise StartTLSNotOffered("%s does not offer STARTTLS (SMTP EHLO extensions: %s)" % (
            where, ", ".join(extensions) or "none"), starttls="smtp")
    lines.send("STARTTLS")
    code, texts = _smtp_reply(lines)
    if code != "220":
        raise EngineError("%s refused STARTTLS: %s %s" % (where, code, " ".join(texts)))


def _imap_tagged(lines: _Lines, tag: str) -> tuple[list[str], str]:
    """(untagged lines, tagged status line) of an IMAP command."""
    untagged: list[str] = []
    for _line in range(MAX_LINES):
        line = lines.read()
        if line.startswith(tag + " "):
            return untagged, line[len(tag) + 1:]
        untagged.append(line)
    raise EngineError("%s sent an endless IMAP response" % lines.where)


def _starttls_imap(lines: _Lines, where: str) -> None:
    greeting = lines.read()
    if not greeting.upper().startswith("* OK"):
        raise EngineError("%s did not greet as an IMAP server: %s" % (where, greeting))
    lines.send("a1 CAPABILITY")
    untagged, status = _imap_tagged(lines, "a1")
    capabilities = []
    for line in untagged:
        if line.upper().startswith("* CAPABILITY "):
            capabilities += line[len("* CAPABILITY "):].upper().split()
    if "STARTTLS" not in capabilities:
        lines.send("a2 LOGOUT")
        raise StartTLSNotOffered("%s does not offer STARTTLS (IMAP capabilities: %s)" % (
            where, " ".join(capabilities) or "none"), starttls="imap")
    lines.send("a2 STARTTLS")
    _untagged, status = _imap_tagged(lines, "a2")
    if not status.upper().startswith("OK"):
        raise EngineError("%s refused STARTTLS: %s" % (where, status))


def _starttls_pop3(lines: _Lines, where: str) -> None:
    greeting = lines.read()
    if not greeting.startswith("+OK"):
        raise EngineError("%s did not greet as a POP3 server: %s" % (where, greeting))
    lines.send("CAPA")
    status = lines.read()
    capabilities = []
    if status.startswith("+OK"):
        for _line in range(MAX_LINES):
            line = lines.read()
            if line == ".":
                break
            capabilities.append(line.split(" ")[0].upper())
    if "STLS" not in capabilities:
        lines.send("QUIT")
        raise StartTLSNotOffered("%s does not offer STARTTLS (POP3 capabilities: %s)" % (
            where, ", ".join(capabilities) or "none"), starttls="pop3")
    lines.send("STLS")
    status = lines.read()
    if not status.startswith("+OK"):
        raise EngineError("%s refused STLS: %s" % (where, status))


_STARTTLS = {"smtp": _starttls_smtp, "imap": _starttls_imap, "pop3": _starttls_pop3}


def served_certificate(address: str, port: int, server_name: str, timeout: float = 10.0,
                       ca_bundle: str | None = None, pinned: bool = False, starttls: str | None = None) -> dict:
    """Handshake with address:port using SNI server_name; describe the leaf it sends.

    starttls: 'smtp', 'imap' or 'pop3' to upgrade a plaintext session first; None for TLS from the start.

    The chain and name are verified against ca_bundle (or the system store).
    pinned=True is for a caller that compares the presented certificate with the
    one it deployed (tls_check with an expected serial): that comparison, together
    with the handshake's proof that the server holds the certificate's key, is the
    check, and a staging or private CA the control node does not trust must not
    make it fail.
    """
    if starttls is not None and starttls not in _STARTTLS:
        raise EngineError("starttls must be one of %s, got %r" % (", ".join(STARTTLS_PROTOCOLS), starttls))
    context = ssl.create_default_context(cafile=ca_bundle)
    if pinned:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    where = "%s:%s" % (address, port)
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            if starttls:
                try:
                    _STARTTLS[starttls](_Lines(sock, where), where)
                except OSError as exc:
                    raise EngineError("%s: the %s STARTTLS exchange failed: %s" % (where, starttls.upper(), exc),
                                      address=address, port=port) from None
            with context.wrap_socket(sock, server_hostname=server_name) as tls:
                der = tls.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError as exc:
        raise EngineError("%s:%s (SNI %s) serves a certificate that does not verify: %s" % (
            address, port, server_name, exc.verify_message), address=address, port=port) from None
    except (OSError, ssl.SSLError) as exc:
        raise EngineError("cannot complete a TLS handshake with %s:%s (SNI %s): %s" % (
            address, port, server_name, exc), address=address, port=port) from None
    if der is None:   # only without a handshake; wrap_socket raised then
        raise EngineError("%s:%s (SNI %s) sent no certificate" % (address, port, server_name), address=address,
                          port=port)
    pem = ssl.DER_cert_to_PEM_cert(der).encode()
    result = keys.parse_certificate(pem).to_result()
    result.update(address=address, port=port, server_name=server_name, starttls=starttls)
    return result
