"""The force CA and the signing certificate: made at ``store init``, kept 0600, shaped as
c2pa-rs requires of a claim signer, created once even when two exports race, reissued when
they age, and refused with one line when damaged."""

from __future__ import annotations

import datetime as dt
import os
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from store.credentials import (
    CA_CERT,
    CA_KEY,
    DOCUMENT_SIGNING,
    RENEW_DAYS,
    SIGNING_CERT,
    SIGNING_KEY,
    Credentials,
    CredentialsError,
    _create_once,
    ensure_credentials,
    load_trust_anchor,
)
from store.service import Store

NOW = 1.78e9


def test_store_init_makes_the_force_ca_and_a_signing_certificate(
        store_credentials: tuple[Path, Credentials]) -> None:
    directory, creds = store_credentials
    for part in (CA_KEY, SIGNING_KEY, CA_CERT, SIGNING_CERT):
        assert stat.S_IMODE((directory / part).stat().st_mode) == 0o600, part
    assert stat.S_IMODE((directory / "keys").stat().st_mode) == 0o700
    assert (directory / CA_CERT).read_bytes() == creds.trust_anchor_pem
    store = Store(directory)
    try:
        ou = creds.ca_cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)
        assert ou[0].value == f"store {store.store_id}"
    finally:
        store.close()
    assert isinstance(creds.ca_cert.public_key(), Ed25519PublicKey)
    assert isinstance(creds.signing_cert.public_key(), Ed25519PublicKey)


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_credentials_are_owner_only_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        ensure_credentials(tmp_path / "store", NOW, "store-1")
    finally:
        os.umask(old)
    for path in [tmp_path / "store" / "keys", *(tmp_path / "store").rglob("*")]:
        want = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == want, path


def test_the_ca_is_a_ca_and_only_signs_certificates(
        store_credentials: tuple[Path, Credentials]) -> None:
    ca = store_credentials[1].ca_cert
    assert ca.issuer == ca.subject
    ca.verify_directly_issued_by(ca)
    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and not usage.value.digital_signature


def test_the_signing_certificate_has_the_c2pa_claim_signer_profile(
        store_credentials: tuple[Path, Credentials]) -> None:
    creds = store_credentials[1]
    leaf, ca = creds.signing_cert, creds.ca_cert
    assert leaf.version == x509.Version.v3
    leaf.verify_directly_issued_by(ca)
    assert leaf.issuer == ca.subject and leaf.subject != ca.subject
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    assert not (usage.value.key_cert_sign or usage.value.crl_sign)
    basic = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert not basic.value.ca
    eku = list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku and DOCUMENT_SIGNING in eku
    assert ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert creds.chain_pem.startswith(leaf.public_bytes(Encoding.PEM))


def test_later_calls_load_the_same_credentials(
        store_credentials: tuple[Path, Credentials]) -> None:
    directory, first = store_credentials
    again = ensure_credentials(directory, NOW + 86400)
    assert again.ca_cert == first.ca_cert and again.signing_cert == first.signing_cert
    assert again.signing_key_pem == first.signing_key_pem


def test_a_store_without_credentials_gets_them_on_first_use(tmp_path: Path) -> None:
    creds = ensure_credentials(tmp_path, NOW, "store-1")
    assert (tmp_path / CA_CERT).exists() and (tmp_path / SIGNING_CERT).exists()
    creds.signing_cert.verify_directly_issued_by(creds.ca_cert)


def test_a_second_writer_never_replaces_the_first_ones_file(tmp_path: Path) -> None:
    """Two exports making the CA at once: the first copy stays, so both sign under it."""
    _create_once(tmp_path / "ca.key", b"first", mode=0o600)
    _create_once(tmp_path / "ca.key", b"second", mode=0o600)
    assert (tmp_path / "ca.key").read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.key"]  # no temporaries left


