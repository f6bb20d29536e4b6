"""``bodycam transparency verify``: anyone's check that a store only appended to its log.

No operator token, nothing of the store's server: this module and :mod:`evidence.transparency`
are the whole of what a third party runs. Given a store's URL (or only the state it saved
before) it checks, each failure one line naming what was wrong:

- every checkpoint is signed by the store's key (pinned in the state directory on first use, or
  given with ``--store-key``) and the series of checkpoints seen so far only ever grew: a
  consistency proof between each and the next (a dropped, edited or back-dated leaf changes
  every root after it, so anyone who kept an earlier checkpoint sees it; with the leaves it kept
  it also says which leaf and how);
- leaf times never go back (by more than ``MAX_LEAF_STEP_BACK_S``, what several workers
  appending at once may honestly do): a back-dated leaf is named with the later leaf before it;
- the leaves the store serves make the checkpoint's root, and every deletion leaf names an
  expired, unflagged item: its expiry is its received time plus the retention days it cites, it
  was deleted on or after that, no flag leaf for it stands unlifted before it, and its received
  time is no earlier than the segment leaves of the recording say;
- the segments of a camera's data directory that carry a receipt (and every segment of an
  export) have a segment leaf with the same hashes, and the inclusion proof the camera kept
  beside the receipt verifies against a checkpoint that is a prefix of the log.

The state directory keeps the pinned key, every signed checkpoint seen (``checkpoints/``) and
the leaves verified so far (``leaves.jsonl``), so the next run fetches only what is new and a
later rewrite of anything already seen is caught.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import itertools
import json
import re
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence.bounded import BadJSON, loads, read_regular
from evidence.cliutil import OneLineParser
from evidence.fsutil import atomic_write, private_dir
from evidence.identity import IdentityError, load_public_key, public_key_from_pem, public_pem
from evidence.layout import Layout
from evidence.receipt import Receipt, ReceiptError, store_id_for, verify_receipt
from evidence.transparency import (
    Checkpoint,
    ProofError,
    empty_root,
    leaf_hash,
    node_hash,
    open_note,
    verify_consistency,
    verify_inclusion,
)
from evidence.utc import utc_seconds

LEAF_VERSION = 1
KINDS = ("segment", "flag", "unflag", "category", "export", "deletion")
#: The most leaves one ``GET /v1/transparency/leaves`` answers.
MAX_LEAVES_PER_REQUEST = 1000
DAY_S = 86400
MAX_SIDECAR_BYTES = 64 * 1024
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class AuditError(Exception):
    """The check cannot go on (an unreachable store, an unusable key or state); one line."""


def origin_for(store_id: str) -> str:
    return f"bodycam.store/{store_id}"


def root_of(hashes: Sequence[bytes]) -> bytes:
    """RFC 9162 MTH of the leaves with these hashes: the perfect subtrees of the size's binary
    decomposition, largest first, folded from the right."""
    stack: list[tuple[int, bytes]] = []
    for h in hashes:
        size, node = 1, h
        while stack and stack[-1][0] == size:
            left = stack.pop()[1]
            size, node = size * 2, node_hash(left, node)
        stack.append((size, node))
    if not stack:
        return empty_root()
    root = stack.pop()[1]
    while stack:
        root = node_hash(stack.pop()[1], root)
    return root


# --- the leaves' meaning -----------------------------------------------------------------------

#: A leaf is a few hundred bytes; a larger one is not a custody record (and is not parsed).
MAX_LEAF_BYTES = 64 * 1024
EVIDENCE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def seconds(text: object) -> float:
    """:func:`evidence.utc.utc_seconds`, fast for the common case (an audit reads every leaf's
    time): the strict format checked by pattern, then read by ``fromisoformat``."""
    if isinstance(text, str) and EVIDENCE_TIME.fullmatch(text):
        try:
            return datetime.fromisoformat(text[:-1] + "+00:00").timestamp()
        except ValueError:
            pass
    return utc_seconds(text)


def parse_leaf(raw: bytes, index: int) -> dict[str, Any]:
    """A leaf as a custody record; ValueError (one line) if it is not one. Leaves come from
    the store, so from anyone: bounded in size, strict JSON, never a traceback."""
    if len(raw) > MAX_LEAF_BYTES:
        raise ValueError(f"leaf {index} is {len(raw)} bytes, larger than any custody record")
    try:
        entry = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"leaf {index} is not JSON ({str(exc)[:80]})") from None
    if not isinstance(entry, dict) or entry.get("v") != LEAF_VERSION:
        raise ValueError(f"leaf {index} is not a version {LEAF_VERSION} custody record")
    if entry.get("kind") not in KINDS:
        raise ValueError(f"leaf {index} has unknown kind {str(entry.get('kind'))[:40]!r}")
    try:
        seconds(entry.get("utc"))
    except ValueError as exc:
        raise ValueError(f"leaf {index}: {exc}") from None
    return entry


def describe(raw: bytes, index: int) -> str:
    try:
        entry = parse_leaf(raw, index)
    except ValueError:
        return "unreadable"
    what = "/".join(str(entry[k]) for k in ("device_id", "recording_id") if k in entry)
    return f"{entry['kind']} {what} at {entry['utc']}".replace("  ", " ")


#: Leaves are appended in time order, but a leaf's time is when its event began (a segment's
#: is its receipt's, taken before its bytes are stored; a retention pass's deletions, the
#: pass's start), so with several workers a leaf may be a little older than one before it.
#: More than this is a back-dated leaf.
MAX_LEAF_STEP_BACK_S = 600.0


def audit_leaves(leaves: Sequence[bytes]) -> list[str]:
    """One line per leaf that breaks the rules: unreadable, older than a leaf before it (by
    more than :data:`MAX_LEAF_STEP_BACK_S`), or a deletion the rules it cites do not allow
    (not yet expired, flagged, its received time earlier than its segments')."""
    problems: list[str] = []
    flags: dict[tuple[str, str], tuple[str, int]] = {}
    received: dict[tuple[str, str], float] = {}
    #: the last category leaf of each recording: (its retention_days, the leaf's index)
    categories: dict[tuple[str, str], tuple[Any, int]] = {}
    latest: tuple[float, int, str] | None = None  # the latest leaf time so far, its leaf
    for i, raw in enumerate(leaves):
        try:
            entry = parse_leaf(raw, i)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        when = seconds(entry["utc"])
        if latest is not None and when < latest[0] - MAX_LEAF_STEP_BACK_S:
            problems.append(f"leaf {i} ({describe(raw, i)}) is back-dated: its time is "
                            f"earlier than leaf {latest[1]}'s {latest[2]} (leaf times never go "
                            f"back more than {MAX_LEAF_STEP_BACK_S:g} s)")
        if latest is None or when > latest[0]:
            latest = (when, i, entry["utc"])
        item = (str(entry.get("device_id")), str(entry.get("recording_id")))
        kind = entry["kind"]
        if kind == "segment":
            received[item] = max(received.get(item, float("-inf")), seconds(entry["utc"]))
        elif kind in ("flag", "unflag"):
            flags[item] = (kind, i)
        elif kind == "category":
            categories[item] = (entry.get("retention_days"), i)
        elif kind == "deletion":
            problem = (_deletion_problem(entry, i, flags.get(item), received.get(item))
                       or _category_problem(entry, i, categories.get(item)))
            if problem:
                problems.append(problem)
    return problems


def _deletion_problem(entry: dict[str, Any], i: int, flag: tuple[str, int] | None,
                      segments_received: float | None) -> str:
    name = f"deletion leaf {i} of {entry.get('device_id')}/{entry.get('recording_id')}"
    if entry.get("rule") != "retention_days":
        return f"{name} cites no rule this check knows ({str(entry.get('rule'))[:40]!r})"
    days = entry.get("retention_days")
    if isinstance(days, bool) or not isinstance(days, (int, float)) or not 0 <= days < 1e6:
        return f"{name}: retention_days {days!r} is not a number of days"
    try:
        deleted = seconds(entry["utc"])
        got = seconds(entry.get("received_utc"))
        expires = seconds(entry.get("expires_utc"))
    except ValueError as exc:
        return f"{name}: {exc}"
    if abs(expires - (got + days * DAY_S)) > 0.002:  # both written to the millisecond
        return (f"{name}: expiry {entry['expires_utc']} is not received {entry['received_utc']} "
                f"plus {days} days")
    if deleted < expires:
        return (f"{name}: deleted at {entry['utc']}, before it expired at "
                f"{entry['expires_utc']}")
    if entry.get("flagged") is not False:
        return f"{name}: the item was flagged when it was deleted"
    if flag is not None and flag[0] == "flag":
        return f"{name}: flag leaf {flag[1]} for it was never lifted before the deletion"
    if segments_received is not None and got < segments_received - 0.001:
        return (f"{name}: received time {entry['received_utc']} is earlier than its segment "
                f"leaves say (back-dated)")
    return ""


def _category_problem(entry: dict[str, Any], i: int,
                      category: tuple[Any, int] | None) -> str:
    """A deletion its recording's last category leaf does not allow: a holding category
    (``retention_days`` null), or fewer days than the category gives."""
    if category is None:
        return ""
    name = f"deletion leaf {i} of {entry.get('device_id')}/{entry.get('recording_id')}"
    days, at = category
    if days is None:
        return f"{name}: category leaf {at} holds it (kept until its category changes)"
    if isinstance(days, bool) or not isinstance(days, (int, float)):
        return f"{name}: category leaf {at} has retention_days {days!r}, not a number"
    if entry["retention_days"] < days - 1e-6:
        return (f"{name}: deleted under {entry['retention_days']} days, but category leaf "
                f"{at} gives {days}")
    return ""


def diagnose(saved: Sequence[bytes], current: Sequence[bytes]) -> str:
    """How the current leaves differ from those verified before: which leaf, and how."""
    for i, old in enumerate(saved):
        if i < len(current) and current[i] == old:
            continue
        if i >= len(current) or (i + 1 < len(saved) and current[i] == saved[i + 1]):
            return f"leaf {i} ({describe(old, i)}) was dropped from the log"
        try:
            before, after = parse_leaf(old, i), parse_leaf(current[i], i)
        except ValueError:
            before = after = {}
        if before.get("kind") == after.get("kind") == "deletion" and any(
                before.get(k) != after.get(k) for k in ("utc", "received_utc", "expires_utc")):
            fields = ", ".join(f"{k} {before.get(k)} -> {after.get(k)}"
                               for k in ("utc", "received_utc", "expires_utc")
                               if before.get(k) != after.get(k))
            return (f"deletion leaf {i} of {before.get('device_id')}/"
                    f"{before.get('recording_id')} was back-dated ({fields})")
        return f"leaf {i} ({describe(old, i)}) was changed"
    return "the log was rewritten (no leaf verified before differs: its proofs do)"


# --- where the leaves and checkpoints come from ------------------------------------------------

class PublicLog:
    """The store's public transparency endpoints (no token)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        from evidence.store_client import StoreConnection, StoreHttpError

        self._error = StoreHttpError
        try:
            self.connection = StoreConnection(url, timeout)
        except ValueError as exc:
            raise AuditError(str(exc)) from None

    def get(self, target: str) -> Any:
        try:
            return self.connection.request("GET", target)[1]
        except self._error as exc:
            raise AuditError(f"GET {target.split('?')[0]}: {exc}") from None

    def store_key(self) -> Ed25519PublicKey:
        info = self.get("/v1/info")
        try:
            return public_key_from_pem(str(info["store_public_key"]).encode(), "store key")
        except (KeyError, TypeError, IdentityError) as exc:
            raise AuditError(f"the store's /v1/info has no usable key ({exc})") from None

    def checkpoint(self) -> str:
        return str(_field(self.get("/v1/transparency/checkpoint"), "checkpoint", str))

    def consistency(self, first: int, second: int) -> list[bytes]:
        answer = self.get(f"/v1/transparency/consistency?first={first}&second={second}")
        return _hashes(_field(answer, "consistency_proof", list))

    def leaves(self, start: int, end: int) -> list[bytes]:
        out: list[bytes] = []
        while start + len(out) < end:
            at = start + len(out)
            stop = min(end, at + MAX_LEAVES_PER_REQUEST)
            got = _field(self.get(f"/v1/transparency/leaves?start={at}&end={stop}"),
                         "leaves", list)
            if len(got) != stop - at:
                raise AuditError(f"the store sent {len(got)} leaves for {at}..{stop}")
            out.extend(_b64(leaf, "leaf") for leaf in got)
        return out


def _field(answer: Any, name: str, kind: type) -> Any:
    if not isinstance(answer, dict) or not isinstance(answer.get(name), kind):
        raise AuditError(f"the store's answer has no {name}")
    return answer[name]


def _b64(text: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(text).encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise AuditError(f"a {what} is not base64") from None


def _hashes(items: list[Any]) -> list[bytes]:
    return [_b64(h, "proof hash") for h in items]


@dataclass
class Seen:
    """A signed checkpoint, as kept in the state directory."""

    note: str
    checkpoint: Checkpoint


class State:
    """The verifier's memory: pinned key, checkpoints seen, leaves verified."""

    KEY, CHECKPOINTS, LEAVES = "store.pub.pem", "checkpoints", "leaves.jsonl"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def key(self) -> Ed25519PublicKey | None:
        path = self.directory / self.KEY
        if not path.exists():
            return None
        try:
            return load_public_key(path)
        except IdentityError as exc:
            raise AuditError(str(exc)) from None

    def pin(self, key: Ed25519PublicKey) -> None:
        private_dir(self.directory)
        atomic_write(self.directory / self.KEY, public_pem(key))

    def checkpoints(self, origin: str, key: Ed25519PublicKey) -> list[Seen]:
        folder = self.directory / self.CHECKPOINTS
        seen = []
        for path in sorted(folder.glob("*.note")) if folder.is_dir() else []:
            try:
                note = path.read_text(encoding="utf-8")
                seen.append(Seen(note, _open(note, origin, key)))
            except (OSError, UnicodeDecodeError, ProofError) as exc:
                raise AuditError(f"saved checkpoint {path.name}: {exc}") from None
        return sorted(seen, key=lambda s: s.checkpoint.size)

    def keep(self, seen: Seen) -> None:
        folder = self.directory / self.CHECKPOINTS
        private_dir(self.directory)
        private_dir(folder)
        atomic_write(folder / f"{seen.checkpoint.size:016d}.note", seen.note.encode())

    def leaves(self) -> list[bytes]:
        path = self.directory / self.LEAVES
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise AuditError(f"{path}: {exc.strerror}") from None
        try:
            return [base64.b64decode(line, validate=True) for line in data.splitlines() if line]
        except binascii.Error:
            raise AuditError(f"{path}: not the leaves this check keeps (a line is not "
                             "base64)") from None

    def keep_leaves(self, leaves: Sequence[bytes]) -> None:
        private_dir(self.directory)
        atomic_write(self.directory / self.LEAVES,
                     b"".join(base64.b64encode(leaf) + b"\n" for leaf in leaves))


def _open(note: str, origin: str, key: Ed25519PublicKey) -> Checkpoint:
    checkpoint = Checkpoint.parse(open_note(note, origin, key))
    if checkpoint.origin != origin:
        raise ProofError(f"checkpoint is of log {checkpoint.origin[:80]!r}, not {origin!r}")
    return checkpoint


# --- the checks ----------------------------------------------------------------------------------

@dataclass
class Result:
    problems: list[str]
    notes: list[str]


def verify(state: State, key: Ed25519PublicKey, log: PublicLog | None,
           targets: Sequence[Path]) -> Result:
    origin = origin_for(store_id_for(key))
    problems: list[str] = []
    notes: list[str] = []
    series = state.checkpoints(origin, key)
    kept = state.leaves()
    if series and len(kept) < series[-1].checkpoint.size:
        raise AuditError(f"{state.directory}: {len(kept)} leaves kept for a checkpoint of "
                         f"{series[-1].checkpoint.size}")
    if series and root_of([leaf_hash(x) for x in kept[:series[-1].checkpoint.size]]) != \
            series[-1].checkpoint.root:
        raise AuditError(f"{state.directory}: the kept leaves do not make the saved checkpoint "
                         f"of {series[-1].checkpoint.size} (the state was edited)")
    leaves = kept
    if log is not None:
        note = log.checkpoint()
        try:
            latest = Seen(note, _open(note, origin, key))
        except ProofError as exc:
            return Result([f"the store's checkpoint: {exc}"], notes)
        grown = _check_series(series, latest, log, kept)
        if grown:
            return Result([grown], notes)
        if latest.checkpoint.size > len(kept):
            leaves = kept + log.leaves(len(kept), latest.checkpoint.size)
        leaves = leaves[:latest.checkpoint.size]
        if root_of([leaf_hash(x) for x in leaves]) != latest.checkpoint.root:
            return Result([f"the leaves the store serves do not make the root of its checkpoint "
                           f"of {latest.checkpoint.size}"], notes)
        if not series or series[-1].checkpoint.size != latest.checkpoint.size:
            state.keep(latest)
        state.keep_leaves(leaves)
        series.append(latest)
        notes.append(f"checkpoint of {latest.checkpoint.size} leaves extends the "
                     f"{len(series) - 1} seen before")
    else:
        if not series:
            raise AuditError(f"{state.directory}: no saved checkpoints (give --store URL)")
        for seen in series:
            size = seen.checkpoint.size
            if root_of([leaf_hash(x) for x in kept[:size]]) != seen.checkpoint.root:
                return Result([f"saved checkpoint of {size}: the kept leaves do not make its "
                               "root"], notes)
        leaves = kept[:series[-1].checkpoint.size]
        notes.append(f"{len(series)} saved checkpoints, up to {len(leaves)} leaves, agree")
    problems += audit_leaves(leaves)
    hashes = [leaf_hash(x) for x in leaves]
    for target in targets:
        problems += check_target(target, leaves, hashes, key, origin)
    deletions = sum(1 for x in leaves if b'"kind":"deletion"' in x)
    notes.append(f"{len(leaves)} leaves, {deletions} deletions checked")
    return Result(problems, notes)


def _check_series(series: list[Seen], latest: Seen, log: PublicLog, kept: list[bytes]) -> str:
    """"" if every checkpoint seen extends the one before and ``latest`` extends them all;
    else one line saying how the log was rewritten."""
    chain = [*series, latest]
    for before, after in itertools.pairwise(chain):
        a, b = before.checkpoint, after.checkpoint
        try:
            if b.size < a.size:
                raise ProofError(f"the log shrank from {a.size} to {b.size} leaves")
            proof = [] if a.size == b.size else log.consistency(a.size, b.size)
            verify_consistency(a.size, b.size, proof, a.root, b.root)
        except ProofError as exc:
            why = str(exc)
            try:
                current = log.leaves(0, latest.checkpoint.size)
            except AuditError:
                current = []
            if kept and current:
                why = diagnose(kept, current)
            return (f"the log was rewritten since the checkpoint of {a.size} leaves: {why}")
    return ""


# --- segments a camera or an export holds ------------------------------------------------------

def _segments(target: Path) -> Iterator[tuple[str, bytes, Callable[[str], bytes | None]]]:
    """(name, manifest bytes, read a sibling by suffix) for each segment manifest in a data
    directory, an unpacked export or an export zip; only those with a receipt beside them
    in a camera's data directory (the rest are not uploaded yet)."""
    if target.is_file() and zipfile.is_zipfile(target):
        with zipfile.ZipFile(target) as z:
            names = set(z.namelist())
            for name in sorted(names):
                if name.endswith(Layout.MP4 + Layout.MANIFEST):
                    mp4 = name[: -len(Layout.MANIFEST)]

                    def sibling(suffix: str, mp4: str = mp4) -> bytes | None:
                        member = mp4 + suffix
                        return _member(z, member) if member in names else None
                    yield mp4.rsplit("/", 1)[-1], _member(z, name), sibling
        return
    export = (target / "report.json").exists()
    for path in sorted(target.rglob("*" + Layout.MP4 + Layout.MANIFEST)):
        mp4 = path.with_name(path.name[: -len(Layout.MANIFEST)])

        def read(suffix: str, mp4: Path = mp4) -> bytes | None:
            p = Layout.beside(mp4, suffix)
            return _small(p) if p.exists() else None
        if export or Layout.receipt(mp4).is_file():
            yield mp4.name, _small(path), read


def _member(z: zipfile.ZipFile, name: str) -> bytes:
    """At most :data:`MAX_SIDECAR_BYTES` of a zip member (a manifest, receipt or proof is
    small; a larger one is cut, and then does not verify)."""
    with z.open(name) as f:
        return f.read(MAX_SIDECAR_BYTES)


def _small(path: Path) -> bytes:
    """A small regular file; a FIFO, a device or a huge file is never read (b"": it does
    not verify)."""
    try:
        return read_regular(path, MAX_SIDECAR_BYTES)
    except OSError:
        return b""


def check_target(target: Path, leaves: Sequence[bytes], hashes: Sequence[bytes],
                 key: Ed25519PublicKey, origin: str) -> list[str]:
    """One line per segment of ``target`` that the log does not show as ingested."""
    if not target.exists():
        return [f"{target}: no such file or directory"]
    import hashlib

    by_manifest: dict[str, dict[str, Any]] = {}
    for i, raw in enumerate(leaves):
        if b'"kind":"segment"' in raw:
            try:
                entry = parse_leaf(raw, i)
            except ValueError:
                continue
            by_manifest.setdefault(str(entry.get("manifest_sha256")), {**entry, "_index": i})
    problems = []
    count = 0
    for name, manifest, sibling in _segments(target):
        count += 1
        if not manifest:
            problems.append(f"{name}: its manifest cannot be read (not a small regular file)")
            continue
        sha = hashlib.sha256(manifest).hexdigest()
        leaf = by_manifest.get(sha)
        if leaf is None:
            problems.append(f"{name}: its segment is not in the log (manifest {sha[:16]}…)")
            continue
        receipt_raw, receipt_sig = sibling(Layout.RECEIPT), sibling(Layout.RECEIPT_SIGNATURE)
        if receipt_raw is not None and receipt_sig is not None:
            problem = _receipt_matches(name, receipt_raw, receipt_sig, key, leaf)
            if problem:
                problems.append(problem)
        proof = sibling(Layout.TLOG_PROOF)
        if proof is not None:
            problem = _kept_proof(name, proof, key, origin, leaves, hashes, sha)
            if problem:
                problems.append(problem)
    if not count:
        problems.append(f"{target}: no uploaded segments to check")
    return problems


def _receipt_matches(name: str, raw: bytes, sig: bytes, key: Ed25519PublicKey,
                     leaf: dict[str, Any]) -> str:
    try:
        receipt = verify_receipt(raw, sig, key, str(leaf.get("sha256")))
    except ReceiptError as exc:
        return f"{name}: its receipt does not match the log's segment leaf: {exc}"
    for field in ("device_id", "recording_id", "segment_index", "size", "manifest_sha256"):
        if getattr(receipt, field) not in (None, leaf.get(field)):
            return f"{name}: receipt {field} differs from segment leaf {leaf['_index']}"
    return ""


def check_kept_proof(raw: bytes, key: Ed25519PublicKey, manifest_sha256: str,
                     receipt: Receipt | None = None) -> tuple[int, Checkpoint]:
    """The proof a camera keeps beside a receipt: its checkpoint signed by ``key``, its leaf
    the segment of that manifest (and receipt), the inclusion proof to the checkpoint's root.
    Returns (leaf index, checkpoint); raises ProofError (one line)."""
    try:
        data = loads(raw, "inclusion proof")
    except BadJSON as exc:
        raise ProofError(str(exc)) from None
    if not isinstance(data, dict):
        raise ProofError("inclusion proof is not a JSON object")
    index, size = data.get("leaf_index"), data.get("tree_size")
    if any(isinstance(v, bool) or not isinstance(v, int) for v in (index, size)):
        raise ProofError("inclusion proof has no whole leaf_index and tree_size")
    origin = origin_for(store_id_for(key))
    checkpoint = _open(str(data.get("checkpoint")), origin, key)
    if checkpoint.size != size:
        raise ProofError(f"inclusion proof is for {size} leaves, its checkpoint has "
                         f"{checkpoint.size}")
    proof = data.get("inclusion_proof")
    if not isinstance(proof, list):
        raise ProofError("inclusion proof has no list of hashes")
    try:
        leaf = base64.b64decode(str(data.get("leaf")).encode("ascii"), validate=True)
        hashes = [base64.b64decode(str(h).encode("ascii"), validate=True) for h in proof]
    except (binascii.Error, UnicodeEncodeError):
        raise ProofError("inclusion proof holds text that is not base64") from None
    try:
        entry = parse_leaf(leaf, index)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ProofError(str(exc)) from None
    if entry["kind"] != "segment" or entry.get("manifest_sha256") != manifest_sha256:
        raise ProofError(f"leaf {index} is not this segment's")
    if receipt is not None and (entry.get("sha256"), entry.get("device_id")) != (
            receipt.sha256, receipt.device_id):
        raise ProofError(f"leaf {index} names other bytes than the receipt")
    verify_inclusion(leaf_hash(leaf), index, size, hashes, checkpoint.root)  # type: ignore
    return index, checkpoint  # type: ignore[return-value]


def _kept_proof(name: str, raw: bytes, key: Ed25519PublicKey, origin: str,
                leaves: Sequence[bytes], hashes: Sequence[bytes], manifest_sha: str) -> str:
    try:
        index, checkpoint = check_kept_proof(raw, key, manifest_sha)
    except ProofError as exc:
        return f"{name}: the inclusion proof kept with its receipt: {exc}"
    if checkpoint.size > len(leaves):
        return (f"{name}: the checkpoint kept with its receipt ({checkpoint.size} leaves) is "
                f"beyond the log's {len(leaves)}: the log was cut short")
    if root_of(hashes[:checkpoint.size]) != checkpoint.root:
        return (f"{name}: the checkpoint kept with its receipt ({checkpoint.size} leaves) is "
                "not a prefix of the log: its history was rewritten")
    if leaves[index] != base64.b64decode(json.loads(raw)["leaf"]):
        return f"{name}: leaf {index} differs from the one its receipt's proof names"
    return ""


# --- the command -----------------------------------------------------------------------------

def build_parser(prog: str = "bodycam transparency") -> argparse.ArgumentParser:
    parser = OneLineParser(prog=prog, description="check an evidence store's transparency log "
                           "(no operator token)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("verify", help="check that the log only grew, that deletions were due "
                       "and that segments are in it")
    p.add_argument("--store", metavar="URL", help="the store (http(s)://HOST:PORT); without it "
                   "only the saved checkpoints and leaves are checked")
    p.add_argument("--state", metavar="DIR", required=True, type=Path,
                   help="where the checkpoints and leaves seen are kept (made if missing)")
    p.add_argument("--store-key", metavar="FILE", type=Path,
                   help="the store's public key (store.pub.pem); else the one pinned in DIR, "
                        "else the store's own on first use (then pinned)")
    p.add_argument("--check", metavar="PATH", type=Path, action="append", default=[],
                   help="a camera data directory or an export (zip or folder) whose "
                        "segments must be in the log (repeatable)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except AuditError as exc:
        print(f"transparency: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _run(args: argparse.Namespace) -> int:
    state = State(args.state)
    log = PublicLog(args.store) if args.store else None
    pinned = state.key()
    if args.store_key is not None:
        try:
            key = load_public_key(args.store_key)
        except IdentityError as exc:
            raise AuditError(f"--store-key {exc}") from None
        if pinned is not None and public_pem(pinned) != public_pem(key):
            raise AuditError(f"--store-key is not the key pinned in {state.directory}")
    elif pinned is not None:
        key = pinned
    elif log is not None:
        key = log.store_key()
        print(f"note: pinned the store key {store_id_for(key)} on first use", file=sys.stderr)
    else:
        raise AuditError(f"{state.directory}: no pinned store key (give --store-key)")
    if pinned is None:
        state.pin(key)
    result = verify(state, key, log, args.check)
    for note in result.notes:
        print(f"ok: {note}")
    for problem in result.problems:
        print(f"FAILED: {problem}")
    return EXIT_FAILED if result.problems else EXIT_OK
