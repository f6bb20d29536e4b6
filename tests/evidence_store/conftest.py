"""Fixtures for the evidence store: real segments from the simulator, a real store on loopback.

The simulator records once per session (two recordings, small frames, 2 s segments); each test
copies that camera data directory. Stores run a real ``StoreHTTPServer`` (the store's ASGI app
on uvicorn, in this process) on 127.0.0.1 with a clock the test moves; several workers are
tested for real in test_workers.py.

Every store test runs twice: on the embedded default (SQLite and the objects folder) and on the
engines of a force's scale (``engines``: PostgreSQL, a fresh database per test, and Ceph's S3
gateway, a fresh prefix per test in one Object Lock bucket), where those are available
(tests/engines.py).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from evidence.identity import DeviceIdentity, create_identity, load_identity
from evidence.manifest import Manifest, manifest_path, write_signed_manifest
from evidence.store_client import DeviceClient, StoreConnection
from sim.clock import DEFAULT_EPOCH as EPOCH
from sim.encoder import FakeEncoder
from sim.simulator import Simulator
from store.config import StoreConfig
from store.http import StoreHTTPServer
from store.operator_client import OperatorClient
from store.service import Store, init_store
from tests.conftest import clear_config
from tests.worker_pool import Pools, SharedClock, WorkerPool

#: Chunks small enough that every segment (about 60-80 kB) takes several requests.
CHUNK = 16 * 1024
TINY = {"width": 160, "height": 120, "fps": 30}


class MovableClock:
    """UTC seconds that only move when a test says so."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Camera:
    """A camera's data directory with its key and closed segments."""

    data_dir: Path
    identity: DeviceIdentity

    @property
    def device_id(self) -> str:
        return self.identity.device_id

    def segments(self, recording: int | None = None) -> list[Path]:
        pattern = f"R{recording:06d}-*" if recording else "R*"
        return sorted(self.data_dir.glob(f"recordings/{pattern}/*.mp4"))

    def manifest(self, mp4: Path) -> Manifest:
        return Manifest.from_bytes(manifest_path(mp4).read_bytes())

    @property
    def pub_pem(self) -> bytes:
        return (self.data_dir / "device.pub.pem").read_bytes()


