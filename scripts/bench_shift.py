"""The shift-end wave (``make bench ARGS="--only shift"``): many cameras dock at once, each with
its real uploader (the daemon's, ``device/upload/``), against ``bodycam store serve --workers N``
on PostgreSQL + Ceph RGW (N = 1, 2, 4) and on the embedded default (SQLite + the folder).

Measured per run: segments/s and MB/s over the whole wave; the time from a segment's last
byte leaving the camera to the camera holding a receipt it has verified (p50, p99); CPU per GB
ingested, of the store's processes (the serve parent and its workers, from /proc, exited
workers included) and of the engines' (PostgreSQL's postmaster and backends, Ceph's monitor,
OSD and gateway). The engines come from the environment (``BODYCAM_PG_DSN``,
``BODYCAM_S3_ENDPOINT``/``_ACCESS_KEY``/``_SECRET_KEY``) or are brought up here with
scripts/postgres.sh and scripts/ceph-rgw.sh (a fresh RGW per run: its memstore holds the run's
objects in RAM, and they are locked for ``retention_days``).

``BODYCAM_BENCH_CAMERAS`` (default 200), ``BODYCAM_BENCH_SEGMENTS`` (default 2) and
``BODYCAM_BENCH_WORKERS`` (default ``1,2,4``) size the wave; everything else is fixed: 8 MiB
segments of distinct bytes (no two share an object), the uploader's default 1 MiB chunks.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench_pipeline import Row

import device.upload.uploader as uploader_module
from device.config import Config
from evidence.identity import DeviceIdentity, public_pem
from evidence.layout import Layout
from evidence.manifest import Manifest, sha256_file, write_signed_manifest
from sim.simulator import Simulator
from store.config import StoreConfig
from store.service import Store, init_store

ROOT = Path(__file__).resolve().parents[1]
SEGMENT_BYTES = 8 << 20
TICKS = os.sysconf("SC_CLK_TCK")
S3_VARS = ("BODYCAM_S3_ENDPOINT", "BODYCAM_S3_ACCESS_KEY", "BODYCAM_S3_SECRET_KEY")


# -- CPU of processes, from /proc ------------------------------------------------------------
def _stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()  # fields from the state on (field 3)


def _children(pid: int) -> list[int]:
    out = []
    with contextlib.suppress(FileNotFoundError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) of these processes and every descendant, the exited and
    reaped ones included (their parents' cutime/cstime)."""
    total, seen, todo = 0.0, set(), list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
            fields = _stat(pid)
            total += sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICKS  # u, s, cu, cs
            todo += _children(pid)
    return total


# -- the engines -----------------------------------------------------------------------------
def _script(name: str, action: str, directory: Path, env: dict[str, str] | None = None,
            ) -> dict[str, str]:
    done = subprocess.run(["bash", str(ROOT / "scripts" / name), action, str(directory)],
                          capture_output=True, text=True, timeout=180, check=False,
                          env={**os.environ, **(env or {})})
    if action == "up" and done.returncode != 0:
        raise RuntimeError(f"{name} up failed: {done.stderr.strip().splitlines()[-1:]}")
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


@contextlib.contextmanager
def postgres() -> Iterator[tuple[str, list[int]]]:
    """(DSN of a server, the pids whose CPU is the catalogue's: [] if not ours to see)."""
    if os.environ.get("BODYCAM_PG_DSN"):
        yield os.environ["BODYCAM_PG_DSN"], []
        return
    directory = Path(tempfile.mkdtemp(prefix="bodycam-bench-pg-"))
    directory.chmod(0o755)  # the cluster belongs to an unprivileged user under root
    try:
        env = _script("postgres.sh", "up", directory / "cluster")
        pid = int((directory / "cluster" / "data" / "postmaster.pid").read_text().split()[0])
        yield env["BODYCAM_PG_DSN"], [pid]
    finally:
        _script("postgres.sh", "down", directory / "cluster")
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def rgw(memstore_bytes: int) -> Iterator[tuple[dict[str, str], list[int]]]:
    """(the S3 variables, the Ceph daemons' pids) of a gateway: the environment's, or a fresh
    one-node cluster whose memstore holds ``memstore_bytes``."""
    if all(os.environ.get(v) for v in S3_VARS):
        yield {v: os.environ[v] for v in S3_VARS}, []
        return
    directory = Path(tempfile.mkdtemp(prefix="bodycam-bench-ceph-"))
    try:
        env = _script("ceph-rgw.sh", "up", directory,
                      {"BODYCAM_CEPH_MEMSTORE_BYTES": str(memstore_bytes)})
        pids = [int(p.read_text()) for p in (directory / "run").glob("*.pid")]
        yield {v: env[v] for v in S3_VARS}, pids
    finally:
        _script("ceph-rgw.sh", "down", directory)
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def database(server_dsn: str) -> Iterator[str]:
    """A fresh database on the server for one run, dropped afterwards."""
    import psycopg

    name = "bodycam_bench_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server_dsn.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- timing a segment from its last byte to its verified receipt ------------------------------
