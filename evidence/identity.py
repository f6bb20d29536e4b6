"""The device's identity and its Ed25519 signing key, and where they live in the data directory.

Layout (docs/FORMAT.md):

- ``keys/device.key``: the private key, PKCS#8 PEM, mode 0600 (owner only);
- ``device.pub.pem``: the public key, SubjectPublicKeyInfo PEM, for anyone who verifies;
- ``identity.json``: device id, model, serial and the key's fingerprint;
- ``retired-keys/DEVICE_ID.pub.pem``: public keys replaced by ``bodycam provision --force``, kept
  so that footage they signed can still be checked.

The device id is derived from the key (``bwv-`` and the first 16 hex digits of the SHA-256 of the
raw public key), so it cannot be claimed by another key.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from evidence.bounded import loads, read_regular
from evidence.fsutil import atomic_write, private_dir
from evidence.layout import Layout

PRIVATE_KEY = Layout.PRIVATE_KEY
PUBLIC_KEY = Layout.PUBLIC_KEY
IDENTITY = Layout.IDENTITY
RETIRED_KEYS = Layout.RETIRED_KEYS


class IdentityError(Exception):
    """The key is missing, unreadable or of the wrong kind."""


def fingerprint(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


#: A PEM public key is 113 bytes; anything much larger is not one.
MAX_KEY_FILE = 64 * 1024


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        data = read_regular(path, MAX_KEY_FILE, follow=True)
    except OSError as exc:
        raise IdentityError(f"{path}: not a readable PEM public key ({exc.strerror})") from None
    return public_key_from_pem(data, str(path))


def public_key_from_pem(data: bytes, where: str = "public key") -> Ed25519PublicKey:
    """An Ed25519 key from SubjectPublicKeyInfo PEM bytes (a ``device.pub.pem``'s content)."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise IdentityError(f"{where}: not a readable PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise IdentityError(f"{where}: not an Ed25519 public key")
    return key


def verify_signature(public_key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def signed_document(raw: bytes, signature: bytes, store_key: Ed25519PublicKey, prefix: bytes,
                    what: str) -> object:
    """The JSON a store pushes (settings, an assignment), if the pinned store key signed
    ``prefix + raw``; ValueError, one line naming ``what``, if it did not or the JSON is bad."""
    if not verify_signature(store_key, signature, prefix + raw):
        raise ValueError(f"{what} signature does not verify with the store's public key")
    return loads(raw, what)


@dataclass(frozen=True)
class DeviceIdentity:
    device_id: str
    model: str
    serial: str
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)


def device_id_for(public_key: Ed25519PublicKey) -> str:
    return "bwv-" + fingerprint(public_key)[:16]


def create_identity(data_dir: Path, model: str, serial: str) -> DeviceIdentity:
    """Make a new key and identity; the caller has checked that none exists."""
    key = Ed25519PrivateKey.generate()
    private_dir(data_dir / PRIVATE_KEY.parent)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    atomic_write(data_dir / PRIVATE_KEY, pem, mode=0o600)
    atomic_write(data_dir / PUBLIC_KEY, public_pem(key.public_key()))
    identity = DeviceIdentity(device_id_for(key.public_key()), model, serial, key)
    atomic_write(data_dir / IDENTITY, (json.dumps({
        "device_id": identity.device_id, "model": model, "serial": serial,
        "public_key_sha256": identity.fingerprint}, indent=2) + "\n").encode())
    return identity


def load_identity(data_dir: Path, model: str, serial: str) -> DeviceIdentity:
    """Load the device key; raise :class:`IdentityError` (one-line reason) if it is unusable."""
    path = data_dir / PRIVATE_KEY
    try:
        key = serialization.load_pem_private_key(read_regular(path, MAX_KEY_FILE, follow=True),
                                                 password=None)
    except FileNotFoundError:
        raise IdentityError(f"{path}: device key missing (run 'bodycam provision')") from None
    except OSError as exc:
        raise IdentityError(f"{path}: unreadable device key ({exc.strerror})") from None
    except (ValueError, TypeError) as exc:
        raise IdentityError(f"{path}: unreadable device key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityError(f"{path}: not an Ed25519 private key")
    if os.stat(path).st_mode & 0o077:
        raise IdentityError(f"{path}: private key is readable by others (chmod 600 it)")
    return DeviceIdentity(device_id_for(key.public_key()), model, serial, key)


def has_key(data_dir: Path) -> bool:
    """Whether the camera holds a key (either half): then provisioning must not overwrite it."""
    return (data_dir / PRIVATE_KEY).exists() or (data_dir / PUBLIC_KEY).exists()


def provision(data_dir: Path, model: str, serial: str, force: bool = False) -> DeviceIdentity:
    """Make the camera's key once. An existing key is replaced only with ``force``, and its
    public half is kept under ``retired-keys/`` so that what it signed stays checkable."""
    if has_key(data_dir):
        if not force:
            raise IdentityError(f"{data_dir / PRIVATE_KEY}: this camera already has a key "
                                f"({_describe_existing(data_dir)}); 'bodycam provision --force' "
                                f"replaces it")
        _retire(data_dir)
    private_dir(data_dir)
    return create_identity(data_dir, model, serial)


def _describe_existing(data_dir: Path) -> str:
    try:
        return "device " + device_id_for(load_public_key(data_dir / PUBLIC_KEY))
    except IdentityError:
        return "its public key is missing or unreadable"


def _retire(data_dir: Path) -> None:
    try:
        name = device_id_for(load_public_key(data_dir / PUBLIC_KEY))
    except IdentityError:
        return  # nothing checkable to keep: no readable public key
    private_dir(data_dir / RETIRED_KEYS)
    atomic_write(data_dir / RETIRED_KEYS / f"{name}.pub.pem",
                 read_regular(data_dir / PUBLIC_KEY, MAX_KEY_FILE, follow=True))


def load_or_create_identity(data_dir: Path, model: str, serial: str,
                            create: bool = True) -> DeviceIdentity:
    """Load the key; with ``create`` a camera with no key at all makes one (first start)."""
    if create and not has_key(data_dir):
        return create_identity(data_dir, model, serial)
    return load_identity(data_dir, model, serial)
