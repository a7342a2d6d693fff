# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What certificate does a TLS server really serve? (the proof that a reload happened)"""
from __future__ import annotations

import socket
import ssl

from . import keys
from .errors import EngineError


def served_certificate(address: str, port: int, server_name: str, timeout: float = 10.0,
                       ca_bundle: str | None = None, pinned: bool = False) -> dict:
    """Handshake with address:port using SNI server_name; describe the leaf it sends.

    The chain and name are verified against ca_bundle (or the system store).
    pinned=True is for a caller that compares the presented certificate with the
    one it deployed (tls_check with an expected serial): that comparison, together
    with the handshake's proof that the server holds the certificate's key, is the
    check, and a staging or private CA the control node does not trust must not
    make it fail.
    """
    context = ssl.create_default_context(cafile=ca_bundle)
    if pinned:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=server_name) as tls:
                der = tls.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError as exc:
        raise EngineError("%s:%s (SNI %s) serves a certificate that does not verify: %s" % (
            address, port, server_name, exc.verify_message), address=address, port=port) from None
    except (OSError, ssl.SSLError) as exc:
        raise EngineError("cannot complete a TLS handshake with %s:%s (SNI %s): %s" % (
            address, port, server_name, exc), address=address, port=port) from None
    pem = ssl.DER_cert_to_PEM_cert(der).encode()
    result = keys.parse_certificate(pem).to_result()
    result.update(address=address, port=port, server_name=server_name)
    return result
