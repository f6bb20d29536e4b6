"""The force's C2PA credentials: a root CA and the certificate that signs exported MP4s.

C2PA Content Credentials need an X.509 chain that ends in a CA the reader trusts; a
self-signed leaf is refused. The store therefore is its own small PKI:

- ``c2pa-ca.pem`` the force root CA (published: the trust anchor a court, a defence expert or
  any C2PA reader is given, and in every export zip), its key ``keys/c2pa-ca.key``;
- ``keys/c2pa-signing.pem`` the signing certificate it issued, its key ``keys/c2pa-signing.key``.
  The certificate follows c2pa-rs's profile for a claim signer: X.509 v3, Key Usage critical
  with only ``digitalSignature``, Basic Constraints ``CA:FALSE``, Extended Key Usage
  ``emailProtection`` and ``documentSigning`` (never ``anyExtendedKeyUsage``), subject and
  authority key identifiers.

Every file is 0600 and ``keys/`` 0700, whatever the umask, like the rest of the store.

Ed25519 throughout, like the store's and the cameras' keys. ``bodycam store init`` makes them;
a store made before that gets them at its first export. Files are created once and never
overwritten (a second writer's copy is discarded), so two exports at the same moment cannot end
up signing under two different CAs. The signing certificate is reissued (same key) when it
nears the end of its validity.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from evidence.fsutil import durable_rename, fsync_dir, private_dir, write_synced

CA_CERT = Path("c2pa-ca.pem")
CA_KEY = Path("keys") / "c2pa-ca.key"
SIGNING_CERT = Path("keys") / "c2pa-signing.pem"
SIGNING_KEY = Path("keys") / "c2pa-signing.key"

#: id-kp-documentSigning (RFC 9336); cryptography has no constant for it.
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
DEFAULT_ORGANISATION = "bodycam evidence store"
CA_DAYS = 20 * 365
SIGNING_DAYS = 2 * 365
#: Reissue the signing certificate when less than this is left of it.
RENEW_DAYS = 30
#: Certificates start this much before "now", for readers whose clock runs a little slow.
BACKDATE = dt.timedelta(days=1)


class CredentialsError(Exception):
    """The store's C2PA credentials are missing, unreadable or do not belong together."""


@dataclass(frozen=True)
class Credentials:
    """What a C2PA signer needs, and what a reader is given to trust."""

    ca_cert: x509.Certificate
    signing_cert: x509.Certificate
    signing_key: Ed25519PrivateKey

    @property
    def trust_anchor_pem(self) -> bytes:
        return self.ca_cert.public_bytes(serialization.Encoding.PEM)

    @property
    def chain_pem(self) -> bytes:
        """Leaf first, then the CA: what goes into the manifest's COSE signature."""
        return self.signing_cert.public_bytes(serialization.Encoding.PEM) + self.trust_anchor_pem

    @property
    def signing_key_pem(self) -> bytes:
        return _key_pem(self.signing_key)


def ensure_credentials(directory: Path, now: float, store_id: str = "",
                       organisation: str = DEFAULT_ORGANISATION) -> Credentials:
    """Load the store's C2PA credentials, making whatever is missing; reissue an ageing leaf.

    ``now`` is the store's clock; the certificates are also valid at the wall clock, since
    that is what C2PA readers check them against (there is no timestamp authority offline)."""
    private_dir(directory / CA_KEY.parent)
    ca_key = _load_or_create_key(directory / CA_KEY)
    ca_cert = _load_cert(directory / CA_CERT)
    if ca_cert is None:
        _create_once(directory / CA_CERT, _pem(_issue_ca(ca_key, now, store_id, organisation)))
        ca_cert = _load_cert(directory / CA_CERT)
        assert ca_cert is not None
    if ca_cert.public_key() != ca_key.public_key():
        raise CredentialsError(f"{directory / CA_CERT} does not belong to {directory / CA_KEY}")
    key = _load_or_create_key(directory / SIGNING_KEY)
    cert = _load_cert(directory / SIGNING_CERT)
    if cert is None or _needs_renewal(cert, ca_cert, key, now):
        _replace(directory / SIGNING_CERT,
                 _pem(_issue_signing(ca_key, ca_cert, key, now, store_id, organisation)))
        cert = _load_cert(directory / SIGNING_CERT)
        assert cert is not None
    return Credentials(ca_cert, cert, key)


