"""Where the serial console is served: a serial device or pyserial URL, a pseudo-terminal, or a
TCP port; and the small byte-stream interface the console needs from each.

Every kind is reachable by a pyserial URL from the other end: a real port by its device name, a
pseudo-terminal by its ``/dev/pts/N`` path, a TCP port as ``socket://HOST:PORT``.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import tty
from dataclasses import dataclass
from typing import Protocol

import serial

#: How long a read waits before the console checks whether it should stop.
POLL_S = 0.2


class PortGone(Exception):
    """The other end went away (TCP peer closed, USB adapter unplugged)."""


class Port(Protocol):
    """A byte stream. ``read`` returns what arrived within ``POLL_S`` (maybe nothing) and
    raises :class:`PortGone` at the end; ``write`` sends all of ``data`` or raises it."""

    def read(self) -> bytes: ...
    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class PortSpec:
    kind: str  # off | pty | tcp | url
    url: str = ""
    host: str = "127.0.0.1"
    port: int = 0


def parse_port_spec(text: str) -> PortSpec:
    """``off``, ``pty``, ``tcp:PORT``, ``tcp:HOST:PORT``, or a device / pyserial URL."""
    if text in ("off", "pty"):
        return PortSpec(text)
    if text.startswith("tcp:"):
        host, _, number = text[4:].rpartition(":")
        if not number.isdigit() or int(number) > 65535:
            raise ValueError(f"expected tcp:PORT or tcp:HOST:PORT with PORT 0-65535, "
                             f"got {text!r}")
        return PortSpec("tcp", host=host or "127.0.0.1", port=int(number))
    if "://" in text or text.startswith("/dev/") or text.upper().startswith("COM"):
        return PortSpec("url", url=text)
    raise ValueError(f"expected off, pty, tcp:PORT, a device such as /dev/serial0 or a "
                     f"pyserial URL such as rfc2217://host:port, got {text!r}")


class SerialPort:
    """A real serial port or any pyserial URL (``loop://``, ``socket://``, ``rfc2217://``)."""

    def __init__(self, url: str, baudrate: int) -> None:
        try:
            self.serial = serial.serial_for_url(url, baudrate=baudrate, timeout=POLL_S)
        except (serial.SerialException, ValueError) as exc:
            raise PortGone(f"cannot open {url}: {exc}") from None

    def read(self) -> bytes:
        try:
            data = self.serial.read(1)
            waiting = self.serial.in_waiting if data else 0
            return data + (self.serial.read(waiting) if waiting else b"")
        except (serial.SerialException, OSError) as exc:
            raise PortGone(str(exc)) from None

    def write(self, data: bytes) -> None:
        try:
            self.serial.write(data)
            self.serial.flush()
        except (serial.SerialException, OSError) as exc:
            raise PortGone(str(exc)) from None

    def close(self) -> None:
        self.serial.close()


class _FdPort:
    """A non-blocking file descriptor: reads wait at most ``POLL_S``; writes wait for room
    but give up once closed, so a client that stopped reading cannot hang the console."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.closed = False
        os.set_blocking(fd, False)

    def read(self) -> bytes:
        if self.closed:
            raise PortGone("closed")
        if not self._wait(read=True):
            return b""
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return b""
        except OSError as exc:
            raise PortGone(exc.strerror or str(exc)) from None
        if not data:
            raise PortGone("end of stream")
        return data

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.closed:
                raise PortGone("closed")
            if not self._wait(read=False):
                continue
            try:
                view = view[os.write(self.fd, view):]
            except BlockingIOError:
                continue
            except OSError as exc:
                raise PortGone(exc.strerror or str(exc)) from None

    def _wait(self, read: bool) -> bool:
        """Readable (or writable) within ``POLL_S``; a descriptor closed under us is the end."""
        try:
            lists = select.select([self.fd] if read else [], [] if read else [self.fd], [],
                                  POLL_S)
        except (OSError, ValueError):
            raise PortGone("closed") from None
        return bool(lists[0] or lists[1])

    def close(self) -> None:
        self.closed = True


class PtyPort(_FdPort):
    """The daemon's end of a pseudo-terminal; a client opens :attr:`path` like a serial port.

    The daemon keeps the terminal end open too, so the pty lives while no client is attached,
    and sets it raw, so nothing is echoed back before a client has configured it.
    """

    def __init__(self) -> None:
        master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        super().__init__(master)

    def close(self) -> None:
        if self.closed:
            return  # the descriptors may already belong to someone else
        super().close()
        for fd in (self.fd, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class SocketPort(_FdPort):
    """One accepted TCP connection."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        super().__init__(conn.fileno())

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        with contextlib.suppress(OSError):
            self.conn.shutdown(socket.SHUT_RDWR)
        self.conn.close()
