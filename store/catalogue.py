"""The catalogue: SQLite (``DIR/catalogue.sqlite``) saying what every stored object is.

Devices and their enrolled keys, seen request nonces, uploads in progress, stored segments and
device audit logs with the receipts the store gave for them, recordings with their evidence flag,
and quarantine. Object bytes live in the object store; rows name them by SHA-256. A recording's
``received_s`` is when the store received its latest segment, by the store's clock: retention
counts from it.

One connection, serialised by a lock: the store's write rate (a few requests per second per dock)
is far below what that serves, and it keeps every multi-step change in one transaction. WAL and
``synchronous=FULL`` make a committed change survive a power cut. Several worker processes on one
store directory share the file; ``BEGIN IMMEDIATE`` serialises their writes, so the lock names a
transaction gives (``tx("device:ID")``, which PostgreSQL honours one by one) are all held at once
here: SQLite has one writer anyway.

:class:`CatalogueQueries` holds what both engines do with plain SQL (this one and
:class:`store.catalogue_pg.PostgresCatalogue`); the SQL is the portable subset both read.
Schema changes after the first are :data:`MIGRATIONS`, numbered, recorded in
``meta.schema_version`` and applied once by whichever engine opens the catalogue.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from store.clock import parse_utc
from store.requests import TABLES as REQUEST_TABLES
from store.search import TABLES as SEARCH_TABLES

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY, public_key_pem TEXT NOT NULL, fingerprint TEXT NOT NULL,
    label TEXT NOT NULL, enrolled_utc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nonces (
    device_id TEXT NOT NULL, nonce TEXT NOT NULL, seen REAL NOT NULL,
    PRIMARY KEY (device_id, nonce));
CREATE INDEX IF NOT EXISTS nonces_seen ON nonces (seen);
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, kind TEXT NOT NULL,
    file TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,
    manifest BLOB, signature BLOB, state TEXT NOT NULL, reason TEXT,
    created_utc TEXT NOT NULL, UNIQUE (device_id, kind, key));
CREATE TABLE IF NOT EXISTS segments (
    device_id TEXT NOT NULL, recording_id TEXT NOT NULL, segment_index INTEGER NOT NULL,
    file TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
    manifest_sha256 TEXT NOT NULL, signature BLOB NOT NULL,
    start_utc TEXT NOT NULL, end_utc TEXT NOT NULL, start_s REAL NOT NULL, end_s REAL NOT NULL,
    frame_count INTEGER NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
    last INTEGER NOT NULL, stored_utc TEXT NOT NULL,
    receipt BLOB NOT NULL, receipt_signature BLOB NOT NULL,
    deleted_utc TEXT, purged INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (device_id, recording_id, segment_index));
CREATE INDEX IF NOT EXISTS segments_manifest ON segments (device_id, manifest_sha256);
CREATE TABLE IF NOT EXISTS recordings (
    device_id TEXT NOT NULL, recording_id TEXT NOT NULL, start_s REAL NOT NULL,
    case_ref TEXT, flagged_utc TEXT, deleted_utc TEXT, received_s REAL,
    PRIMARY KEY (device_id, recording_id));
CREATE TABLE IF NOT EXISTS audit_logs (
    device_id TEXT NOT NULL, sha256 TEXT NOT NULL, file TEXT NOT NULL, size INTEGER NOT NULL,
    stored_utc TEXT NOT NULL, receipt BLOB NOT NULL, receipt_signature BLOB NOT NULL,
    PRIMARY KEY (device_id, sha256));
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL, kind TEXT NOT NULL,
    file TEXT NOT NULL, reason TEXT NOT NULL, manifest BLOB, signature BLOB,
    content_sha256 TEXT, content_size INTEGER, created_utc TEXT NOT NULL);
"""

