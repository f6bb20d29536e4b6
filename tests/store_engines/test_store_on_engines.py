"""The whole store on PostgreSQL + Ceph's S3 gateway with Object Lock: what the bucket refuses
even to the store's own code with its operator credentials, what retention deletes once the
dates have passed, and two workers (two Store objects on one catalogue and bucket) racing."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("psycopg")
pytest.importorskip("boto3")

from botocore.exceptions import ClientError

from evidence.manifest import manifest_path, signature_path
from store.auditlog import verify_chain
from store.config import StoreConfig
from store.errors import StoreError
from store.ingest import STORED
from store.objects_s3 import ObjectLockedError, _utc
from store.service import Store, init_store
from tests.evidence_store.conftest import START, Camera, MovableClock, clone_camera

pytestmark = pytest.mark.engines  # -m 'not engines' leaves these out


DAY = 86400.0


@pytest.fixture
def make_store(tmp_path: Path, engines: dict[str, str]) -> Iterator[Callable[..., Store]]:
    """``make_store(clock)``: a worker of one store (one directory, catalogue and bucket)."""
    directory = tmp_path / "store"
    directory.mkdir()
    init_store(directory, StoreConfig(**engines))
    made: list[Store] = []

    def make(clock: MovableClock, where: Path = directory) -> Store:
        made.append(Store(where, clock=clock))
        return made[-1]

    yield make
    for store in made:
        store.close()


def upload(store: Store, camera: Camera, mp4: Path) -> Any:
    """What a camera's upload does, straight through the Store's calls (no HTTP)."""
    status = store.ingest.open_segment(camera.device_id, mp4.name,
                                       manifest_path(mp4).read_bytes(),
                                       signature_path(mp4).read_bytes())
    data = mp4.read_bytes()
    if status.received < status.size:
        status = store.ingest.append(camera.device_id, status.upload_id, status.received,
                                     status.size, data[status.received:])
    assert status.state == STORED, status
    return status


def upload_all(store: Store, camera: Camera) -> list[str]:
    for mp4 in camera.segments():
        upload(store, camera, mp4)
    return sorted({camera.manifest(mp4).recording_id for mp4 in camera.segments()})


def objects_of(store: Store, recording_id: str, device_id: str | None = None) -> list[str]:
    rows = store.catalogue.all("SELECT sha256, manifest_sha256 FROM segments WHERE "
                               "recording_id = ?1 AND (?2 IS NULL OR device_id = ?2)",
                               recording_id, device_id)
    return [sha for row in rows for sha in row]


def events(store: Store, name: str) -> list[dict[str, Any]]:
    return [e for e in store.audit.entries() if e["event"] == name]


def test_the_bucket_refuses_the_store_itself_while_the_lock_holds(make_store, camera) -> None:
    """The store's clock ahead of the gateway's real one: by the store, retention is due; by
    the bucket it is not, and the bucket wins. The refusal is audited, nothing is deleted."""
    clock = MovableClock(time.time() + 3600)  # an hour ahead of the gateway
    store = make_store(clock)
    store.enrol(camera.pub_pem)
    kept, dropped = upload_all(store, camera)
    store.flag(kept, "CASE-7")
    received = store.catalogue.one("SELECT MAX(received_s) AS s FROM recordings")["s"]
    sha = objects_of(store, dropped)[0]
    until, held = store.objects.retention(sha)
    assert until == pytest.approx(store.retain_until(clock.now), abs=5) and not held
    assert all(store.objects.retention(s)[1] for s in objects_of(store, kept))  # legal hold

    assert store.retention.step(received + 31 * DAY + 60) == []
    refused = events(store, "retention_refused")
    assert [e["recording_id"] for e in refused] == [dropped]
    assert "COMPLIANCE" in refused[0]["reason"]
    rows = store.catalogue.all("SELECT deleted_utc, purged FROM segments WHERE "
                               "recording_id = ?", dropped)
    assert rows and all(r["deleted_utc"] is None and r["purged"] == 0 for r in rows)
    assert all(store.objects.exists(s) for s in objects_of(store, dropped) +
               objects_of(store, kept))
    assert not events(store, "retention_delete")

    # The store's own code path with its operator's credentials: delete is refused...
    with pytest.raises(ObjectLockedError):
        store.objects.delete(sha)
    with pytest.raises(ObjectLockedError):  # held, whatever its date
        store.objects.delete(objects_of(store, kept)[0])
    # ... and so is shortening the date, straight to the bucket.
    version = store.objects._versions(store.objects.key(sha), markers=False)[0]
    with pytest.raises(ClientError):
        store.objects.s3.put_object_retention(
            Bucket=store.objects.bucket, Key=store.objects.key(sha), VersionId=version,
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": _utc(time.time() + 600)})
    store.objects.extend_retention(sha, time.time() + 600)  # earlier: a no-op, not an error
    assert store.objects.retention(sha)[0] == pytest.approx(until, abs=1)
    assert store.objects.exists(sha)

    store.unflag(kept)
    assert not any(store.objects.retention(s)[1] for s in objects_of(store, kept))
    assert events(store, "unflag")[0]["legal_hold_lifted"] == len(objects_of(store, kept))
    assert verify_chain(store.audit.path)[1] == []


def test_retention_after_the_date_deletes_exactly_the_unflagged_expired(
        make_store, camera, tmp_path) -> None:
    """On the tests' clock (January 2026) the lock dates have passed at the gateway, so the
    bucket lets the store delete: exactly the unflagged recordings past their date go, each
    deletion audited with every hash, and a flagged one stays under its legal hold."""
    clock = MovableClock(START)
    store = make_store(clock)
    other = clone_camera(camera, tmp_path / "cam2", "SIM00002")
    for cam in (camera, other):
        store.enrol(cam.pub_pem)
    flagged, expired = upload_all(store, camera)
    clock.now += 20 * DAY
    young = upload_all(store, other)
    store.flag(flagged, "CASE-9", camera.device_id)

    deleted = store.retention.step(START + 31 * DAY + 600)
    assert [d["recording_id"] for d in deleted] == [expired]
    mine = camera.device_id
    expired_objects = objects_of(store, expired, mine)
    # The clone's footage is the same bytes (its manifests differ): what a live row still
    # names stays, the rest goes, every version of it.
    gone = [s for s in expired_objects if not store.catalogue.object_referenced(s)]
    assert len(gone) >= len(expired_objects) // 2
    assert not any(store.objects.exists(s) for s in gone)
    assert not any(store.objects._versions(store.objects.key(s)) for s in gone)
    for rec, device in [(flagged, mine)] + [(r, other.device_id) for r in young]:
        assert all(store.objects.exists(s) for s in objects_of(store, rec, device))
    with pytest.raises(ObjectLockedError):  # the hold keeps it past its date
        store.objects.delete(objects_of(store, flagged, mine)[0])

    audited = events(store, "retention_delete")
    assert [e["recording_id"] for e in audited] == [expired]
    assert sorted(s for seg in audited[0]["segments"] for s in (seg["sha256"],
                                                                seg["manifest_sha256"])) \
        == sorted(expired_objects)
    later = store.retention.step(START + 51 * DAY + 600)
    assert sorted(d["recording_id"] for d in later) == young
    assert len(events(store, "retention_delete")) == 3
    assert verify_chain(store.audit.path)[1] == []


def _race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at the same instant on threads; their results or exceptions."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # the test looks at what each got
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def _receipts(store: Store) -> list[bytes]:
    return [bytes(r["receipt"]) for r in store.catalogue.all("SELECT receipt FROM segments")]


def test_two_workers_resume_the_same_upload(make_store, camera) -> None:
    """A camera's last chunk reaches two workers of one machine at once: one stores it, the
    other answers with that receipt or asks for nothing more; one segment, one receipt."""
    clock = MovableClock(START)
    a, b = make_store(clock), make_store(clock)
    a.enrol(camera.pub_pem)
    mp4 = camera.segments()[0]
    data = mp4.read_bytes()
    status = a.ingest.open_segment(camera.device_id, mp4.name, manifest_path(mp4).read_bytes(),
                                   signature_path(mp4).read_bytes())
    half = len(data) // 2
    a.ingest.append(camera.device_id, status.upload_id, 0, len(data), data[:half])
    assert b.ingest.status(camera.device_id, status.upload_id).received == half  # resumable
    results = _race(*[lambda w=w: w.ingest.append(camera.device_id, status.upload_id, half,
                                                  len(data), data[half:]) for w in (a, b)])
    stored = [r for r in results if not isinstance(r, Exception)]
    assert all(isinstance(r, StoreError) and r.status == 409 for r in results
               if isinstance(r, Exception)), results
    assert stored and all(r.state == STORED for r in stored)
    assert len({bytes(r.receipt) for r in stored}) == 1
    assert _receipts(a) == [bytes(stored[0].receipt)]
    assert len(events(a, "segment_stored")) == 1
    assert verify_chain(a.audit.path)[1] == []  # two workers, one chain


def test_a_worker_on_another_machine_finishing_the_same_upload_issues_no_second_receipt(
        make_store, camera, tmp_path) -> None:
    """Two machines (each its own staging) both hold every byte of one upload and verify it at
    once: B stores it while A is putting its objects; A then finds the upload settled inside
    its transaction and answers with B's receipt. One segment, one receipt."""
    clock = MovableClock(START)
    a = make_store(clock)
    a.enrol(camera.pub_pem)
    elsewhere = tmp_path / "machine-b"
    shutil.copytree(a.directory, elsewhere, ignore=shutil.ignore_patterns("staging", "*.jsonl"))
    b = make_store(clock, elsewhere)
    mp4 = camera.segments()[0]
    data, manifest, sig = (mp4.read_bytes(), manifest_path(mp4).read_bytes(),
                           signature_path(mp4).read_bytes())
    opened = a.ingest.open_segment(camera.device_id, mp4.name, manifest, sig)
    for worker in (a, b):  # every byte arrived at both, then both stopped before verifying
        worker.staging.append(opened.upload_id, 0, data)
    answers: list[Any] = []
    put_file = a.objects.put_file

    def b_finishes_meanwhile(path: Path, sha256: str, retain_until: float | None = None) -> None:
        put_file(path, sha256, retain_until)
        if not answers:
            answers.append(b.ingest.open_segment(camera.device_id, mp4.name, manifest, sig))

    a.objects.put_file = b_finishes_meanwhile  # type: ignore[method-assign]
    late = a.ingest.open_segment(camera.device_id, mp4.name, manifest, sig)
    first = answers[0]
    assert first.state == late.state == STORED and first.created and not late.created
    assert bytes(first.receipt) == bytes(late.receipt)
    assert _receipts(a) == [bytes(first.receipt)]
    assert a.catalogue.one("SELECT state FROM uploads")["state"] == STORED


