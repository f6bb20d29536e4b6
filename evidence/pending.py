"""Signing an open segment as it is recorded, so that recovery vouches only for what the camera
wrote, not for what someone did to the card between a power cut and the next boot.

An open segment ``NAME.mp4`` is three files (docs/FORMAT.md):

- ``NAME.mp4.part``: its fragments so far;
- ``NAME.mp4.part.json``, the *pending record* (what its manifest will say: recording, index,
  start time, reason, markers…), signed by the device key like an audit entry (``sig`` over
  the canonical JSON with ``"sig": ""``). It names its ``file`` and counts its revisions
  (``rev``, and ``prev_record``, the hash of the one it replaced: it is rewritten when a
  marker is set);
- ``NAME.mp4.part.sigs``, the *fragment log*: append-only, one signed line each time bytes land
  in the ``.part`` and each time the pending record is rewritten: ``end`` (bytes landed),
  ``sha256`` (of the ``.part``'s first ``end`` bytes) and ``record`` (the hash of the pending
  record then in force). A fragment's line is written as soon as its bytes are (so a process
  killed a moment later leaves it signed), then the bytes are fsynced, then the line.

:func:`examine` checks the three against each other. The bytes the last valid line signed are
vouched for; bytes after it are *unverified* (a write the power cut, or bytes appended later);
anything that contradicts a signature is tampering, and recovery signs none of it. One thing
a power cut can do honestly: make the last line durable before all of its bytes reached the
card. So a ``.part`` that ends short of the *last* line's ``end`` (and holds every earlier
line's bytes) is vouched for up to the line before; the rest is unverified.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evidence.audit import canonical, signed_bytes
from evidence.bounded import MAX_LINE, BadJSON, loads, open_regular, read_json, read_regular
from evidence.fsutil import fsync, fsync_dir, write_all, write_synced
from evidence.layout import Layout

FORMAT = "bodycam.pending"
FRAGMENT_LOG_SUFFIX = Layout.FRAGMENT_LOG
#: A fragment log holds a line of about 300 bytes per landed fragment (one a second): 16 MiB is
#: over 14 hours of one segment, far past any configured length. Larger is not the camera's.
MAX_FRAGMENT_LOG = 16 * 1024 * 1024
#: (signature, signed bytes, device id the record names) -> does it verify
Verifier = Callable[[bytes, bytes, str | None], bool]
_LINE_KEYS = {"file", "n", "end", "sha256", "record", "sig"}
#: An encrypted segment's lines also carry, for its plaintext up to ``end`` (whole fragments):
#: its SHA-256, its video frames and their span in frame slots, and its ``moof`` fragments, so
#: recovery signs a recovered segment's plaintext hash and counts without the key.
PLAIN_KEYS = {"plain_sha256", "frames", "span", "fragments"}
#: and, on a segment with sound, what of it has landed (packets, samples, first, gaps)
PLAIN_SOUND = "audio"


def fragment_log_path(mp4: Path) -> Path:
    return Layout.fragment_log(mp4)


def record_hash(record: dict[str, Any]) -> str:
    """What a fragment line names a pending record by: the hash of its signed bytes."""
    return hashlib.sha256(signed_bytes(record)).hexdigest()


def _sign(entry: dict[str, Any], sign: Callable[[bytes], bytes]) -> dict[str, Any]:
    return {**entry, "sig": base64.b64encode(sign(signed_bytes(entry))).decode()}


def signed_record(fields: dict[str, Any], file: str, device_id: str, rev: int,
                  prev_record: str | None, sign: Callable[[bytes], bytes]) -> dict[str, Any]:
    """The pending record of ``file``, revision ``rev``, signed."""
    return _sign({**fields, "format": FORMAT, "file": file, "device_id": device_id, "rev": rev,
                  "prev_record": prev_record}, sign)


def encode_record(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, indent=1, sort_keys=True) + "\n").encode()


class FragmentLog:
    """The append-only fragment log of one open segment; each line is fsynced before the
    call returns. Created (and its directory entry made durable) before the ``.part``, so a
    ``.part`` without one was not left by the camera."""

    def __init__(self, mp4: Path, sign: Callable[[bytes], bytes]) -> None:
        self.file = mp4.name
        self.sign = sign
        self.lines = 0
        self.broken = False  # a line was refused: no more are written (see append)
        self.fd = os.open(fragment_log_path(mp4), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(self.fd, 0o600)  # the owner's only, as every file the camera writes
        fsync_dir(mp4.parent)

    def append(self, end: int, sha256: str, record: str, sync: bool = True,
               plain: dict[str, Any] | None = None) -> None:
        """One signed line; fsynced now, or with :meth:`sync` once the bytes it signs are.

        A write the card refuses may leave part of a line: then the log is closed to further
        lines (the error still raised), so that torn line stays its last, which recovery
        ignores; what was signed before it is still vouched for."""
        if self.broken:
            return
        line = canonical(_sign({"file": self.file, "n": self.lines, "end": end,
                                "sha256": sha256, "record": record, **(plain or {})},
                               self.sign)) + b"\n"
        try:
            (write_synced if sync else write_all)(self.fd, line)
        except OSError:
            self.broken = True
            raise
        self.lines += 1

    def sync(self) -> None:
        if not self.broken:
            try:
                fsync(self.fd)
            except OSError:
                self.broken = True
                raise

    def close(self) -> None:
        os.close(self.fd)


@dataclass(frozen=True)
class Examined:
    """What an interrupted segment's signed records vouch for."""

    #: the pending record, when it verified and belongs here
    record: dict[str, Any] | None
    #: bytes of the ``.part`` the fragment log vouches for (its first ``signed_end`` bytes)
    signed_end: int = 0
    #: a signature contradicted by the files: tampering (recovery signs nothing of it)
    problem: str = ""
    #: nothing to vouch with, though nothing contradicts a signature either
    unsigned: str = ""
    #: the fragment log's line that vouches for ``signed_end`` (None when none does)
    line: dict[str, Any] | None = None


