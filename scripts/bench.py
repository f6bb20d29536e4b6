"""Benchmarks: ``make bench`` prints a table of what was measured and on which machine.

Numbers live here, not in timed tests. Each benchmark is a function returning rows; add new ones
to ``BENCHMARKS``. ``--only NAME`` runs one, ``--seconds`` sets how long each measures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import bench_memory
import bench_pipeline
import numpy as np
from bench_audio import BENCHMARKS as AUDIO
from bench_c2pa import BENCHMARKS as C2PA
from bench_find import BENCHMARKS as FIND
from bench_memory import BENCHMARKS as MEMORY
from bench_pipeline import BENCHMARKS as PIPELINE
from bench_pipeline import Row
from bench_powerloss import BENCHMARKS as POWER_LOSS
from bench_redaction import BENCHMARKS as REDACTION
from bench_retention import BENCHMARKS as RETENTION
from bench_shift import BENCHMARKS as SHIFT_END
from bench_stages import BENCHMARKS as STAGES
from bench_tlog import BENCHMARKS as TLOG

from device import control
from device.audit import AuditLog, verify_log
from device.config import Config
from device.control import Controller, ControlServer
from device.pipeline.encoder import encoder_settings
from device.pipeline.watermark import Watermark
from device.service import power_on
from evidence import crypt
from evidence.identity import (
    DeviceIdentity,
    create_identity,
    public_pem,
)
from evidence.keyring import KeyRing
from evidence.layout import Layout
from evidence.manifest import Manifest, sha256_file, write_signed_manifest
from evidence.report import intact
from evidence.store_client import DeviceClient, StoreConnection
from evidence.verify import verify
from hal.clock import SystemClock
from hal.encoder import LibavEncoder
from sim.camera import SimCamera
from sim.clock import SimClock
from sim.simulator import Simulator
from store.http import StoreHTTPServer
from store.service import Store, init_store


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ffmpeg = ".".join(map(str, av.library_versions["libavcodec"]))
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"PyAV {av.__version__} (libavcodec {ffmpeg})")


def camera_through_encoder(seconds: float) -> list[Row]:
    """Frames per second of the simulated camera rendered, watermarked and encoded at 720p."""
    rows = []
    for preset in ("veryfast", "ultrafast"):
        config = Config().replace(camera={"width": 1280, "height": 720, "fps": 30},
                                  encoder={"preset": preset})
        cam = SimCamera(SimClock(), 1280, 720, 30)
        encoder = LibavEncoder(encoder_settings(config))
        mark = Watermark("BWV-OPEN-1", "SIM00001", 720)
        frames, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            image = cam.render(frames, frames / 30)
            mark.apply(image, 1767225600.0 + frames / 30, True)
            encoder.encode(image, frames / 30, 0.0)
            frames += 1
        fps = frames / (time.perf_counter() - start)
        rows.append(Row(f"sim camera -> watermark -> libx264 {preset}, 1280x720",
                        f"{fps:.1f} fps", "real time needs 30 fps"))
    return rows


def _synthetic_segment(identity: DeviceIdentity, folder: Path, recording: str,
                       data: bytes) -> Path:
    """A signed segment of arbitrary bytes: the store checks hashes and signatures, not pixels."""
    mp4 = folder / recording / Layout.segment_name(recording, 0)
    mp4.parent.mkdir(parents=True)
    mp4.write_bytes(data)
    digest, size = sha256_file(mp4)
    write_signed_manifest(identity, mp4, Manifest(
        device_id=identity.device_id, model="BWV-OPEN-1", serial=identity.serial,
        recording_id=recording, segment_index=0, file=mp4.name, sha256=digest, size=size,
        start_utc="2026-01-01T00:00:00.000Z", end_utc="2026-01-01T00:01:00.000Z",
        duration_s=60.0, frame_count=1800, codec="h264", width=320, height=240, fps=30,
        prev_manifest_sha256=None, last=True))
    return mp4


def _recorded_bitrate(width: int, height: int) -> float:
    """Bytes per second of the simulator's footage at this size (10 s, libx264 veryfast)."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Config().replace(camera={"width": width, "height": height, "fps": 30},
                                  recording={"pre_event_s": 0.0, "segment_s": 60.0},
                                  encryption={"enabled": False})  # bytes per second of MP4
        sim = Simulator(config, Path(tmp))
        sim.power_on()
        sim.button("record").double_press()
        sim.advance(10.0)
        sim.button("record").hold(3.2)
        sim.advance(3.5)
        sim.shutdown()
        files = list(Path(tmp).glob(f"{Layout.RECORDINGS}/*/*{Layout.MP4}"))
        seconds = sum(json.loads(Path(f"{f}.json").read_text())["duration_s"] for f in files)
        return sum(f.stat().st_size for f in files) / seconds