def test_two_cameras_chains_at_once_on_two_workers(make_store, camera, tmp_path) -> None:
    clock = MovableClock(START)
    a, b = make_store(clock), make_store(clock)
    other = clone_camera(camera, tmp_path / "cam2", "SIM00002")
    for cam in (camera, other):
        a.enrol(cam.pub_pem)
    results = _race(lambda: upload_all(a, camera), lambda: upload_all(b, other))
    assert not any(isinstance(r, Exception) for r in results), results
    rows = a.catalogue.all("SELECT device_id, recording_id, segment_index, receipt FROM "
                           "segments ORDER BY device_id, recording_id, segment_index")
    assert len(rows) == len(camera.segments()) + len(other.segments())
    assert len({bytes(r["receipt"]) for r in rows}) == len(rows)
    for cam in (camera, other):
        for rec in {cam.manifest(m).recording_id for m in cam.segments()}:
            indexes = [r["segment_index"] for r in rows if r["device_id"] == cam.device_id
                       and r["recording_id"] == rec]
            assert indexes == list(range(len(indexes)))
            assert a.recording(cam.device_id, rec)["complete"]
    assert len(events(a, "segment_stored")) == len(rows)
    assert verify_chain(a.audit.path)[1] == []


def test_one_cameras_storing_does_not_wait_for_anothers(make_store, camera, tmp_path) -> None:
    """Row-level custody: while worker A is inside the transaction that stores camera 1's
    segment (holding camera 1's lock, so no other worker can store into that chain), worker B
    stores camera 2's segment to the end; a store-wide write lock would make B wait for A."""
    import psycopg

    from store.catalogue import device_lock

    clock = MovableClock(START)
    a, b = make_store(clock), make_store(clock)
    other = clone_camera(camera, tmp_path / "cam2", "SIM00002")
    for cam in (camera, other):
        a.enrol(cam.pub_pem)
    seen: dict[str, Any] = {}
    check_chain = a.ingest._check_chain

    def b_stores_meanwhile(manifest: Any, manifest_sha: str) -> None:
        if a.catalogue._local.__dict__.get("conn") is not None and not seen:  # inside the tx
            with psycopg.connect(a.catalogue.dsn, autocommit=True) as conn:
                seen["mine_free"], seen["other_free"] = (conn.execute(
                    "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))",
                    (device_lock(d),)).fetchone()[0] for d in (camera.device_id,
                                                                other.device_id))
            worker = threading.Thread(target=lambda: seen.update(
                b=upload(b, other, other.segments()[0])))
            worker.start()
            worker.join(60)  # bounded: waiting for A's lock would fail here, not hang
            seen["b_done_inside"] = "b" in seen
        check_chain(manifest, manifest_sha)

    a.ingest._check_chain = b_stores_meanwhile  # type: ignore[method-assign]
    # camera 1 stores other bytes than camera 2 (the same bytes take one object lock)
    mine = upload(a, camera, camera.segments(2)[0])
    assert seen["b_done_inside"], "camera 2's upload waited for camera 1's transaction"
    assert seen["mine_free"] is False and seen["other_free"] is True
    assert seen["b"].state == mine.state == STORED
    assert sorted(r["device_id"] for r in a.catalogue.all("SELECT device_id FROM segments")) \
        == sorted([camera.device_id, other.device_id])
    assert len(events(a, "segment_stored")) == 2
    assert verify_chain(a.audit.path)[1] == []


