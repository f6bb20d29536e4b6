"""Real worker processes serving the tests' stores, on a clock the test moves.

The pool is the production path: this module's ``__main__`` opens a store and a listening socket
as ``bodycam store serve`` does and hands them to :func:`store.workers.serve_workers`, whose
uvicorn supervisor spawns the workers on that one socket and replaces one that dies. What
differs is only the app factory it names (an explicit argument of ``serve_workers``; nothing a
deployed store reads can change it): :func:`switching_worker_app`, here under tests/, serves
the store the test names in a small control file that every process maps, with each worker's
:class:`~store.service.Store` on a :class:`SharedClock` in the same file. So one pool serves a
module's tests, each on its own fresh store (directory, PostgreSQL database, S3 prefix),
without spawning interpreters per test (about 1 s each on an idle machine).

The control file: bytes 0-8 the clock (a little-endian double, UTC seconds), 8-16 a generation
number, then the store directory (UTF-8, NUL-padded; empty: none). Each worker polls the
generation, closes the store it had, opens the named one and writes ``CONTROL.ack.PID`` with
the generation (or ``GEN error: ...``), so :meth:`WorkerPool.serve` returns once every worker
serves the new store. The workers log each request with their pid (``[PID] CLIENT METHOD
TARGET STATUS``) to the pool's log, which is how a test sees requests spread over them.
"""

from __future__ import annotations

import argparse
import asyncio
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
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_CLOCK = struct.Struct("<d")
_GENERATION = struct.Struct("<q")
_SIZE = 4096
_PATH_AT = _CLOCK.size + _GENERATION.size
#: How long a pool may take to start or switch stores (spawned interpreters import the store,
#: psycopg and boto3; the machine is shared).
TIMEOUT_S = 120.0


class SharedClock:
    """UTC seconds that only move when a test says so, read by every process that maps the
    file. Writes are single aligned 8-byte stores; a test moves the clock between requests,
    not while one is being served."""

    def __init__(self, path: Path, now: float | None = None) -> None:
        self.path = path
        if not path.exists():
            path.write_bytes(bytes(_SIZE))
        with open(path, "r+b") as f:
            self._map = mmap.mmap(f.fileno(), _SIZE)
        if now is not None:
            self.now = now

    @property
    def now(self) -> float:
        return _CLOCK.unpack_from(self._map)[0]

    @now.setter
    def now(self, value: float) -> None:
        _CLOCK.pack_into(self._map, 0, float(value))

    def __call__(self) -> float:
        return self.now

    # the control part of the file
    @property
    def generation(self) -> int:
        return _GENERATION.unpack_from(self._map, _CLOCK.size)[0]

    @property
    def directory(self) -> Path | None:
        raw = self._map[_PATH_AT:_SIZE].split(b"\0", 1)[0]
        return Path(raw.decode()) if raw else None

    def name(self, directory: Path | None) -> int:
        """Name the store to serve (None: none); returns the new generation."""
        raw = str(directory).encode() if directory is not None else b""
        assert len(raw) < _SIZE - _PATH_AT, directory
        self._map[_PATH_AT:_SIZE] = raw.ljust(_SIZE - _PATH_AT, b"\0")
        generation = self.generation + 1
        _GENERATION.pack_into(self._map, _CLOCK.size, generation)  # last: the path is whole
        return generation


