"""``bodycam store serve --workers N``: N uvicorn worker processes on one listening socket.

The parent binds the socket, opens the store once (so a bad directory, key or setting stops it
with one line before any worker starts, and an old catalogue is migrated by one process), runs
retention, and supervises: uvicorn restarts a worker that dies, even by SIGKILL. Each worker
opens its own :class:`~store.service.Store` on the same directory (its own catalogue connection,
audit log, locks) through :func:`worker_app`, so any worker serves any request of any upload.
What workers share is on disk: the catalogue (SQLite in WAL mode, writers ``BEGIN IMMEDIATE``
with a busy timeout), the objects, staging, the audit log and the lock files (``flock``).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess

from store.http import StoreApp, server_config, tls_context
from store.retention import run_periodically
from store.service import Store

#: What the parent tells its workers: JSON with the store directory.
WORKER_ENV = "BODYCAM_STORE_WORKER"


def worker_app() -> StoreApp:
    """uvicorn's app factory, run in each worker process: open the store the parent named."""
    settings = json.loads(os.environ[WORKER_ENV])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(process)d] %(message)s")
    return StoreApp(Store(Path(settings["dir"])), owns_store=True)


class WorkerConfig(uvicorn.Config):
    """uvicorn's settings, pickled to each worker; TLS from the store's own context
    (:func:`~store.http.tls_context`, TLS 1.2 at least) rather than uvicorn's."""

    def __init__(self, app: Any, tls_files: tuple[str, str] | None = None,
                 **options: Any) -> None:
        super().__init__(app, **options)
        self.tls_files = tls_files

    def load(self) -> None:
        super().load()
        if self.tls_files:
            self.ssl = tls_context(Path(self.tls_files[0]), Path(self.tls_files[1]))


def serve_workers(store: Store, sock: socket.socket, workers: int,
                  tls_files: tuple[str, str] | None = None,
                  app_factory: str = "store.workers:worker_app",
                  settings: dict[str, Any] | None = None) -> None:
    """Serve ``store``'s directory on ``sock`` from ``workers`` processes until SIGINT or
    SIGTERM; retention runs here, in the parent, once for all of them.

    ``app_factory`` is the import path of the function each worker calls for its app
    (:func:`worker_app`; the tests name one that puts the workers on a clock they move), and
    ``settings`` are more keys for it beside ``dir``. Both are arguments of this call only:
    ``store serve`` passes neither, and nothing a deployed store reads can change them."""
    os.environ[WORKER_ENV] = json.dumps({**(settings or {}), "dir": str(store.directory)})
    config = server_config(app_factory, config_class=WorkerConfig,
                           factory=True, workers=workers, tls_files=tls_files)
    supervisor = Multiprocess(config, sockets=[sock])  # installs its signal handlers
    stop = threading.Event()
    retention = threading.Thread(target=run_periodically, name="retention", daemon=True,
                                 args=(store.retention, store.config.retention_interval_s, stop))
    retention.start()
    try:
        supervisor.run()
    finally:
        stop.set()
        retention.join(timeout=5)