def test_flag_and_retention_at_the_same_instant_on_two_workers(make_store, camera,
                                                               tmp_path) -> None:
    """Whichever wins, a flagged recording is never deleted: either the flag stands (objects
    kept, held) or retention went first and the flag is refused. Each camera uploads a day
    after the one before, so each retention pass makes one camera's recordings due."""
    clock = MovableClock(START)
    a, b = make_store(clock), make_store(clock)
    cams = [camera] + [clone_camera(camera, tmp_path / f"cam{i}", f"SIM0000{i}")
                       for i in (2, 3, 4)]
    for i, cam in enumerate(cams):
        a.enrol(cam.pub_pem)
        clock.now = START + i * DAY
        upload_all(a, cam)
    outcomes: dict[tuple[str, str], bool] = {}
    for i, cam in enumerate(cams):
        raced = cam.manifest(cam.segments()[0]).recording_id
        results = _race(lambda i=i: a.retention.step(START + (31 + i) * DAY + 600),
                        lambda c=cam, r=raced: b.flag(r, "CASE-R", c.device_id))
        row = a.catalogue.one("SELECT case_ref, deleted_utc FROM recordings WHERE "
                              "device_id = ? AND recording_id = ?", cam.device_id, raced)
        flagged = not isinstance(results[1], Exception)
        if flagged:
            assert row["case_ref"] == "CASE-R" and row["deleted_utc"] is None
            assert all(a.objects.exists(s) and a.objects.retention(s)[1]
                       for s in objects_of(a, raced, cam.device_id))
        else:
            assert isinstance(results[1], StoreError) and results[1].status == 409
            assert row["deleted_utc"] is not None and row["case_ref"] is None
        outcomes[(cam.device_id, raced)] = flagged
    a.retention.step(START + 60 * DAY)
    for row in a.catalogue.all("SELECT device_id, recording_id, case_ref, deleted_utc FROM "
                               "recordings"):
        assert (row["case_ref"] is None) == (row["deleted_utc"] is not None)  # nothing held went
        if (row["device_id"], row["recording_id"]) in outcomes:
            assert outcomes[(row["device_id"], row["recording_id"])] == (row["case_ref"]
                                                                         is not None)
    deleted = [(e["device_id"], e["recording_id"]) for e in events(a, "retention_delete")]
    assert len(deleted) == len(set(deleted)) == 2 * len(cams) - sum(outcomes.values())
    assert verify_chain(a.audit.path)[1] == []