def _copy_rate(source: Path, seconds: float) -> float:
    """Bytes per second of copying ``source`` and fsyncing the copy, for ``seconds``."""
    copies, start, dest = 0, time.perf_counter(), source.with_name("copy.bin")
    while time.perf_counter() - start < seconds:
        shutil.copyfile(source, dest)
        with open(dest, "rb") as f:
            os.fsync(f.fileno())
        copies += 1
    return copies * source.stat().st_size / (time.perf_counter() - start)


#: ``--workers N``: the store benchmarks run against ``bodycam store serve --workers N`` (a
#: subprocess) instead of one in-process server.
WORKERS = 0


@dataclass
class _Served:
    url: str


@contextmanager
def _store_on_loopback(root: Path) -> Iterator[tuple[Store, StoreHTTPServer | _Served]]:
    """A new store in ``root/store``, served on a free loopback port until the block ends.
    With :data:`WORKERS` the server is ``store serve --workers N``; the benchmark's own
    ``Store`` then works on the same directory as one more process (enrolling, counting)."""
    (root / "store").mkdir()
    init_store(root / "store")
    store = Store(root / "store")
    if WORKERS:
        server = subprocess.Popen([sys.executable, "-m", "store.cli", "serve", "--dir",
                                   str(root / "store"), "--port", "0", "--workers",
                                   str(WORKERS)], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            if "listening on " not in line:
                raise RuntimeError(f"store serve did not start: {line!r}")
            yield store, _Served(line.split("listening on ")[1].split(",")[0])
        finally:
            server.terminate()
            server.wait(timeout=60)
            store.close()
        return
    http = StoreHTTPServer(store)
    thread = threading.Thread(target=http.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield store, http
    finally:
        http.shutdown()
        http.server_close()
        store.close()


def dock_fleet(seconds: float) -> list[Row]:
    """Twenty simulated cameras docking at once, each emptying into one store end to end: the
    daemon and the uploader on their own threads, receipts verified and audited, local copies
    deleted. Each camera holds one-minute segments at the simulator's 320x240 bitrate."""
    minutes = max(2, round(seconds * 2))
    bitrate = _recorded_bitrate(320, 240)
    segment = os.urandom(int(bitrate * 60))
    with tempfile.TemporaryDirectory() as tmp, _store_on_loopback(Path(tmp)) as (store, server):
        root = Path(tmp)
        config = Config().replace(camera={"width": 320, "height": 240, "fps": 30}, upload={
            "store_url": server.url, "store_public_key": str(root / "store" / "store.pub.pem")},
            encryption={"enabled": False})  # no force key: as measured before issue 15
        fleet = []
        try:
            for n in range(20):
                sim = Simulator(config, root / f"cam{n:02d}")
                sim.power_on()
                identity = sim.daemon.identity
                assert identity is not None
                store.enrol(public_pem(identity.public_key))
                for i in range(minutes):
                    _synthetic_segment(identity, sim.data_dir / Layout.RECORDINGS,
                                       f"R{i + 1:06d}-{n:06x}", segment)
                sim.daemon.start()  # the daemon's thread and the uploader's, as on a camera
                fleet.append(sim)
            start = time.perf_counter()
            for sim in fleet:
                sim.dock.dock()
            while any(sim.daemon.uploader.status()["state"] != "done" for sim in fleet):
                time.sleep(0.02)
            took = time.perf_counter() - start
            left = sum(len(list(sim.data_dir.glob(f"{Layout.RECORDINGS}/*/*{Layout.MP4}")))
                       for sim in fleet)
            stored = store.catalogue.one("SELECT COUNT(*) AS n FROM segments")["n"]
            if left or stored != 20 * minutes:
                raise AssertionError(f"{stored} segments stored, {left} left on the cameras")
        finally:
            for sim in fleet:
                sim.daemon.post("shutdown")
                sim.daemon.exit_requested.wait(30)
                sim.daemon.uploader.close()
                sim.hw.close()
    total = 20 * minutes * len(segment)
    shift = 12 * 60 / minutes * took
    return [
        Row(f"dock: 20 cameras x {minutes} min of 320x240 into one store, end to end",
            f"{took:.1f} s", f"{total / took / 1e6:.0f} MB/s aggregate; each receipt verified, "
                             "audited, then the local copy deleted"),
        Row("dock: 20 cameras x 12 h shift at 320x240, same path",
            f"{shift / 60:.1f} min", f"extrapolated from the row above: "
                                     f"{20 * 12 * 3600 * bitrate / 1e9:.1f} GB at "
                                     f"{bitrate * 8 / 1e3:.0f} kbit/s"),
    ]


def store_upload(seconds: float) -> list[Row]:
    """Uploads into `bodycam store` over loopback (signed, fsynced, verified) vs a file copy,
    one camera and twenty at once."""
    data = os.urandom(64 << 20)
    with tempfile.TemporaryDirectory() as tmp, _store_on_loopback(Path(tmp)) as (store, server):
        root = Path(tmp)

        def camera(n: int, segments: int, size: int) -> tuple[DeviceClient, list[Path]]:
            """An enrolled camera with ``segments`` signed segments of ``size`` bytes."""
            identity = create_identity(root / f"cam{n}", "BWV-OPEN-1", f"SIM{n:05d}")
            store.enrol(public_pem(identity.public_key))
            client = DeviceClient(StoreConnection(server.url), identity.private_key,
                                  identity.device_id)
            return client, [_synthetic_segment(identity, root / f"cam{n}", f"R{i:06d}-{n:06x}",
                                               data[:size]) for i in range(segments)]

        def upload_all(fleet: list[tuple[DeviceClient, list[Path]]]) -> float:
            """Seconds for every camera of ``fleet``, each on its own thread, to upload all."""
            threads = [threading.Thread(target=lambda c=c, m=m: [c.upload_segment(x) for x in m])
                       for c, m in fleet]
            start = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return time.perf_counter() - start

        single = [camera(0, max(2, round(seconds * 3)), len(data))]
        upload_mbs = len(single[0][1]) * len(data) / upload_all(single) / 1e6
        (root / "source.bin").write_bytes(data)
        copy_mbs = _copy_rate(root / "source.bin", seconds) / 1e6
        per_camera = max(1, round(seconds))
        fleet = [camera(n, per_camera, 8 << 20) for n in range(1, 21)]
        fleet_s = upload_all(fleet)
        fleet_mbs = 20 * per_camera * (8 << 20) / fleet_s / 1e6
        stored = store.catalogue.one("SELECT COUNT(*) AS n FROM segments")["n"]
        if stored != len(single[0][1]) + 20 * per_camera:
            raise AssertionError(f"{stored} segments stored, some upload went missing")
    bitrate = _recorded_bitrate(320, 240)
    shift_bytes = 20 * 12 * 3600 * bitrate
    return [
        Row("store upload over loopback, 1 camera, 64 MiB segments, 4 MiB chunks",
            f"{upload_mbs:.0f} MB/s", "signed requests, fsync per chunk, hash and verify"),
        Row("plain file copy + fsync of the same bytes", f"{copy_mbs:.0f} MB/s",
            f"upload is {upload_mbs / copy_mbs:.0%} of a copy"),
        Row("store upload, 20 cameras at once, 8 MiB segments", f"{fleet_mbs:.0f} MB/s",
            f"aggregate; {20 * per_camera} segments in {fleet_s:.1f} s, none lost"),
        Row("20 cameras x 12 h at 320x240 emptying into one store",
            f"{shift_bytes / (fleet_mbs * 1e6) / 60:.1f} min",
            f"extrapolated: {shift_bytes / 1e9:.1f} GB at the simulator's "
            f"{bitrate * 8 / 1e3:.0f} kbit/s, at the rate above"),
    ]
def record_noise(data_dir: Path, min_bytes: int, force_key: Any = None) -> int:
    """A real recording of at least ``min_bytes``, made quickly: the simulated camera at
    1280x720 shows noise (which no encoder can shrink) and the daemon records it as it always
    does, segments signed and chained, audit log and all; encrypted to ``force_key`` (an RSA
    public key) if given. Returns the footage's size."""
    config = Config().replace(camera={"width": 1280, "height": 720, "fps": 30},
                              encoder={"preset": "ultrafast"},
                              recording={"pre_event_s": 0.0, "segment_s": 4.0},
                              encryption={"enabled": force_key is not None})
    if force_key is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / Layout.FORCE_KEY).write_bytes(crypt.public_pem(force_key))
    sim = Simulator(config, data_dir)
    rng = np.random.default_rng(5)
    noise = [rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8) for _ in range(8)]
    sim.camera.render = lambda index, t_mono: noise[index % len(noise)].copy()  # type: ignore[method-assign]

    def footage() -> int:
        return sum(p.stat().st_size for p in data_dir.glob("recordings/*/*.mp4*"))

    sim.power_on()
    sim.button("record").double_press()
    while footage() < min_bytes:
        sim.advance(1.0)
    sim.button("record").hold(3.2)
    sim.advance(3.5)
    sim.shutdown()
    return footage()