class Timing:
    """Patches the camera side for one run: the moment the request carrying a segment's last
    byte has been sent (``getresponse`` starts) and the moment the uploader's receipt check
    returns, matched by the receipt itself."""

    def __init__(self) -> None:
        self.sent: dict[str, float] = {}  # base64 receipt -> when its request's body was sent
        self.latencies: list[float] = []
        self._local = threading.local()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def installed(self) -> Iterator[Timing]:
        from evidence.store_client import DeviceClient

        getresponse, put_chunk = http.client.HTTPConnection.getresponse, DeviceClient.put_chunk
        check = uploader_module.check_segment_receipt
        timing = self

        def timed_getresponse(conn: http.client.HTTPConnection) -> Any:
            timing._local.sent = time.perf_counter()
            return getresponse(conn)

        def timed_put_chunk(client: Any, *args: Any) -> dict[str, Any]:
            status = put_chunk(client, *args)
            if status.get("state") == "stored" and status.get("receipt"):
                with timing._lock:
                    timing.sent[status["receipt"]] = timing._local.sent
            return status

        def timed_check(raw: bytes, *args: Any, **kwargs: Any) -> Any:
            receipt = check(raw, *args, **kwargs)
            done = time.perf_counter()
            with timing._lock:
                sent = timing.sent.pop(base64.b64encode(raw).decode(), None)
                if sent is not None:
                    timing.latencies.append(done - sent)
            return receipt

        http.client.HTTPConnection.getresponse = timed_getresponse  # type: ignore[method-assign]
        DeviceClient.put_chunk = timed_put_chunk  # type: ignore[method-assign]
        uploader_module.check_segment_receipt = timed_check  # type: ignore[assignment]
        try:
            yield self
        finally:
            http.client.HTTPConnection.getresponse = getresponse  # type: ignore[method-assign]
            DeviceClient.put_chunk = put_chunk  # type: ignore[method-assign]
            uploader_module.check_segment_receipt = check  # type: ignore[assignment]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- one wave --------------------------------------------------------------------------------
def _segments(identity: DeviceIdentity, folder: Path, camera: int, count: int,
              base: bytes) -> None:
    """``count`` chained, signed 8 MiB segments of one recording, each of distinct bytes."""
    recording = f"R{camera + 1:06d}-{camera:06x}"
    (folder / recording).mkdir(parents=True)
    prev = None
    for index in range(count):
        mp4 = folder / recording / Layout.segment_name(recording, index)
        mp4.write_bytes(f"{identity.device_id}/{index}".encode().ljust(64) + base[64:])
        digest, size = sha256_file(mp4)
        prev = write_signed_manifest(identity, mp4, Manifest(
            device_id=identity.device_id, model="BWV-OPEN-1", serial=identity.serial,
            recording_id=recording, segment_index=index, file=mp4.name, sha256=digest,
            size=size, start_utc=f"2026-01-01T00:{index:02d}:00.000Z",
            end_utc=f"2026-01-01T00:{index + 1:02d}:00.000Z", duration_s=60.0,
            frame_count=1800, codec="h264", width=1280, height=720, fps=30,
            prev_manifest_sha256=prev, last=index == count - 1))


