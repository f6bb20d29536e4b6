"""The transparency log's public side: RFC 9162 Merkle hashing and proofs, and signed checkpoints.

The evidence store appends a leaf to an append-only Merkle tree for every custody event (a
segment ingested, a flag or category changed, an export, a deletion by retention) and publishes
signed checkpoints. Anyone who kept an earlier checkpoint can then ask for a consistency proof
and see that the store only ever appended: a dropped, edited or back-dated entry changes every
root after it. This module is what such an outsider needs, and nothing of the store's server:

- hashing as RFC 9162 section 2.1.1 (leaf ``SHA-256(0x00 || data)``, node
  ``SHA-256(0x01 || left || right)``);
- the verification of inclusion and consistency proofs, RFC 9162 sections 2.1.3.2 and 2.1.4.2;
- checkpoints in the C2SP ``tlog-checkpoint`` format, signed as C2SP signed notes with Ed25519.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

HASH_SIZE = 32
#: A checkpoint note is a few lines; anything larger is not one.
MAX_NOTE_BYTES = 16 * 1024
#: Signature lines start with an em dash and a space (C2SP signed-note).
SIGNATURE_PREFIX = "\u2014 "
#: The signature type byte of an Ed25519 key in a signed note's key id.
ED25519_TYPE = b"\x01"


class ProofError(ValueError):
    """A proof, a checkpoint or a note does not verify; the message says which and why."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def empty_root() -> bytes:
    """The root of the tree with no leaves: the hash of the empty string."""
    return hashlib.sha256(b"").digest()


def split_point(n: int) -> int:
    """The largest power of two strictly less than ``n`` (n > 1): where RFC 9162 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes],
                     root: bytes) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows leaf hash ``leaf`` at ``index`` of the
    tree of ``size`` leaves whose root is ``root`` (RFC 9162 section 2.1.3.2)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of {size} leaves")
    _check_hashes(proof)
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is deep")
    if r != root:
        raise ProofError(f"leaf {index} is not in the tree of {size} leaves with that root")


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes,
                       root2: bytes) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows that the tree of ``size2`` leaves with
    root ``root2`` extends the tree of ``size1`` leaves with root ``root1`` (RFC 9162 section
    2.1.4.2): the log only appended in between."""
    if not 0 <= size1 <= size2:
        raise ProofError(f"a tree of {size2} leaves cannot extend one of {size1}")
    _check_hashes(proof)
    if size1 == size2:
        if proof:
            raise ProofError("a consistency proof between equal sizes must be empty")
        if root1 != root2:
            raise ProofError(f"two different roots for the same size {size1}: the log forked")
        return
    if size1 == 0:
        if proof:
            raise ProofError("a consistency proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("empty consistency proof")
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the tree is deep")
    if fr != root1:
        raise ProofError(f"the earlier tree of {size1} leaves is not a prefix of the later one "
                         f"(its history was rewritten)")
    if sr != root2:
        raise ProofError(f"the proof does not lead to the root of the tree of {size2} leaves")


def _check_hashes(proof: Sequence[bytes]) -> None:
    if len(proof) > 64:
        raise ProofError(f"proof of {len(proof)} hashes: no tree of 2^64 leaves is that deep")
    for h in proof:
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise ProofError("proof holds an item that is not a 32-byte hash")


# --- checkpoints and signed notes ------------------------------------------------------------

@dataclass(frozen=True)
class Checkpoint:
    """One state of the log: its origin (which log), its size and its root hash."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        """The note text (C2SP tlog-checkpoint): origin, size, base64 root, extension lines."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(),
                 *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        if not body.endswith("\n"):
            raise ProofError("checkpoint does not end with a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise ProofError("checkpoint has fewer than three lines (origin, size, root)")
        origin, size_text, root_text, *extensions = lines
        if not origin or any(ord(ch) < 0x20 for ch in origin):
            raise ProofError("checkpoint's origin line is empty or not printable")
        if not size_text.isascii() or not size_text.isdigit() or len(size_text) > 20 or (
                size_text != "0" and size_text.startswith("0")):
            raise ProofError(f"checkpoint's size {size_text[:40]!r} is not a decimal count")
        root = _b64(root_text, "checkpoint's root hash")
        if len(root) != HASH_SIZE:
            raise ProofError("checkpoint's root is not a 32-byte hash")
        if any(not ext for ext in extensions):
            raise ProofError("checkpoint has an empty extension line")
        return cls(origin, int(size_text), root, tuple(extensions))


def key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte key id of a signed note's Ed25519 key: SHA-256(name, newline, type, key)."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519_TYPE + _raw(public_key)).digest()[:4]


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """The key in the ``vkey`` text form: ``name+hex(keyid)+base64(type || key)``."""
    encoded = base64.b64encode(ED25519_TYPE + _raw(public_key)).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


def sign_note(body: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """The signed note: ``body``, a blank line, and one signature line by ``name``."""
    if not body.endswith("\n"):
        raise ValueError("a note's text ends with a newline")
    if " " in name or "+" in name or not name:
        raise ValueError(f"note key name {name!r} may not be empty or hold spaces or '+'")
    signature = private_key.sign(body.encode())
    blob = key_id(name, private_key.public_key()) + signature
    return f"{body}\n{SIGNATURE_PREFIX}{name} {base64.b64encode(blob).decode()}\n"


def open_note(note: str | bytes, name: str, public_key: Ed25519PublicKey) -> str:
    """The note's text once a signature by ``name`` with ``public_key`` verifies over it;
    signatures by other keys are ignored (a note may carry witnesses' too)."""
    if isinstance(note, bytes):
        if len(note) > MAX_NOTE_BYTES:
            raise ProofError(f"note of {len(note)} bytes is too large to be a checkpoint")
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise ProofError("note is not UTF-8") from None
    if len(note) > MAX_NOTE_BYTES:
        raise ProofError(f"note of {len(note)} characters is too large to be a checkpoint")
    body, sep, signatures = note.rpartition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise ProofError("not a signed note: no blank line before the signature lines")
    body += "\n"
    wanted = key_id(name, public_key)
    parsed = []
    for line in signatures[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise ProofError("a signature line does not start with an em dash and a space")
        signer, _, encoded = line[len(SIGNATURE_PREFIX):].partition(" ")
        blob = _b64(encoded, "signature")
        if not signer or len(blob) < 5:
            raise ProofError("a signature line has no key name or no signature")
        parsed.append((signer, blob))
    for signer, blob in parsed:
        if signer != name or blob[:4] != wanted:
            continue
        try:
            public_key.verify(blob[4:], body.encode())
        except InvalidSignature:
            raise ProofError(f"the signature by {name} does not verify over the note") from None
        return body
    raise ProofError(f"the note carries no signature by {name}")


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ProofError(f"{what} is not base64") from None
