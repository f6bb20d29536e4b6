"""Content-addressed object storage: immutable blobs named by the SHA-256 of their bytes.

The catalogue (:mod:`store.catalogue`) says what an object is; the object store only keeps bytes.
:class:`ObjectStore` is the interface the rest of the store uses, so a backend for S3-compatible
storage with object lock can replace :class:`FilesystemObjectStore` for a force's whole fleet:
``put_file`` becomes a PUT (with a retention date under object lock), ``open`` a GET, ``delete``
a DELETE that the bucket refuses while the lock holds (:mod:`store.objects_s3`). Upload
staging stays on local disk (:mod:`store.staging`) whatever the backend.

A backend must implement :meth:`~ObjectStore.put_file`, :meth:`~ObjectStore.open`,
:meth:`~ObjectStore.exists` and :meth:`~ObjectStore.delete`; it may override
:meth:`~ObjectStore.put_bytes` and :meth:`~ObjectStore.copy_to` for speed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import BinaryIO

from evidence.fsutil import atomic_write, fsync_dir, open_private, private_dir

SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def check_name(sha256: str) -> str:
    """Object names are lowercase hex SHA-256: never a path a client could steer."""
    if not SHA256_HEX.fullmatch(sha256):
        raise ValueError(f"{sha256!r} is not a lowercase hex SHA-256")
    return sha256


class ObjectStore(ABC):
    """Immutable objects by SHA-256. ``put_*`` is durable when it returns.

    ``retain_until`` (UTC seconds) is the object's deletion date: a backend with object lock
    refuses to delete it before then, whoever asks; one without (the folder) leaves that to the
    catalogue."""

    #: Whether the backend itself enforces ``retain_until`` and legal holds.
    locks = False

    @abstractmethod
    def put_file(self, path: Path, sha256: str, retain_until: float | None = None) -> None:
        """Take ownership of the complete, fsynced local file ``path`` whose SHA-256 the caller
        computed. An object that already exists is kept as it is (same hash, same bytes)."""

    @abstractmethod
    def open(self, sha256: str) -> BinaryIO:
        """Read an object; FileNotFoundError if there is none."""

    @abstractmethod
    def exists(self, sha256: str) -> bool: ...

    @abstractmethod
    def delete(self, sha256: str) -> None:
        """Remove an object; a missing one is not an error (deletion is retried after a crash)."""

    def put_bytes(self, sha256: str, data: bytes, retain_until: float | None = None) -> None:
        with tempfile.NamedTemporaryFile(delete=False) as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        self.put_file(Path(tmp.name), sha256, retain_until)

    def set_legal_hold(self, sha256: str, on: bool) -> None:  # noqa: B027 (optional)
        """Hold (or release) an object for a case; without object lock the catalogue's flag is
        what keeps it."""

    def delete_refusal(self, sha256: str) -> str | None:
        """Why the backend would refuse to delete this object now (None: it would not)."""
        return None

    def abort_incomplete(self, older_than: float) -> list[str]:
        """Abandon partial writes begun before ``older_than`` (UTC seconds); their names."""
        return []

    def read_bytes(self, sha256: str) -> bytes:
        with self.open(sha256) as f:
            return f.read()

    def copy_to(self, sha256: str, dest: Path) -> None:
        with self.open(sha256) as src, open_private(dest) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)


class FilesystemObjectStore(ObjectStore):
    """``ROOT/ab/abcdef...``: one read-only file per object (0400, in 0700 folders: the
    owner's only), written by rename and fsync."""

    def __init__(self, root: Path) -> None:
        self.root = root
        private_dir(root)
        for folder in root.iterdir():  # at most 256: an older store made them 0755
            if folder.is_dir() and folder.stat().st_mode & 0o077:
                private_dir(folder)

    def path(self, sha256: str) -> Path:
        check_name(sha256)
        return self.root / sha256[:2] / sha256

    def put_file(self, path: Path, sha256: str, retain_until: float | None = None) -> None:
        dest = self.path(sha256)
        if dest.exists():
            path.unlink()
            return
        private_dir(dest.parent)
        os.chmod(path, 0o400)
        try:
            os.replace(path, dest)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            tmp = dest.with_name(dest.name + ".tmp")
            with open(path, "rb") as src, open_private(tmp) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
                dst.flush()
                os.fsync(dst.fileno())
            os.chmod(tmp, 0o400)
            os.replace(tmp, dest)
            path.unlink()
        fsync_dir(dest.parent)

    def put_bytes(self, sha256: str, data: bytes, retain_until: float | None = None) -> None:
        dest = self.path(sha256)
        if not dest.exists():
            private_dir(dest.parent)
            atomic_write(dest, data, mode=0o400)

    def open(self, sha256: str) -> BinaryIO:
        return open(self.path(sha256), "rb")

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def delete(self, sha256: str) -> None:
        path = self.path(sha256)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            fsync_dir(path.parent)
