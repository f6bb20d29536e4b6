"""A store served by real worker processes for the tests, on a clock the test moves.

The pool is the production path: this module's ``__main__`` opens the store and its listening
socket as ``bodycam store serve`` does and hands them to :func:`store.workers.serve_workers`,
whose uvicorn supervisor spawns the workers on that one socket. The only difference is the app
factory it names, :func:`clocked_worker_app` here under tests/, which gives each worker's
:class:`~store.service.Store` a :class:`SharedClock`: UTC seconds in a small file every process
maps, which the test moves by writing it. Nothing a deployed store reads changes: the factory
is an explicit argument of ``serve_workers``, and the clock file is named in the settings that
call passes to its own workers.

The workers log each request with their pid (``[PID] CLIENT METHOD TARGET STATUS``) to the
pool's log file, which is how a test sees that requests were spread over them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import mmap
import os
import re
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

#: The shared clock's file: one little-endian double, the UTC seconds.
_CLOCK = struct.Struct("<d")
ROOT = Path(__file__).resolve().parents[1]
#: How long a pool may take to have every worker answering (spawned interpreters import the
#: store, psycopg and boto3: about a second each on an idle machine).
START_TIMEOUT_S = 120.0


class SharedClock:
    """UTC seconds that only move when a test says so, read by every process that maps the
    file. Writes are single aligned 8-byte stores; the test moves the clock between requests,
    never while one is being served."""

    def __init__(self, path: Path, now: float | None = None) -> None:
        self.path = path
        if now is not None:
            path.write_bytes(_CLOCK.pack(now))
        with open(path, "r+b") as f:
            self._map = mmap.mmap(f.fileno(), _CLOCK.size)

    @property
    def now(self) -> float:
        return _CLOCK.unpack_from(self._map)[0]

    @now.setter
    def now(self, value: float) -> None:
        _CLOCK.pack_into(self._map, 0, float(value))

    def __call__(self) -> float:
        return self.now


def clocked_worker_app():  # -> StoreApp (imported lazily: this module is also the tests')
    """uvicorn's app factory in each worker: the store the parent named, on the shared clock."""
    from store.http import StoreApp
    from store.service import Store
    from store.workers import WORKER_ENV

    settings = json.loads(os.environ[WORKER_ENV])
    logging.basicConfig(level=logging.INFO, format="[%(process)d] %(message)s")
    return StoreApp(Store(Path(settings["dir"]), clock=SharedClock(Path(settings["clock"]))),
                    owns_store=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.worker_pool DIR CLOCK --workers N [--port P]``: what ``store serve
    --workers N`` does, with :func:`clocked_worker_app` as the workers' factory."""
    from store.http import listen
    from store.service import Store
    from store.workers import serve_workers

    parser = argparse.ArgumentParser(prog="tests.worker_pool")
    parser.add_argument("dir", type=Path)
    parser.add_argument("clock", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(process)d] %(message)s")
    store = Store(args.dir, clock=SharedClock(args.clock))
    sock = listen("127.0.0.1", args.port)
    host, port = sock.getsockname()[:2]
    print(f"listening on http://{host}:{port}", flush=True)
    try:
        serve_workers(store, sock, args.workers, app_factory="tests.worker_pool:clocked_worker_app",
                      settings={"clock": str(args.clock)})
    finally:
        sock.close()
        store.close()
    return 0


#: A worker's line once its app is up (uvicorn's own message, logged with the worker's pid).
_STARTED = re.compile(r"^\[(\d+)\] Application startup complete", re.M)
#: A request a worker answered (store.http logs every one).
_SERVED = re.compile(r"^\[(\d+)\] \S+ ([A-Z]+) (\S+) (\d{3})$", re.M)


class WorkerPool:
    """``workers`` processes serving ``directory`` on 127.0.0.1 (``port`` 0: a free one)."""

    def __init__(self, directory: Path, clock: SharedClock, workers: int = 2,
                 port: int = 0, log: Path | None = None) -> None:
        self.directory, self.clock, self.workers = directory, clock, workers
        self.log = log or directory.parent / f"{directory.name}-workers.log"
        self._offset = self.log.stat().st_size if self.log.exists() else 0  # a restart appends
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.worker_pool", str(directory), str(clock.path),
                 "--workers", str(workers), "--port", str(port)],
                stdout=subprocess.PIPE, stderr=out, text=True, cwd=ROOT,
                start_new_session=True)  # a ^C to pytest reaches the pool through stop()
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        if "listening on " not in first:
            self.process.wait(30)
            raise RuntimeError(f"the worker pool did not start: {self.tail()}")
        self.url = first.split("listening on ")[1].strip()
        host, _, number = self.url.removeprefix("http://").rpartition(":")
        self.server_address = (host, int(number))
        self._wait_started()

    def _text(self) -> str:
        """This pool's part of the log (a restart's pool appends to the same file)."""
        with open(self.log, "rb") as f:
            f.seek(self._offset)
            return f.read().decode(errors="replace")

    def tail(self) -> str:
        lines = self._text().strip().splitlines()
        return " | ".join(lines[-3:])

    def started(self) -> set[int]:
        """The pids of the workers whose app is up (a replaced worker adds its own)."""
        return {int(m) for m in _STARTED.findall(self._text())}

    def _wait_started(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while len(self.started()) < self.workers:  # bounded: another process's state
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.workers} workers not up: {self.tail()}")
            time.sleep(0.02)

    def served(self) -> list[tuple[int, str, str, int]]:
        """(worker pid, method, target, status) of every request answered so far."""
        return [(int(p), m, t, int(s))
                for p, m, t, s in _SERVED.findall(self._text())]

    def stop(self) -> None:
        """SIGTERM, as an operator stops ``store serve``: workers finish and exit, then the
        parent; a pool that does not end is killed whole (its own session)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(30)
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextlib.contextmanager
def worker_pool(directory: Path, clock: SharedClock, workers: int = 2) -> Iterator[WorkerPool]:
    pool = WorkerPool(directory, clock, workers)
    try:
        yield pool
    finally:
        pool.stop()


if __name__ == "__main__":
    sys.exit(main())
