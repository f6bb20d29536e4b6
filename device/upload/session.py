"""One stay in the dock: what the uploader knows and has done since the camera was docked."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device.upload.work import Segment
from evidence.identity import DeviceIdentity
from evidence.store_client import DeviceClient


@dataclass
class Session:
    """One stay in the dock."""

    identity: DeviceIdentity
    client: DeviceClient | None = None
    store_key: Ed25519PublicKey | None = None
    store_id: str = ""
    ready: bool = False
    queue: list[Segment] | None = None
    current: Segment | None = None
    upload: dict[str, Any] | None = None  # the store's status of the current upload
    audit_upload: dict[str, Any] | None = None
    audit_snapshot: tuple[int, str] | None = None
    audit_done: bool = False
    finished: bool = False
    fatal: str | None = None
    pending: tuple[Future[Any], Callable[[Future[Any]], str]] | None = None
    retry_at: float = 0.0
    #: Recordings not to go on with in this session (a segment failed: the chain stops there).
    held_back: set[str] = field(default_factory=set)
    bytes_sent: int = 0
    uploaded: int = 0
    receipts: int = 0
    quarantined: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def log_snapshot(path: Path) -> tuple[int, str]:
    """(size, SHA-256) of the audit log up to its last complete line: the daemon may be
    appending, and the store must get a prefix that never changes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        end = pos = os.fstat(f.fileno()).st_size
        while pos > 0:
            size = min(1 << 16, pos)
            f.seek(pos - size)
            newline = f.read(size).rfind(b"\n")
            if newline >= 0:
                end = pos - size + newline + 1
                break
            pos -= size
        else:
            end = 0
        f.seek(0)
        left = end
        while left:
            block = f.read(min(1 << 20, left))
            digest.update(block)
            left -= len(block)
    return end, digest.hexdigest()