def _decode_sig(entry: dict[str, Any]) -> bytes | None:
    try:
        return base64.b64decode(entry.get("sig", ""), validate=True)
    except (binascii.Error, ValueError, TypeError):
        return None


def examine(mp4: Path, part: Path, pending: Path, verify: Verifier) -> Examined:
    """Check ``mp4``'s pending record, fragment log and ``.part`` against each other."""
    try:
        record = read_json(pending)
    except FileNotFoundError:
        return Examined(None, unsigned="no usable pending record (FileNotFoundError)")
    except (OSError, BadJSON) as exc:
        return Examined(None, problem=f"{pending.name} is not a readable JSON record "
                                      f"({exc.__class__.__name__})")
    if not isinstance(record, dict):
        return Examined(None, problem=f"{pending.name} is not a JSON object")
    if "sig" not in record:
        return Examined(None, unsigned=f"{pending.name} is not signed (written by older "
                                       f"firmware, or its signature removed)")
    sig = _decode_sig(record)
    claimed = record.get("device_id")
    if sig is None or not verify(sig, signed_bytes(record), claimed if isinstance(
            claimed, str) else None):
        return Examined(None, problem=f"{pending.name}: its signature does not verify "
                                      f"(edited after it was signed)")
    if record.get("file") != mp4.name or record.get("format") != FORMAT:
        return Examined(None, problem=f"{pending.name} is the signed record for "
                                      f"{record.get('file')!r}, not {mp4.name} (replayed)")
    log = fragment_log_path(mp4)
    if not log.exists():
        if part.exists():
            return Examined(None, problem=f"its fragment signatures {log.name} are missing "
                                          f"(the camera writes them before the .part)")
        return Examined(record)  # the power went before either was created: nothing landed
    return _check_log(mp4, part, record, log, verify, claimed)


def _check_log(mp4: Path, part: Path, record: dict[str, Any], log: Path, verify: Verifier,
               claimed: Any) -> Examined:
    """Every complete line signed and in order, and the ``.part`` holding what each signed."""
    try:
        pieces = read_regular(log, MAX_FRAGMENT_LOG).split(b"\n")
    except OSError as exc:
        return Examined(None, problem=f"cannot read {log.name}: {exc.strerror}")
    lines: list[dict[str, Any]] = []
    for number, raw in enumerate(pieces[:-1], 1):  # the last piece: torn or empty, ignored
        try:
            entry = loads(raw, log.name, MAX_LINE)
        except BadJSON:
            entry = None
        sig = _decode_sig(entry) if isinstance(entry, dict) else None
        extra = set(entry) - _LINE_KEYS if isinstance(entry, dict) else set()
        if (not isinstance(entry, dict) or not set(entry) >= _LINE_KEYS
                or extra not in (set(), PLAIN_KEYS, PLAIN_KEYS | {PLAIN_SOUND}) or sig is None
                or not verify(sig, signed_bytes(entry), claimed)):
            return Examined(None, problem=f"{log.name} line {number} is not a fragment "
                                          f"signature of this camera (edited or inserted)")
        end = entry["end"]
        if (entry["n"] != number - 1 or entry["file"] != mp4.name or not isinstance(end, int)
                or end < (lines[-1]["end"] if lines else 0)):
            return Examined(None, problem=f"{log.name} line {number} is out of place (lines "
                                          f"removed, reordered or taken from another segment)")
        lines.append(entry)
    newest = lines[-1]["record"] if lines else None
    if record_hash(record) != newest and record.get("prev_record") != newest:
        return Examined(None, problem=f"{mp4.name}.part.json is not the pending record the "
                                      f"fragment log signed last (an older revision, replayed)")
    size = part.stat().st_size if part.exists() else 0
    last = lines[-1]["end"] if lines else 0
    # The last landing's line may have reached the card before all of its bytes (a power cut
    # between the two fsyncs): then only the lines before it vouch; its bytes are unverified.
    vouched = [e for e in lines if e["end"] < last] if last > size else lines
    problem = _check_bytes(part, vouched)
    if problem:
        return Examined(None, problem=problem)
    return Examined(record, vouched[-1]["end"] if vouched else 0,
                    line=vouched[-1] if vouched else None)


def _check_bytes(part: Path, lines: list[dict[str, Any]]) -> str:
    """"" when the ``.part`` starts with exactly the bytes each line signed."""
    try:
        f = open_regular(part)  # never a FIFO: that would block the boot
    except FileNotFoundError:
        f = None
    except OSError as exc:
        return f"cannot read {part.name}: {exc.strerror}"
    try:
        size = os.fstat(f.fileno()).st_size if f else 0
        digest, at = hashlib.sha256(), 0
        for number, entry in enumerate(lines, 1):
            if entry["end"] > size:
                return (f"{part.name} has {size} bytes, fewer than the {entry['end']} its "
                        f"fragment log line {number} signed (truncated)")
            while at < entry["end"]:
                chunk = f.read(min(1 << 20, entry["end"] - at)) if f else b""
                if not chunk:
                    return f"{part.name} ended while being read (truncated)"
                digest.update(chunk)
                at += len(chunk)
            if digest.hexdigest() != entry["sha256"]:
                return (f"bytes of {part.name} before offset {entry['end']} differ from what "
                        f"its fragment log line {number} signed (replaced)")
        return ""
    finally:
        if f:
            f.close()
