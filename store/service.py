"""The evidence store as one object: its directory, key, catalogue, objects and custody actions.

The HTTP server, the command line and the tests all drive a :class:`Store`; the server only
translates requests. Layout of the directory (docs/STORE.md):

- ``store.json`` settings; ``store.pub.pem`` the store's public key (cameras pin it);
- ``keys/store.key`` the private key that signs receipts and export reports (0600);
- ``camera-settings.json`` (optional) settings for docked cameras, served signed in ``/v1/info``;
- ``catalogue.sqlite`` the catalogue; ``objects/`` the bytes by SHA-256; ``staging/`` uploads in
  progress; ``audit.jsonl`` the store's hash-chained audit log; ``tlog/`` the public
  transparency log (:mod:`store.transparency`), on both backends a file here.

At a force's scale ``store.json`` names a PostgreSQL catalogue and an S3 bucket with Object Lock
instead (:func:`open_catalogue`, :func:`open_objects`); staging, the key and the audit log stay
in the directory, which the workers of one machine share.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from evidence import settings as camera_settings
from evidence.fsutil import atomic_write, private_dir
from evidence.identity import (
    IdentityError,
    device_id_for,
    fingerprint,
    public_key_from_pem,
    public_pem,
)
from evidence.receipt import store_id_for
from evidence.request_auth import sign_time
from store import categories
from store.auditlog import AuditLog
from store.auth import RequestVerifier, check_operator, new_token, token_hash
from store.catalogue import Catalogue, CatalogueQueries, device_lock
from store.clock import Clock, parse_utc, system_clock, utc_iso
from store.config import StoreConfig, StoreConfigError
from store.credentials import ensure_credentials
from store.errors import bad_request, conflict, not_found
from store.ingest import Ingest
from store.locks import FileLock
from store.objects import FilesystemObjectStore, ObjectStore
from store.retention import Retention
from store.staging import Staging
from store.transparency import StoreLog

CONFIG = "store.json"
PRIVATE_KEY = Path("keys") / "store.key"
PUBLIC_KEY = "store.pub.pem"
CATALOGUE = "catalogue.sqlite"
AUDIT = "audit.jsonl"
CAMERA_SETTINGS = "camera-settings.json"
TLOG = "tlog"
MAX_CASE_REF = 128


class StoreDirError(Exception):
    """The directory has not been initialised as a store."""


def open_catalogue(directory: Path, config: StoreConfig) -> CatalogueQueries:
    """The catalogue ``store.json`` names: SQLite in the directory, or PostgreSQL."""
    if config.catalogue == "sqlite":
        return Catalogue(directory / CATALOGUE)
    try:
        from store.catalogue_pg import PostgresCatalogue
    except ImportError as exc:  # pragma: no cover (psycopg is a dependency)
        raise StoreDirError(f"catalogue {config.catalogue.split('@')[-1]}: psycopg is not "
                            f"installed ({exc})") from None
    try:
        return PostgresCatalogue(config.catalogue)
    except ConnectionError as exc:
        raise StoreDirError(str(exc)) from None


def s3_credentials(config: StoreConfig) -> tuple[str, str, str]:
    """(endpoint, access key, secret key): the endpoint from ``store.json`` or the environment,
    the credentials from the environment only (never a file the store writes, never argv)."""
    env = os.environ
    endpoint = config.s3_endpoint or env.get("BODYCAM_S3_ENDPOINT", "")
    access = env.get("BODYCAM_S3_ACCESS_KEY") or env.get("AWS_ACCESS_KEY_ID", "")
    secret = env.get("BODYCAM_S3_SECRET_KEY") or env.get("AWS_SECRET_ACCESS_KEY", "")
    if not endpoint:
        raise StoreDirError(f"objects {config.objects}: no S3 endpoint (set s3_endpoint in "
                            "store.json or $BODYCAM_S3_ENDPOINT)")
    if not (access and secret):
        raise StoreDirError(f"objects {config.objects}: no S3 credentials (set "
                            "$BODYCAM_S3_ACCESS_KEY and $BODYCAM_S3_SECRET_KEY)")
    return endpoint, access, secret


def open_objects(directory: Path, config: StoreConfig) -> ObjectStore:
    """The object store ``store.json`` names: the folder, or an Object Lock bucket (made with
    Object Lock if it does not exist; one without it is refused)."""
    if config.objects == "folder":
        return FilesystemObjectStore(directory / "objects")
    from botocore.exceptions import BotoCoreError, ClientError

    from store.objects_s3 import S3Location, S3ObjectStore

    endpoint, access, secret = s3_credentials(config)
    try:
        objects = S3ObjectStore(S3Location.parse(config.objects, endpoint, access, secret))
        objects.create_bucket()
    except ValueError as exc:
        raise StoreDirError(str(exc)) from None
    except (BotoCoreError, ClientError) as exc:
        raise StoreDirError(f"objects {config.objects} at {endpoint}: {exc}") from None
    return objects


def init_store(directory: Path, config: StoreConfig | None = None) -> str:
    """Create a store in ``directory``; return the operator token (shown once, kept hashed)."""
    if (directory / PRIVATE_KEY).exists():
        raise StoreDirError(f"{directory} is already an evidence store (use --new-token to replace "
                        "the operator token)")
    config = config or StoreConfig()
    private_dir(directory)
    private_dir(directory / PRIVATE_KEY.parent)
    if config.objects != "folder":
        open_objects(directory, config)  # the bucket exists, with Object Lock, before any key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    atomic_write(directory / CONFIG, config.to_bytes())
    atomic_write(directory / PRIVATE_KEY, pem, mode=0o600)
    atomic_write(directory / PUBLIC_KEY, public_pem(key.public_key()))
    # the force CA and signing certificate for C2PA credentials in exports (store/credentials.py)
    ensure_credentials(directory, system_clock(), store_id_for(key.public_key()))
    return new_operator_token(directory)


def new_operator_token(directory: Path) -> str:
    """Replace the operator token (the old one stops working)."""
    token = new_token()
    catalogue = open_catalogue(directory, StoreConfig.load(directory / CONFIG))
    try:
        catalogue.set_meta("operator_token_sha256", token_hash(token))
    finally:
        catalogue.close()
    return token


def choose_engines(directory: Path, catalogue: str | None, objects: str | None) -> None:
    """``serve --catalogue/--objects``: record the engines in ``store.json``. A store already on
    other engines, or one that holds anything on its embedded ones, is not moved by a flag
    (its evidence would seem to vanish): that is a migration, not a restart."""
    config = StoreConfig.load(directory / CONFIG)
    wanted = {k: v for k, v in (("catalogue", catalogue), ("objects", objects)) if v}
    changes = {k: v for k, v in wanted.items() if getattr(config, k) != v}
    if not changes:
        return
    try:
        new = StoreConfig(**{**config.__dict__, **changes})
    except StoreConfigError as exc:
        raise StoreDirError(str(exc)) from None
    for key, value in changes.items():
        current = getattr(config, key)
        if current not in ("sqlite", "folder"):
            raise StoreDirError(f"--{key} {_shown(value)}: this store's {key} is "
                                f"{_shown(current)} (store.json); a store does not change "
                                "engines on a restart")
    meta: list[Any] = []
    if "catalogue" in changes and (directory / CATALOGUE).exists():
        local = Catalogue(directory / CATALOGUE)
        try:
            used = local.one("SELECT 1 FROM devices UNION ALL SELECT 1 FROM uploads LIMIT 1")
            meta = local.all("SELECT key, value FROM meta WHERE key <> ?", "schema_version")
        finally:
            local.close()
        if used:
            raise StoreDirError(f"--catalogue {_shown(new.catalogue)}: this store already "
                                f"holds a catalogue in {directory / CATALOGUE}; it is not "
                                "moved by a flag")
    if "objects" in changes and any((directory / "objects").glob("*/*")):
        raise StoreDirError(f"--objects {new.objects}: this store already holds objects in "
                            f"{directory / 'objects'}; they are not moved by a flag")
    if meta:  # the operator token init made goes along (unless that catalogue has its own)
        catalogue = open_catalogue(directory, new)
        try:
            for row in meta:
                if catalogue.get_meta(row["key"]) is None:
                    catalogue.set_meta(row["key"], row["value"])
        finally:
            catalogue.close()
    atomic_write(directory / CONFIG, new.to_bytes())


def _shown(value: str) -> str:
    """A setting fit for a message: a DSN without its password."""
    from store.catalogue_pg import _redacted

    return _redacted(value)


def _load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise StoreDirError(f"{path.parent.parent} is not an evidence store (run 'bodycam store "
                        f"init --dir {path.parent.parent}')") from None
    except (OSError, ValueError, TypeError) as exc:
        raise StoreDirError(f"{path}: unreadable store key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise StoreDirError(f"{path}: not an Ed25519 private key")
    return key


def camera_rules() -> list[camera_settings.Rules]:
    """The rules of the camera firmware installed beside the store for a pushed document, found
    by entry point (``bodycam.settings_rules``): the store imports no firmware, and a camera
    whose rules it has checked will not refuse what it serves."""
    rules = []
    for point in entry_points(group=camera_settings.RULES_GROUP):
        try:
            rules.append(point.load())
        except Exception as exc:  # a broken install: say which, in one line
            raise StoreDirError(f"the camera settings rules {point.value} cannot be loaded "
                                f"({type(exc).__name__}: {exc})") from None
    return rules


def _load_camera_settings(path: Path, key: Ed25519PrivateKey) -> dict[str, str]:
    """The ``/v1/info`` fields for the camera settings file, checked now so that a mistake
    stops the store with one line rather than being refused by every camera."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise StoreDirError(f"{path}: cannot read: {exc.strerror}") from None
    signature = key.sign(camera_settings.SIGNING_PREFIX + raw)
    try:
        document = camera_settings.parse(raw, signature, key.public_key())
        for rules in camera_rules():
            rules(document)
    except camera_settings.SettingsError as exc:
        raise StoreDirError(f"{path}: {exc}") from None
    return {"camera_settings": base64.b64encode(raw).decode(),
            "camera_settings_signature": base64.b64encode(signature).decode()}


