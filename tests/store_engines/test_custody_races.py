"""The custody edge cases docs/STORE.md names, with two workers of one store (two
:class:`Store` objects on one directory and catalogue, interleaved where the race is) on the
embedded engines and on PostgreSQL + RGW: retention purging bytes that another camera is
storing again at that instant, and a flag and an unflag of one recording at the same instant."""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evidence.manifest import manifest_path, signature_path
from store.auditlog import verify_chain
from store.config import StoreConfig
from store.ingest import QUARANTINED, STORED, Rejected
from store.service import Store, init_store
from tests.evidence_store.conftest import START, Camera, MovableClock, clone_camera

DAY = 86400.0


@pytest.fixture
def two_stores(tmp_path: Path, store_backend: dict[str, str]) -> Iterator[tuple[Store, Store]]:
    """Two workers of one store on one clock (``store_backend``'s engines)."""
    directory = tmp_path / "store"
    directory.mkdir()
    init_store(directory, StoreConfig(**store_backend))
    clock = MovableClock(START)
    a, b = Store(directory, clock=clock), Store(directory, clock=clock)
    yield a, b
    a.close()
    b.close()


def upload(store: Store, camera: Camera, mp4: Path, tries: int = 3) -> Any:
    """A camera's upload straight through the Store's calls, resent from where the store says
    (as the camera's uploader does) until it is stored."""
    status = None
    for _ in range(tries):
        status = store.ingest.open_segment(camera.device_id, mp4.name,
                                           manifest_path(mp4).read_bytes(),
                                           signature_path(mp4).read_bytes())
        data = mp4.read_bytes()
        if status.state == STORED:
            return status
        status = store.ingest.append(camera.device_id, status.upload_id, status.received,
                                     status.size, data[status.received:])
        if status.state == STORED:
            return status
    raise AssertionError(f"{mp4.name} not stored in {tries} tries: {status}")


def stored_objects_intact(store: Store, device_id: str) -> list[str]:
    """What is wrong with the objects of the device's live segments (missing, other bytes)."""
    problems = []
    for row in store.catalogue.all("SELECT file, sha256, manifest_sha256 FROM segments WHERE "
                                   "device_id = ? AND deleted_utc IS NULL", device_id):
        for sha in (row["sha256"], row["manifest_sha256"]):
            if not store.objects.exists(sha):
                problems.append(f"{row['file']}: object {sha[:12]} missing")
            elif hashlib.sha256(store.objects.read_bytes(sha)).hexdigest() != sha:
                problems.append(f"{row['file']}: object {sha[:12]} has other bytes")
    return problems


def test_bytes_stored_again_while_retention_purges_them_are_kept(two_stores, camera: Camera,
                                                                 tmp_path: Path) -> None:
    """Camera 1's footage is due; camera 2 docks with the same bytes (its own manifests) on
    worker B just as worker A's purge has found no live row naming an object and is about to
    delete it. Whichever goes first, camera 2's receipted segments keep their objects."""
    a, b = two_stores
    other = clone_camera(camera, tmp_path / "cam2", "SIM00002")
    for cam in (camera, other):
        a.enrol(cam.pub_pem)
    for mp4 in camera.segments():
        upload(a, camera, mp4)
    a.clock.now = START + 40 * DAY  # camera 1's footage is due; camera 2 docks now
    referenced = a.catalogue.object_referenced
    storing: list[threading.Thread] = []
    results: list[Any] = []

    def b_stores_the_same_bytes_meanwhile(sha256: str) -> bool:
        answer = referenced(sha256)
        if not answer and not storing:  # A is about to delete it: B stores the same bytes
            worker = threading.Thread(target=lambda: results.extend(
                upload(b, other, mp4) for mp4 in other.segments()))
            storing.append(worker)
            worker.start()
            worker.join(0.5)  # B finishes meanwhile, or waits for A's custody of the object
        return answer

    a.catalogue.object_referenced = b_stores_the_same_bytes_meanwhile  # type: ignore
    deleted = a.retention.step(a.clock.now)
    assert storing, "the purge never reached an unreferenced object"
    storing[0].join(60)
    assert not storing[0].is_alive(), "camera 2's upload never finished"
    assert len(deleted) == 2 and len(results) == len(other.segments())
    assert all(r.state == STORED for r in results)
    assert stored_objects_intact(a, other.device_id) == []
    a.catalogue.object_referenced = referenced  # type: ignore[method-assign]
    a.retention.step(a.clock.now)  # a later pass finishes camera 1's purge, and keeps these
    assert stored_objects_intact(a, other.device_id) == []
    assert verify_chain(a.audit.path)[1] == []