def test_a_flag_on_another_machine_between_retentions_choice_and_its_deletion(
        make_store, camera, tmp_path) -> None:
    """Machines A and B do not share custody.lock (each its own directory): only the
    catalogue's device lock orders them. A's retention pass has chosen a due recording and is
    asking the bucket when B flags it; A's deleting transaction then sees the flag and deletes
    nothing of it, and the bucket holds every object."""
    clock = MovableClock(START)
    a = make_store(clock)
    a.enrol(camera.pub_pem)
    elsewhere = tmp_path / "machine-b"
    shutil.copytree(a.directory, elsewhere, ignore=shutil.ignore_patterns("staging", "*.lock"))
    b = make_store(clock, elsewhere)
    recordings = upload_all(a, camera)
    raced = recordings[0]
    refused = a.retention._refused
    flagged: list[Any] = []

    def b_flags_meanwhile(device_id: str, recording_id: str, now: float) -> bool:
        if recording_id == raced and not flagged:
            flagged.append(b.flag(raced, "CASE-B", camera.device_id))
        return refused(device_id, recording_id, now)

    a.retention._refused = b_flags_meanwhile  # type: ignore[method-assign]
    deleted = a.retention.step(START + 32 * DAY)
    assert flagged and flagged[0]["case_ref"] == "CASE-B"
    assert raced not in [d["recording_id"] for d in deleted]
    assert sorted(d["recording_id"] for d in deleted) == recordings[1:]  # the rest went
    row = a.catalogue.one("SELECT case_ref, deleted_utc FROM recordings WHERE "
                          "recording_id = ?", raced)
    assert row["case_ref"] == "CASE-B" and row["deleted_utc"] is None
    assert all(a.objects.exists(s) and a.objects.retention(s)[1] for s in objects_of(a, raced))
    assert raced not in [e["recording_id"] for e in events(a, "retention_delete")]


