"""Several workers on one store: any worker serves any request of any upload.

Two :class:`Store` objects on one directory stand for two worker processes (each opens its own
catalogue connection, audit log and locks); the last test runs ``bodycam store serve --workers 2``
for real and SIGKILLs the worker that is serving a camera mid-upload.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from device.upload.uploader import BACKOFF, IDLE
from evidence.identity import load_public_key
from evidence.receipt import verify_receipt
from evidence.request_auth import sign_request
from evidence.store_client import DeviceClient, StoreConnection, StoreHttpError
from sim.clock import SimClock
from sim.encoder import FakeEncoder
from sim.simulator import Simulator
from store.auditlog import AuditLog, verify_chain
from store.config import StoreConfig
from store.operator_client import OperatorClient
from store.service import AUDIT, Store, init_store
from tests.conftest import tiny_config
from tests.docking.conftest import audit, dock, drive, record
from tests.docking.test_resume import snapshot, step_until
from tests.evidence_store.conftest import CHUNK, START, Camera, Running


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


def test_one_key_enrolled_on_two_workers_at_once_is_one_enrolment(running: Running,
                                                                   second: Running,
                                                                   camera: Camera) -> None:
    """Both workers find the key not yet enrolled, then both insert: one enrols it, the other
    answers "already enrolled"; no error, one audit entry."""
    answers: list[dict] = []
    tx = running.store.catalogue.tx

    def other_worker_first(*locks: str):
        if not answers:
            answers.append(second.store.enrol(camera.pub_pem, "PC 2"))
        return tx(*locks)

    running.store.catalogue.tx = other_worker_first  # type: ignore[method-assign]
    late = running.store.enrol(camera.pub_pem, "PC 1")
    assert answers[0]["enrolled"] and not late["enrolled"]
    assert late["label"] == "PC 2" and late["device_id"] == answers[0]["device_id"]
    assert len([e for e in running.store.audit.entries() if e["event"] == "enrol"]) == 1
    assert [d["label"] for d in running.store.devices()] == ["PC 2"]


def test_a_store_opened_again_on_the_same_directory_shares_the_catalogue(
        running: Running, enrolled: Camera) -> None:
    other = Store(running.directory, clock=running.clock)
    try:
        assert [d["device_id"] for d in other.devices()] == [enrolled.device_id]
    finally:
        other.close()


@pytest.mark.engines
@pytest.mark.parametrize("store_backend", ["engines"], indirect=True)
def test_the_engines_case_is_served_by_worker_processes_of_one_socket(
        running: Running, enrolled: Camera) -> None:
    """What every store test's engines case runs on: the module's pool, whose workers (child
    processes of ``serve_workers``, not this one) both answer requests on one port, and all
    see one store: a camera's segments, each sent on a new connection, stored once each."""
    from tests.worker_pool import WorkerPool

    pool = running.server
    assert isinstance(pool, WorkerPool) and running.url == pool.url
    before = len(pool.served())
    for mp4 in enrolled.segments():  # a new connection each: whichever worker accepts it
        assert running.client(enrolled).upload_segment(mp4)["state"] == "stored"
    for _ in range(20):
        running.operator().connection.info()
    served = pool.served()[before:]
    workers = {pid for pid, *_ in served}
    assert len(workers) >= 2, served
    assert os.getpid() not in workers
    children = Path(f"/proc/{pool.process.pid}/task/{pool.process.pid}/children").read_text()
    assert workers <= {int(p) for p in children.split()}  # the pool's own workers
    assert [x for x in served if x[3] >= 400] == []
    assert len({pid for pid, m, *_ in served if m == "PUT"}) >= 1
    rows = running.store.catalogue.all("SELECT file FROM segments")
    assert sorted(r["file"] for r in rows) == sorted(m.name for m in enrolled.segments())
    assert running.clock.now == START  # the test's clock, which the workers read
    assert running.client(enrolled).connection.info()["time"] == START
    running.clock.now += 86400
    assert running.operator().connection.info()["time"] == START + 86400


