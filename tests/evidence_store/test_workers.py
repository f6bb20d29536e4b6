"""Several workers on one store: any worker serves any request of any upload.

Two :class:`Store` objects on one directory stand for two worker processes (each opens its own
catalogue connection, audit log and locks); the last test runs ``bodycam store serve --workers 2``
for real and SIGKILLs the worker that is serving a camera mid-upload.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator

import pytest

from device.evidence.identity import load_public_key
from device.evidence.receipt import verify_receipt
from device.evidence.store_client import DeviceClient, StoreConnection
from store.auditlog import AuditLog, verify_chain
from store.service import AUDIT, Store
from tests.evidence_store.conftest import CHUNK, Camera, Running


@pytest.fixture
def second(running: Running) -> Iterator[Running]:
    """Another worker on the same store directory and clock."""
    other = Running(running.directory, running.token, running.clock).start()
    yield other
    other.stop()


def test_chunks_of_one_upload_alternate_between_two_workers(running: Running, second: Running,
                                                            enrolled: Camera) -> None:
    clients = [running.client(enrolled), second.client(enrolled)]
    key = load_public_key(running.directory / "store.pub.pem")
    turn = 0
    for mp4 in enrolled.segments():
        status = clients[turn % 2].open_segment(mp4)
        while status["state"] == "open":
            turn += 1
            status = clients[turn % 2].send(status, mp4, max_chunks=1)
        assert status["state"] == "stored", status
        verify_receipt(base64.b64decode(status["receipt"]),
                       base64.b64decode(status["receipt_signature"]), key,
                       enrolled.manifest(mp4).sha256, device_id=enrolled.device_id,
                       file=mp4.name)
        # the other worker answers for it with the same receipt
        again = clients[(turn + 1) % 2].open_segment(mp4)
        assert again["receipt"] == status["receipt"]
    assert turn > 2 * len(enrolled.segments())  # the chunks really went to both
    count, problems = verify_chain(running.directory / AUDIT)
    assert problems == [] and count >= len(enrolled.segments()) + 1


def test_audit_log_written_by_two_processes_stays_one_chain(tmp_path) -> None:
    path = tmp_path / "audit.jsonl"
    logs = [AuditLog(path, lambda: 0.0), AuditLog(path, lambda: 0.0)]
    for i in range(6):
        logs[i % 3 == 0].append("event", n=i)
    count, problems = verify_chain(path)
    assert (count, problems) == (6, [])
    assert [e["n"] for e in logs[0].entries()] == list(range(6))


def _blocks(action, holder) -> bool:
    """Whether ``action`` waits while ``holder`` (a context manager) is held, and then runs."""
    done = threading.Event()
    with holder:
        worker = threading.Thread(target=lambda: (action(), done.set()), daemon=True)
        worker.start()
        waited = not done.wait(0.3)
    assert done.wait(10), "never ran after the lock was released"
    worker.join(10)
    return waited


def test_one_upload_is_worked_on_by_one_worker_at_a_time(running: Running, second: Running,
                                                         enrolled: Camera) -> None:
    mp4 = enrolled.segments()[0]
    status = running.client(enrolled).open_segment(mp4)
    data = mp4.read_bytes()[:CHUNK]
    assert _blocks(lambda: second.store.ingest.append(enrolled.device_id, status["upload_id"],
                                                      0, status["size"], data),
                   running.store.ingest._lock(status["upload_id"]))
    assert running.store.ingest.status(enrolled.device_id, status["upload_id"]).received \
        == len(data)


def test_custody_is_held_across_workers(running: Running, second: Running) -> None:
    """A flag on one worker and retention on another never interleave (evidence kept)."""
    assert _blocks(lambda: second.store.retention.step(second.clock()),
                   running.store.custody_lock)


def test_a_store_opened_again_on_the_same_directory_shares_the_catalogue(
        running: Running, enrolled: Camera) -> None:
    other = Store(running.directory, clock=running.clock)
    try:
        assert [d["device_id"] for d in other.devices()] == [enrolled.device_id]
    finally:
        other.close()


def test_a_second_worker_client_uses_its_own_connection(running: Running, second: Running,
                                                        enrolled: Camera) -> None:
    client = DeviceClient(StoreConnection(second.url), enrolled.identity.private_key,
                          enrolled.device_id, clock=running.clock, chunk_bytes=CHUNK)
    assert client.upload_segment(enrolled.segments()[0])["state"] == "stored"
    assert running.store.catalogue.one("SELECT COUNT(*) AS n FROM segments")["n"] == 1
