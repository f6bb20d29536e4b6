"""Which key evidence must verify with, and who signed it.

Without ``--keys`` the expected key is the one in the data directory the evidence sits in
(``DATA_DIR/device.pub.pem``): that proves the files are as that key signed them. With
``--keys DIR`` it is the key enrolled for the device the evidence names (``DIR/*.pem``, matched
by the device id derived from each key), which also catches a data directory whose key was
swapped and everything re-signed: the attacker's key is not enrolled.

A reason is only as specific as the evidence for it: "unenrolled" or "wrong key" needs a key
that really verifies the signature; anything else that fails is a bad signature.

The store key that receipts must verify with is pinned in one place, never found beside the
footage (:meth:`KeyRing.store_key_for`): ``--store-key FILE`` if given; else, with ``--keys DIR``,
``DIR/store.pub.pem`` if there is one; else the data directory's own ``DATA_DIR/store.pub.pem``,
at its root. (That copy could be swapped like the data directory's device key; a receipt it
verifies still needs the ``upload_receipt`` entry, with the receipt's hash, in the device-signed
audit log, which an enrolled key anchors.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence.identity import (
    IDENTITY,
    PUBLIC_KEY,
    IdentityError,
    device_id_for,
    load_public_key,
    verify_signature,
)
from evidence.kept import STORE_KEY
from evidence.layout import Layout

SIGNATURE_LENGTH = 64


def data_dir_of(path: Path) -> Path:
    """The data directory a file belongs to: the *outermost* folder above it that holds
    ``device.pub.pem`` (a key planted deeper, say in ``recordings/``, does not make a data
    directory of its own: what is beside it is still checked as the outer camera's), else the
    one the layout implies (``DATA_DIR/recordings/REC/file``)."""
    near = list(path.parents)
    folders = near + list(path.absolute().parents)[len(near):]  # up to / even if relative
    holders = [folder for folder in folders if os.path.lexists(folder / PUBLIC_KEY)]
    if holders:
        return holders[-1]
    if path.parent.parent.name == Layout.RECORDINGS.name:
        return path.parent.parent.parent
    return path.parent


def pinning_root(root: Path) -> Path:
    """The data directory whose pinned store key counts for ``root``: a folder inside another
    data directory's ``recordings/`` is footage, whatever keys were dropped into it."""
    for folder in root.parents:
        if folder.name == Layout.RECORDINGS.name and any(
                (folder.parent / name).exists() for name in (PUBLIC_KEY, IDENTITY)):
            return folder.parent
    return root


@dataclass(frozen=True)
class StoreKey:
    """The pinned store key receipts are checked with, and where it came from; or, when
    ``key`` is None, why there is none (one line, saying how to give one)."""

    key: Ed25519PublicKey | None
    source: str = ""
    problem: str = ""


@dataclass(frozen=True)
class DataDir:
    """A data directory as the verifier sees it: where it is and the keys it holds."""

    root: Path
    key: Ed25519PublicKey | None
    problem_code: str = "ok"  # no_key or bad_key when ``key`` is None
    problem: str = ""
    store: StoreKey | None = None  # set by the verifier (KeyRing.store_key_for)

    @property
    def key_file(self) -> Path:
        return self.root / PUBLIC_KEY

    @property
    def device_id(self) -> str | None:
        return device_id_for(self.key) if self.key is not None else None


def load_data_dir(root: Path) -> DataDir:
    key_file = root / PUBLIC_KEY
    if not os.path.lexists(key_file):
        return DataDir(root, None, "no_key", f"no {PUBLIC_KEY} in {root} to check against "
                                             f"(or give --keys DIR)")
    try:
        return DataDir(root, load_public_key(key_file))
    except IdentityError as exc:
        return DataDir(root, None, "bad_key", str(exc))


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class KeyRing:
    """The enrolled device keys, by device id; empty means "trust each data directory's key".
    ``store_key``, when given, is the store key for every data directory."""

    def __init__(self, enrolled: dict[str, Ed25519PublicKey] | None = None,
                 store_key: Ed25519PublicKey | None = None, store_source: str = "",
                 force_key: Any = None) -> None:
        self.enrolled = enrolled
        self.store_key = store_key
        self.store_source = store_source
        #: the force's RSA private key (``--force-key``): encrypted segments are decrypted and
        #: checked against their signed plaintext hash too (docs/FORMAT.md)
        self.force_key = force_key

    def with_force_key(self, force_key: Any) -> KeyRing:
        return KeyRing(self.enrolled, self.store_key, self.store_source, force_key)

    @classmethod
    def from_dir(cls, folder: Path) -> KeyRing:
        """Every ``*.pem`` in ``folder``; anything but an Ed25519 public key is an error.
        ``store.pub.pem`` among them is the store's key, not a device's."""
        if not folder.is_dir():
            raise IdentityError(f"--keys {folder}: not a directory of enrolled public keys")
        enrolled = {}
        for pem in sorted(folder.glob("*.pem")):
            if pem.name == STORE_KEY:
                continue
            key = load_public_key(pem)
            enrolled[device_id_for(key)] = key
        if not enrolled:
            raise IdentityError(f"--keys {folder}: no enrolled public keys (*.pem) in it")
        store = folder / STORE_KEY
        return (cls(enrolled, load_public_key(store), str(store)) if store.exists()
                else cls(enrolled))

    def with_store_key(self, store_key: Path | Ed25519PublicKey | None) -> KeyRing:
        """This ring with ``--store-key`` (a PEM file, or the key) taking precedence; an
        unusable file raises :class:`IdentityError` naming it."""
        if store_key is None:
            return self
        if isinstance(store_key, Path):
            key, source = load_public_key(store_key), str(store_key)
        else:
            key, source = store_key, "the store key given"
        return KeyRing(self.enrolled, key, source, self.force_key)

    def store_key_for(self, root: Path) -> StoreKey:
        """The one store key receipts in the data directory ``root`` must verify with."""
        if self.store_key is not None:
            return StoreKey(self.store_key, self.store_source)
        root = pinning_root(root)
        pinned = root / STORE_KEY
        if not pinned.exists():
            return StoreKey(None, problem=f"no store key to check receipts with: no pinned "
                                          f"{STORE_KEY} at the data directory's root {root} "
                                          f"(give --store-key FILE)")
        try:
            return StoreKey(load_public_key(pinned), str(pinned))
        except IdentityError as exc:
            return StoreKey(None, problem=f"{exc} (give --store-key FILE)")

    def key_for(self, device_id: str | None) -> Ed25519PublicKey | None:
        return (self.enrolled or {}).get(device_id or "")

    def is_enrolled(self, key: Ed25519PublicKey) -> bool:
        enrolled = self.key_for(device_id_for(key))
        return enrolled is not None and _raw(enrolled) == _raw(key)


@dataclass(frozen=True)
class Signer:
    """Who signed: ``device_id`` when a trusted key verified, else a failure code and why."""

    device_id: str | None
    code: str = "ok"
    detail: str = ""


def authenticate(ring: KeyRing, home: DataDir, data: bytes, signature: bytes,
                 claimed: str | None) -> Signer:
    """Check ``signature`` over ``data`` against the expected key for ``claimed``."""
    def valid(key: Ed25519PublicKey | None) -> bool:
        return (key is not None and len(signature) == SIGNATURE_LENGTH
                and verify_signature(key, signature, data))

    names = f" (it names device {claimed})" if claimed else ""
    if ring.enrolled is None:
        if home.key is None:
            return Signer(None, home.problem_code, home.problem)
        if valid(home.key):
            return Signer(home.device_id)
        return Signer(None, "bad_signature", f"signature does not verify with {home.key_file}"
                      + (names if claimed != home.device_id else ""))
    enrolled = ring.key_for(claimed)
    if valid(enrolled):
        return Signer(claimed)
    if home.key is not None and valid(home.key):
        if ring.is_enrolled(home.key):
            return Signer(home.device_id)
        if enrolled is not None:
            return Signer(None, "wrong_key", f"signed by {home.key_file} (device "
                                             f"{home.device_id}), not by the key enrolled for "
                                             f"{claimed}")
        return Signer(None, "unenrolled", f"signed by {home.key_file} (device "
                                          f"{home.device_id}), which is not enrolled{names}")
    if enrolled is not None:
        return Signer(None, "bad_signature", f"signature does not verify with the key enrolled "
                                             f"for {claimed}")
    return Signer(None, "bad_signature", f"signature does not verify with any enrolled key"
                                         f"{names}")
