"""Signing MP4s with C2PA Content Credentials and reading them back with c2pa's own Reader:
the export's kind (moov first) and the camera's kind (fragmented), an original and a derived
(redacted) copy naming it as its ingredient, one edited byte, and files with no credentials."""

from __future__ import annotations

import datetime
import hashlib
import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from store.c2pa_sign import (
    EVIDENCE_LABEL,
    GENERATOR,
    ContentCredentialsError,
    ReadBack,
    read_credentials,
    sign_derived,
    sign_original,
)
from store.credentials import CA_KEY, Credentials, ensure_credentials
from tests.c2pa.conftest import (
    FASTSTART,
    FRAGMENTED,
    FRAMES,
    boxes,
    flip_byte,
    frame_count,
    make_mp4,
    reencode,
)

EVIDENCE = {"store_id": "store-test", "segments": [{"sha256": "ab" * 32}]}
KINDS = {"faststart": FASTSTART, "fragmented": FRAGMENTED}


def sign(path: Path, creds: Credentials) -> ReadBack:
    return sign_original(path, creds, title="export.mp4", when="2026-01-01T09:00:00Z",
                         evidence=EVIDENCE, description="remuxed without re-encoding")


@pytest.fixture
def creds(store_credentials: tuple[Path, Credentials]) -> Credentials:
    return store_credentials[1]


@pytest.fixture
def original(tmp_path: Path, creds: Credentials) -> Path:
    """A signed export-like MP4."""
    mp4 = make_mp4(tmp_path / "export.mp4", FASTSTART)
    sign(mp4, creds)
    return mp4


def issuer_org(creds: Credentials) -> str:
    return creds.ca_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value


@pytest.mark.parametrize("kind", KINDS)
def test_an_original_reads_back_trusted_with_its_claims(tmp_path: Path, creds: Credentials,
                                                        kind: str) -> None:
    mp4 = make_mp4(tmp_path / "export.mp4", KINDS[kind])
    assert ("moof" in {b[0] for b in boxes(mp4)}) == (kind == "fragmented")
    sign(mp4, creds)
    read = read_credentials(mp4, creds.trust_anchor_pem)
    assert read.state == "Trusted" and read.failures == [], read.failures
    assert "assertion.bmffHash.match" in read.successes
    assert "signingCredential.trusted" in read.successes
    assert [g["name"] for g in read.manifest["claim_generator_info"]] == [GENERATOR]
    assert [a["action"] for a in read.actions] == ["c2pa.created"]
    assert read.actions[0]["digitalSourceType"].endswith("/digitalCapture")
    assert read.assertion(EVIDENCE_LABEL) == EVIDENCE
    info = read.manifest["signature_info"]
    assert info["alg"] == "Ed25519" and info["issuer"] == issuer_org(creds)
    assert info["cert_serial_number"] == str(creds.signing_cert.serial_number)
    assert any(b[0] == "uuid" for b in boxes(mp4))  # the manifest store rides in the MP4
    assert frame_count(mp4) == FRAMES  # and it still plays


def test_without_the_trust_anchor_the_only_failure_is_an_untrusted_signer(
        original: Path) -> None:
    read = read_credentials(original)
    assert read.state == "Valid" and read.failures == ["signingCredential.untrusted"]
    assert "assertion.bmffHash.match" in read.successes


def test_another_forces_ca_does_not_make_it_trusted(original: Path, tmp_path: Path) -> None:
    other = ensure_credentials(tmp_path / "other-force", 1.78e9)
    read = read_credentials(original, other.trust_anchor_pem)
    assert not read.trusted and "signingCredential.untrusted" in read.failures


@pytest.mark.parametrize(("kind", "box", "nth", "last"), [
    ("faststart", "mdat", 0, False), ("fragmented", "mdat", 1, False),
    ("fragmented", "mdat", -1, True), ("fragmented", "moof", -1, True),
    ("faststart", "moov", 0, True)])
def test_one_edited_byte_is_a_hash_mismatch(tmp_path: Path, creds: Credentials, kind: str,
                                            box: str, nth: int, last: bool) -> None:
    """In the pictures (mdat) or in the boxes that say where they are (moov, moof)."""
    mp4 = make_mp4(tmp_path / "export.mp4", KINDS[kind])
    sign(mp4, creds)
    flip_byte(mp4, box, nth, last)
    read = read_credentials(mp4, creds.trust_anchor_pem)
    assert read.state == "Invalid" and not read.trusted
    assert "assertion.bmffHash.mismatch" in read.failures, read.failures


