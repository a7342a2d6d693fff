# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private keys, CSRs, identifiers and certificate parsing, on `cryptography`."""
from __future__ import annotations

import datetime
import ipaddress
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, TypeVar, Union

from .errors import InputError
from .timefmt import iso

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID
except ImportError:  # reported by the module through deps.missing()
    pass

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

    PrivateKey = Union[ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey]   # the key types the engine accepts

Key = TypeVar("Key")
Pem = Union[bytes, str]   # PEM text, as bytes or str

KEY_TYPES = ("ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096")
DEFAULT_KEY_TYPE = "ecdsa-p256"
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL)


@dataclass(frozen=True)
class Identifier:
    """An ACME identifier: type 'dns' or 'ip', and its value."""
    type: str
    value: str

    def to_json(self) -> dict:
        return {"type": self.type, "value": self.value}


@dataclass
class CertInfo:
    """What the engine needs to know about a certificate."""
    serial: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    identifiers: list[Identifier] = field(default_factory=list)
    subject: str = ""
    issuer: str = ""
    issuer_cn: str = ""
    public_key_sha256: str = ""
    key_type: str = ""

    @property
    def lifetime(self) -> datetime.timedelta:
        return self.not_after - self.not_before

    def to_result(self) -> dict:
        return {
            "serial": self.serial,
            "not_before": iso(self.not_before),
            "not_after": iso(self.not_after),
            "identifiers": [ident.value for ident in self.identifiers],
            "subject": self.subject,
            "issuer": self.issuer,
        }


# ---- identifiers -------------------------------------------------------------
#
# Identifiers are made canonical once, here, at the edge; everything after this
# (orders, CSRs, storage metadata, the renewal decision) compares canonical
# Identifier values as sets:
#   - DNS names: lower case, no trailing dot, IDNs converted to A-labels (punycode,
#     IDNA 2008 with UTS 46 mapping, by the `idna` package), every label checked;
#   - IP addresses: their canonical text (ipaddress), IPv6 compressed;
#   - refused: anything that looks like an IPv4 address but is not one (999.1.1.1,
#     127.000.000.001, 10.1, a numeric top-level label), zone-scoped IPv6
#     (fe80::1%eth0), wildcards (HTTP-01 cannot validate them), empty values;
#   - duplicates (after canonicalisation) removed, the first spelling's order kept;
#   - at most MAX_IDENTIFIERS names per certificate (Let's Encrypt's limit), raised
#     by the caller's max_identifiers option where a CA allows more.

MAX_IDENTIFIERS = 100
_NUMERIC_LABEL = re.compile(r"^[0-9]+$")
_IPV4_LIKE = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*$")


def _idna_to_ascii(value: str, raw: object, field_name: str) -> str:
    try:
        import idna
    except ImportError:  # pragma: no cover - idna comes with requests
        raise InputError(field_name, "%r is an internationalized name and the idna package is missing" % (raw,)) \
            from None
    try:
        return idna.encode(value, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError) as exc:
        raise InputError(field_name, "%r is not a valid internationalized domain name (%s)" % (raw, exc)) from None


def _check_a_labels(value: str, raw: object, field_name: str) -> None:
    """A-labels (xn--) must decode: refuse made-up punycode."""
    for label in value.split("."):
        if label.startswith("xn--"):
            try:
                import idna
                idna.decode(label)
            except ImportError:  # pragma: no cover
                return
            except (idna.IDNAError, UnicodeError, ValueError) as exc:
                raise InputError(field_name, "%r has an invalid A-label %r (%s)" % (raw, label, exc)) from None


_CANONICAL: dict[tuple[str, bool], Identifier] = {}   # spellings already made canonical (a run sees each a few times)
_CANONICAL_MAX = 100_000


def canonical_identifier(raw: object, field_name: str = "identifiers", allow_wildcard: bool = False) -> Identifier:
    """The one canonical Identifier for a user's spelling; InputError naming field_name otherwise."""
    if isinstance(raw, str):
        known = _CANONICAL.get((raw, allow_wildcard))
        if known is not None:
            return known
    identifier = _canonical_identifier(raw, field_name, allow_wildcard)
    if isinstance(raw, str) and len(_CANONICAL) < _CANONICAL_MAX:
        _CANONICAL[(str(raw), allow_wildcard)] = identifier
    return identifier


