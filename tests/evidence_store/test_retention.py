"""Retention on an injected clock: unflagged goes 31 days after the store received it, flagged
stays; all audited."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from evidence.store_client import StoreHttpError
from store.auditlog import verify_chain
from tests.evidence_store.conftest import START, Camera, Running

DAY = 86400.0


def objects_of(running: Running, recording_id: str) -> list[str]:
    rows = running.store.catalogue.all("SELECT sha256, manifest_sha256 FROM segments WHERE "
                                       "recording_id = ?", recording_id)
    return [sha for row in rows for sha in row]


def test_unflagged_deleted_at_31_days_flagged_kept_and_both_audited(running: Running,
                                                                    enrolled: Camera) -> None:
    kept, dropped = running.upload_all(enrolled)
    running.operator().flag(kept, "CASE-2026-0042")
    received = running.store.catalogue.one("SELECT MAX(received_s) AS s FROM recordings")["s"]
    retention = running.store.retention

    assert retention.step(received + 31 * DAY - 60) == []
    assert all(running.store.objects.exists(sha) for sha in objects_of(running, dropped))

    deleted = retention.step(received + 31 * DAY + 60)
    assert [d["recording_id"] for d in deleted] == [dropped]
    assert not any(running.store.objects.exists(sha) for sha in objects_of(running, dropped))
    assert all(running.store.objects.exists(sha) for sha in objects_of(running, kept))
    assert retention.step(received + 400 * DAY) == []  # flagged: kept however long

    listed = {r["recording_id"]: r for r in running.operator().recordings()}
    assert listed[dropped]["deleted_utc"] and listed[kept]["case_ref"] == "CASE-2026-0042"

    events = [(e["event"], e.get("recording_id")) for e in running.store.audit.entries()]
    assert ("flag", kept) in events and ("retention_delete", dropped) in events
    count, problems = verify_chain(running.store.audit.path)
    assert count == len(events) and problems == []

    running.operator().unflag(kept)
    assert [d["recording_id"] for d in retention.step(received + 400 * DAY)] == [kept]
    assert ("unflag", kept) in [(e["event"], e.get("recording_id"))
                                for e in running.store.audit.entries()]


def test_retention_period_is_configurable(running: Running, enrolled: Camera) -> None:
    running.upload_all(enrolled)
    (running.directory / "store.json").write_bytes(
        replace(running.store.config, retention_days=7).to_bytes())
    running.stop()
    running.start()
    received = running.store.catalogue.one("SELECT MAX(received_s) AS s FROM recordings")["s"]
    assert running.store.retention.step(received + 6 * DAY) == []
    assert len(running.store.retention.step(received + 8 * DAY)) == 2


def test_a_deleted_recording_cannot_be_flagged(running: Running, enrolled: Camera) -> None:
    _, dropped = running.upload_all(enrolled)
    running.store.retention.step(START + 40 * DAY)
    with pytest.raises(StoreHttpError) as err:
        running.operator().flag(dropped, "CASE-1")
    assert err.value.status == 409 and "deleted by retention" in str(err.value)


def test_the_audit_chain_shows_an_edited_entry(running: Running, enrolled: Camera) -> None:
    running.upload_all(enrolled)
    running.store.retention.step(START + 40 * DAY)
    path = running.store.audit.path
    lines = path.read_bytes().splitlines(keepends=True)
    entry = json.loads(lines[-2])
    entry["recording_id"] = "R999999-000000"
    lines[-2] = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    path.write_bytes(b"".join(lines))
    _, problems = verify_chain(path)
    assert len(problems) == 1 and f":{len(lines)}:" in problems[0]
