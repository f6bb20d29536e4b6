"""The uploader: empties a docked camera into the evidence store, one unit of work per ``step()``.

A dock starts a *session*; an undock ends it (the request in flight finishes, nothing else
starts). A session: read ``GET /v1/info`` (check it is the pinned store, set the clock, apply the
store's settings), then upload every closed segment, marked recordings first, one request per
step, then a snapshot of the audit log. For each segment the store's receipt is checked with
:func:`~evidence.receipt.verify_receipt` against the pinned store key and the signed
manifest, kept next to the footage (:mod:`evidence.kept`), written to the audit log, and
only then is the MP4 deleted. Without a valid receipt nothing is deleted.

The daemon's thread stays the only writer of the audit log, the clock and the configuration:
the uploader *asks* it (``ask(name, **data)`` returns a future) and waits for the answer in a
later step, so a test that drives :meth:`Uploader.step` and the daemon on one thread never
deadlocks, and the daemon never waits for the network. Failures are retried with capped
exponential backoff and jitter on the injected clock; an upload resumes from what the store
says it holds (``received``), so an undock, a network error or a store restart loses nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import math
import random
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from device.config import UploadSection
from device.recordings import recordings_dir
from device.upload import settings as store_settings
from device.upload.backoff import Backoff
from device.upload.link import LinkError, open_link
from device.upload.session import Session, log_snapshot
from device.upload.work import Segment, pending_segments
from evidence import assignment as officer_assignment
from evidence.audit import AUDIT_LOG
from evidence.fsutil import fsync_dir
from evidence.identity import DeviceIdentity
from evidence.kept import (
    check_segment_receipt,
    is_quarantined,
    mark_quarantined,
    save_audit_receipt,
    save_receipt,
    save_tlog_proof,
)
from evidence.receipt import Receipt, ReceiptError, store_id_for, verify_receipt
from evidence.request_auth import verify_time
from evidence.store_client import (
    StoreHttpError,
    receipt_of,
)
from evidence.transparency import ProofError
from evidence.transparency_audit import check_kept_proof
from evidence.utc import utc_iso
from hal.clock import Clock

log = logging.getLogger("bodycam.upload")

#: What a step did. The first three mean "nothing now": the thread then sleeps until woken.
IDLE, WAITING, BACKOFF = "idle", "waiting", "backoff"

Ask = Callable[..., "Future[Any]"]


class Uploader:
    def __init__(self, config: UploadSection, data_dir: Path, clock: Clock, ask: Ask,
                 rand: Callable[[], float] = random.random) -> None:
        self.config = config
        self.data_dir = data_dir
        self.clock = clock
        self.ask = ask
        self.backoff = Backoff(config.backoff_base_s, config.backoff_cap_s, rand)
        self.last_error: str | None = None
        self._retrying = False  # last_error is a transient one: the next success clears it
        self.last_receipt: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._session: Session | None = None
        self._last: Session | None = None  # the session status reports on
        self._active: Session | None = None  # the session whose connection is open
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.config.store_url)

    # -- the daemon's side (its thread): never blocks -----------------------------------------
    def dock(self, identity: DeviceIdentity | None) -> None:
        """A session begins (nothing happens here: the next step does the work)."""
        if not self.enabled or identity is None:
            return
        with self._lock:
            self._session = self._last = Session(identity)
            self.last_error = None
        self.backoff.reset()
        self._wake.set()

    def undock(self) -> None:
        """The session ends; the request in flight, if any, is the last one."""
        with self._lock:
            self._session = None
        self._wake.set()

    # -- the thread ----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None and self.enabled:
            self._thread = threading.Thread(target=self._run, name="uploader", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.config.timeout_s + 5)

    def _run(self) -> None:
        while not self._closed:
            self._wake.clear()
            try:
                result = self.step()
            except Exception as exc:  # a bug must not end uploads for good
                log.exception("uploader step failed")
                self.last_error = f"uploader error: {exc!r}"
                self.clock.call_later(self.backoff.next_delay(), self._wake.set)
                result = BACKOFF
            if result in (IDLE, WAITING, BACKOFF):
                self._wake.wait()

    # -- one unit of work ----------------------------------------------------------------------
    def step(self) -> str:
        """Do one request or one local action; return what was done (IDLE: nothing to do)."""
        with self._lock:
            session = self._session
        if session is not self._active:
            self._disconnect()
            self._active = session
        if session is None:
            return IDLE
        if session.pending is not None and not session.pending[0].done():
            return WAITING
        if session.pending is None and (session.fatal or session.finished):
            return IDLE
        if session.pending is None and self.clock.monotonic() < session.retry_at:
            return BACKOFF
        try:
            result = self._continue(session) if session.pending else self._work(session)
        except StoreHttpError as exc:
            return self._store_failed(session, exc)
        except OSError as exc:  # the camera's own files: one that vanished, a full disk
            session.current = session.upload = None  # offered again at the next dock
            return self._retry_later(session, f"local file problem: {exc}")
        except (KeyError, TypeError, ValueError) as exc:  # an answer not shaped as documented
            return self._retry_later(session, f"unexpected answer from the store: {exc!r}")
        if result != BACKOFF:  # the store answered as documented
            self.backoff.reset()
            if self._retrying:
                self._retrying, self.last_error = False, None
        return result

    def _continue(self, session: Session) -> str:
        """The daemon has answered: go on from there (a refusal by it keeps everything)."""
        assert session.pending is not None
        future, then = session.pending
        session.pending = None
        if future.exception() is not None:
            session.current = session.upload = None
            return self._retry_later(session, f"the camera could not do what the upload "
                                              f"needed: {future.exception()!r}")
        return then(future)

    def _work(self, session: Session) -> str:
        if session.client is None:
            return self._connect(session)
        if not session.ready:
            return self._handshake(session)
        if session.queue is None:
            session.queue, session.problems = pending_segments(self.data_dir)
            return "scanned"
        segment = session.current or self._next_segment(session)
        if segment is not None:
            return self._advance(session, segment)
        if not session.audit_done:
            return self._advance_audit_log(session)
        session.finished = True
        log.info("upload finished: %d segment(s), %.1f MB sent, %d quarantined, %d failed",
                 session.uploaded, session.bytes_sent / 1e6, len(session.quarantined),
                 len(session.failed))
        return self._audit(session, "upload_finished", "everything offered", "finished",
                           uploaded=session.uploaded, bytes_sent=session.bytes_sent,
                           quarantined=session.quarantined, failed=session.failed)

    def _await(self, session: Session, future: Future[Any],
               then: Callable[[Future[Any]], str], result: str) -> str:
        session.pending = (future, then)
        future.add_done_callback(lambda _: self._wake.set())
        return result

    def _audit(self, session: Session, event: str, reason: str, result: str,
               then: Callable[[Future[Any]], str] | None = None, **data: Any) -> str:
        """Ask the daemon for an audit entry; the step after it is written runs ``then``."""
        future = self.ask("upload_audit", event=event, reason=reason, **data)
        return self._await(session, future, then or (lambda f: result), result)

    # -- setting up ----------------------------------------------------------------------------
    def _connect(self, session: Session) -> str:
        """A problem here is the configuration's: the session stops with it, no retries."""
        try:
            session.client, session.store_key = open_link(self.config, self.data_dir,
                                                          session.identity, self.clock.wall)
        except LinkError as exc:
            session.fatal = self.last_error = f"upload not possible: {exc}"
            return self._audit(session, "upload_error", session.fatal, "failed")
        return "connected"

    def _handshake(self, session: Session) -> str:
        """Is it our store? Then its clock, then its settings, each applied by the daemon."""
        assert session.client is not None and session.store_key is not None
        nonce = secrets.token_hex(16)
        info = session.client.connection.info(nonce)
        received = self.clock.monotonic()
        expected = store_id_for(session.store_key)
        if info.get("store_id") != expected:
            return self._retry_later(session, f"the store at {self.config.store_url} is "
                                              f"{info.get('store_id')}, but the pinned key "
                                              f"(upload.store_public_key) is {expected}'s")
        session.store_id = expected
        store_time = float(info["time"])
        if not verify_time(session.store_key, expected, nonce, store_time,
                           info.get("time_signature")):
            # Another store's answer, an old one replayed, or a time changed on the way: it
            # must not stamp evidence. Requests are still signed with it (the store refuses
            # them if it is wrong), so an honest but older store keeps working.
            reason = ("the store's time is not signed by the pinned key for this dock: "
                      "clock not set from it")
            store_now = store_time + self.clock.monotonic() - received
            unset: Future[Any] = Future()
            unset.set_result({"set": False, "error": reason, "store_now": store_now})
            return self._audit(session, "clock", reason, "info",
                               then=lambda f: self._clock_answered(session, info, unset),
                               action="not set", store_id=expected,
                               delta_s=round(store_now - self.clock.wall(), 3))
        future = self.ask("store_time", time=store_time, at=received, store_id=expected)
        return self._await(session, future, lambda f: self._clock_answered(session, info, f),
                           "info")

    def _clock_answered(self, session: Session, info: dict[str, Any],
                        future: Future[Any]) -> str:
        assert session.client is not None and session.store_key is not None
        answer = future.result() or {}
        if not answer.get("set") and answer.get("error"):
            # The clock stays wrong: sign with the store's time so requests are accepted.
            session.client.clock_offset = float(answer["store_now"]) - self.clock.wall()
        raw = info.get("camera_settings")
        if not (self.config.store_settings and raw):
            return self._assignment(session)

        def applied(f: Future[Any]) -> str:
            return self._assignment(session)

        try:
            document = store_settings.parse(_b64(raw), _b64(info.get("camera_settings_signature",
                                                                    "")), session.store_key)
        except store_settings.SettingsError as exc:
            return self._audit(session, "settings_refused", str(exc), "clock", then=applied,
                               store_id=session.store_id)
        future = self.ask("store_settings", settings=document, store_id=session.store_id)
        return self._await(session, future, applied, "clock")

    def _assignment(self, session: Session) -> str:
        """Who wears the camera from this dock on: the store's document for this camera and a
        fresh nonce, checked against the pinned key here, applied (and audited) by the daemon;
        a document that does not verify is refused and audited, and the camera keeps what it
        had. A store without assignments (404) leaves the camera as it is; any other failure to
        answer is audited the same way, and the footage goes all the same."""
        assert session.client is not None and session.store_key is not None

        def ready(f: Future[Any]) -> str:
            session.ready = True
            return "assignment"

        nonce = secrets.token_hex(16)
        try:
            answer = session.client.assignment(nonce)
        except StoreHttpError as exc:
            if exc.status == 404:  # a store without assignments: nothing to say
                session.ready = True
                return "settings"
            # no answer is no assignment: the footage goes all the same (evidence first)
            future = self.ask("assignment_refused", store_id=session.store_id,
                              reason=f"the store did not give the assignment: {exc}")
            return self._await(session, future, ready, "assignment")
        try:
            got = officer_assignment.parse(
                _b64(answer["assignment"]), _b64(answer.get("assignment_signature", "")),
                session.store_key, session.identity.device_id, nonce, str(session.store_id))
        except (officer_assignment.AssignmentError, KeyError, TypeError) as exc:
            future = self.ask("assignment_refused", store_id=session.store_id, reason=str(exc))
            return self._await(session, future, ready, "assignment")
        future = self.ask("store_assignment", store_id=session.store_id, assignment=got)
        return self._await(session, future, ready, "assignment")

    # -- segments ------------------------------------------------------------------------------
    def _next_segment(self, session: Session) -> Segment | None:
        assert session.queue is not None
        while session.queue:
            segment = session.queue.pop(0)
            if segment.recording_id in session.held_back or not segment.mp4.exists():
                continue
            session.current, session.upload = segment, None
            return segment
        return None

    def _advance(self, session: Session, segment: Segment) -> str:
        assert session.client is not None
        status = session.upload
        if status is None:
            status, result = session.client.open_segment(segment.mp4), "opened"
        else:
            before = status["received"]
            status, result = session.client.send(status, segment.mp4, max_chunks=1), "sent"
            session.bytes_sent += status["received"] - before
        session.upload = status
        if status["state"] == "stored":
            return self._stored(session, segment, status)
        if status["state"] == "quarantined":
            return self._quarantined(session, segment, status)
        return result

    def _stored(self, session: Session, segment: Segment, status: dict[str, Any]) -> str:
        """Check the receipt, keep it, audit it; the step after the audit entry deletes."""
        assert session.store_key is not None
        manifest = segment.manifest
        raw, signature = receipt_of(status) or (b"", b"")
        try:
            receipt = check_segment_receipt(raw, signature, session.store_key, segment.mp4,
                                            manifest, session.identity.device_id)
        except ReceiptError as exc:
            return self._give_up(session, segment, "upload_receipt_invalid",
                                 f"receipt not accepted, footage kept: {exc}", hold_back=False)
        save_receipt(segment.mp4, raw, signature)
        self._keep_proof(session, segment, receipt, status.get("transparency"))
        return self._audit(
            session, "upload_receipt", f"receipt from {receipt.store_id}", "receipt",
            then=lambda f: self._delete(session, segment, receipt, f), kind="segment",
            file=segment.mp4.name, recording_id=manifest.recording_id,
            segment_index=manifest.segment_index, sha256=receipt.sha256, size=receipt.size,
            receipt_sha256=hashlib.sha256(raw).hexdigest(), store_id=receipt.store_id,
            received_utc=receipt.received_utc)

    def _keep_proof(self, session: Session, segment: Segment, receipt: Receipt,
                    proof: Any) -> None:
        """Keep the store's inclusion proof beside the receipt once it verifies with the pinned
        key: the camera's own checkpoint of the store's public log. The receipt alone decides
        the deletion (a store without a log sends no proof; a bad one is logged, not kept)."""
        if proof is None or receipt.manifest_sha256 is None:
            return
        assert session.store_key is not None
        try:
            if not isinstance(proof, dict):
                raise ProofError("not a JSON object")
            check_kept_proof(json.dumps(proof).encode(), session.store_key,
                             receipt.manifest_sha256, receipt)
        except ProofError as exc:
            log.warning("upload: %s: the store's inclusion proof is not kept: %s",
                        segment.mp4.name, exc)
            return
        save_tlog_proof(segment.mp4, proof)

    def _delete(self, session: Session, segment: Segment, receipt: Receipt,
                audited: Future[Any]) -> str:
        if audited.result() is not True:
            return self._give_up(session, segment, "upload_error",
                                 "the receipt could not be written to the audit log; "
                                 "footage kept", hold_back=False)
        segment.mp4.unlink()
        fsync_dir(segment.mp4.parent)
        session.uploaded += 1
        session.receipts += 1
        session.current = session.upload = None
        self.last_receipt = {"file": segment.mp4.name, "sha256": receipt.sha256,
                             "received_utc": receipt.received_utc, "store_id": receipt.store_id}
        log.info("upload: %s in %s, receipt verified, local copy deleted", segment.mp4.name,
                 receipt.store_id)
        return self._audit(session, "upload_deleted", "the store's receipt was verified",
                           "deleted", file=segment.mp4.name, sha256=receipt.sha256,
                           size=receipt.size)

    def _quarantined(self, session: Session, segment: Segment, status: dict[str, Any]) -> str:
        """The store will not take it: keep it, note why, never offer it again by itself."""
        reason = str(status.get("reason") or status.get("error") or "quarantined")
        mark_quarantined(segment.mp4, {"store_id": session.store_id, "reason": reason,
                                       "upload_id": status.get("upload_id"),
                                       "utc": utc_iso(self.clock.wall())})
        session.quarantined.append(segment.mp4.name)
        self.last_error = f"{segment.mp4.name} quarantined by the store: {reason}"
        session.held_back.add(segment.recording_id)
        session.current = session.upload = None
        return self._audit(session, "upload_quarantined", reason, "quarantined",
                           file=segment.mp4.name, recording_id=segment.recording_id,
                           upload_id=status.get("upload_id"), store_id=session.store_id)

    def _give_up(self, session: Session, segment: Segment, event: str, reason: str,
                 hold_back: bool = True) -> str:
        """Leave this segment (and, with ``hold_back``, the rest of its recording) for the
        next dock."""
        log.warning("upload: %s kept: %s", segment.mp4.name, reason)
        session.failed.append(f"{segment.mp4.name}: {reason}")
        self.last_error = f"{segment.mp4.name}: {reason}"
        if hold_back:
            session.held_back.add(segment.recording_id)
        session.current = session.upload = None
        return self._audit(session, event, reason, "failed", file=segment.mp4.name,
                           recording_id=segment.recording_id, store_id=session.store_id)

    # -- the audit log -------------------------------------------------------------------------
    def _advance_audit_log(self, session: Session) -> str:
        """A snapshot of the audit log, after the footage so it holds every receipt. The log
        stays on the camera (it is the record of what the camera did, deletions included)."""
        assert session.client is not None and session.store_key is not None
        path = self.data_dir / AUDIT_LOG
        status = session.audit_upload
        if status is None:
            session.audit_snapshot = size, digest = log_snapshot(path)
            if size == 0:
                session.audit_done = True
                return "audit_log"
            status, result = session.client.open_audit_log(path, digest, size), "opened"
        else:
            before = status["received"]
            status, result = session.client.send(status, path, max_chunks=1), "sent"
            session.bytes_sent += status["received"] - before
        session.audit_upload = status
        if status["state"] == "open":
            return result
        session.audit_done = True
        assert session.audit_snapshot is not None
        size, digest = session.audit_snapshot
        if status["state"] == "quarantined":
            self.last_error = f"audit log snapshot quarantined by the store: {status.get('reason')}"
            return self._audit(session, "upload_quarantined", str(status.get("reason")),
                               "quarantined", file=path.name, kind="audit_log")
        try:
            raw, signature = receipt_of(status) or (b"", b"")
            receipt = verify_receipt(raw, signature, session.store_key, digest,
                                     device_id=session.identity.device_id, file=path.name,
                                     size=size, kind="audit_log")
        except (ReceiptError, ValueError) as exc:
            self.last_error = f"audit log receipt not accepted: {exc}"
            return self._audit(session, "upload_receipt_invalid", self.last_error, "failed",
                               file=path.name, kind="audit_log")
        save_audit_receipt(self.data_dir, digest, raw, signature)
        session.receipts += 1
        return self._audit(session, "upload_receipt", f"receipt from {receipt.store_id}",
                           "receipt", kind="audit_log", file=path.name, sha256=digest,
                           size=size, receipt_sha256=hashlib.sha256(raw).hexdigest(),
                           store_id=receipt.store_id, received_utc=receipt.received_utc)

    # -- failures ------------------------------------------------------------------------------
    def _store_failed(self, session: Session, exc: StoreHttpError) -> str:
        """What the store's refusal means for this upload (docs/STORE.md, the last section)."""
        segment, body = session.current, exc.body
        if segment is not None and body.get("state") == "quarantined":
            return self._quarantined(session, segment, body)
        if (exc.status == 409 and "received" in body) or exc.status == 404:
            session.upload = session.audit_upload = None  # open again: the store says where
            return "resync"
        if exc.status in (400, 409, 413):
            if segment is None:
                session.audit_done = True
                self.last_error = f"audit log not uploaded: {exc}"
                return "failed"
            return self._give_up(session, segment, "upload_refused", str(exc))
        if exc.status == 401 and "Timestamp" in str(exc):
            session.ready = False  # read the store's time again
        # Unreachable, 5xx, 401, 403 (not enrolled yet): all may pass; ask again later, from
        # what the store holds.
        session.upload = session.audit_upload = None
        return self._retry_later(session, str(exc))

    def _retry_later(self, session: Session, message: str) -> str:
        delay = self.backoff.next_delay()
        session.retry_at = self.clock.monotonic() + delay
        self.last_error, self._retrying = message, True
        log.info("upload: %s; retrying in %.1f s", message, delay)
        self._disconnect()
        self.clock.call_at(session.retry_at, self._wake.set)
        return BACKOFF

    def _disconnect(self) -> None:
        active = self._active
        if active is not None and active.client is not None:
            active.client.connection.close()

    # -- status (any thread) -------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        pending = [p for p in recordings_dir(self.data_dir).glob("R*/*.mp4")
                   if not is_quarantined(p)]
        with self._lock:
            docked, session = self._session is not None, self._last
        state = "off" if not self.enabled else "undocked" if not docked else "uploading"
        retry_in = None
        if docked and session is not None:
            retry_in = max(0.0, session.retry_at - self.clock.monotonic())
            if session.fatal:
                state = "error"
            elif session.finished:
                state = "done"
            elif retry_in > 0:
                state = "backoff"
        current = session.current if session is not None else None
        return {
            "state": state,
            "store": self.config.store_url or None,
            "pending_segments": len(pending),
            "pending_bytes": sum(_size(p) for p in pending),
            "current": current.mp4.name if current is not None else None,
            "bytes_sent": session.bytes_sent if session else 0,
            "uploaded": session.uploaded if session else 0,
            "receipts": session.receipts if session else 0,
            "quarantined": list(session.quarantined) if session else [],
            "failed": list(session.failed) if session else [],
            "not_uploadable": list(session.problems) if session else [],
            "last_receipt": self.last_receipt,
            "last_error": self.last_error,
            "retry_in_s": math.ceil(retry_in * 1000) / 1000 if retry_in else None,
        }


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return b""


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