def _canonical_identifier(raw: object, field_name: str, allow_wildcard: bool) -> Identifier:
    if not isinstance(raw, str) or not raw.strip():
        raise InputError(field_name, "an identifier is empty (got %r)" % (raw,))
    value = raw.strip().lower()
    if any(char.isspace() or ord(char) < 32 for char in value):
        raise InputError(field_name, "%r contains whitespace or a control character" % (raw,))
    if ":" in value or value.startswith("["):
        if "%" in value:
            raise InputError(field_name, "%r is a zone-scoped IPv6 address; a certificate cannot name a zone "
                                         "(drop the %%<zone>)" % (raw,))
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise InputError(field_name, "%r is not a valid IPv6 address" % (raw,)) from None
        return Identifier("ip", address.compressed)
    try:
        return Identifier("ip", str(ipaddress.IPv4Address(value)))
    except ValueError:
        pass
    value = value[:-1] if value.endswith(".") else value
    labels = value.split(".")
    if _IPV4_LIKE.match(value):
        raise InputError(field_name, "%r looks like an IPv4 address but is not one (four decimal numbers 0-255 "
                                     "without leading zeros)" % (raw,))
    if _NUMERIC_LABEL.match(labels[-1]):
        raise InputError(field_name, "%r is not a valid DNS name: the top-level label is all digits" % (raw,))
    if value.startswith("*."):
        if not allow_wildcard:
            raise InputError(field_name, "%r is a wildcard name; HTTP-01 cannot validate wildcards "
                                         "(use challenge: dns-01)" % (raw,))
        return Identifier("dns", "*." + canonical_identifier(value[2:], field_name).value)
    if not value.isascii():
        value = _idna_to_ascii(value, raw, field_name)
        labels = value.split(".")
    if len(value) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise InputError(field_name, "%r is not a valid DNS name or IP address" % (raw,))
    _check_a_labels(value, raw, field_name)
    return Identifier("dns", value)


def parse_identifier(raw: object, field_name: str = "identifiers", allow_wildcard: bool = False) -> Identifier:
    """Turn a user string into a canonical Identifier. A wildcard (*.example.com) only when allow_wildcard:
    the caller validates over DNS-01, the only challenge that can prove a wildcard."""
    return canonical_identifier(raw, field_name, allow_wildcard)


def parse_identifiers(raw_list: Iterable[object] | None, field_name: str = "identifiers", allow_wildcard: bool = False,
                      max_identifiers: int | None = None) -> list:
    """Canonical, de-duplicated identifiers (first spelling's order), at most max_identifiers of them."""
    limit = MAX_IDENTIFIERS if max_identifiers is None else max_identifiers
    if isinstance(raw_list, (str, bytes)) or (raw_list is not None and not isinstance(raw_list, (list, tuple))):
        raise InputError(field_name, "must be a list of DNS names or IP addresses, got %r" % (raw_list,))
    if not raw_list:
        raise InputError(field_name, "at least one DNS name or IP address is required")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise InputError("max_identifiers", "must be a positive whole number, got %r" % (limit,))
    seen, result = set(), []
    for raw in raw_list:
        ident = parse_identifier(raw, field_name, allow_wildcard)
        if ident not in seen:
            seen.add(ident)
            result.append(ident)
    if len(result) > limit:
        raise InputError(field_name, "names %d distinct identifiers; at most %d are allowed per certificate "
                                     "(max_identifiers)" % (len(result), limit))
    return result


def identifier_set(values: Iterable[object]) -> frozenset[Identifier]:
    """Stored or reported identifier strings (already canonical, or legacy spellings) as a set of Identifiers.

    Legacy metadata may hold non-canonical spellings; they are canonicalised the
    same way, and values that no longer pass are kept verbatim (so they differ).
    """
    found = set()
    for value in values or []:
        try:
            found.add(canonical_identifier(value, "identifiers", allow_wildcard=True))
        except InputError:
            found.add(Identifier("dns", str(value)))
    return frozenset(found)


# ---- private keys ------------------------------------------------------------

def generate_private_key(key_type: str = DEFAULT_KEY_TYPE) -> PrivateKey:
    if key_type == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ecdsa-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type in ("rsa-2048", "rsa-3072", "rsa-4096"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[4:]))
    raise InputError("key_type", "%r is not one of %s" % (key_type, ", ".join(KEY_TYPES)))


def private_key_to_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_private_key(pem: Pem, field_name: str, passphrase: str | None = None) -> PrivateKey:
    if isinstance(pem, str):
        pem = pem.encode()
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase.encode() if passphrase else None)
    except (ValueError, TypeError) as exc:
        raise InputError(field_name, "not a readable PEM private key (%s)" % exc) from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise InputError(field_name, "only RSA and ECDSA keys are supported")
    return key


def key_type_of(key: PrivateKeyTypes | PublicKeyTypes) -> str:
    """"ecdsa-p256", "rsa-2048", ... of a private or public key ("" for other algorithms)."""
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "ecdsa-p%d" % key.curve.key_size
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "rsa-%d" % key.key_size
    return ""


MIN_RSA_BITS = 2048
ALLOWED_CURVES = ("secp256r1", "secp384r1")


def check_key_strength(key: Key, field_name: str) -> Key:
    """A certificate key must be RSA of at least 2048 bits or EC on P-256 / P-384 (the CA/B Forum's and the
    common CAs' rules); refused here, before anything is ordered. Returns key."""
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        if key.key_size < MIN_RSA_BITS:
            raise InputError(field_name, "the RSA key has %d bits; at least %d are required"
                             % (key.key_size, MIN_RSA_BITS))
        return key
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        if key.curve.name not in ALLOWED_CURVES:
            raise InputError(field_name, "the EC key is on curve %s; only P-256 and P-384 are accepted"
                             % key.curve.name)
        return key
    raise InputError(field_name, "only RSA (>= %d bits) and EC P-256 / P-384 keys are supported" % MIN_RSA_BITS)


