"""Docking tests: simulated cameras (their daemons driven on the test's thread) and a real store
on loopback, on the embedded engines and on PostgreSQL + S3 (``store_backend``). The uploader
is driven by ``step()``; time moves only on the simulator's clock."""

from __future__ import annotations

from pathlib import Path

from device.upload.uploader import BACKOFF, IDLE
from sim.simulator import Simulator
from tests.conftest import tiny_config
from tests.evidence_store.conftest import (  # noqa: F401 (fixtures used by the tests here)
    Running,
    recorded,
    running,
    store_backend,
    store_dir,
)

#: Chunks small enough that a segment takes several requests.
CHUNK_KB = 4


def dock_config(store: Running, **upload: object):
    """Tiny footage, small chunks, short backoff, and the store to dock into."""
    return tiny_config(upload={"store_url": store.url,
                               "store_public_key": str(store.directory / "store.pub.pem"),
                               "chunk_kb": CHUNK_KB, "backoff_base_s": 1.0,
                               "backoff_cap_s": 8.0, **upload})


def enrol(store: Running, sim: Simulator) -> None:
    store.operator().enrol((sim.data_dir / "device.pub.pem").read_bytes())


def record(sim: Simulator, seconds: float, marker: bool = False,
           trigger: str | None = None) -> None:
    if trigger:
        sim.daemon.post("trigger", name=trigger)
    else:
        sim.button("record").double_press()
    sim.advance(0.5 + seconds / 2)
    if marker:
        sim.daemon.post("marker", note="suspect left")
    sim.advance(seconds / 2)
    sim.button("record").hold(3.2)
    sim.advance(3.5)


def dock(sim: Simulator) -> None:
    sim.dock.dock()
    sim.daemon.sync()
    assert sim.mode == "docked"


def undock(sim: Simulator) -> None:
    sim.dock.undock()
    sim.daemon.sync()


def drive(sim: Simulator, limit: int = 5000) -> list[str]:
    """Step the uploader (and let the daemon answer it) until it has nothing to do now."""
    done: list[str] = []
    for _ in range(limit):
        result = sim.daemon.uploader.step()
        sim.daemon.sync()
        if result in (IDLE, BACKOFF):
            return [*done, result]
        done.append(result)
    raise AssertionError(f"uploader still busy after {limit} steps: {done[-10:]}")


def segments(sim: Simulator) -> list[Path]:
    return sorted(sim.data_dir.glob("recordings/*/*.mp4"))


def audit(sim: Simulator, event: str) -> list[dict]:
    import json

    lines = (sim.data_dir / "audit" / "audit.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["event"] == event]