def test_two_worker_processes_race_on_one_upload_and_on_two_chains(engines, tmp_path, camera,
                                                                    ) -> None:
    """``serve --workers 2`` on PostgreSQL + RGW, each request sent to the worker the test picks
    (a kept-alive connection stays with the worker that accepted it): the last chunk of one
    upload sent to both at the same instant gives one segment and one receipt; two cameras
    uploading their chains at once, every chunk to the other worker than the one before, lose
    nothing."""
    import base64

    from evidence.identity import load_public_key
    from evidence.receipt import verify_receipt
    from evidence.store_client import DeviceClient, StoreConnection, StoreHttpError
    from store.operator_client import OperatorClient
    from tests.evidence_store.test_workers import connections_to_each, two_workers, worker_of

    other = clone_camera(camera, tmp_path / "cam2", "SIM00002")
    with two_workers(tmp_path, engines) as (directory, token, _server, url, port, workers):
        key = load_public_key(directory / "store.pub.pem")
        pinned = connections_to_each(url, port, workers, each=2)
        to_a, to_b = ([pinned[pid][i] for pid in workers] for i in range(2))  # a pair each
        for cam in (camera, other):
            OperatorClient(to_a[0], token).enrol(cam.pub_pem)

        def client(cam: Camera, connection: StoreConnection) -> DeviceClient:
            return DeviceClient(connection, cam.identity.private_key, cam.device_id,
                                chunk_bytes=16 * 1024)

        mp4 = camera.segments()[0]
        first = client(camera, to_a[0])
        status = first.open_segment(mp4)
        data = mp4.read_bytes()
        for offset in range(0, len(data) - 1000, 16 * 1024):  # all but the last 1000 bytes
            status = first.put_chunk(status["upload_id"], offset,
                                     data[offset:min(offset + 16 * 1024, len(data) - 1000)],
                                     len(data))
        assert status["received"] == len(data) - 1000

        def last_chunk(connection: StoreConnection) -> Any:
            try:
                return client(camera, connection).put_chunk(
                    status["upload_id"], len(data) - 1000, data[-1000:], len(data))
            except StoreHttpError as exc:
                return exc

        answers = _race(lambda: last_chunk(to_a[0]), lambda: last_chunk(to_a[1]))
        stored = [r for r in answers if isinstance(r, dict)]
        assert stored and all(r["state"] == "stored" for r in stored), answers
        assert all(r.status == 409 for r in answers if not isinstance(r, dict)), answers
        assert len({r["receipt"] for r in stored}) == 1
        assert client(camera, to_a[1]).open_segment(mp4)["receipt"] == stored[0]["receipt"]

        def alternate(cam: Camera, pair: list[StoreConnection]) -> int:
            clients, turn = [client(cam, c) for c in pair], 0
            for segment in cam.segments():
                st = clients[turn % 2].open_segment(segment)
                while st["state"] == "open":
                    turn += 1
                    st = clients[turn % 2].send(st, segment, max_chunks=1)
                assert st["state"] == "stored", st
                verify_receipt(base64.b64decode(st["receipt"]),
                               base64.b64decode(st["receipt_signature"]), key,
                               cam.manifest(segment).sha256, device_id=cam.device_id,
                               file=segment.name)
            return turn

        turns = _race(lambda: alternate(camera, to_a), lambda: alternate(other, to_b))
        assert all(isinstance(t, int) and t > len(camera.segments()) for t in turns), turns
        for pair in (to_a, to_b):  # still with the workers they were pinned to
            assert [worker_of(c, port, workers) for c in pair] == workers
            for connection in pair:
                connection.close()
    store = Store(directory, clock=MovableClock(time.time()))
    try:
        rows = store.catalogue.all("SELECT device_id, recording_id, segment_index, receipt "
                                   "FROM segments")
        assert len(rows) == len(camera.segments()) + len(other.segments())
        assert len({bytes(r["receipt"]) for r in rows}) == len(rows)
        assert len({(r["device_id"], r["recording_id"], r["segment_index"]) for r in rows}) \
            == len(rows)
        assert len(events(store, "segment_stored")) == len(rows)
        assert store.quarantined() == []
    finally:
        store.close()
    assert verify_chain(directory / "audit.jsonl")[1] == []


