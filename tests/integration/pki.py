"""Test certificates for the integration tests: a CA (with a Subject Key Identifier) and leaves it signs."""
import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from ansible_collections.autotls.acme.plugins.module_utils._engine import keys
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import bundles

UTC = datetime.timezone.utc


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class CA:
    """A root with a Subject Key Identifier; its leaves name it in their Authority Key Identifier."""

    def __init__(self, cn="autotls ARI test CA"):
        self.key = keys.generate_private_key("ecdsa-p256")
        now = datetime.datetime.now(UTC)
        self.ski = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        self.cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=3650))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(self.ski, critical=False)
                     .sign(self.key, hashes.SHA256()))
        self.pem = _pem(self.cert)

    def leaf(self, names=("www.example.com",), days=90.0, not_before=None, aki=True, serial=None, key=None):
        """(key PEM, certificate PEM) of a leaf; with aki False, without Authority Key Identifier."""
        key = key or keys.generate_private_key("ecdsa-p256")
        not_before = not_before or datetime.datetime.now(UTC) - datetime.timedelta(days=1)
        builder = (x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(self.cert.subject)
                   .public_key(key.public_key()).serial_number(serial or x509.random_serial_number())
                   .not_valid_before(not_before).not_valid_after(not_before + datetime.timedelta(days=days)))
        sans = []
        for name in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                sans.append(x509.DNSName(name))
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        if aki:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self.ski), critical=False)
        return keys.private_key_to_pem(key), _pem(builder.sign(self.key, hashes.SHA256()))

    def bundle(self, **kwargs):
        key_pem, cert_pem = self.leaf(**kwargs)
        return bundles.make_bundle(key_pem, cert_pem, self.pem)

    def issue(self, names=("www.example.com",), days=90.0, not_before=None, key=None):
        """(key PEM, certificate PEM, chain PEM) of a new leaf valid from five minutes ago."""
        not_before = not_before or datetime.datetime.now(UTC) - datetime.timedelta(minutes=5)
        key_pem, cert_pem = self.leaf(names=names, days=days, not_before=not_before, key=key)
        return key_pem, cert_pem, self.pem