def best_of(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def verify_throughput(seconds: float) -> list[Row]:
    """``bodycam verify`` of a whole data directory (segments, chain, audit log, log against
    footage) against ``sha256sum`` of the same MP4s, both with the files in the page cache."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        size = record_noise(data, 200 * 10**6)
        files = [str(p) for p in sorted(data.glob(f"{Layout.RECORDINGS}/*/*{Layout.MP4}"))]
        if not intact(verify([data])):
            return [Row("verify", "FAILED", "the generated recording does not verify")]

        def tool(*command: str) -> Callable[[], object]:
            return lambda: subprocess.run([*command, *files], check=True,
                                          stdout=subprocess.DEVNULL)

        runs = max(3, int(seconds))
        verify_s = best_of(runs, lambda: verify([data]))
        sha_s = best_of(runs, tool("sha256sum"))
        openssl_s = best_of(runs, tool("openssl", "dgst", "-sha256"))
    mb = size / 1e6
    note = f"{len(files)} signed segments, {mb:.0f} MB, best of {runs}"
    return [Row("verify: whole data directory, 1280x720 recording", f"{mb / verify_s:.0f} MB/s",
                note),
            Row("sha256sum of the same MP4s", f"{mb / sha_s:.0f} MB/s", note),
            Row("openssl dgst -sha256 of the same MP4s", f"{mb / openssl_s:.0f} MB/s", note),
            Row("verify / sha256sum", f"{sha_s / verify_s:.0%}", "target: at least 80 %")]


def verify_encrypted(seconds: float) -> list[Row]:
    """``bodycam verify`` of an encrypted data directory against a clear one of the same size
    (issue 15: within 10 %), and with the force key, which decrypts every segment too."""
    force = crypt.new_force_key(3072)
    with tempfile.TemporaryDirectory() as tmp:
        clear, secret = Path(tmp) / "clear", Path(tmp) / "secret"
        size = record_noise(clear, 60 * 10**6)
        secret_size = record_noise(secret, size, force.public_key())
        ring = KeyRing().with_force_key(force)
        if not (intact(verify([clear])) and intact(verify([secret], ring))):
            return [Row("verify encrypted", "FAILED", "the generated recordings do not verify")]
        runs = max(3, int(seconds))
        clear_s = secret_s = keyed_s = float("inf")
        for _ in range(runs):  # interleaved, so a noisy neighbour weighs on each alike
            clear_s = min(clear_s, best_of(1, lambda: verify([clear])))
            secret_s = min(secret_s, best_of(1, lambda: verify([secret])))
            keyed_s = min(keyed_s, best_of(1, lambda: verify([secret], ring)))
    clear_mbs, secret_mbs, keyed_mbs = (size / 1e6 / clear_s, secret_size / 1e6 / secret_s,
                                        secret_size / 1e6 / keyed_s)
    note = (f"{size / 1e6:.0f} MB clear, {secret_size / 1e6:.0f} MB encrypted, 1280x720 "
            f"segments, best of {runs} interleaved")
    return [Row("verify: clear data directory", f"{clear_mbs:.0f} MB/s", note),
            Row("verify: encrypted, no key", f"{secret_mbs:.0f} MB/s",
                f"{secret_mbs / clear_mbs:.0%} of clear (target: within 10 %)"),
            Row("verify --force-key: encrypted, decrypted too", f"{keyed_mbs:.0f} MB/s",
                f"{keyed_mbs / clear_mbs:.0%} of clear")]


def _round_trips(data_dir: Path, payload: dict[str, Any], count: int,
                 gap_s: float = 0.005) -> list[float]:
    """Seconds from connecting to the answer, each on a new connection, as ``bodycam status``
    makes them (device.control.request)."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        control.request(data_dir, payload)
        times.append(time.perf_counter() - start)
        time.sleep(gap_s)
    return times


def _spread(times: list[float]) -> str:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"median {statistics.median(ordered) * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms, "
            f"max {ordered[-1] * 1e3:.1f} ms")