#: Schema changes after :data:`SCHEMA` (version 1): (version, portable SQL). Never edit one that
#: has shipped; add the next.
MIGRATIONS: list[tuple[int, str]] = [
    # When an open upload last made progress (store clock): stale staging is swept by it.
    (2, "ALTER TABLE uploads ADD COLUMN touched_s REAL"),
    # A recording's category (store/categories.py; NULL: uncategorised), when it was set, and
    # the latest retention date the store has given its objects (only ever extended).
    (3, "ALTER TABLE recordings ADD COLUMN category TEXT"),
    (3, "ALTER TABLE recordings ADD COLUMN categorised_utc TEXT"),
    (3, "ALTER TABLE recordings ADD COLUMN retain_until_s REAL"),
    # Retention asks of every object it purges whether a live row still names it: by index.
    (3, "CREATE INDEX IF NOT EXISTS segments_sha256 ON segments (sha256)"),
    (3, "CREATE INDEX IF NOT EXISTS segments_manifest_sha256 ON segments (manifest_sha256)"),
    # Who wore the camera, as its manifests say (NULL: unassigned, or older data).
    (3, "ALTER TABLE recordings ADD COLUMN officer_id TEXT"),
    (3, "ALTER TABLE recordings ADD COLUMN collar TEXT"),
    # Who wears each camera on its next shift (store/assignment.py); no row: unassigned.
    (3, "CREATE TABLE IF NOT EXISTS assignments (device_id TEXT PRIMARY KEY, "
        "officer_id TEXT NOT NULL, collar TEXT NOT NULL, assigned_utc TEXT NOT NULL)"),
    # 4: the location index (store/search.py) and subject-access requests (store/requests.py).
    *((4, sql) for sql in SEARCH_TABLES + REQUEST_TABLES),
]
SCHEMA_VERSION = max(number for number, _ in MIGRATIONS)


def device_lock(device_id: str) -> str:
    """The lock name of one device's custody: its chain, its uploads' outcome, its recordings'
    flag and deletion. Two cameras never wait for each other on it."""
    return f"device:{device_id}"


def object_lock(sha256: str) -> str:
    """The lock name of one object: retention's purge deletes it, and a worker storing the same
    bytes again commits the row that names it, only while holding this."""
    return f"object:{sha256}"


class CatalogueQueries:
    """The calls both catalogue engines make in the same portable SQL. A subclass provides
    ``tx`` (one write transaction holding the locks it names, such as ``device:ID``, against
    every other writer naming them), ``one`` and ``all`` (inside a ``tx`` on the same thread
    they see that transaction)."""

    #: Old nonces are deleted at most this often (seconds, store clock) per process, in a
    #: transaction of their own: not in every request's, where two workers' deletes would queue.
    NONCE_SWEEP_S = 1.0
    _nonces_swept = float("-inf")

    def tx(self, *locks: str) -> Any:
        raise NotImplementedError

    def one(self, sql: str, *args: Any) -> Any:
        raise NotImplementedError

    def all(self, sql: str, *args: Any) -> list[Any]:
        raise NotImplementedError

    @property
    def schema_version(self) -> int:
        value = self.get_meta("schema_version")
        return int(value) if value else 0

    # meta
    def get_meta(self, key: str) -> str | None:
        row = self.one("SELECT value FROM meta WHERE key = ?", key)
        return row["value"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as db:
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) "
                       "DO UPDATE SET value = excluded.value", (key, value))

    # nonces
    def use_nonce(self, device_id: str, nonce: str, now: float, forget_before: float) -> bool:
        """Record a nonce; False if this device already used it (a replayed request), on any
        worker: the insert and the check are one statement, which the engine makes atomic (the
        primary key), so no lock is needed."""
        if now - self._nonces_swept >= self.NONCE_SWEEP_S or now < self._nonces_swept:
            self._nonces_swept = now
            with self.tx("nonces") as db:  # one sweeper at a time across the workers
                db.execute("DELETE FROM nonces WHERE seen < ?", (forget_before,))
        with self.tx() as db:
            cur = db.execute("INSERT OR IGNORE INTO nonces (device_id, nonce, seen) "
                             "VALUES (?, ?, ?)", (device_id, nonce, now))
            return cur.rowcount == 1

    # objects still needed
    def object_referenced(self, sha256: str) -> bool:
        """Whether any live row still names this object (so it must not be deleted)."""
        return self.one(
            "SELECT 1 FROM segments WHERE deleted_utc IS NULL AND (sha256 = ?1 OR "
            "manifest_sha256 = ?1) UNION ALL SELECT 1 FROM quarantine WHERE content_sha256 = ?1 "
            "UNION ALL SELECT 1 FROM audit_logs WHERE sha256 = ?1 LIMIT 1", sha256) is not None

    def object_referenced_elsewhere(self, sha256: str, device_id: str,
                                    recording_id: str) -> bool:
        """Whether a live row other than this recording's segments names this object (the same
        bytes in another recording, quarantine or an audit log), so deleting the recording
        leaves it."""
        return self.one(
            "SELECT 1 FROM segments WHERE deleted_utc IS NULL AND (sha256 = ?1 OR "
            "manifest_sha256 = ?1) AND NOT (device_id = ?2 AND recording_id = ?3) UNION ALL "
            "SELECT 1 FROM quarantine WHERE content_sha256 = ?1 UNION ALL SELECT 1 FROM "
            "audit_logs WHERE sha256 = ?1 LIMIT 1", sha256, device_id, recording_id) is not None

    def object_held(self, sha256: str) -> bool:
        """Whether a flagged recording names this object (its legal hold must stay)."""
        return self.one(
            "SELECT 1 FROM segments s JOIN recordings r ON r.device_id = s.device_id AND "
            "r.recording_id = s.recording_id WHERE r.case_ref IS NOT NULL AND "
            "(s.sha256 = ?1 OR s.manifest_sha256 = ?1) LIMIT 1", sha256) is not None