def test_exports_racing_to_make_the_ca_all_sign_under_the_one_on_disk(tmp_path: Path) -> None:
    barrier = threading.Barrier(6)
    made: list[Credentials] = []

    def first_export() -> None:
        barrier.wait()
        made.append(ensure_credentials(tmp_path, NOW, "store-1"))

    threads = [threading.Thread(target=first_export) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    on_disk = ensure_credentials(tmp_path, NOW, "store-1")
    assert len(made) == 6
    for creds in made:
        assert creds.ca_cert == on_disk.ca_cert
        assert creds.signing_key_pem == on_disk.signing_key_pem
        creds.signing_cert.verify_directly_issued_by(on_disk.ca_cert)
    assert not list(tmp_path.rglob("*.tmp"))


def test_an_ageing_signing_certificate_is_reissued_under_the_same_ca_and_key(
        store_credentials: tuple[Path, Credentials]) -> None:
    directory, creds = store_credentials
    near_end = creds.signing_cert.not_valid_after_utc - dt.timedelta(days=RENEW_DAYS - 1)
    renewed = ensure_credentials(directory, near_end.timestamp())
    assert renewed.signing_cert != creds.signing_cert
    assert renewed.signing_cert.not_valid_after_utc > creds.signing_cert.not_valid_after_utc
    assert renewed.ca_cert == creds.ca_cert
    assert renewed.signing_key_pem == creds.signing_key_pem
    renewed.signing_cert.verify_directly_issued_by(creds.ca_cert)


def test_a_signing_certificate_of_another_ca_is_reissued(
        store_credentials: tuple[Path, Credentials], tmp_path: Path) -> None:
    directory, creds = store_credentials
    other = ensure_credentials(tmp_path / "other", NOW)
    (directory / SIGNING_CERT).write_bytes(
        other.signing_cert.public_bytes(Encoding.PEM))
    fixed = ensure_credentials(directory, NOW)
    fixed.signing_cert.verify_directly_issued_by(creds.ca_cert)


@pytest.mark.parametrize(("damage", "message"), [
    (lambda d: (d / CA_KEY).write_bytes(b"not a key"), "c2pa-ca.key: unreadable key"),
    (lambda d: (d / CA_CERT).write_bytes(b"junk"), "c2pa-ca.pem: not a PEM X.509 certificate"),
    (lambda d: (d / SIGNING_KEY).write_bytes(b""), "c2pa-signing.key: unreadable key"),
])
def test_damaged_credentials_are_one_line_errors(
        store_credentials: tuple[Path, Credentials], damage, message: str) -> None:
    directory = store_credentials[0]
    damage(directory)
    with pytest.raises(CredentialsError, match=message) as raised:
        ensure_credentials(directory, NOW)
    assert "\n" not in str(raised.value)


def test_a_ca_certificate_of_another_key_is_refused(
        store_credentials: tuple[Path, Credentials], tmp_path: Path) -> None:
    directory = store_credentials[0]
    other = ensure_credentials(tmp_path / "other", NOW)
    (directory / CA_CERT).write_bytes(other.trust_anchor_pem)
    with pytest.raises(CredentialsError, match="does not belong to"):
        ensure_credentials(directory, NOW)


def test_the_trust_anchor_loader_takes_only_ca_certificates(
        store_credentials: tuple[Path, Credentials], tmp_path: Path) -> None:
    directory, creds = store_credentials
    assert load_trust_anchor(directory / CA_CERT) == creds.trust_anchor_pem
    with pytest.raises(CredentialsError, match="is not a CA certificate"):
        load_trust_anchor(directory / SIGNING_CERT)
    (tmp_path / "junk.pem").write_text("hello\n")
    with pytest.raises(CredentialsError, match=r"not a PEM X\.509 certificate"):
        load_trust_anchor(tmp_path / "junk.pem")
    with pytest.raises(CredentialsError, match="cannot read"):
        load_trust_anchor(tmp_path / "missing.pem")