def test_credentials_moved_onto_other_footage_are_a_hash_mismatch(tmp_path: Path,
                                                                  creds: Credentials) -> None:
    """The manifest box of one signed export put into another: it no longer describes it."""
    first = make_mp4(tmp_path / "first.mp4", FASTSTART)
    second = make_mp4(tmp_path / "second.mp4", FASTSTART, frames=FRAMES - 5)
    sign(first, creds)
    sign(second, creds)
    _, at, size = next(b for b in boxes(first) if b[0] == "uuid")
    manifest_box = first.read_bytes()[at:at + size]
    _, at2, size2 = next(b for b in boxes(second) if b[0] == "uuid")
    data = second.read_bytes()
    forged = tmp_path / "forged.mp4"
    forged.write_bytes(data[:at2] + manifest_box + data[at2 + size2:])
    read = read_credentials(forged, creds.trust_anchor_pem)
    assert not read.trusted and "assertion.bmffHash.mismatch" in read.failures, read.failures


def test_one_edited_byte_of_a_redacted_copy_is_a_hash_mismatch(
        original: Path, tmp_path: Path, creds: Credentials) -> None:
    redacted = reencode(original, tmp_path / "redacted.mp4")
    sign_derived(redacted, ingredient=original, credentials=creds,
                 actions=[{"action": "c2pa.edited", "description": "faces blurred"}])
    flip_byte(redacted, "mdat")
    read = read_credentials(redacted, creds.trust_anchor_pem)
    assert read.state == "Invalid" and "assertion.bmffHash.mismatch" in read.failures


def test_a_byte_that_breaks_the_mp4s_structure_is_a_one_line_error(
        tmp_path: Path, creds: Credentials) -> None:
    """A damaged box size: c2pa cannot even walk the file, and says so in one line."""
    mp4 = make_mp4(tmp_path / "export.mp4", FRAGMENTED)
    sign(mp4, creds)
    _, offset, _ = [b for b in boxes(mp4) if b[0] == "moof"][1]
    data = bytearray(mp4.read_bytes())
    data[offset + 1] ^= 0x40  # the box's size field
    mp4.write_bytes(bytes(data))
    with pytest.raises(ContentCredentialsError, match="not readable as a C2PA-signed MP4") \
            as raised:
        read_credentials(mp4, creds.trust_anchor_pem)
    assert "\n" not in str(raised.value)


def test_signing_a_copy_leaves_its_source_as_it_was(tmp_path: Path, creds: Credentials) -> None:
    """The camera's segment (fragmented, device-signed) is never what gets the credentials."""
    segment = make_mp4(tmp_path / "R000001-S0000.mp4", FRAGMENTED)
    before = hashlib.sha256(segment.read_bytes()).hexdigest()
    copy = tmp_path / "copy.mp4"
    shutil.copyfile(segment, copy)
    sign(copy, creds)
    assert hashlib.sha256(segment.read_bytes()).hexdigest() == before
    with pytest.raises(ContentCredentialsError, match="no C2PA Content Credentials"):
        read_credentials(segment)


def test_a_redacted_copy_names_the_original_as_its_parent(original: Path, tmp_path: Path,
                                                          creds: Credentials) -> None:
    redacted = reencode(original, tmp_path / "redacted.mp4")
    read = sign_derived(redacted, ingredient=original, credentials=creds,
                        actions=[{"action": "c2pa.edited", "description": "faces blurred"}])
    again = read_credentials(redacted, creds.trust_anchor_pem)
    assert again.trusted and read.trusted, again.failures
    assert [a["action"] for a in again.actions] == ["c2pa.opened", "c2pa.edited"]
    assert again.actions[1]["description"] == "faces blurred"
    [parent] = again.ingredients
    assert parent["relationship"] == "parentOf" and parent["title"] == "export.mp4"
    origin = read_credentials(original, creds.trust_anchor_pem)
    assert parent["active_manifest"] == origin.manifest["label"]
    # the original's manifest travels inside the redacted copy, evidence assertion and all
    carried = again.manifests[parent["active_manifest"]]
    assert any(a["label"] == EVIDENCE_LABEL for a in carried["assertions"])
    assert again.manifest["label"] != origin.manifest["label"]
    assert frame_count(redacted) == FRAMES
    assert read_credentials(original, creds.trust_anchor_pem).trusted  # the original untouched


def test_a_derived_copy_can_be_written_beside_its_source(original: Path, tmp_path: Path,
                                                         creds: Credentials) -> None:
    redacted = reencode(original, tmp_path / "redacted.mp4")
    before = redacted.read_bytes()
    out = tmp_path / "redacted-signed.mp4"
    sign_derived(redacted, ingredient=original, credentials=creds, out=out,
                 actions=[{"action": "c2pa.edited"}])
    assert redacted.read_bytes() == before
    assert read_credentials(out, creds.trust_anchor_pem).ingredients[0]["relationship"] == \
        "parentOf"


def test_a_tampered_original_cannot_be_an_ingredient(original: Path, tmp_path: Path,
                                                     creds: Credentials) -> None:
    redacted = reencode(original, tmp_path / "redacted.mp4")
    flip_byte(original, "mdat")
    before = redacted.read_bytes()
    with pytest.raises(ContentCredentialsError, match=r"do not verify.*bmffHash\.mismatch"):
        sign_derived(redacted, ingredient=original, credentials=creds,
                     actions=[{"action": "c2pa.edited"}])
    assert redacted.read_bytes() == before


