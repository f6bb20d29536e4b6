"""The stream a segment's muxer writes into when encryption is on: AES-256-CTR on the way to the
file, so no plaintext byte of footage reaches the card (docs/FORMAT.md, "Encryption at rest").

It sits at the one seam between the muxer and the file (``evidence.fsutil.open_stream``): the
file below is flushed and fsynced exactly as before (``fileno()`` is the file's), and CTR keeps
byte offsets, so the fragment log signs ciphertext offsets that are also plaintext offsets.
"""

from __future__ import annotations

import os
from typing import BinaryIO

from evidence.crypt import SegmentKey, StreamCipher


class EncryptingStream:
    """Write-only, seekable like the file below; every write is encrypted at its offset.
    Closing it closes the file (each exactly once, as ``open_stream``'s file)."""

    def __init__(self, file: BinaryIO, key: SegmentKey) -> None:
        self._file = file
        self._key = key
        self._pos = file.tell()
        self._cipher: StreamCipher = key.cipher(self._pos)

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        plain = bytes(data)
        try:
            written = self._file.write(self._cipher.update(plain))
        except OSError:
            # The card refused (ENOSPC, EIO): what the file took is what its position says,
            # so the muxer's later writes (abort's last fragment) stay at their true offsets.
            self._pos = self._file.tell()
            self._cipher = self._key.cipher(self._pos)
            raise
        if written is not None and written != len(plain):  # a short write: resume there
            self._pos += written
            self._cipher = self._key.cipher(self._pos)
            return written
        self._pos += len(plain)
        return len(plain)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        pos = self._file.seek(offset, whence)
        if pos != self._pos:
            self._pos, self._cipher = pos, self._key.cipher(pos)
        return pos

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        self._file.flush()

    def fileno(self) -> int:
        return self._file.fileno()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> EncryptingStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def decrypt_at(key: SegmentKey, offset: int, data: bytes) -> bytes:
    """The plaintext of ciphertext ``data`` read at ``offset`` (CTR: any offset)."""
    return key.cipher(offset).update(data)