@contextlib.contextmanager
def _serve(directory: Path, workers: int, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    server = subprocess.Popen([sys.executable, "-m", "store.cli", "serve", "--dir",
                               str(directory), "--port", "0", "--workers", str(workers)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              env={**os.environ, **env})
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if "listening on " not in line:
            raise RuntimeError(f"store serve did not start: {line!r}")
        deadline = time.monotonic() + 60
        while len(_children(server.pid)) < (workers if workers > 1 else 0):
            if time.monotonic() > deadline:
                raise RuntimeError(f"store serve: {workers} workers did not start")
            time.sleep(0.1)
        yield line.split("listening on ")[1].split(",")[0], server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wave(root: Path, cameras: int, segments: int, workers: int, engines: dict[str, str],
         env: dict[str, str], pg_pids: list[int], ceph_pids: list[int]) -> dict[str, float]:
    """Dock ``cameras`` cameras at once against ``serve --workers N``; what was measured."""
    directory = root / "store"
    directory.mkdir()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the S3 keys: environment only
    try:
        init_store(directory, StoreConfig(**engines))
        store = Store(directory)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    base = os.urandom(SEGMENT_BYTES)
    fleet: list[Simulator] = []
    try:
        with _serve(directory, workers, env) as (url, server_pid):
            config = Config().replace(camera={"width": 320, "height": 240, "fps": 30},
                                      upload={"store_url": url, "store_public_key":
                                              str(directory / "store.pub.pem")},
                                      encryption={"enabled": False})
            for n in range(cameras):
                sim = Simulator(config, root / f"cam{n:03d}")
                sim.power_on()
                identity = sim.daemon.identity
                assert identity is not None
                store.enrol(public_pem(identity.public_key))
                _segments(identity, sim.data_dir / Layout.RECORDINGS, n, segments, base)
                sim.daemon.start()  # the daemon's thread and the uploader's, as on a camera
                fleet.append(sim)
            with Timing().installed() as timing:
                cpu_store, cpu_pg, cpu_ceph = (tree_cpu([server_pid]), tree_cpu(pg_pids),
                                               tree_cpu(ceph_pids))
                start = time.perf_counter()
                for sim in fleet:
                    sim.dock.dock()
                deadline = time.monotonic() + 1800
                while any(sim.daemon.uploader.status()["state"] != "done" for sim in fleet):
                    if time.monotonic() > deadline:
                        raise RuntimeError("the wave did not finish within 30 minutes")
                    time.sleep(0.05)
                took = time.perf_counter() - start
                cpu_store = tree_cpu([server_pid]) - cpu_store
                cpu_pg, cpu_ceph = tree_cpu(pg_pids) - cpu_pg, tree_cpu(ceph_pids) - cpu_ceph
        left = sum(len(list(sim.data_dir.glob(f"{Layout.RECORDINGS}/*/*{Layout.MP4}")))
                   for sim in fleet)
        rows = store.catalogue.all("SELECT receipt FROM segments")
        if left or len(rows) != cameras * segments or len({bytes(r["receipt"]) for r in rows}) \
                != len(rows) or not timing.latencies:
            raise AssertionError(f"{len(rows)} segments stored, {left} left on the cameras, "
                                 f"{len(timing.latencies)} receipts timed")
    finally:
        for sim in fleet:
            sim.daemon.post("shutdown")
            sim.daemon.exit_requested.wait(30)
            sim.daemon.uploader.close()
            sim.hw.close()
        store.close()
    gb = cameras * segments * SEGMENT_BYTES / 1e9
    return {"took": took, "segments_s": cameras * segments / took, "mb_s": gb * 1e3 / took,
            "p50": statistics.median(timing.latencies),
            "p99": _percentile(timing.latencies, 0.99), "timed": len(timing.latencies),
            "segments": len(rows),
            "cpu_store_gb": cpu_store / gb,
            "cpu_pg_gb": cpu_pg / gb if pg_pids else float("nan"),
            "cpu_ceph_gb": cpu_ceph / gb if ceph_pids else float("nan")}


def _row(label: str, cameras: int, segments: int, m: dict[str, float]) -> Row:
    engines = "".join(f", {name} {m[key]:.1f}" for name, key in (
        ("PostgreSQL", "cpu_pg_gb"), ("Ceph", "cpu_ceph_gb")) if m[key] == m[key])  # not NaN
    return Row(f"shift end: {cameras} cameras x {segments} x 8 MiB, {label}",
               f"{m['segments_s']:.1f} seg/s",
               f"{m['mb_s']:.0f} MB/s; last byte to verified receipt p50 {m['p50']:.2f} s, "
               f"p99 {m['p99']:.2f} s; CPU-s/GB: store {m['cpu_store_gb']:.1f}{engines}; "
               f"{m['took']:.0f} s" + ("" if m["timed"] == m["segments"] else
                                       f"; {m['timed']:.0f} of {m['segments']:.0f} receipts "
                                       "timed (the others came on a retry)"))


def shift_end(seconds: float) -> list[Row]:
    cameras = int(os.environ.get("BODYCAM_BENCH_CAMERAS", "200"))
    segments = int(os.environ.get("BODYCAM_BENCH_SEGMENTS", "2"))
    counts = [int(n) for n in os.environ.get("BODYCAM_BENCH_WORKERS", "1,2,4").split(",")]
    memstore = max(2 << 30, int(cameras * segments * SEGMENT_BYTES * 1.5))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "embedded"
        run.mkdir()
        rows.append(_row("embedded (SQLite + folder), serve --workers 1", cameras, segments,
                         wave(run, cameras, segments, 1, {}, {}, [], [])))
        shutil.rmtree(run, ignore_errors=True)
        with postgres() as (server_dsn, pg_pids):
            for workers in counts:
                run = Path(tmp) / f"engines-{workers}"
                run.mkdir()
                with rgw(memstore) as (s3, ceph_pids), database(server_dsn) as dsn:
                    bucket = f"s3://bodycam-bench-{uuid.uuid4().hex[:12]}"
                    measured = wave(run, cameras, segments, workers,
                                    {"catalogue": dsn, "objects": bucket}, s3,
                                    pg_pids, ceph_pids)
                rows.append(_row(f"PostgreSQL + RGW, serve --workers {workers}", cameras,
                                 segments, measured))
                shutil.rmtree(run, ignore_errors=True)
    return rows


BENCHMARKS = {"shift": shift_end}
