"""Encryption at rest: each segment under its own AES-256 key, wrapped to the force's key.

The camera holds only the force's RSA *public* key, so it cannot decrypt what it wrote. At a
segment's open it draws a fresh 256-bit key and a 128-bit IV, wraps the key with RSA-OAEP
(SHA-256, MGF1-SHA-256) to the force key, and signs the wrapped key and IV into the pending
record; every byte of the MP4 then goes to the card as AES-256-CTR ciphertext. CTR is a stream:
ciphertext byte *i* depends on plaintext byte *i* alone, so a file cut at any fragment boundary
is still a valid ciphertext prefix (recovery truncates it without any key), and
``openssl enc -d -aes-256-ctr -K KEY -iv IV`` decrypts it (docs/FORMAT.md, "Encryption at
rest"). Integrity comes from the signed manifest: the SHA-256 of the stored ciphertext (checked
without a key) and of the plaintext MP4 (checked after decryption).

This is the contract: it uses ``cryptography`` and nothing of the project, so a third party's
tool decrypts with it alone (``bodycam decrypt``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from evidence.bounded import open_regular, read_regular

ALGORITHM = "aes-256-ctr"
KEY_WRAP = "rsa-oaep-sha256"
#: The smallest force key accepted (NIST: 2048-bit RSA until 2030; forces should use 3072+).
MIN_RSA_BITS = 2048
#: The fields of a manifest's (and a pending record's) ``encryption`` object, and their types.
HEADER_TYPES: dict[str, type] = {"algorithm": str, "key_wrap": str, "wrapped_key": str,
                                 "iv": str, "force_key_sha256": str, "key_check": str}
#: ... and what only the manifest adds, once the plaintext is whole.
PLAINTEXT_TYPES: dict[str, type] = {"plaintext_sha256": str, "plaintext_size": int}
_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
_CHUNK = 1 << 20
#: A PEM key file is a few KiB; a larger "key" (say /dev/zero linked into place) is not read.
MAX_KEY_FILE = 1 << 16


class CryptError(ValueError):
    """A key or an encrypted segment is not usable; the message says why, in one line, and
    ``code`` is the verifier's reason code for it (docs/FORMAT.md)."""

    def __init__(self, message: str, code: str = "unreadable") -> None:
        super().__init__(message)
        self.code = code


def key_check(key: bytes, file: str) -> str:
    """HMAC-SHA256 (hex) of the segment's file name under its key: binds an unwrapped key to
    its segment, so a wrapped key moved from another segment is told from a corrupted one.
    It says nothing of the key to whoever lacks it."""
    return hmac.new(key, b"bodycam segment key " + file.encode(), hashlib.sha256).hexdigest()


def force_key_fingerprint(public_key: rsa.RSAPublicKey) -> str:
    """SHA-256 (hex) of the force key's DER SubjectPublicKeyInfo:
    ``openssl pkey -pubin -in force.pub.pem -outform DER | sha256sum``."""
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def load_force_public_key(path: Path) -> rsa.RSAPublicKey:
    """The force's public key (PEM), or :class:`CryptError` saying what is wrong with it."""
    try:
        raw = read_regular(path, MAX_KEY_FILE, follow=True)
    except FileNotFoundError:
        raise CryptError(f"force key missing: no {path}") from None
    except OSError as exc:
        raise CryptError(f"force key {path} cannot be read: {exc.strerror}") from None
    try:
        key = serialization.load_pem_public_key(raw)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise CryptError(f"force key {path} is not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        raise CryptError(f"force key {path} is not an RSA key of at least {MIN_RSA_BITS} bits")
    return key


def force_key_from_der(text: str) -> rsa.RSAPublicKey:
    """A force key given as base64 DER SubjectPublicKeyInfo (one line: how a store pushes a
    rotated key in a signed setting), or :class:`CryptError`."""
    try:
        key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError, TypeError, UnsupportedAlgorithm):
        raise CryptError("the force key is not base64 DER of a public key") from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        raise CryptError(f"the force key is not an RSA key of at least {MIN_RSA_BITS} bits")
    return key