class SwitchingApp:
    """The store's own ASGI app (:class:`~store.http.StoreApp`) over the store the control
    file names, switched when its generation changes; 503 while none is named."""

    def __init__(self, control: Path) -> None:
        self.control = control
        self.clock = SharedClock(control)
        self.app: Any = None
        self.generation = -1

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            app = self.app
            if app is None:
                from starlette.responses import Response

                body = json.dumps({"error": "no store is being served", "status": 503})
                await Response(body, 503, media_type="application/json")(scope, receive, send)
            else:
                await app(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        from starlette.concurrency import run_in_threadpool

        poller = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await run_in_threadpool(self._switch)
                poller = asyncio.create_task(self._poll())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if poller is not None:
                    poller.cancel()
                await run_in_threadpool(self._close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _poll(self) -> None:
        from starlette.concurrency import run_in_threadpool

        while True:
            if self.clock.generation != self.generation:
                try:
                    await run_in_threadpool(self._switch)
                except Exception:  # logged; the next generation is tried all the same
                    logging.exception("test pool: switching stores failed")
            await asyncio.sleep(0.01)

    def _close(self) -> None:
        app, self.app = self.app, None
        if app is not None:
            app.store.close()

    def _switch(self) -> None:
        from store.http import StoreApp
        from store.service import Store

        generation, directory = self.clock.generation, self.clock.directory
        started = time.monotonic()
        logging.info("test pool: generation %d, %s", generation, directory)
        answer = str(generation)
        try:
            self._close()
            if directory is not None:
                self.app = StoreApp(Store(directory, clock=self.clock))
        except Exception as exc:  # the test that named it reads why
            answer = f"{generation} error: {type(exc).__name__}: {exc}"
        logging.info("test pool: generation %d in %.2f s", generation,
                     time.monotonic() - started)
        self.generation = generation
        ack = self.control.with_name(f"{self.control.name}.ack.{os.getpid()}")
        part = self.control.with_name(f".{ack.name}.part")  # this worker's own, then renamed
        part.write_text(answer)
        part.replace(ack)


def switching_worker_app() -> SwitchingApp:
    """uvicorn's app factory in each worker of a test pool."""
    from store.workers import WORKER_ENV

    settings = json.loads(os.environ[WORKER_ENV])
    logging.basicConfig(level=logging.INFO, format="[%(process)d] %(message)s")
    return SwitchingApp(Path(settings["control"]))


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.worker_pool HOME CONTROL --workers N [--port P]``: what ``store serve
    --workers N`` does for the store in HOME (the parent's, for retention), with the workers'
    app from :func:`switching_worker_app`. Stops when its stdin closes (the tests ended)."""
    from store.http import listen
    from store.service import Store
    from store.workers import serve_workers

    parser = argparse.ArgumentParser(prog="tests.worker_pool")
    parser.add_argument("home", type=Path)
    parser.add_argument("control", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(process)d] %(message)s")
    store = Store(args.home, clock=SharedClock(args.control))
    sock = listen("127.0.0.1", args.port)
    host, port = sock.getsockname()[:2]
    print(f"listening on http://{host}:{port}", flush=True)

    def orphaned() -> None:  # pytest went away without stopping us
        sys.stdin.read()
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=orphaned, daemon=True).start()
    try:
        serve_workers(store, sock, args.workers,
                      app_factory="tests.worker_pool:switching_worker_app",
                      settings={"control": str(args.control)})
    finally:
        sock.close()
        store.close()
    return 0


#: A request a worker answered (store.http logs every one).
_SERVED = re.compile(r"^\[(\d+)\] \S+ ([A-Z]+) (\S+) (\d{3})$", re.M)


class WorkerPool:
    """``workers`` processes on 127.0.0.1:``port`` (0: a free one), serving the store
    :meth:`serve` names. ``home`` is an initialised store for the parent (its retention)."""

    def __init__(self, home: Path, control: SharedClock, workers: int = 2, port: int = 0,
                 env: dict[str, str] | None = None) -> None:
        self.home, self.control, self.workers = home, control, workers
        self.log = home.parent / f"{home.name}-workers.log"
        self._offset = self.log.stat().st_size if self.log.exists() else 0  # a new pool appends
        for old in control.path.parent.glob(f"{control.path.name}.ack.*"):
            old.unlink()
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.worker_pool", str(home), str(control.path),
                 "--workers", str(workers), "--port", str(port)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=out, text=True, cwd=ROOT,
                env=env, start_new_session=True)  # stopped by stop() or by its stdin closing
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        if "listening on " not in first:
            self.stop()
            raise RuntimeError(f"the worker pool did not start: {self.tail()}")
        self.url = first.split("listening on ")[1].strip()
        host, _, number = self.url.removeprefix("http://").rpartition(":")
        self.server_address = (host, int(number))
        self._wait_for(control.generation)

    def _text(self) -> str:
        with open(self.log, "rb") as f:
            f.seek(self._offset)
            return f.read().decode(errors="replace")

    def tail(self) -> str:
        return " | ".join(self._text().strip().splitlines()[-3:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def acks(self) -> dict[int, str]:
        """What each worker process last said (pid: generation, or why it could not switch)."""
        found = {}
        for ack in self.control.path.parent.glob(f"{self.control.path.name}.ack.*"):
            with contextlib.suppress(FileNotFoundError, ValueError):
                found[int(ack.name.rsplit(".", 1)[1])] = ack.read_text()
        return found

    def _wait_for(self, generation: int) -> None:
        """Until :attr:`workers` workers serve ``generation`` (bounded: other processes)."""
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            acks = self.acks()
            failed = [a for a in acks.values() if a.startswith(f"{generation} error")]
            if failed:
                raise RuntimeError(f"a worker could not open the store: {failed[0]}")
            if sum(a == str(generation) for a in acks.values()) >= self.workers:
                return
            if not self.alive() or time.monotonic() > deadline:
                code = self.process.poll()
                self.stop()
                raise RuntimeError(f"{self.workers} workers not serving generation "
                                   f"{generation} (pool exit {code}): {acks}; {self.tail()}")
            time.sleep(0.01)

    def serve(self, directory: Path | None) -> None:
        """Have every worker serve the store in ``directory`` (None: none) from now on."""
        self._wait_for(self.control.name(directory))

    def served(self) -> list[tuple[int, str, str, int]]:
        """(worker pid, method, target, status) of every request this pool answered."""
        return [(int(p), m, t, int(s)) for p, m, t, s in _SERVED.findall(self._text())]

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
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


class Pools:
    """The pool a module's tests share, started again where a test stopped it (a test that
    stops its store and starts it on the same port gets a new pool there)."""

    def __init__(self, home: Path, workers: int, env: dict[str, str]) -> None:
        self.home, self.workers, self.env = home, workers, env
        self.control = SharedClock(home.parent / "pool-control")
        self.pool: WorkerPool | None = None

    def get(self, port: int = 0) -> WorkerPool:
        pool = self.pool
        if pool is not None and pool.alive() and port in (0, pool.server_address[1]):
            return pool
        self.stop()
        self.control.name(None)  # a new pool's workers start serving nothing
        self.pool = WorkerPool(self.home, self.control, self.workers, port, self.env)
        return self.pool

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.stop()
            self.pool = None


if __name__ == "__main__":
    sys.exit(main())