#: Another process that floods a Unix socket with connections it never uses: 3,000 held open;
#: with "churn", the oldest closed as new ones are made, as fast as it can. Prints "full" once
#: 3,000 are open, and on SIGTERM (or after two minutes) how many it opened in how many seconds.
_FLOODER = """
import collections, signal, socket, sys, time
path, churn, held, opened = sys.argv[1], sys.argv[2] == "churn", collections.deque(), 0
start, stop = time.perf_counter(), []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
while not stop and time.perf_counter() - start < 120:
    if opened >= 3000 and not churn:
        time.sleep(0.01)
        continue
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(path)
    except BlockingIOError:
        s.close()
        time.sleep(0.001)
        continue
    held.append(s)
    opened += 1
    if len(held) > 3000:
        held.popleft().close()
    if opened == 3000:
        print("full", flush=True)
print(opened, time.perf_counter() - start, flush=True)
"""


def _flooded(data_dir: Path, socket_file: Path, churn: bool, count: int
             ) -> tuple[list[float], list[float], int, float, int]:
    """Status and gesture round trips while another process floods the socket: (status
    times, gesture times, connections it opened, their rate per second, peak threads here)."""
    peak = threading.active_count()
    flooder = subprocess.Popen([sys.executable, "-c", _FLOODER, str(socket_file),
                                "churn" if churn else "hold"], stdout=subprocess.PIPE, text=True)
    assert flooder.stdout is not None
    try:
        flooder.stdout.readline()  # "full": 3,000 connections made
        status: list[float] = []
        gestures: list[float] = []
        while len(status) < count:
            status += _round_trips(data_dir, {"cmd": "status"}, 1)
            for pressed in (True, False):
                gestures += _round_trips(data_dir, {"cmd": "edge", "button": "function",
                                                    "pressed": pressed}, 1)
            peak = max(peak, threading.active_count())
    finally:
        flooder.terminate()
        out = flooder.communicate(timeout=30)[0].split()
    opened, took = int(out[-2]), float(out[-1])
    return status, gestures, opened, opened / took, peak