def public_key_sha256(private_key: PrivateKey) -> str:
    """SHA-256 of the key's SubjectPublicKeyInfo: compares keys with certificates and CSRs."""
    return _public_sha256(private_key.public_key())


def csr_public_key_sha256(csr_pem: Pem) -> str:
    return _public_sha256(x509.load_pem_x509_csr(csr_pem if isinstance(csr_pem, bytes) else csr_pem.encode())
                          .public_key())


def _public_sha256(public_key: PublicKeyTypes) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return digest.finalize().hex()


def key_matches_certificate(key: PrivateKey, cert_pem: Pem) -> bool:
    """True when the private key belongs to the (first) certificate of cert_pem."""
    cert = x509.load_pem_x509_certificate(split_pem_certificates(cert_pem)[0])
    return _public_sha256(key.public_key()) == _public_sha256(cert.public_key())


# ---- CSRs --------------------------------------------------------------------

def make_csr(key: PrivateKey, identifiers: list[Identifier]) -> bytes:
    names: list[x509.GeneralName] = []
    for ident in identifiers:
        if ident.type == "ip":
            names.append(x509.IPAddress(ipaddress.ip_address(ident.value)))
        else:
            names.append(x509.DNSName(ident.value))
    builder = x509.CertificateSigningRequestBuilder()
    first = identifiers[0]
    if first.type == "dns" and len(first.value) <= 64:  # CN is limited to 64 characters
        builder = builder.subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, first.value)]))
    else:
        builder = builder.subject_name(x509.Name([]))
    builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


PLACEHOLDER_NAME = "autotls.acme placeholder - not trusted, replaced by the real certificate"


def placeholder_certificate(identifiers: list[Identifier], hours: int = 24) -> tuple[bytes, bytes]:
    """(key PEM, certificate PEM) of a self-signed, short-lived stand-in for a certificate not issued yet.

    Lets a server whose configuration names the deploy paths load before the first issuance; its
    subject says what it is, so nobody mistakes it for the real certificate.
    """
    key = generate_private_key("ecdsa-p256")
    names: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address(i.value)) if i.type == "ip" else x509.DNSName(i.value) for i in identifiers]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, PLACEHOLDER_NAME[:64])])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=hours))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return private_key_to_pem(key), cert.public_bytes(serialization.Encoding.PEM)


def csr_identifiers(csr_pem: Pem, field_name: str = "csr", allow_wildcard: bool = False,
                    max_identifiers: int | None = None) -> list:
    if isinstance(csr_pem, str):
        csr_pem = csr_pem.encode()
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise InputError(field_name, "not a readable PEM certificate signing request (%s)" % exc) from None
    if not csr.is_signature_valid:
        raise InputError(field_name, "the CSR signature does not verify")
    check_key_strength(csr.public_key(), field_name)
    idents = _names_of(csr.subject, csr.extensions)
    if not idents:
        raise InputError(field_name, "the CSR names no DNS name or IP address")
    return parse_identifiers([i.value for i in idents], field_name, allow_wildcard, max_identifiers=max_identifiers)


# ---- certificates ------------------------------------------------------------

def split_pem_certificates(data: Pem | None) -> list[bytes]:
    """Return each PEM certificate of a bundle, as bytes ending in a newline."""
    if isinstance(data, str):
        data = data.encode()
    return [match.group(0).replace(b"\r\n", b"\n") + b"\n" for match in _PEM_CERT.finditer(data or b"")]


def _names_of(subject: x509.Name, extensions: x509.Extensions) -> list[Identifier]:
    idents: list[Identifier] = []
    try:
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        idents += [Identifier("dns", name.lower()) for name in san.get_values_for_type(x509.DNSName)]
        idents += [Identifier("ip", str(addr)) for addr in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    if not idents:
        common_names = [attr.value for attr in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        idents = [Identifier("dns", name.lower()) for name in common_names if isinstance(name, str)]
    return idents


def parse_certificate(pem: Pem, field_name: str = "certificate") -> CertInfo:
    """Parse the first certificate of a PEM bundle."""
    certs = split_pem_certificates(pem)
    if not certs:
        raise InputError(field_name, "no PEM certificate found")
    try:
        cert = x509.load_pem_x509_certificate(certs[0])
    except ValueError as exc:
        raise InputError(field_name, "not a readable PEM certificate (%s)" % exc) from None
    issuer_cns = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return CertInfo(
        serial="%x" % cert.serial_number,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        identifiers=_names_of(cert.subject, cert.extensions),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        issuer_cn=str(issuer_cns[0].value) if issuer_cns else "",
        public_key_sha256=_public_sha256(cert.public_key()),
        key_type=key_type_of(cert.public_key()),
    )
