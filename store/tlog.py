"""The store's transparency log: an append-only Merkle tree (RFC 9162) of custody events on disk.

``DIR/leaves.jsonl`` holds one canonical JSON line per leaf, in order; a leaf's hash is
``SHA-256(0x00 || line)`` over the line's bytes without the newline. Each append is fsynced
before it is reported, so a published checkpoint never covers a leaf that could be lost; a line
torn by a crash (never acknowledged, so in no checkpoint) is moved to ``leaves.jsonl.torn`` at
the next start, kept, not dropped.

In memory the log keeps the hash of every perfect, aligned subtree (level 0 the leaves, level
k the subtrees of 2^k leaves), so an append costs O(1) amortised and a root, an inclusion proof
or a consistency proof O(log n) hashes: what a store with millions of entries needs. The proofs
verify with :mod:`evidence.transparency` alone.

Several worker processes may share one log (``store serve --workers N``): every append and every
read takes the log's file lock (``tlog.lock``, :class:`store.locks.FileLock`) and first catches
up on the lines other processes appended since (it remembers how many bytes it has read), so
there is one writer at a time and each worker's tree is the file's. Segment leaves are indexed
by their manifest's SHA-256, for the inclusion proof a receipt carries.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from evidence.transparency import (
    Checkpoint,
    empty_root,
    leaf_hash,
    node_hash,
    sign_note,
    split_point,
)
from store.locks import FileLock

LEAVES = "leaves.jsonl"
LOCK = "tlog.lock"


class LogRangeError(ValueError):
    """A size or index outside the log; the message names it."""


def canonical(entry: Mapping[str, Any]) -> bytes:
    """A leaf's bytes: JSON with sorted keys and no spaces, UTF-8."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