def der_b64(key: rsa.RSAPublicKey) -> str:
    """The one-line form :func:`force_key_from_der` reads."""
    return base64.b64encode(key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


def load_force_private_key(path: Path) -> rsa.RSAPrivateKey:
    """The force's private key (unencrypted PEM), for decrypting."""
    try:
        raw = read_regular(path, MAX_KEY_FILE, follow=True)
    except OSError as exc:
        raise CryptError(f"force private key {path} cannot be read: "
                         f"{exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_private_key(raw, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise CryptError(f"force private key {path} is not an unencrypted PEM private key"
                         ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CryptError(f"force private key {path} is not an RSA key")
    return key


def new_force_key(bits: int = 3072) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class SegmentKey:
    """One segment's key and IV (in memory only), and the header that goes to the card."""

    key: bytes
    iv: bytes
    header: dict[str, Any]

    def cipher(self, offset: int = 0) -> StreamCipher:
        return StreamCipher(self.key, self.iv, offset)


def new_segment_key(force_key: rsa.RSAPublicKey, file: str) -> SegmentKey:
    """A fresh AES-256 key and IV for segment ``file``, the key wrapped with RSA-OAEP-SHA256
    to ``force_key``."""
    key, iv = os.urandom(32), os.urandom(16)
    header = {"algorithm": ALGORITHM, "key_wrap": KEY_WRAP,
              "wrapped_key": base64.b64encode(force_key.encrypt(key, _OAEP)).decode(),
              "iv": iv.hex(), "force_key_sha256": force_key_fingerprint(force_key),
              "key_check": key_check(key, file)}
    return SegmentKey(key, iv, header)


class StreamCipher:
    """AES-256-CTR from byte ``offset`` of the stream on (the counter is the IV, a 128-bit
    big-endian number, plus the block index: as ``openssl enc -aes-256-ctr`` counts)."""

    def __init__(self, key: bytes, iv: bytes, offset: int = 0) -> None:
        block, skip = divmod(offset, 16)
        counter = ((int.from_bytes(iv, "big") + block) % (1 << 128)).to_bytes(16, "big")
        self._ctx: CipherContext = Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor()
        if skip:
            self._ctx.update(bytes(skip))

    def update(self, data: bytes) -> bytes:
        return self._ctx.update(data)


def header_problem(header: object, whole: bool) -> str:
    """"" when ``header`` is a well-formed ``encryption`` object (``whole``: a manifest's,
    with the plaintext's hash and size); else what is wrong."""
    if not isinstance(header, dict):
        return "encryption is not a JSON object"
    types = {**HEADER_TYPES, **(PLAINTEXT_TYPES if whole else {})}
    if set(header) != set(types):
        return f"encryption has the fields {sorted(header)}, not {sorted(types)}"
    for name, kind in types.items():
        if not isinstance(header[name], kind) or isinstance(header[name], bool):
            return f"encryption.{name} is not {'a string' if kind is str else 'an integer'}"
    if header["algorithm"] != ALGORITHM or header["key_wrap"] != KEY_WRAP:
        return (f"encryption is {header['algorithm']!r} wrapped by {header['key_wrap']!r}, "
                f"not {ALGORITHM!r} by {KEY_WRAP!r}")
    for name, length in (("iv", 32), ("force_key_sha256", 64), ("key_check", 64),
                         *((("plaintext_sha256", 64),) if whole else ())):
        if len(header[name]) != length or not _is_hex(header[name]):
            return f"encryption.{name} is not {length} hex digits"
    if whole and header["plaintext_size"] < 0:
        return "encryption.plaintext_size is negative"
    return ""


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def unwrap(private_key: rsa.RSAPrivateKey, header: dict[str, Any], file: str) -> SegmentKey:
    """Segment ``file``'s key, unwrapped; :class:`CryptError` names why not: wrapped to
    another force (``other_force_key``), corrupted or not wrapped to the force it names
    (``bad_wrapped_key``), or another segment's (``wrapped_key_swapped``)."""
    problem = header_problem({k: header.get(k) for k in HEADER_TYPES}, whole=False)
    if problem:
        raise CryptError(problem, "manifest_invalid")
    mine = force_key_fingerprint(private_key.public_key())
    if header["force_key_sha256"] != mine:
        raise CryptError(f"wrong force key: the segment's key is wrapped to force key "
                         f"{header['force_key_sha256'][:16]}…, this key is {mine[:16]}…",
                         "other_force_key")
    try:
        wrapped = base64.b64decode(header["wrapped_key"], validate=True)
        key = private_key.decrypt(wrapped, _OAEP)
    except (binascii.Error, ValueError):
        raise CryptError("the wrapped key does not unwrap with the force key it names "
                         "(corrupted, or wrapped to another key)", "bad_wrapped_key") from None
    if len(key) != 32 or not hmac.compare_digest(key_check(key, file), header["key_check"]):
        raise CryptError(f"the wrapped key is not {file}'s (taken from another segment)",
                         "wrapped_key_swapped")
    return SegmentKey(key, bytes.fromhex(header["iv"]), header)


def check_plaintext(mp4: Path, manifest_encryption: dict[str, Any],
                    private_key: rsa.RSAPrivateKey) -> str:
    """The verifier's check with the force key: "" when ``mp4`` decrypts to the plaintext the
    manifest signed; else raises :class:`CryptError` with its reason code. Writes nothing."""
    problem = header_problem(manifest_encryption, whole=True)
    if problem:
        raise CryptError(problem, "manifest_invalid")
    segment_key = unwrap(private_key, manifest_encryption, mp4.name)
    digest = hashlib.sha256()
    for chunk in decrypt_chunks(mp4, segment_key):
        digest.update(chunk)
    if digest.hexdigest() != manifest_encryption["plaintext_sha256"]:
        raise CryptError("decrypts to bytes whose SHA-256 differs from the signed plaintext "
                         "hash", "plaintext_mismatch")
    return ""


def decrypt_chunks(path: Path, segment_key: SegmentKey) -> Iterator[bytes]:
    """The plaintext of the ciphertext file at ``path``, in pieces."""
    cipher = segment_key.cipher()
    with open_regular(path) as f:  # never a FIFO or a link: nothing blocks, nothing is followed
        while chunk := f.read(_CHUNK):
            yield cipher.update(chunk)


def decrypt_segment(mp4: Path, manifest_encryption: dict[str, Any],
                    private_key: rsa.RSAPrivateKey, out: Path) -> str:
    """Decrypt ``mp4`` into ``out`` (written whole, then renamed) and check the plaintext
    against the manifest's signed hash and size; returns that hash. The manifest's signature
    is the verifier's business (``bodycam verify``); this checks the bytes."""
    problem = header_problem(manifest_encryption, whole=True)
    if problem:
        raise CryptError(problem, "manifest_invalid")
    segment_key = unwrap(private_key, manifest_encryption, mp4.name)
    tmp = out.with_name(out.name + ".tmp")
    digest, size = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as f:
            for chunk in decrypt_chunks(mp4, segment_key):
                digest.update(chunk)
                size += len(chunk)
                f.write(chunk)
        expected = manifest_encryption["plaintext_size"]
        if size != expected:
            raise CryptError(f"{mp4.name} decrypts to {size} bytes, its manifest signed "
                             f"{expected} (truncated or extended ciphertext)",
                             "plaintext_mismatch")
        if digest.hexdigest() != manifest_encryption["plaintext_sha256"]:
            raise CryptError(f"{mp4.name} decrypts to bytes whose SHA-256 differs from the "
                             f"signed plaintext hash (ciphertext changed, or the wrong key)",
                             "plaintext_mismatch")
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest.hexdigest()
