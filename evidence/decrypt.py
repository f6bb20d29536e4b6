"""Decrypting a camera's segment with the force's private key (``bodycam decrypt``), for the
store and for third parties: the contract alone, no media library.

It checks the bytes, not who signed them: the manifest's signature, chain and place are
``bodycam verify``'s (which needs no key). What it adds is what only the key holder can check:
that the wrapped key is for this force and unwraps, and that the plaintext is the one whose
SHA-256 the device signed.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from evidence.bounded import read_regular
from evidence.crypt import CryptError, decrypt_segment
from evidence.layout import Layout
from evidence.manifest import MAX_MANIFEST, Manifest, ManifestError


def read_manifest(mp4: Path) -> Manifest:
    """The manifest beside ``mp4``, or :class:`CryptError` saying why there is none."""
    path = Layout.manifest(mp4)
    try:
        return Manifest.from_bytes(read_regular(path, MAX_MANIFEST), path.name)
    except FileNotFoundError:
        raise CryptError(f"no manifest {path.name} beside {mp4.name}") from None
    except OSError as exc:
        raise CryptError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    except ManifestError as exc:
        raise CryptError(str(exc)) from None


def decrypt_file(mp4: Path, private_key: rsa.RSAPrivateKey, out: Path) -> tuple[Manifest, str]:
    """Decrypt segment ``mp4`` into ``out`` (never over an existing file); returns its manifest
    and the plaintext's SHA-256, which is the manifest's signed one."""
    if not mp4.is_file():
        raise CryptError(f"no segment file {mp4}")
    manifest = read_manifest(mp4)
    if manifest.encryption is None:
        raise CryptError(f"{mp4.name} is not encrypted (its manifest has no encryption): "
                         f"it is a plain MP4")
    stored = mp4.stat().st_size
    if stored != manifest.size:
        raise CryptError(f"{mp4.name} is {stored} bytes, its manifest says {manifest.size} "
                         f"(truncated, extended, or the manifest edited)", "size_mismatch")
    if out.exists():
        raise CryptError(f"{out} exists: not overwritten")
    if out.resolve().parent == mp4.resolve().parent:
        raise CryptError(f"{out} is beside the segment: plaintext is not written to the card")
    try:
        digest = decrypt_segment(mp4, manifest.encryption, private_key, out)
    except OSError as exc:
        raise CryptError(f"cannot decrypt {mp4.name}: {exc.filename or out}: "
                         f"{exc.strerror or exc}") from None
    return manifest, digest
