"""Retention counts from when the *store* received footage (its own clock, its receipts), never
from the time a camera claims: a camera whose clock was unset writes UTC times far in the past,
and its footage must still be kept ``retention_days`` after it arrived (the camera has deleted
its copy by then); a camera claiming a far future must not keep footage forever either."""

from __future__ import annotations

import time

import pytest

from store.clock import parse_utc
from tests.evidence_store.conftest import START, Camera, Running

DAY = 86400.0
YEARS = 10 * 365 * DAY


def receipt_times(running: Running, recording_id: str) -> list[float]:
    rows = running.store.catalogue.all("SELECT stored_utc FROM segments WHERE recording_id = ?",
                                       recording_id)
    return [parse_utc(row["stored_utc"]) for row in rows]


def bucket_holds(running: Running, received: float) -> bool:
    """Whether Object Lock still protects what the store received at ``received`` (its clock):
    the lock date counts from the store's receipt time, but the gateway compares it with its
    own, real clock, so a store clock set years ahead writes dates the bucket keeps to. Then
    retention must be refused and everything kept (docs/STORE.md)."""
    return running.store.objects.locks and running.store.retain_until(received) > time.time()


def refusals(running: Running) -> list[str]:
    return [e["recording_id"] for e in running.store.audit.entries()
            if e["event"] == "retention_refused"]


def live_objects(running: Running) -> list[bool]:
    rows = running.store.catalogue.all("SELECT sha256 FROM segments")
    return [running.store.objects.exists(row["sha256"]) for row in rows]


@pytest.mark.parametrize("camera_off_by", [YEARS, -YEARS], ids=["camera-in-the-past",
                                                                "camera-in-the-future"])
def test_age_counts_from_the_store_receipt_not_the_camera_clock(running: Running,
                                                                enrolled: Camera,
                                                                camera_off_by: float) -> None:
    """The simulator's footage says EPOCH; the store's clock is ten years after (an unset
    camera clock) or ten years before (a camera set far ahead)."""
    running.clock.now = START + camera_off_by
    first, second = running.upload_all(enrolled)
    received = max(receipt_times(running, first) + receipt_times(running, second))
    retention = running.store.retention

    assert retention.step(running.clock()) == []  # the pass right after the upload
    assert retention.step(received + 31 * DAY - 60) == []
    assert all(live_objects(running))
    listed = {r["recording_id"]: r for r in running.operator().recordings()}
    assert parse_utc(listed[first]["delete_after_utc"]) == pytest.approx(received + 31 * DAY,
                                                                         abs=1)
    assert parse_utc(listed[second]["received_utc"]) == pytest.approx(received, abs=1)
    deleted = retention.step(received + 31 * DAY + 60)
    if bucket_holds(running, received):
        assert deleted == [] and all(live_objects(running))
        assert sorted(refusals(running)) == [first, second]
        return
    assert sorted(d["recording_id"] for d in deleted) == [first, second]
    assert not any(live_objects(running))


def test_a_recording_counts_from_its_last_received_segment(running: Running,
                                                           enrolled: Camera) -> None:
    """Segments of one recording uploaded on two days: it is kept from the later one."""
    client = running.client(enrolled)
    segments = enrolled.segments(1)
    recording = enrolled.manifest(segments[0]).recording_id
    assert client.upload_segment(segments[0])["state"] == "stored"
    running.clock.now += 20 * DAY
    for mp4 in segments[1:]:
        assert client.upload_segment(mp4)["state"] == "stored"
    retention = running.store.retention
    assert retention.step(START + 31 * DAY + 60) == []  # 31 days after the first part only
    assert [d["recording_id"] for d in retention.step(START + 51 * DAY + 60)] == [recording]


def test_a_flagged_recording_from_an_unset_clock_is_kept_and_then_counts_from_receipt(
        running: Running, enrolled: Camera) -> None:
    running.clock.now = START + YEARS
    kept, other = running.upload_all(enrolled)
    running.operator().flag(kept, "CASE-1")
    retention = running.store.retention
    assert retention.step(running.clock() + 30 * DAY) == []
    if bucket_holds(running, running.clock()):
        assert retention.step(running.clock() + 32 * DAY) == []
        assert refusals(running) == [other]  # the bucket refuses; the flagged one is not tried
        assert all(live_objects(running))
        return
    assert [d["recording_id"] for d in retention.step(running.clock() + 32 * DAY)] == [other]
    running.operator().unflag(kept)
    assert retention.step(running.clock() + 30 * DAY) == []  # still its 31 days from receipt
    assert [d["recording_id"] for d in retention.step(running.clock() + 32 * DAY)] == [kept]


def test_a_catalogue_from_before_receipt_time_retention_counts_from_stored_utc(
        running: Running, enrolled: Camera) -> None:
    """An older catalogue's recordings table has no receipt time: it is filled in from the
    segments' ``stored_utc`` (the store's own clock) when the store opens it."""
    if running.store.config.catalogue != "sqlite":
        pytest.skip("an older SQLite catalogue's upgrade: the PostgreSQL one began with it")
    running.clock.now = START + YEARS
    running.upload_all(enrolled)
    received = max(parse_utc(r["stored_utc"]) for r in
                   running.store.catalogue.all("SELECT stored_utc FROM segments"))
    running.stop()
    import sqlite3

    db = sqlite3.connect(running.directory / "catalogue.sqlite")
    columns = [row[1] for row in db.execute("PRAGMA table_info(recordings)")]
    assert "received_s" in columns
    db.execute("ALTER TABLE recordings DROP COLUMN received_s")
    db.commit()
    db.close()
    running.start()
    retention = running.store.retention
    assert retention.step(running.clock()) == []
    assert retention.step(received + 31 * DAY - 60) == []
    assert len(retention.step(received + 31 * DAY + 60)) == 2


def test_a_failed_retention_pass_does_not_end_the_retention_thread(running: Running,
                                                                   enrolled: Camera,
                                                                   caplog) -> None:
    """``serve`` keeps applying retention after a pass fails (a disk error, say): it is logged
    and the next pass runs."""
    import threading

    from store.retention import run_periodically

    running.upload_all(enrolled)
    retention = running.store.retention
    real_step = retention.step
    stop = threading.Event()
    calls: list[float] = []

    def step(now: float) -> list:
        calls.append(now)
        if len(calls) == 1:
            raise OSError(5, "Input/output error")
        stop.set()
        return real_step(now + 40 * DAY)

    retention.step = step  # type: ignore[method-assign]
    run_periodically(retention, 0.0, stop)
    assert len(calls) == 2
    assert "retention pass failed" in caplog.text
    assert running.store.catalogue.one("SELECT COUNT(*) AS n FROM recordings WHERE "
                                       "deleted_utc IS NOT NULL")["n"] == 2