def test_an_original_of_another_force_cannot_be_an_ingredient(tmp_path: Path,
                                                             creds: Credentials) -> None:
    other = ensure_credentials(tmp_path / "other-force", 1.78e9)
    foreign = make_mp4(tmp_path / "foreign.mp4", FASTSTART)
    sign(foreign, other)
    derived = reencode(foreign, tmp_path / "derived.mp4")
    with pytest.raises(ContentCredentialsError, match=r"signingCredential\.untrusted"):
        sign_derived(derived, ingredient=foreign, credentials=creds,
                     actions=[{"action": "c2pa.edited"}])


def test_an_unsigned_ingredient_is_refused(tmp_path: Path, creds: Credentials) -> None:
    plain = make_mp4(tmp_path / "plain.mp4", FASTSTART)
    derived = reencode(plain, tmp_path / "derived.mp4")
    with pytest.raises(ContentCredentialsError,
                       match=r"^ingredient .*plain\.mp4: no C2PA Content Credentials"):
        sign_derived(derived, ingredient=plain, credentials=creds,
                     actions=[{"action": "c2pa.edited"}])


@pytest.mark.parametrize("actions", [[], [{}], [{"action": ""}], ["c2pa.edited"], None])
def test_derived_actions_must_be_named(original: Path, tmp_path: Path, creds: Credentials,
                                       actions) -> None:
    derived = reencode(original, tmp_path / "derived.mp4")
    with pytest.raises(ContentCredentialsError, match="actions must be a non-empty list"):
        sign_derived(derived, ingredient=original, credentials=creds, actions=actions)


def test_an_action_c2pa_refuses_is_a_one_line_error(original: Path, tmp_path: Path,
                                                    creds: Credentials) -> None:
    """c2pa signs it, but its reader calls the result malformed: nothing is replaced."""
    derived = reencode(original, tmp_path / "derived.mp4")
    before = derived.read_bytes()
    with pytest.raises(ContentCredentialsError,
                       match=r"does not verify .*assertion\.action\.malformed") as raised:
        sign_derived(derived, ingredient=original, credentials=creds,
                     actions=[{"action": "c2pa.created"}])  # "created" cannot follow "opened"
    assert "\n" not in str(raised.value)
    assert derived.read_bytes() == before
    assert sorted(p.name for p in tmp_path.glob("*.tmp")) == []


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    (b"", "not readable as a C2PA-signed MP4"),
    (b"this is a text file, not a video\n" * 20, "not readable as a C2PA-signed MP4"),
    (b"\x00\x00\x00\x18ftypisom" + b"\xff" * 200, "not readable as a C2PA-signed MP4"),
])
def test_a_file_without_credentials_is_a_one_line_error(tmp_path: Path, content: bytes | None,
                                                        message: str) -> None:
    path = tmp_path / "suspect.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ContentCredentialsError, match=message) as raised:
        read_credentials(path)
    assert "\n" not in str(raised.value) and str(path) in str(raised.value)


def test_an_unsigned_mp4_says_it_has_no_credentials(tmp_path: Path) -> None:
    plain = make_mp4(tmp_path / "plain.mp4", FASTSTART)
    with pytest.raises(ContentCredentialsError, match="no C2PA Content Credentials"):
        read_credentials(plain)


def test_signing_what_is_not_an_mp4_fails_cleanly(tmp_path: Path, creds: Credentials) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(ContentCredentialsError, match=r"junk\.mp4: cannot sign") as raised:
        sign(junk, creds)
    assert "\n" not in str(raised.value)
    assert junk.read_bytes() == b"not a video at all" * 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.mp4", "store"]


def test_an_expired_signing_certificate_is_refused_in_one_line(
        store_credentials: tuple[Path, Credentials], tmp_path: Path) -> None:
    directory, creds = store_credentials
    ca_key = serialization.load_pem_private_key((directory / CA_KEY).read_bytes(), None)
    leaf = creds.signing_cert
    ended = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    expired = x509.CertificateBuilder(
        issuer_name=leaf.issuer, subject_name=leaf.subject, public_key=leaf.public_key(),
        serial_number=x509.random_serial_number(), not_valid_before=ended - datetime.timedelta(
            days=30), not_valid_after=ended, extensions=list(leaf.extensions)).sign(ca_key, None)
    old = Credentials(creds.ca_cert, expired, creds.signing_key)
    mp4 = make_mp4(tmp_path / "export.mp4", FASTSTART)
    before = mp4.read_bytes()
    with pytest.raises(ContentCredentialsError, match=r"cannot sign: .*not valid") as raised:
        sign(mp4, old)
    assert "\n" not in str(raised.value) and mp4.read_bytes() == before