def test_serve_with_catalogue_and_objects_on_the_engines(engines, tmp_path, camera) -> None:
    """``bodycam store serve --catalogue postgresql://... --objects s3://BUCKET``: the choice is
    recorded in store.json, the keys come from the environment, and uploads land in the bucket
    under COMPLIANCE retention with their rows in PostgreSQL."""
    import json
    import os
    import signal
    import subprocess
    import sys

    from evidence.store_client import DeviceClient, StoreConnection
    from store.operator_client import OperatorClient

    directory = tmp_path / "store"
    env = {**os.environ, "BODYCAM_STORE_DIR": str(directory)}
    subprocess.run([sys.executable, "-m", "store.cli", "init", "--token-file",
                    str(tmp_path / "token")], env=env, check=True, capture_output=True,
                   timeout=60)
    token = (tmp_path / "token").read_text().strip()
    server = subprocess.Popen([sys.executable, "-m", "store.cli", "serve", "--port", "0",
                               "--catalogue", engines["catalogue"],
                               "--objects", engines["objects"]],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, server.stderr.read() if \
            server.poll() is not None else line
        url = line.split("listening on ")[1].split(",")[0]
        OperatorClient(StoreConnection(url), token).enrol(camera.pub_pem)
        client = DeviceClient(StoreConnection(url), camera.identity.private_key,
                              camera.device_id)
        mp4 = camera.segments()[0]
        assert client.upload_segment(mp4)["state"] == "stored"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
    saved = json.loads((directory / "store.json").read_text())
    assert (saved["catalogue"], saved["objects"]) == (engines["catalogue"], engines["objects"])
    assert "SECRET" not in json.dumps(saved).upper()  # no key in the file
    store = Store(directory, clock=MovableClock(time.time()))
    try:
        row = store.catalogue.one("SELECT sha256, stored_utc FROM segments")
        assert store.objects.read_bytes(row["sha256"]) == mp4.read_bytes()
        until, held = store.objects.retention(row["sha256"])
        assert until is not None and until > time.time() + 30 * DAY and not held
    finally:
        store.close()
