"""A root, an intermediate and leaves, written as the files a contender leaves behind (no network)."""
import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

UTC = datetime.timezone.utc


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class Chain:
    """root -> intermediate -> leaves; `root_path` is the root as Pebble's root file."""

    def __init__(self, directory, cn="bench test root"):
        self.directory = directory
        now = datetime.datetime.now(UTC)
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = self._sign(_name(cn), self.root_key.public_key(), _name(cn), self.root_key, now, ca=True)
        self.int_key = ec.generate_private_key(ec.SECP256R1())
        self.intermediate = self._sign(_name(cn + " intermediate"), self.int_key.public_key(), _name(cn),
                                       self.root_key, now, ca=True)
        self.root_path = os.path.join(directory, "root-%s.pem" % cn.replace(" ", "-"))
        with open(self.root_path, "wb") as handle:
            handle.write(_pem(self.root))

    @staticmethod
    def _sign(subject, public_key, issuer, issuer_key, not_before, ca=False, names=()):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                   .serial_number(x509.random_serial_number()).not_valid_before(not_before)
                   .not_valid_after(not_before + datetime.timedelta(days=90))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                                            critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def leaf(self, out, name, names=None, not_before=None, key=None, chain=True):
        """<out>/<name>/{privkey,cert,fullchain}.pem for a leaf naming `names` (default: name)."""
        key = key or ec.generate_private_key(ec.SECP256R1())
        not_before = not_before or datetime.datetime.now(UTC) - datetime.timedelta(seconds=5)
        cert = self._sign(_name(name), key.public_key(), self.intermediate.subject, self.int_key, not_before,
                          names=names or (name,))
        target = os.path.join(out, name)
        os.makedirs(target, exist_ok=True)
        files = {"privkey.pem": _key_pem(key), "cert.pem": _pem(cert),
                 "fullchain.pem": _pem(cert) + (_pem(self.intermediate) if chain else b"")}
        for filename, content in files.items():
            with open(os.path.join(target, filename), "wb") as handle:
                handle.write(content)
        return target


def entry(out, name, cert=True):
    """A verify_certificates entry for the files Chain.leaf wrote."""
    result = {"name": name, "key": os.path.join(out, name, "privkey.pem"),
              "fullchain": os.path.join(out, name, "fullchain.pem")}
    if cert:
        result["cert"] = os.path.join(out, name, "cert.pem")
    return result