class TransparencyLog:
    """The append-only Merkle tree of one store, with its signing key and origin line."""

    def __init__(self, directory: Path, origin: str, key: Ed25519PrivateKey) -> None:
        self.directory = directory
        self.origin = origin
        self._key = key
        self._lock = threading.Lock()
        self._levels: list[list[bytes]] = [[]]
        self._offsets: list[int] = []  # where each leaf's line starts in the file
        self._read = 0  # bytes of the file already in the tree
        self._by_manifest: dict[str, int] = {}
        self._flags: dict[tuple[str, str], str] = {}
        self._categories: dict[tuple[str, str], object] = {}
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._path = directory / LEAVES
        self._file_lock = FileLock(directory / LOCK)
        with self._lock, self._file_lock:
            self._load()

    # --- the file ----------------------------------------------------------------------------

    def _load(self) -> None:
        """Under both locks: a torn tail (a writer that died mid-line) is set aside, then every
        line is read into the tree."""
        try:
            data = self._path.read_bytes()
        except FileNotFoundError:
            return
        whole = data.rfind(b"\n") + 1
        if whole < len(data):
            self._set_aside(data[whole:])
            with open(self._path, "r+b") as f:
                f.truncate(whole)
                os.fsync(f.fileno())
        self._take(data[:whole], 0)

    def _take(self, data: bytes, at: int) -> None:
        """Add the complete lines of ``data`` (read from offset ``at``) to the tree."""
        pos = 0
        while True:
            end = data.find(b"\n", pos)
            if end < 0:
                break
            self._offsets.append(at + pos)
            line = data[pos:end]
            self._add(leaf_hash(line))
            self._index(line, len(self._offsets) - 1)
            pos = end + 1
        self._read = at + pos

    def _index(self, line: bytes, index: int) -> None:
        """Segment leaves by manifest hash; the last flag or unflag leaf of each recording,
        and its last category leaf."""
        if not any(k in line for k in (b'"kind":"segment"', b'"kind":"flag"',
                                       b'"kind":"unflag"', b'"kind":"category"')):
            return
        try:
            entry = json.loads(line)
        except ValueError:
            return
        if not isinstance(entry, dict):
            return
        kind, sha = entry.get("kind"), entry.get("manifest_sha256")
        if kind == "segment" and isinstance(sha, str):
            self._by_manifest[sha] = index
        elif kind in ("flag", "unflag"):
            self._flags[(str(entry.get("device_id")), str(entry.get("recording_id")))] = kind
        elif kind == "category":
            self._categories[(str(entry.get("device_id")), str(entry.get("recording_id")))] = \
                entry.get("category")

    def _catch_up(self) -> None:
        """Under both locks: read what other processes appended since this one last looked."""
        try:
            with open(self._path, "rb") as f:
                f.seek(self._read)
                data = f.read()
        except FileNotFoundError:
            return
        if data:
            self._take(data, self._read)

    def refresh(self) -> None:
        """Catch up with the file (other workers' appends); reads call this first."""
        with self._lock, self._file_lock:
            self._catch_up()

    def _set_aside(self, tail: bytes) -> None:
        fd = os.open(self._path.with_name(LEAVES + ".torn"),
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, tail + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)

    def append(self, entry: Mapping[str, Any]) -> int:
        """Write one entry durably as a leaf; its index."""
        return self.append_raw(canonical(entry))

    def append_raw(self, line: bytes) -> int:
        """Write one leaf of exactly these bytes (one line) durably; its index."""
        return self.append_many_raw([line])

    def append_many(self, entries: list[Mapping[str, Any]]) -> int:
        """Write several entries with one fsync (a group commit); the index of the last."""
        return self.append_many_raw([canonical(e) for e in entries])

    def append_many_raw(self, lines: list[bytes]) -> int:
        if not lines or any(b"\n" in line for line in lines):
            raise ValueError("leaves are one line each, and at least one")
        with self._lock, self._file_lock:
            self._catch_up()
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                whole = b"".join(line + b"\n" for line in lines)
                data = memoryview(whole)
                while data:
                    data = data[os.write(fd, data):]
                os.fsync(fd)
            finally:
                os.close(fd)
            self._take(whole, self._read)
            return len(self._levels[0]) - 1

    def leaves(self, start: int, end: int) -> list[bytes]:
        """The leaves' bytes from ``start`` up to ``end`` (exclusive), as they were appended."""
        size = self.size
        if not 0 <= start <= end <= size:
            raise LogRangeError(f"leaves {start}..{end} are outside the log of {size}")
        if start == end:
            return []
        stop = self._offsets[end] if end < size else self._read
        with open(self._path, "rb") as f:
            f.seek(self._offsets[start])
            data = f.read(stop - self._offsets[start])
        return data.split(b"\n")[:-1]

    def flag_state(self, device_id: str, recording_id: str) -> str | None:
        """``flag`` or ``unflag``: the kind of the recording's last such leaf (None: none)."""
        return self._flags.get((device_id, recording_id))

    def category_state(self, device_id: str, recording_id: str) -> tuple[bool, object]:
        """(whether the log has a category leaf for the recording, the last one's category)."""
        key = (device_id, recording_id)
        return key in self._categories, self._categories.get(key)

    def segment_leaf(self, manifest_sha256: str) -> int | None:
        """The index of the (latest) leaf recording the segment with this manifest."""
        return self._by_manifest.get(manifest_sha256)

    # --- the tree ----------------------------------------------------------------------------

    def _add(self, h: bytes) -> None:
        levels = self._levels
        levels[0].append(h)
        k = 0
        while len(levels[k]) % 2 == 0:
            if len(levels) == k + 1:
                levels.append([])
            levels[k + 1].append(node_hash(levels[k][-2], levels[k][-1]))
            k += 1

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def _hash(self, start: int, end: int) -> bytes:
        """MTH of the leaves ``start`` to ``end``, from the perfect subtrees it is made of."""
        n = end - start
        if n == 0:
            return empty_root()
        if n & (n - 1) == 0 and start % n == 0:
            return self._levels[n.bit_length() - 1][start // n]
        k = split_point(n)
        return node_hash(self._hash(start, start + k), self._hash(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        self._check_size(size)
        return self._hash(0, size)

    def leaf_hash_at(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise LogRangeError(f"leaf {index} is outside the log of {self.size}")
        return self._levels[0][index]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 PATH(index, D[0:size]), from the leaf's sibling up."""
        self._check_size(size)
        if not 0 <= index < size:
            raise LogRangeError(f"leaf {index} is outside a tree of {size}")
        proof: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            k = split_point(end - start)
            if index < start + k:
                proof.append(self._hash(start + k, end))
                end = start + k
            else:
                proof.append(self._hash(start, start + k))
                start += k
        return proof[::-1]

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 PROOF(size1, D[0:size2]): that the tree of size2 extends that of size1."""
        self._check_size(size2)
        if not 0 <= size1 <= size2:
            raise LogRangeError(f"no consistency proof from {size1} to {size2}")
        if size1 in (0, size2):
            return []
        proof: list[bytes] = []
        start, end, whole = 0, size2, True
        m = size1
        while m != end - start:
            k = split_point(end - start)
            if m <= k:
                proof.append(self._hash(start + k, end))
                end = start + k
            else:
                proof.append(self._hash(start, start + k))
                start += k
                m -= k
                whole = False
        if not whole:
            proof.append(self._hash(start, end))
        return proof[::-1]

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise LogRangeError(f"size {size} is outside the log of {self.size}")

    # --- checkpoints -------------------------------------------------------------------------

    def checkpoint(self, size: int | None = None) -> Checkpoint:
        size = self.size if size is None else size
        return Checkpoint(self.origin, size, self.root(size))

    def signed_checkpoint(self) -> str:
        """The current checkpoint as a signed note by the store's key, named by the origin."""
        return sign_note(self.checkpoint().body(), self.origin, self._key)
