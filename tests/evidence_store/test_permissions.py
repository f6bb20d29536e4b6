"""Evidence, keys and the catalogue are the owner's only: every file the store creates is 0600
(objects 0400) and every folder 0700, whatever the umask it was started under; a store made
before this is tightened when it is opened. The camera's data directory likewise (the
simulator's daemon records, docks and uploads under a permissive umask)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence.fsutil import private_dir
from store.config import StoreConfig
from store.service import Store, init_store
from tests.evidence_store.conftest import START, Camera, MovableClock, Running


@pytest.fixture(params=[0o022, 0o002, 0o000], ids=["umask-022", "umask-002", "umask-000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def loose(root: Path) -> list[str]:
    """Everything under ``root`` (and root) that anyone but the owner may reach."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        if mode & 0o077:
            found.append(f"{path.relative_to(root.parent)} {stat.filemode(mode)}")
    return found


def test_everything_the_store_creates_is_owner_only(tmp_path: Path, camera: Camera,
                                                    umask: int) -> None:
    directory = tmp_path / "store"
    token = init_store(directory, StoreConfig(max_chunk_bytes=64 * 1024))
    running = Running(directory, token, MovableClock(START)).start()
    try:
        running.operator().enrol(camera.pub_pem)
        first, *_ = running.upload_all(camera)
        log = camera.data_dir / "audit" / "audit.jsonl"
        assert running.client(camera).upload_audit_log(log)["state"] == "stored"
        running.operator().flag(first, "CASE-1")
        out = tmp_path / "case.zip"
        running.operator().export(out, recording_id=first)
        running.store.retention.step(START + 400 * 86400)  # an unflagged one goes
        assert (directory / "catalogue.sqlite-wal").exists()
        assert (directory / "catalogue.sqlite-shm").exists()
        assert list((directory / "objects").rglob("*"))
        assert loose(directory) == []
        assert stat.S_IMODE(out.stat().st_mode) == 0o600  # the operator's downloaded export
        objects = [p for p in (directory / "objects").rglob("*") if p.is_file()]
        assert {stat.S_IMODE(p.stat().st_mode) for p in objects} == {0o400}
    finally:
        running.stop()


def test_a_staging_file_and_the_audit_log_are_owner_only(running: Running, enrolled: Camera,
                                                         umask: int) -> None:
    running.client(enrolled).upload_segment(enrolled.segments()[0], max_chunks=1)
    assert list((running.directory / "staging").iterdir())
    assert (running.directory / "audit.jsonl").exists()
    assert loose(running.directory) == []


def test_an_older_store_is_tightened_when_opened(tmp_path: Path, camera: Camera) -> None:
    directory = tmp_path / "store"
    token = init_store(directory)
    running = Running(directory, token, MovableClock(START)).start()
    running.operator().enrol(camera.pub_pem)
    running.upload_all(camera)
    running.stop()
    for path in [directory, *directory.rglob("*")]:  # as an earlier version left it
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    os.chmod(directory / "keys" / "store.key", 0o600)
    store = Store(directory, clock=MovableClock(START))
    try:
        for path in (directory, directory / "objects", directory / "staging",
                     directory / "keys", directory / "catalogue.sqlite",
                     directory / "catalogue.sqlite-wal", directory / "audit.jsonl"):
            if path.exists():
                assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
        for folder in (directory / "objects").iterdir():
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    finally:
        store.close()


def test_private_dir_makes_missing_parents_owner_only_and_keeps_existing_ones(
        tmp_path: Path, umask: int) -> None:
    os.chmod(tmp_path, 0o755)
    made = private_dir(tmp_path / "a" / "b" / "c")
    assert made == tmp_path / "a" / "b" / "c" and made.is_dir()
    for path in (tmp_path / "a", tmp_path / "a" / "b", made):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755  # not ours to change


def test_the_camera_data_directory_is_owner_only(tmp_path: Path, umask: int) -> None:
    from device.upload.uploader import IDLE
    from sim.encoder import FakeEncoder
    from sim.simulator import Simulator
    from tests.docking.conftest import dock, dock_config, drive, enrol, record, undock

    directory = tmp_path / "store"
    token = init_store(directory)
    running = Running(directory, token, MovableClock(START)).start()
    data = tmp_path / "camera"
    (directory / "camera-settings.json").write_text(
        json.dumps({"indicators": {"reminder_interval_s": 60}}))
    running.restart()
    sim = Simulator(dock_config(running), data, encoder=FakeEncoder)
    sim.power_on()
    try:
        enrol(running, sim)
        record(sim, 6.0, marker=True)
        record(sim, 2.0)
        dock(sim)
        assert drive(sim)[-1] == IDLE
        undock(sim)
        record(sim, 2.0)  # footage after the dock too (not yet uploaded)
        assert list(data.glob("recordings/*/*.mp4"))
        assert list(data.glob("recordings/*/*.receipt*"))
        assert loose(data) == []
    finally:
        sim.shutdown()
        running.stop()
    assert loose(data) == []