def control_flood(seconds: float) -> list[Row]:
    """The control socket's answers (status, and a gesture's key-down/up) on a real clock,
    quiet, while another process holds 3,000 half-open connections (issue 11: they once made
    2,877 threads and a status that took minutes), and while it opens them as fast as it can."""
    count = max(50, int(seconds * 40))
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="bench") as tmp:
        clock = SystemClock()
        config = Config().replace(camera={"width": 320, "height": 240, "fps": 10},
                                  encryption={"enabled": False})
        sim = Simulator(config, Path(tmp), clock=clock)
        power_on(sim.daemon)
        server = ControlServer(sim.data_dir, Controller(sim.daemon, sim.commands()))
        server.start()
        try:
            quiet = _round_trips(sim.data_dir, {"cmd": "status"}, count)
            held = _flooded(sim.data_dir, server.path, False, count)
            storm = _flooded(sim.data_dir, server.path, True, count)
        finally:
            server.stop()
            sim.shutdown()
            clock.close()
    rows = [Row("control socket: status, quiet", f"{statistics.median(quiet) * 1e3:.1f} ms",
                _spread(quiet) + f"; {len(quiet)} requests, a new connection each")]
    for (status, gestures, opened, rate, peak), what in (
            (held, "3,000 half-open connections held by another process"),
            (storm, "another process opening half-open connections non-stop")):
        rows += [
            Row(f"control socket: status, {what}", f"{statistics.median(status) * 1e3:.1f} ms",
                _spread(status) + f"; {len(status)} requests; it opened {opened} "
                                  f"({rate:.0f}/s); the socket keeps {server.max_connections}"),
            Row("  gesture (edge down/up), same flood", f"{statistics.median(gestures) * 1e3:.1f}"
                f" ms", _spread(gestures) + f"; threads in this process at most {peak}"),
        ]
    return rows


