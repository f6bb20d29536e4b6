"""Abandoned uploads are cleaned: staged bytes with no progress for ``staging_max_age_s`` are
removed (audited) by the retention pass, and the camera, which kept its copy, uploads again."""

from __future__ import annotations

from tests.evidence_store.conftest import Camera, Running


def removals(running: Running) -> list[dict]:
    return [e for e in running.store.audit.entries() if e["event"] == "staging_removed"]


def test_an_abandoned_upload_is_swept_and_the_camera_starts_again(running: Running,
                                                                  enrolled: Camera) -> None:
    client = running.client(enrolled)
    mp4 = enrolled.segments()[0]
    partial = client.upload_segment(mp4, max_chunks=1)
    upload_id = partial["upload_id"]
    staging = running.store.staging
    assert partial["state"] == "open" and staging.size(upload_id) == partial["received"] > 0
    max_age = running.store.config.staging_max_age_s

    running.clock.now += max_age - 60
    running.store.retention.step(running.clock())
    assert staging.size(upload_id) == partial["received"] and removals(running) == []

    running.clock.now += 120
    running.store.retention.step(running.clock())
    assert not staging.path(upload_id).exists()
    [entry] = removals(running)
    assert entry["upload_id"] == upload_id and entry["bytes"] == partial["received"]
    assert entry["device_id"] == enrolled.device_id and entry["file"] == mp4.name

    status = client.upload_segment(mp4)  # the same upload, from the start
    assert status["state"] == "stored" and status["upload_id"] == upload_id
    assert running.store.objects.read_bytes(
        running.store.catalogue.one("SELECT sha256 FROM segments")["sha256"]) == mp4.read_bytes()
    assert staging.names() == set()  # no staging file, no lock file left


def test_progress_keeps_an_upload_and_a_settled_leftover_goes(running: Running,
                                                              enrolled: Camera) -> None:
    client = running.client(enrolled)
    first, second = enrolled.segments()[:2]
    max_age = running.store.config.staging_max_age_s
    slow = client.upload_segment(first, max_chunks=1)
    running.clock.now += max_age - 60
    slow = client.send(slow, first, max_chunks=1)  # progress, just in time
    assert slow["state"] == "open"
    running.clock.now += 120
    running.store.retention.step(running.clock())
    assert running.store.staging.size(slow["upload_id"]) == slow["received"]
    assert removals(running) == []

    done = client.upload_segment(first)
    assert done["state"] == "stored"
    # A worker that crashed after storing but before its staging file went leaves one behind.
    running.store.staging.append(done["upload_id"], 0, b"left over by a crash")
    assert client.upload_segment(second)["state"] == "stored"
    running.store.retention.step(running.clock())
    [entry] = removals(running)
    assert entry["upload_id"] == done["upload_id"] and entry["state"] == "stored"
    assert not running.store.staging.path(done["upload_id"]).exists()
