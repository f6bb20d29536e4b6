"""Twenty cameras docking at once into one store: every segment arrives once, nothing is lost."""

from __future__ import annotations

import threading

from device.upload.uploader import IDLE
from evidence.manifest import sha256_file
from sim.simulator import Simulator
from tests.docking.conftest import dock, dock_config, drive, enrol, record, segments
from tests.evidence_store.conftest import Running

CAMERAS = 20


def test_twenty_cameras_docking_at_once_lose_nothing(make_sim, running: Running) -> None:
    config = dock_config(running, chunk_kb=8)
    fleet: list[Simulator] = []
    expected: set[tuple[str, str]] = set()
    for _ in range(CAMERAS):
        sim = make_sim(config)
        enrol(running, sim)
        record(sim, 3.0)
        device = sim.daemon.identity.device_id
        expected |= {(device, sha256_file(mp4)[0]) for mp4 in segments(sim)}
        fleet.append(sim)
    for sim in fleet:
        dock(sim)
    results: dict[int, str] = {}

    def empty(n: int, sim: Simulator) -> None:  # each camera's uploader on its own thread
        try:
            results[n] = drive(sim)[-1]
        except BaseException as exc:  # reported below with the camera
            results[n] = repr(exc)

    threads = [threading.Thread(target=empty, args=(n, sim)) for n, sim in enumerate(fleet)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == dict.fromkeys(range(CAMERAS), IDLE)
    stored = running.store.catalogue.all("SELECT device_id, sha256 FROM segments")
    assert len(stored) == len(expected) and {(r["device_id"], r["sha256"]) for r in stored} \
        == expected
    assert all(segments(sim) == [] for sim in fleet)
    logs = running.store.catalogue.all("SELECT DISTINCT device_id FROM audit_logs")
    assert len(logs) == CAMERAS
    assert running.store.quarantined() == []