def test_bytes_quarantined_while_retention_purges_them_are_kept(two_stores, camera: Camera,
                                                              tmp_path: Path) -> None:
    """The neighbour of the race above: camera 2's upload of the same bytes fails an integrity
    check on worker B (quarantined, so the store keeps what arrived) just as worker A's purge
    is about to delete the object. Whichever goes first, the quarantine names bytes the store
    still has (else the camera is asked to send them again)."""
    a, b = two_stores
    other = clone_camera(camera, tmp_path / "cam2", "SIM00002")
    for cam in (camera, other):
        a.enrol(cam.pub_pem)
    for mp4 in camera.segments():
        upload(a, camera, mp4)
    a.clock.now = START + 40 * DAY
    checked: set[str] = set()

    def conflict(manifest: Any, manifest_sha: str) -> None:
        """The chain passes at open and fails when checked again as the bytes are stored
        (another upload won meanwhile), so what arrived is quarantined with its content."""
        if manifest_sha in checked:
            raise Rejected("test: a chain another upload changed meanwhile")
        checked.add(manifest_sha)

    b.ingest._check_chain = conflict  # type: ignore[method-assign]
    referenced = a.catalogue.object_referenced
    sending: list[threading.Thread] = []
    results: list[Any] = []

    def quarantine_all() -> None:
        for mp4 in other.segments():
            status = None
            for _ in range(3):  # resent from where the store says, as the camera's uploader
                status = b.ingest.open_segment(other.device_id, mp4.name,
                                               manifest_path(mp4).read_bytes(),
                                               signature_path(mp4).read_bytes())
                if status.state != QUARANTINED:
                    status = b.ingest.append(other.device_id, status.upload_id,
                                             status.received, status.size,
                                             mp4.read_bytes()[status.received:])
                if status.state == QUARANTINED:
                    break
            results.append(status)

    def b_quarantines_the_same_bytes_meanwhile(sha256: str) -> bool:
        answer = referenced(sha256)
        if not answer and not sending:
            worker = threading.Thread(target=quarantine_all)
            sending.append(worker)
            worker.start()
            worker.join(0.5)  # B finishes meanwhile, or waits for A's custody of the object
        return answer

    a.catalogue.object_referenced = b_quarantines_the_same_bytes_meanwhile  # type: ignore
    a.retention.step(a.clock.now)
    assert sending, "the purge never reached an unreferenced object"
    sending[0].join(60)
    assert not sending[0].is_alive(), "camera 2's upload never finished"
    a.catalogue.object_referenced = referenced  # type: ignore[method-assign]
    a.retention.step(a.clock.now)  # a later pass finishes camera 1's purge
    assert [r.state for r in results] == [QUARANTINED] * len(other.segments())
    rows = a.catalogue.all("SELECT file, content_sha256 FROM quarantine WHERE device_id = ?",
                           other.device_id)
    assert len(rows) == len(other.segments()) and all(r["content_sha256"] for r in rows)
    missing = [r["file"] for r in rows if not a.objects.exists(r["content_sha256"])]
    assert missing == [], f"quarantined without their bytes: {missing}"
    assert verify_chain(a.audit.path)[1] == []


@pytest.mark.engines
def test_a_flag_and_an_unflag_at_the_same_instant_on_two_machines_err_on_keeping(
        engines: dict[str, str], camera: Camera, tmp_path: Path) -> None:
    """Machine A flags a recording while machine B unflags it: the catalogue orders them (A's
    flag, then B's unflag), but B lifts the holds before A puts them, so the bucket holds what
    the catalogue calls unflagged. Retention is then refused for it (audited, nothing deleted)
    until it is flagged and unflagged again, and then it goes, audited."""
    directory = tmp_path / "store"
    directory.mkdir()
    init_store(directory, StoreConfig(**engines))
    clock = MovableClock(START)
    a = Store(directory, clock=clock)
    elsewhere = tmp_path / "machine-b"  # its own custody.lock: only the catalogue orders them
    shutil.copytree(directory, elsewhere, ignore=shutil.ignore_patterns("staging", "*.lock"))
    b = Store(elsewhere, clock=clock)
    try:
        a.enrol(camera.pub_pem)
        for mp4 in camera.segments():
            upload(a, camera, mp4)
        raced = camera.manifest(camera.segments()[0]).recording_id
        a.flag(raced, "CASE-0", camera.device_id)  # flagged already: B has something to unflag
        put_hold = a.objects.set_legal_hold
        unflagged: list[Any] = []

        def b_unflags_meanwhile(sha256: str, on: bool) -> None:
            if on and not unflagged:  # A's flag committed; its hold calls have not begun
                unflagged.append(b.unflag(raced, camera.device_id))
            put_hold(sha256, on)

        a.objects.set_legal_hold = b_unflags_meanwhile  # type: ignore[method-assign]
        a.flag(raced, "CASE-1", camera.device_id)
        a.objects.set_legal_hold = put_hold  # type: ignore[method-assign]
        assert unflagged and unflagged[0]["case_ref"] is None
        assert a.recording(camera.device_id, raced)["case_ref"] is None  # the unflag came last
        objects = sorted({sha for r in a.catalogue.all(
            "SELECT sha256, manifest_sha256 FROM segments WHERE recording_id = ?", raced)
            for sha in r})
        assert all(a.objects.retention(sha)[1] for sha in objects)  # but the bucket holds them

        deleted = a.retention.step(START + 32 * DAY)
        assert raced not in [d["recording_id"] for d in deleted]
        refused = [e for e in a.audit.entries() if e["event"] == "retention_refused"]
        assert [e["recording_id"] for e in refused] == [raced]
        assert refused[0]["reason"] == "on legal hold"
        assert all(a.objects.exists(sha) for sha in objects)
        assert a.catalogue.one("SELECT deleted_utc FROM recordings WHERE recording_id = ?",
                               raced)["deleted_utc"] is None

        b.flag(raced, "CASE-2", camera.device_id)  # what the operator does about it
        b.unflag(raced, camera.device_id)
        deleted = a.retention.step(START + 33 * DAY)
        assert [d["recording_id"] for d in deleted] == [raced]
        assert not any(a.objects.exists(sha) for sha in objects)
        assert [e["recording_id"] for e in a.audit.entries()
                if e["event"] == "retention_delete"].count(raced) == 1
    finally:
        a.close()
        b.close()
    assert verify_chain(directory / "audit.jsonl")[1] == []