def audit_log_reading(seconds: float) -> list[Row]:
    """What reading a long audit log costs: the daemon's scan at boot (bounded, streamed) and
    the verifier's check, for 100,000 entries."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.jsonl"
        log = AuditLog(path, SimClock())
        for _ in range(100_000):
            log.append("mode", "record double", source="buffering", dest="recording",
                       trigger="record")
        log.close()
        mb = path.stat().st_size / 1e6
        runs = max(1, int(seconds) // 3)
        boot_s = best_of(runs, lambda: AuditLog(path, SimClock()).close())
        verify_s = best_of(runs, lambda: verify_log(path, None))
    note = f"100,000 entries, {mb:.0f} MB, unsigned, best of {runs}"
    return [Row("audit log: scan at boot", f"{boot_s:.2f} s", note),
            Row("audit log: verify_log (chain, sequence, checkpoints)", f"{verify_s:.2f} s",
                note)]


BENCHMARKS: dict[str, Callable[[float], list[Row]]] = {
    "encoder": camera_through_encoder,
    **PIPELINE,
    "store": store_upload,
    "verify": verify_throughput,
    "crypt-verify": verify_encrypted,
    "audit": audit_log_reading,
    "dock": dock_fleet,
    "control": control_flood,
    **POWER_LOSS,
    **TLOG,
    **REDACTION,
    **C2PA,
    **SHIFT_END,
    **AUDIO,
    **RETENTION,
    **STAGES,
    **MEMORY,
    **FIND,
}


def _loads(text: str) -> list[int]:
    """``--load 0,1,2``: busy-loop counts, each from 0 to 16."""
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--load takes counts like 0,1,2, got {text!r}") from None
    if not counts or any(not 0 <= n <= 16 for n in counts):
        raise argparse.ArgumentTypeError(f"--load counts must be 0 to 16, got {text!r}")
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(BENCHMARKS))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=0, metavar="N",
                        help="store and dock: serve the store as 'store serve --workers N'")
    parser.add_argument("--minutes", type=float, default=10.0, metavar="N",
                        help="memory: simulated minutes buffering, then as many recording")
    parser.add_argument("--record-minutes", type=float, default=None, metavar="N",
                        help="memory: simulated minutes recording, when not --minutes "
                             "(an hour, to show it flat)")
    parser.add_argument("--load", type=_loads, default=[0], metavar="N[,N...]",
                        help="realtime: run beside N busy-loop processes (one run per N)")
    args = parser.parse_args()
    bench_memory.MINUTES = args.minutes
    bench_memory.RECORD_MINUTES = args.record_minutes
    global WORKERS
    WORKERS = args.workers
    bench_pipeline.LOADS[:] = args.load
    rows: list[Row] = []
    for name, bench in BENCHMARKS.items():
        if args.only in (None, name):
            rows.extend(bench(args.seconds))
    width = max(len(r.benchmark) for r in rows)
    print(f"machine: {machine()}")
    if args.only in (None, "store", "dock"):
        print(f"store: {f'bodycam store serve --workers {WORKERS}' if WORKERS else 'in-process'}")
    print()
    print(f"| {'benchmark':<{width}} | {'result':>12} | note")
    print(f"|{'-' * (width + 2)}|{'-' * 14}|------")
    for r in rows:
        print(f"| {r.benchmark:<{width}} | {r.value:>12} | {r.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