def record(sim: Simulator, seconds: float) -> None:
    sim.button("record").double_press()
    sim.advance(0.5 + seconds)
    sim.button("record").hold(3.2)
    sim.advance(3.5)


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A camera data directory holding two signed recordings (4 and 3 segments)."""
    data = tmp_path_factory.mktemp("camera") / "data"
    config = clear_config(camera=TINY, recording={"pre_event_s": 1.0, "segment_s": 2.0},
                          encoder={"preset": "ultrafast"})
    sim = Simulator(config, data, encoder=FakeEncoder)
    sim.power_on()
    sim.advance(1.0)
    record(sim, 3.0)
    sim.advance(1.0)
    record(sim, 0.0)
    sim.shutdown()
    return data


@pytest.fixture
def camera(recorded: Path, tmp_path: Path) -> Camera:
    data = tmp_path / "camera"
    shutil.copytree(recorded, data)
    return Camera(data, load_identity(data, "BWV-OPEN-1", "SIM00001"))


def clone_camera(source: Camera, dest: Path, serial: str) -> Camera:
    """Another camera with its own key and the same footage, re-signed and re-chained by it."""
    dest.mkdir(parents=True)
    identity = create_identity(dest, "BWV-OPEN-1", serial)
    for folder in sorted(source.data_dir.glob("recordings/*")):
        (dest / "recordings" / folder.name).mkdir(parents=True)
        prev = None
        for mp4 in sorted(folder.glob("*.mp4")):
            copy = dest / "recordings" / folder.name / mp4.name
            shutil.copyfile(mp4, copy)
            manifest = replace(source.manifest(mp4), device_id=identity.device_id,
                               serial=serial, prev_manifest_sha256=prev)
            prev = write_signed_manifest(identity, copy, manifest)
    return Camera(dest, identity)


@dataclass
class Running:
    """A store and its HTTP server on loopback: in this process, or (with ``pools``) served by
    the module's real worker processes (:class:`~tests.worker_pool.WorkerPool`, on the
    production ``serve_workers``), on the pool's :class:`SharedClock`. Either way ``store`` is
    a :class:`Store` of this process on the same directory and engines: it sees what the server
    stored, and a test may read through it (or act through it, as another worker would)."""

    directory: Path
    token: str
    clock: MovableClock | SharedClock
    pools: Pools | None = None
    store: Store = field(init=False)
    server: StoreHTTPServer | WorkerPool = field(init=False)
    thread: threading.Thread | None = field(init=False, default=None)
    serving: bool = field(init=False, default=False)

    def start(self, port: int = 0) -> Running:
        """Serve (again) on ``port``; 0 picks a free one (or keeps the pool's)."""
        self.store = Store(self.directory, clock=self.clock)
        self.serving = True
        if self.pools is not None:
            try:
                self.server = self.pools.get(port)
                self.server.serve(self.directory)
            except BaseException:
                self.release()
                raise
            return self
        self.server = StoreHTTPServer(self.store, "127.0.0.1", port)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,),
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (worker processes: the pool stops, as ``store serve`` would)."""
        if self.pools is not None:
            self.pools.stop()
        else:
            self.server.shutdown()
            self.server.server_close()
            assert self.thread is not None
            self.thread.join()
        self.serving = False
        self.store.close()

    def release(self) -> None:
        """The test is over: the pool stops serving this store (and lives on for the module's
        next test); a server in this process stops."""
        if not self.serving:
            return
        if self.pools is None:
            self.stop()
            return
        self.serving = False
        try:
            if self.pools.pool is not None and self.pools.pool.alive():
                self.pools.pool.serve(None)
        finally:
            self.store.close()

    @property
    def url(self) -> str:
        return self.server.url

    def restart(self) -> None:
        """Stop and start again on the same port: the same URL, new process state."""
        port = self.server.server_address[1]
        self.stop()
        self.start(port)

    def operator(self, token: str | None = None) -> OperatorClient:
        return OperatorClient(StoreConnection(self.url), token or self.token)

    def client(self, camera: Camera, chunk: int = CHUNK) -> DeviceClient:
        return DeviceClient(StoreConnection(self.url), camera.identity.private_key,
                            camera.device_id, clock=self.clock, chunk_bytes=chunk,
                            store_id=self.store.store_id)

    def upload_all(self, camera: Camera) -> list[str]:
        """Upload every segment of the camera; return its recording ids, oldest first."""
        client = self.client(camera)
        for mp4 in camera.segments():
            assert client.upload_segment(mp4)["state"] == "stored"
        return sorted({camera.manifest(mp4).recording_id for mp4 in camera.segments()})


#: The simulator's recordings start at EPOCH; the store's clock starts an hour later.
START = EPOCH + 3600.0


@pytest.fixture(params=["embedded", pytest.param("engines", marks=pytest.mark.engines)])
def store_backend(request: pytest.FixtureRequest,
                  monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The store's engines as ``store.json`` keys: none (embedded), or PostgreSQL + S3."""
    if request.param == "embedded":
        return {}
    pytest.importorskip("psycopg")
    pytest.importorskip("boto3")
    s3 = request.getfixturevalue("s3_engine")
    for name, value in s3.items():  # credentials reach the store only through the environment
        monkeypatch.setenv(name, value)
    return {"catalogue": request.getfixturevalue("pg_database"),
            "objects": request.getfixturevalue("objects_url")}


@pytest.fixture
def store_dir(tmp_path: Path, store_backend: dict[str, str]) -> tuple[Path, str]:
    directory = tmp_path / "store"
    directory.mkdir()
    token = init_store(directory, StoreConfig(max_chunk_bytes=64 * 1024, **store_backend))
    return directory, token


@pytest.fixture
def running(request: pytest.FixtureRequest, store_dir: tuple[Path, str],
            store_backend: dict[str, str]) -> Iterator[Running]:
    """The store served: in this process on the embedded engines; by the module's worker
    processes (``worker_pools``, tests/engines.py) on PostgreSQL + S3, on a clock the test
    moves (except where a test forges the serving store's code: ``in_process_store``)."""
    directory, token = store_dir
    if store_backend and not request.node.get_closest_marker("in_process_store"):
        pools: Pools = request.getfixturevalue("worker_pools")
        pools.control.now = START
        server = Running(directory, token, pools.control, pools=pools).start()
    else:
        server = Running(directory, token, MovableClock(START)).start()
    yield server
    server.release()


@pytest.fixture
def enrolled(running: Running, camera: Camera) -> Camera:
    running.operator().enrol(camera.pub_pem)
    return camera