def _tighten(directory: Path) -> None:
    """An older version left the store 0755/0644: make what it holds the owner's only (the
    object store, staging and catalogue tighten their own; a 0700 folder closes what is in it)."""
    for folder in (directory, directory / PRIVATE_KEY.parent, directory / "exports"):
        if folder.is_dir():
            private_dir(folder)
    for name in (CONFIG, PUBLIC_KEY, AUDIT, CAMERA_SETTINGS, PRIVATE_KEY):
        path = directory / name
        if path.is_file() and path.stat().st_mode & 0o077 and path.stat().st_uid == os.getuid():
            os.chmod(path, 0o600)


class Store:
    def __init__(self, directory: Path, clock: Clock = system_clock,
                 objects: ObjectStore | None = None,
                 catalogue: CatalogueQueries | None = None) -> None:
        self.directory = directory
        self.clock = clock
        self.private_key = _load_private_key(directory / PRIVATE_KEY)
        _tighten(directory)
        self.public_key: Ed25519PublicKey = self.private_key.public_key()
        self.store_id = store_id_for(self.public_key)
        self.config = StoreConfig.load(directory / CONFIG)
        self.camera_settings = _load_camera_settings(directory / CAMERA_SETTINGS,
                                                     self.private_key)
        self.catalogue = catalogue or open_catalogue(directory, self.config)
        try:
            self.objects = objects or open_objects(directory, self.config)
        except BaseException:
            self.catalogue.close()
            raise
        self.staging = Staging(directory / "staging")
        self.audit = AuditLog(directory / AUDIT, clock)
        self.tlog = StoreLog(directory / TLOG, self.store_id, self.private_key)
        self.exports_dir = directory / "exports"  # made (0700) when an export starts
        #: Held by flag, unflag and retention, so a recording is never deleted while flagged;
        #: a file lock, so it holds across the worker processes serving this directory.
        self.custody_lock = FileLock(directory / "custody.lock")
        self._keys: dict[str, Ed25519PublicKey] = {}
        self.verifier = RequestVerifier(self.catalogue, clock, self.config.clock_skew_s,
                                        self.device_key, self.store_id)
        self.ingest = Ingest(self)
        self.retention = Retention(self)

    def close(self) -> None:
        self.catalogue.close()

    def now_utc(self) -> str:
        return utc_iso(self.clock())

    def info(self, nonce: str | None = None) -> dict[str, Any]:
        """What a camera needs before its first signed request: the time and the store key.
        With the camera's ``nonce`` the time is signed for it (``time_signature``), so the
        camera can trust it enough to set its clock."""
        now = round(self.clock(), 3)
        signed = {} if nonce is None else {
            "nonce": nonce, "time_signature": sign_time(self.private_key, self.store_id, nonce,
                                                        now)}
        return {"api": 1, "store_id": self.store_id, "utc": utc_iso(now), "time": now, **signed,
                "store_public_key": public_pem(self.public_key).decode(),
                "clock_skew_s": self.config.clock_skew_s,
                "max_chunk_bytes": self.config.max_chunk_bytes,
                "max_segment_bytes": self.config.max_segment_bytes,
                "max_audit_log_bytes": self.config.max_audit_log_bytes,
                **self.camera_settings}

    # operators
    def check_operator(self, authorization: str | None) -> None:
        check_operator(authorization, self.catalogue.get_meta("operator_token_sha256"))

    def enrol(self, pem: bytes, label: str = "") -> dict[str, Any]:
        """Allow a device key to upload. Enrolling the same key again changes nothing."""
        try:
            key = public_key_from_pem(pem, "enrolment")
        except IdentityError as exc:
            raise bad_request(str(exc)) from None
        device_id, print_ = device_id_for(key), fingerprint(key)
        existing = self.catalogue.one("SELECT * FROM devices WHERE device_id = ?", device_id)
        if existing is not None:
            return {"device_id": device_id, "fingerprint": print_, "enrolled": False,
                    "label": existing["label"], "enrolled_utc": existing["enrolled_utc"]}
        now = self.now_utc()
        with self.catalogue.tx() as db:  # another worker may enrol it between check and insert
            added = db.execute("INSERT OR IGNORE INTO devices VALUES (?, ?, ?, ?, ?)",
                               (device_id, public_pem(key).decode(), print_, label,
                                now)).rowcount == 1
        if not added:
            return self.enrol(pem, label)  # as it is now: enrolled by the other
        self.audit.append("enrol", device_id=device_id, public_key_sha256=print_, label=label)
        return {"device_id": device_id, "fingerprint": print_, "enrolled": True, "label": label,
                "enrolled_utc": now}

    def device_key(self, device_id: str) -> Ed25519PublicKey | None:
        if device_id not in self._keys:
            row = self.catalogue.one("SELECT public_key_pem FROM devices WHERE device_id = ?",
                                     device_id)
            if row is None:
                return None
            self._keys[device_id] = public_key_from_pem(row["public_key_pem"].encode())
        return self._keys[device_id]

    def devices(self) -> list[dict[str, Any]]:
        """Enrolled devices, each with the officer it is assigned to (nulls: unassigned)."""
        return [{k: row[k] for k in ("device_id", "fingerprint", "label", "enrolled_utc",
                                     "officer_id", "collar", "assigned_utc")}
                for row in self.catalogue.all(
                    "SELECT d.device_id, d.fingerprint, d.label, d.enrolled_utc, a.officer_id, "
                    "a.collar, a.assigned_utc FROM devices d LEFT JOIN assignments a ON "
                    "a.device_id = d.device_id ORDER BY d.device_id")]

    def find_recording(self, recording_id: str, device_id: str | None = None) -> tuple[str, str]:
        """(device id, recording id); recording ids carry random digits, so one usually names
        one recording, but a device id settles any doubt."""
        rows = self.catalogue.all(
            "SELECT device_id FROM recordings WHERE recording_id = ?1 AND (?2 IS NULL OR "
            "device_id = ?2)", recording_id, device_id)
        if not rows:
            raise not_found(f"no recording {recording_id}" +
                            (f" from device {device_id}" if device_id else "") + " in this store")
        if len(rows) > 1:
            raise conflict(f"recording id {recording_id} exists for several devices "
                           f"({', '.join(r['device_id'] for r in rows)}): name the device")
        return rows[0]["device_id"], recording_id

    def flag(self, recording_id: str, case_ref: str, device_id: str | None = None,
             ) -> dict[str, Any]:
        """Keep a recording as evidence for a case until it is unflagged: the catalogue's flag,
        then a legal hold on every object of it (with Object Lock, the bucket's refusal)."""
        case_ref = case_ref.strip() if isinstance(case_ref, str) else ""
        if not case_ref or len(case_ref) > MAX_CASE_REF or not case_ref.isprintable():
            raise bad_request(f"case reference must be 1-{MAX_CASE_REF} printable characters")
        with self.custody_lock:
            device_id, recording_id = self.find_recording(recording_id, device_id)
            now = self.now_utc()
            # checked and set under the device's lock: retention on another worker (which
            # takes it too) cannot interleave
            with self.live_recording(device_id, recording_id, "flagged") as (db, row):
                db.execute("UPDATE recordings SET case_ref = ?, flagged_utc = ? WHERE "
                           "device_id = ? AND recording_id = ?",
                           (case_ref, now, device_id, recording_id))
                self.tlog.flag(now, device_id, recording_id, case_ref)  # before the commit
            held: int | str = 0
            try:
                held = self._hold(device_id, recording_id, True)
            except Exception as exc:  # the flag stands (retention obeys it); say what failed
                held = f"failed: {exc}"
                raise
            finally:
                self.audit.append("flag", device_id=device_id, recording_id=recording_id,
                                  case_ref=case_ref, previous_case_ref=row["case_ref"],
                                  **({"legal_hold": held} if self.objects.locks else {}))
        return self.recording(device_id, recording_id)

    def unflag(self, recording_id: str, device_id: str | None = None) -> dict[str, Any]:
        """Return a recording to normal retention (it may be deleted at the next step): the
        flag goes, then the legal holds that no other flagged recording needs."""
        with self.custody_lock:
            device_id, recording_id = self.find_recording(recording_id, device_id)
            with self.catalogue.tx(device_lock(device_id)) as db:
                row = self._recording_row(device_id, recording_id)
                if row["case_ref"] is None:
                    raise conflict(f"recording {recording_id} is not flagged")
                db.execute("UPDATE recordings SET case_ref = NULL, flagged_utc = NULL WHERE "
                           "device_id = ? AND recording_id = ?", (device_id, recording_id))
                self.tlog.unflag(self.now_utc(), device_id, recording_id)  # before the commit
            lifted: int | str = 0
            try:
                lifted = self._hold(device_id, recording_id, False)
            except Exception as exc:  # a hold left on only delays deletion (refused, audited)
                lifted = f"failed: {exc}"
                raise
            finally:
                self.audit.append("unflag", device_id=device_id, recording_id=recording_id,
                                  previous_case_ref=row["case_ref"],
                                  **({"legal_hold_lifted": lifted} if self.objects.locks
                                     else {}))
        return self.recording(device_id, recording_id)

    def _hold(self, device_id: str, recording_id: str, on: bool) -> int:
        """Put (or lift) the legal hold on the recording's objects; how many objects. A hold
        another flagged recording still needs (the same bytes) stays."""
        if not self.objects.locks:
            return 0
        if not on and self.held(device_id, recording_id):  # its category holds it still
            return 0
        rows = self.catalogue.all("SELECT sha256, manifest_sha256 FROM segments WHERE "
                                  "device_id = ? AND recording_id = ? AND deleted_utc IS NULL",
                                  device_id, recording_id)
        shas = sorted({sha for row in rows for sha in (row["sha256"], row["manifest_sha256"])})
        count = 0
        for sha in shas:
            if not on and self.catalogue.object_held(sha):
                continue
            self.objects.set_legal_hold(sha, on)
            count += 1
        return count

    def retain_until(self, received_s: float, device_id: str | None = None,
                     recording_id: str | None = None) -> float:
        """The Object Lock date of what the store received at ``received_s`` (its own clock):
        the day retention may delete it, and not before. A segment of a categorised recording
        gets its category's days (a holding category: the default, with a legal hold) and no
        date before the one the recording already has."""
        row = None if recording_id is None else self._recording_row(device_id, recording_id)
        days = None if row is None else categories.retention_days(self, row["category"])
        until = received_s + (self.config.retention_s if days is None
                              else days * categories.DAY_S)
        given = None if row is None else row["retain_until_s"]
        return until if given is None else max(until, given)

    def held(self, device_id: str, recording_id: str) -> bool:
        """Whether the recording's objects carry a legal hold: flagged, or in a holding
        category."""
        row = self._recording_row(device_id, recording_id)
        return row is not None and (row["case_ref"] is not None
                                    or categories.holds(self, row["category"]))

    def categorise(self, recording_id: str, category: object, device_id: str | None = None,
                   ) -> dict[str, Any]:
        return categories.categorise(self, recording_id, category, device_id)

    @contextmanager
    def live_recording(self, device_id: str, recording_id: str,
                       action: str) -> Iterator[tuple[Any, Any]]:
        """A transaction under the device's lock (retention on another worker takes it too, so
        it cannot interleave) holding the recording's row, refused with a conflict naming
        ``action`` ("flagged", "categorised") when retention has deleted it."""
        with self.catalogue.tx(device_lock(device_id)) as db:
            row = self._recording_row(device_id, recording_id)
            if row["deleted_utc"]:
                raise conflict(f"recording {recording_id} was deleted by retention at "
                               f"{row['deleted_utc']}; it cannot be {action}")
            yield db, row

    def _recording_row(self, device_id: str, recording_id: str) -> Any:
        return self.catalogue.one("SELECT * FROM recordings WHERE device_id = ? AND "
                                  "recording_id = ?", device_id, recording_id)

    def recordings(self, device_id: str | None = None, since: str | None = None,
                   until: str | None = None) -> list[dict[str, Any]]:
        """Recordings (newest last) overlapping [since, until], with their retention state."""
        try:
            low = parse_utc(since) if since else float("-inf")
            high = parse_utc(until) if until else float("inf")
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        rows = self.catalogue.all(
            "SELECT r.device_id, r.recording_id FROM recordings r JOIN segments s USING "
            "(device_id, recording_id) WHERE (?1 IS NULL OR r.device_id = ?1) GROUP BY "
            "r.device_id, r.recording_id HAVING MAX(s.end_s) >= ?2 AND MIN(s.start_s) <= ?3 "
            "ORDER BY MIN(s.start_s), r.device_id, r.recording_id", device_id, low, high)
        return [self.recording(r["device_id"], r["recording_id"]) for r in rows]

    def recording(self, device_id: str, recording_id: str) -> dict[str, Any]:
        row = self._recording_row(device_id, recording_id)
        segs = self.catalogue.all(
            "SELECT segment_index, start_utc, end_utc, frame_count, last FROM segments WHERE "
            "device_id = ? AND recording_id = ? ORDER BY segment_index", device_id, recording_id)
        indexes = [s["segment_index"] for s in segs]
        complete = bool(segs) and indexes == list(range(len(segs))) and bool(segs[-1]["last"])
        after = categories.delete_after(self, row)
        keep_until = None if after is None else utc_iso(after)
        return {"device_id": device_id, "recording_id": recording_id,
                "start_utc": segs[0]["start_utc"] if segs else None,
                "end_utc": segs[-1]["end_utc"] if segs else None,
                "segments": len(segs), "frames": sum(s["frame_count"] for s in segs),
                "complete": complete, "case_ref": row["case_ref"],
                "category": row["category"], "categorised_utc": row["categorised_utc"],
                "officer_id": row["officer_id"], "collar": row["collar"],
                "flagged_utc": row["flagged_utc"], "deleted_utc": row["deleted_utc"],
                "received_utc": (None if row["received_s"] is None else
                                 utc_iso(row["received_s"])),
                "delete_after_utc": None if row["deleted_utc"] else keep_until}

    def quarantined(self) -> list[dict[str, Any]]:
        return [{k: row[k] for k in ("id", "device_id", "kind", "file", "reason",
                                     "content_sha256", "content_size", "created_utc")}
                for row in self.catalogue.all("SELECT * FROM quarantine ORDER BY id")]