def load_trust_anchor(path: Path) -> bytes:
    """A PEM CA certificate to trust, checked to be one (one-line error otherwise)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CredentialsError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        certs = x509.load_pem_x509_certificates(raw)
    except ValueError:
        raise CredentialsError(f"{path}: not a PEM X.509 certificate") from None
    for cert in certs:
        try:
            ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            ca = False
        if not ca:
            raise CredentialsError(f"{path}: {cert.subject.rfc4514_string()} is not a CA "
                                   "certificate (give the store's c2pa-ca.pem)")
    return raw


def _window(now: float, days: int) -> tuple[dt.datetime, dt.datetime]:
    """Valid from a day before the earlier of the store's and the wall clock, for ``days``
    after the later one."""
    wall = time.time()
    start = dt.datetime.fromtimestamp(min(now, wall), dt.UTC) - BACKDATE
    end = dt.datetime.fromtimestamp(max(now, wall), dt.UTC) + dt.timedelta(days=days)
    return start, end


def _name(organisation: str, store_id: str, common_name: str) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation)]
    if store_id:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"store {store_id}"))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _key_usage(*, signer: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=signer, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=not signer, crl_sign=not signer, encipher_only=False,
                         decipher_only=False)


def _issue_ca(key: Ed25519PrivateKey, now: float, store_id: str,
              organisation: str) -> x509.Certificate:
    name = _name(organisation, store_id, f"{organisation} C2PA root CA")
    start, end = _window(now, CA_DAYS)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(signer=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, None))


def _issue_signing(ca_key: Ed25519PrivateKey, ca_cert: x509.Certificate,
                   key: Ed25519PrivateKey, now: float, store_id: str,
                   organisation: str) -> x509.Certificate:
    start, end = _window(now, SIGNING_DAYS)
    end = min(end, ca_cert.not_valid_after_utc)
    return (x509.CertificateBuilder()
            .subject_name(_name(organisation, store_id, f"{organisation} export signing"))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(signer=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION,
                                                  DOCUMENT_SIGNING]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, None))


def _needs_renewal(cert: x509.Certificate, ca_cert: x509.Certificate,
                   key: Ed25519PrivateKey, now: float) -> bool:
    """A leaf that is not this key's, not the CA's, or near its end is issued again."""
    left = cert.not_valid_after_utc - dt.datetime.fromtimestamp(max(now, time.time()), dt.UTC)
    return (cert.public_key() != key.public_key() or cert.issuer != ca_cert.subject
            or left < dt.timedelta(days=RENEW_DAYS))


def _key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _load_or_create_key(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        _create_once(path, _key_pem(Ed25519PrivateKey.generate()), mode=0o600)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise CredentialsError(f"{path}: cannot read: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        raise CredentialsError(f"{path}: unreadable key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CredentialsError(f"{path}: not an Ed25519 private key")
    return key


def _load_cert(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialsError(f"{path}: cannot read: {exc.strerror}") from None
    except ValueError:
        raise CredentialsError(f"{path}: not a PEM X.509 certificate") from None


def _synced_temp(path: Path, data: bytes, mode: int) -> Path:
    """``data`` in a new uniquely named file beside ``path``, fsynced."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        write_synced(fd, data)
    finally:
        os.close(fd)
    return Path(tmp)


def _create_once(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create ``path`` durably unless it exists: a hard link never replaces a file, so when
    two writers race the first one's copy stays and the second's is dropped."""
    tmp = _synced_temp(path, data, mode)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    fsync_dir(path.parent)


def _replace(path: Path, data: bytes, mode: int = 0o600) -> None:
    durable_rename(_synced_temp(path, data, mode), path)