def _owner_only(path: Path) -> None:
    """Create the database file 0600 before SQLite does (it would use the umask, 0644); SQLite
    gives its -wal and -shm files the database file's mode. An older catalogue is tightened."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for name in ("", "-wal", "-shm", "-journal"):
        part = path.with_name(path.name + name)
        with contextlib.suppress(FileNotFoundError):
            if part.stat().st_mode & 0o077 and part.stat().st_uid == os.getuid():
                os.chmod(part, 0o600)


class Catalogue(CatalogueQueries):
    """The embedded catalogue: one SQLite file in the store directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        _owner_only(path)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                   timeout=30.0)  # other workers' writes on this file
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._add_received_s()
        self._migrate()

    def _migrate(self) -> None:
        """Apply the numbered migrations this file has not had, each in one transaction."""
        with self.tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row["value"]) if row else 1
            for number, sql in MIGRATIONS:
                if number > version:
                    db.execute(sql)
            db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                       (str(max(version, SCHEMA_VERSION)),))

    def _add_received_s(self) -> None:
        """A catalogue from before retention counted from receipt time: add ``received_s`` and
        fill it from the segments' ``stored_utc``, the store's own clock when each arrived."""
        columns = {row["name"] for row in self._db.execute("PRAGMA table_info(recordings)")}
        if "received_s" in columns:
            return
        latest: dict[tuple[str, str], float] = {}
        for row in self._db.execute("SELECT device_id, recording_id, stored_utc FROM segments"):
            key = (row["device_id"], row["recording_id"])
            latest[key] = max(latest.get(key, float("-inf")), parse_utc(row["stored_utc"]))
        with self.tx() as db:
            db.execute("ALTER TABLE recordings ADD COLUMN received_s REAL")
            db.executemany("UPDATE recordings SET received_s = ? WHERE device_id = ? AND "
                           "recording_id = ?", [(t, *k) for k, t in latest.items()])

    @contextmanager
    def tx(self, *locks: str) -> Iterator[sqlite3.Connection]:
        """One transaction, holding the lock (every write; ``locks`` are implied): committed
        on success, rolled back on error."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def all(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()