def test_a_second_worker_client_uses_its_own_connection(running: Running, second: Running,
                                                        enrolled: Camera) -> None:
    client = DeviceClient(StoreConnection(second.url), enrolled.identity.private_key,
                          enrolled.device_id, clock=running.clock, chunk_bytes=CHUNK)
    assert client.upload_segment(enrolled.segments()[0])["state"] == "stored"
    assert running.store.catalogue.one("SELECT COUNT(*) AS n FROM segments")["n"] == 1


# -- bodycam store serve --workers 2, for real ------------------------------------------------
STORE = [sys.executable, "-m", "store.cli"]


def _workers(parent: int) -> list[int]:
    """The parent's worker processes (uvicorn spawns them; not multiprocessing's helpers)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    workers = []
    for pid in map(int, children):
        with contextlib.suppress(FileNotFoundError):
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                workers.append(pid)
    return workers


def _serving(workers: list[int], port: int) -> list[int]:
    """The workers holding an established connection on the store's ``port``."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":  # ESTABLISHED
            inodes.add(f"socket:[{fields[9]}]")
    serving = []
    for pid in workers:
        with contextlib.suppress(FileNotFoundError):
            links = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
            if links & inodes:
                serving.append(pid)
    return serving


def _poll(condition, what: str, seconds: float = 30.0):
    """Wait for state another process changes (bounded)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what}: not within {seconds:.0f} s")


def worker_of(connection: StoreConnection, port: int, workers: list[int]) -> int | None:
    """The worker process holding the server end of ``connection`` (open, to ``port``)."""
    sock = connection._conn.sock if connection._conn is not None else None
    if sock is None:
        return None
    mine = sock.getsockname()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)) == (port, mine):
            inode = f"socket:[{fields[9]}]"
    for pid in workers:
        with contextlib.suppress(FileNotFoundError):
            if inode in {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}:
                return pid
    return None


def connections_to_each(url: str, port: int, workers: list[int],
                        each: int = 1) -> dict[int, list[StoreConnection]]:
    """``each`` open keep-alive connections to every worker: the kernel gives a new connection
    to whichever worker accepts first, and a kept-alive one stays with it, so a test can send a
    request to the worker it picks through one socket (bounded tries)."""
    pinned: dict[int, list[StoreConnection]] = {pid: [] for pid in workers}
    for _ in range(200):
        if all(len(c) >= each for c in pinned.values()):
            return pinned
        connection = StoreConnection(url)
        connection.info()
        pid = worker_of(connection, port, workers)
        if pid is not None and len(pinned[pid]) < each:
            pinned[pid].append(connection)
        else:
            connection.close()
    raise AssertionError(f"not {each} connections to each of {workers} in 200 tries: "
                         f"{ {p: len(c) for p, c in pinned.items()} }")


@contextlib.contextmanager
def serve(directory: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    server = subprocess.Popen([*STORE, "serve", "--dir", str(directory), "--port", "0", *args],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert "listening on " in line, line
        yield server, line.split("listening on ")[1].split(",")[0]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            assert server.wait(timeout=30) == 0
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()


@contextlib.contextmanager
def two_workers(tmp_path: Path, backend: dict[str, str] | None = None,
                ) -> Iterator[tuple[Path, str, subprocess.Popen[str], str, int, list[int]]]:
    """A new store (on the embedded engines, or on ``backend``'s) served by two worker
    processes, both up: (directory, operator token, the server, its URL, its port, the
    workers' pids)."""
    directory = tmp_path / "store"
    directory.mkdir()
    token = init_store(directory, StoreConfig(max_chunk_bytes=64 * 1024, **(backend or {})))
    with serve(directory, "--workers", "2") as (server, url):
        port = int(url.rsplit(":", 1)[1])
        workers = _poll(lambda: len(_workers(server.pid)) == 2 and _workers(server.pid),
                        "two workers")
        yield directory, token, server, url, port, workers


@pytest.mark.slow
def test_a_worker_killed_mid_upload_loses_nothing(tmp_path: Path,
                                                  store_backend: dict[str, str]) -> None:
    """SIGKILL to the worker serving a docked camera (on PostgreSQL + RGW too): the camera
    backs off, docks again to whichever worker answers, resumes, and every segment is stored
    once, byte for byte, with a receipt."""
    with two_workers(tmp_path, store_backend) as (directory, token, server, url, port, workers):

        clock = SimClock(epoch=time.time())  # the store runs on the real clock
        sim = Simulator(tiny_config(upload={
            "store_url": url, "store_public_key": str(directory / "store.pub.pem"),
            "chunk_kb": 4, "backoff_base_s": 1.0, "backoff_cap_s": 8.0}),
            tmp_path / "camera", clock=clock, encoder=FakeEncoder)
        sim.power_on()
        try:
            operator = StoreConnection(url)
            OperatorClient(operator, token).enrol((sim.data_dir / "device.pub.pem").read_bytes())
            operator.close()  # from now on the camera's is the only connection
            record(sim, 6.0)
            recorded = snapshot(sim)
            assert len(recorded) >= 2
            dock(sim)
            step_until(sim, 3)  # three chunks of the first segment are in
            victim = _poll(lambda: _serving(workers, port), "a worker serving the camera")
            assert len(victim) == 1
            os.kill(victim[0], signal.SIGKILL)
            _poll(lambda: victim[0] not in _workers(server.pid), "the killed worker gone")

            results = drive(sim)  # the dead connection: the uploader backs off
            assert results == [BACKOFF], results
            for _ in range(20):  # and docks its upload again, to whichever worker answers
                if results[-1] == IDLE:
                    break
                sim.advance(10.0)
                results = drive(sim)
            assert results[-1] == IDLE and "resync" not in results, results
            receipts = [e["data"] for e in audit(sim, "upload_receipt")
                        if e["data"]["kind"] == "segment"]
            assert sorted(r["sha256"] for r in receipts) == sorted(recorded)
            # uvicorn's supervisor brings the worker count back
            _poll(lambda: len(_workers(server.pid)) == 2, "a replacement worker")
        finally:
            sim.shutdown()

    store = Store(directory)
    try:
        key = store.public_key
        rows = store.catalogue.all("SELECT * FROM segments")
        assert sorted((r["sha256"], r["size"]) for r in rows) == sorted(recorded.items())
        for row in rows:  # each stored once, byte for byte, with a receipt that verifies
            assert hashlib.sha256(store.objects.read_bytes(row["sha256"])).hexdigest() \
                == row["sha256"]
            verify_receipt(row["receipt"], row["receipt_signature"], key, row["sha256"],
                           device_id=row["device_id"], file=row["file"])
        uploads = store.catalogue.all("SELECT state FROM uploads WHERE kind = 'segment'")
        assert [u["state"] for u in uploads] == ["stored"] * len(recorded)  # resumed, not anew
        assert store.quarantined() == []
        log = store.tlog.log  # one segment leaf each, whichever worker stored it
        leaves = [json.loads(x) for x in log.leaves(0, log.size)]
        assert sorted(x["manifest_sha256"] for x in leaves if x["kind"] == "segment") == sorted(
            r["manifest_sha256"] for r in rows)
    finally:
        store.close()
    assert verify_chain(directory / AUDIT)[1] == []


def test_two_processes_append_to_one_transparency_log(tmp_path: Path) -> None:
    """Each append takes the log's file lock and reads the other's lines first: whole lines,
    none lost, and both processes' trees are the file's."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from store.tlog import TransparencyLog

    key = Ed25519PrivateKey.generate()
    log = TransparencyLog(tmp_path / "tlog", "bodycam.test/log", key)
    script = ("import sys; from pathlib import Path; "
              "from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey;"
              "from store.tlog import TransparencyLog;"
              "log = TransparencyLog(Path(sys.argv[1]), 'bodycam.test/log', "
              "Ed25519PrivateKey.generate());"
              "print('ready', flush=True); sys.stdin.readline();"
              "[log.append({'kind': 'child', 'n': i}) for i in range(200)];"
              "print(log.size, log.root().hex())")
    child = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "tlog")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    assert child.stdout.readline() == "ready\n"
    child.stdin.write("go\n")
    child.stdin.flush()  # both append from here on, at once
    for i in range(200):
        log.append({"kind": "parent", "n": i})
    out, _ = child.communicate(timeout=60)
    assert child.returncode == 0
    log.refresh()
    assert log.size == 400
    entries = [json.loads(x) for x in log.leaves(0, 400)]
    for kind in ("parent", "child"):
        assert [e["n"] for e in entries if e["kind"] == kind] == list(range(200))
    child_size, child_root = out.split()
    assert log.root(int(child_size)).hex() == child_root  # the child's tree is a prefix
    again = TransparencyLog(tmp_path / "tlog", "bodycam.test/log", key)
    assert again.root() == log.root()


@pytest.mark.slow
def test_workers_serve_https_to_a_camera_that_pins_the_certificate(tmp_path: Path) -> None:
    from tests.evidence_store.test_tls import self_signed

    directory = tmp_path / "store"
    directory.mkdir()
    init_store(directory)
    cert, key = self_signed(tmp_path, "store")
    with serve(directory, "--workers", "2", "--tls-cert", str(cert), "--tls-key", str(key)) \
            as (_, url):
        assert url.startswith("https://127.0.0.1:")
        pinned = ssl.create_default_context(cafile=str(cert))
        for _ in range(4):  # new connections, whichever worker takes each
            connection = StoreConnection(url, ssl_context=pinned)
            assert connection.info()["store_id"].startswith("store-")
            connection.close()
        impostor, _ = self_signed(tmp_path, "impostor")
        wrong = ssl.create_default_context(cafile=str(impostor))
        with pytest.raises(StoreHttpError, match="CERTIFICATE_VERIFY_FAILED"):
            StoreConnection(url, ssl_context=wrong).info()


@pytest.mark.parametrize("args, message", [
    (["--workers", "0"], "--workers 0: give 1 to 64 worker processes"),
    (["--workers", "two"], "--workers: invalid int value"),
])
def test_a_wrong_worker_count_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    directory = tmp_path / "store"
    directory.mkdir()
    init_store(directory)
    result = subprocess.run([*STORE, "serve", "--dir", str(directory), "--port", "0", *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.slow
def test_a_worker_killed_while_a_chunk_arrives_keeps_none_of_it(
        tmp_path: Path, camera: Camera, store_backend: dict[str, str]) -> None:
    """SIGKILL while a chunk's body is half sent: the store keeps what it had before the chunk,
    and the camera's upload resumes on another worker and is stored whole."""
    with two_workers(tmp_path, store_backend) as (directory, token, _server, url, port, workers):
        operator = StoreConnection(url)
        OperatorClient(operator, token).enrol(camera.pub_pem)
        operator.close()
        client = DeviceClient(StoreConnection(url), camera.identity.private_key,
                              camera.device_id, chunk_bytes=CHUNK)
        mp4 = camera.segments()[0]
        status = client.send(client.open_segment(mp4), mp4, max_chunks=1)
        client.connection.close()
        assert status["received"] == CHUNK
        chunk = mp4.read_bytes()[CHUNK:2 * CHUNK]
        target = f"/v1/uploads/{status['upload_id']}"
        headers = sign_request(camera.identity.private_key, camera.device_id, "PUT", target,
                               chunk, time.time(), store_id=client.store_id)
        head = "".join(f"{k}: {v}\r\n" for k, v in {
            **headers, "Host": "x", "Content-Length": str(len(chunk)),
            "Content-Range": f"bytes {CHUNK}-{2 * CHUNK - 1}/{status['size']}"}.items())
        with socket.create_connection(("127.0.0.1", port), timeout=10) as half:
            half.sendall(f"PUT {target} HTTP/1.1\r\n{head}\r\n".encode() + chunk[:CHUNK // 2])
            victim = _poll(lambda: _serving(workers, port), "the worker reading the chunk")
            assert len(victim) == 1
            os.kill(victim[0], signal.SIGKILL)
            assert half.recv(100) == b""  # the connection died with the worker
        assert client.status(status["upload_id"])["received"] == CHUNK  # nothing of it kept
        final = client.upload_segment(mp4)
        assert final["state"] == "stored", final
        verify_receipt(base64.b64decode(final["receipt"]),
                       base64.b64decode(final["receipt_signature"]),
                       load_public_key(directory / "store.pub.pem"),
                       camera.manifest(mp4).sha256, device_id=camera.device_id, file=mp4.name)
    assert verify_chain(directory / AUDIT)[1] == []
