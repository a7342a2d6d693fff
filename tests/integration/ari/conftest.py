"""Fixtures for the ARI tests: a CA whose leaves carry an Authority Key Identifier, the stand-in CA, storage."""
import ssl

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import bundles
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.factory import open_backend

from ..pki import CA
from .standin import StandIn


@pytest.fixture(scope="session")
def ca():
    return CA()


@pytest.fixture
def standin():
    server = StandIn()
    yield server
    server.close()


@pytest.fixture
def issuing_standin(ca):
    """The stand-in as an issuing CA (plain HTTP: engine-level tests)."""
    server = StandIn(ca=ca)
    yield server
    server.close()


@pytest.fixture
def standin_without_ari():
    server = StandIn(renewal_info=False)
    yield server
    server.close()


@pytest.fixture
def tls_standin(ca, tmp_path):
    """The stand-in over HTTPS (the modules insist on https://), and the CA file that verifies it."""
    key_pem, cert_pem = ca.leaf(names=("127.0.0.1",), days=2)
    (tmp_path / "server.pem").write_bytes(cert_pem + ca.pem)
    (tmp_path / "server.key").write_bytes(key_pem)
    (tmp_path / "ca.pem").write_bytes(ca.pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tmp_path / "server.pem"), str(tmp_path / "server.key"))
    server = StandIn(ssl_context=context, ca=ca)
    server.ca_file = str(tmp_path / "ca.pem")
    yield server
    server.close()


@pytest.fixture
def storage(tmp_path):
    backend = open_backend("local", {"local_path": str(tmp_path / "store")})
    yield backend
    backend.close()


def store_for(storage, server):
    return bundles.CertificateStore(storage, server.directory_url)
