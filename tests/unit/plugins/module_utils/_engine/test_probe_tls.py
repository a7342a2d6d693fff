"""probe.served_certificate against an in-process TLS server on an ephemeral loopback port."""
import socket
import ssl
import threading

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import keys, probe
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import EngineError

from .certs import CA


@pytest.fixture
def server(tmp_path):
    ca = CA()
    key_pem, cert_pem, chain_pem = ca.issue(("localhost",))
    (tmp_path / "key.pem").write_bytes(key_pem)
    (tmp_path / "cert.pem").write_bytes(cert_pem + chain_pem)
    (tmp_path / "ca.pem").write_bytes(ca.pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _addr = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], str(tmp_path / "ca.pem"), keys.parse_certificate(cert_pem).serial
    stop.set()
    listener.close()


def test_the_served_certificate_is_described_and_verified(server):
    port, ca_bundle, serial = server
    served = probe.served_certificate("127.0.0.1", port, "localhost", 5, ca_bundle)
    assert served["serial"] == serial and served["identifiers"] == ["localhost"] and served["port"] == port
    with pytest.raises(EngineError, match="does not verify"):
        probe.served_certificate("127.0.0.1", port, "localhost", 5)   # not in the system store
    assert probe.served_certificate("127.0.0.1", port, "localhost", 5, pinned=True)["serial"] == serial


def test_nothing_listening_is_a_clear_error():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(EngineError, match="cannot complete a TLS handshake with 127.0.0.1:%d" % port):
        probe.served_certificate("127.0.0.1", port, "localhost", 2)
