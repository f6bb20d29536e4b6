"""The serial console: the daemon's commands and events on a serial line (docs/SERIAL.md).

Another transport for :class:`device.control.Controller`, which does what each command does; this
module only moves lines. Each attached client is a :class:`ConsoleSession` with two threads: the
reader runs one command at a time and queues its answer, the writer sends answers and the
daemon's events (from :class:`device.bus.EventBus`) in the order they were queued. So every
event a command caused is on the line before that command's answer, and a client that stops
reading loses events (a gap in their ``seq``), never the camera's time: the bus never waits.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import deque
from collections.abc import Callable

from device import console_protocol as protocol
from device.bus import EventBus, Published
from device.control import Controller
from evidence.messages import plain
from hal.serial_ports import (
    POLL_S,
    Port,
    PortGone,
    PtyPort,
    SerialPort,
    SocketPort,
    parse_port_spec,
)

log = logging.getLogger("bodycam")

#: Events waiting for a slow line beyond this many are dropped (answers never are).
OUTBOX_EVENTS = 1000
#: A serial device that cannot be opened (adapter unplugged) is tried again this often.
REOPEN_S = 5.0


class ConsoleError(Exception):
    """The console cannot be served as configured; one line naming the port and why."""


class Outbox:
    """Lines waiting for the writer, in order; events beyond ``limit`` are dropped."""

    def __init__(self, limit: int = OUTBOX_EVENTS) -> None:
        self.limit = limit
        self._lines: deque[tuple[bytes, bool]] = deque()
        self._events = 0
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0

    def put(self, line: bytes, is_event: bool = False) -> None:
        with self._cond:
            if self._closed:
                return
            if is_event and self._events >= self.limit:
                self.dropped += 1
                return
            self._lines.append((line, is_event))
            self._events += is_event
            self._cond.notify()

    def get(self) -> bytes | None:
        """The next line; None once closed and empty."""
        with self._cond:
            while not self._lines and not self._closed:
                self._cond.wait()
            if not self._lines:
                return None
            line, is_event = self._lines.popleft()
            self._events -= is_event
            return line

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class ConsoleSession:
    """One client on one port, from attach to detach (end of stream or :meth:`stop`)."""

    def __init__(self, port: Port, controller: Controller, bus: EventBus, name: str) -> None:
        self.port = port
        self.controller = controller
        self.bus = bus
        self.name = name
        self.outbox = Outbox()
        self.done = threading.Event()
        self._stopping = threading.Event()
        self._unsubscribe: Callable[[], None] | None = None
        self._reader = threading.Thread(target=self._read_loop, name=f"console-in {name}",
                                        daemon=True)
        self._writer = threading.Thread(target=self._write_loop, name=f"console-out {name}",
                                        daemon=True)

    def start(self) -> None:
        """Greets first (``event 0 T console {...}``): a client on a socket knows the console
        is reading from then on; input that came earlier may have been flushed by the open."""
        hello = self.controller.handle({"cmd": "version"})
        hello.pop("ok")
        hello["mode"] = self.controller.daemon.state
        t = self.controller.daemon.clock.monotonic()
        self.outbox.put(protocol.event(Published(0, t, "console", hello)))
        self._unsubscribe = self.bus.subscribe(self._on_event)
        self._writer.start()
        self._reader.start()

    def _on_event(self, published: Published) -> None:
        self.outbox.put(protocol.event(published), is_event=True)

    def answer(self, raw: bytes | None) -> bytes:
        """The one answer line for one request line (None: a line that was too long)."""
        if raw is None:
            return protocol.error(None, f"line longer than {protocol.MAX_LINE} bytes: "
                                        f"ignored up to its end")
        rid, name = None, "request"
        try:
            text = protocol.decode(raw)
            available = set(self.controller.commands)
            rid, name, request = protocol.parse(text, available)
            if name == "help":
                return protocol.ok(rid, {"commands": protocol.usage(available)})
            reply = self.controller.handle(request)
        except protocol.BadLine as exc:
            return protocol.error(exc.rid, str(exc))
        except Exception as exc:  # a command that broke must not take the console with it
            log.exception("serial console: %s failed", name)
            return protocol.error(rid, f"{name} failed: {plain(exc)}")
        if not reply.pop("ok", False):
            return protocol.error(rid, f"{name}: {reply.get('error', 'failed')}")
        return protocol.ok(rid, reply)

    def _read_loop(self) -> None:
        splitter = protocol.LineSplitter()
        try:
            while not self._stopping.is_set():
                for raw in splitter.feed(self.port.read()):
                    if protocol.needs_answer(raw):
                        self.outbox.put(self.answer(raw))
        except PortGone as exc:
            log.info("serial console %s: %s", self.name, exc)
        except Exception:
            log.exception("serial console %s: reader stopped", self.name)
        finally:
            self.done.set()

    def _write_loop(self) -> None:
        try:
            while (line := self.outbox.get()) is not None:
                self.port.write(line)
        except PortGone:
            pass
        except Exception:
            log.exception("serial console %s: writer stopped", self.name)
        finally:
            self.done.set()
            self.outbox.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the command under way, send what is queued, then let go of the port."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._stopping.set()
        if self._reader.is_alive():
            self._reader.join(timeout)
        self.outbox.close()
        if self._writer.is_alive():
            self._writer.join(timeout=2.0)
        self.port.close()
        self._writer.join(timeout=1.0)

    def wait(self) -> None:
        """Until the client goes away (or :meth:`stop`); then release the port."""
        self.done.wait()
        self.stop()


class SerialConsole:
    """Serves the console on ``spec`` (``pty``, ``tcp:[HOST:]PORT``, a device or pyserial
    URL). :attr:`url` is what a client passes to ``serial.serial_for_url``."""

    def __init__(self, controller: Controller, bus: EventBus, spec: str,
                 baudrate: int = 115200) -> None:
        self.controller = controller
        self.bus = bus
        self.baudrate = baudrate
        self._stopped = threading.Event()
        self._sessions: set[ConsoleSession] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        try:
            self.spec = parse_port_spec(spec)
        except ValueError as exc:
            raise ConsoleError(f"serial console: {exc}") from None
        if self.spec.kind == "off":
            raise ConsoleError("serial console: the port is 'off'")
        self.url = self.spec.url
        if self.spec.kind == "pty":
            self._pty = PtyPort()
            self.url = self._pty.path
        elif self.spec.kind == "tcp":
            self._listen()

    def _listen(self) -> None:
        spec = self.spec
        try:
            listener = socket.create_server((spec.host, spec.port))
        except OSError as exc:
            raise ConsoleError(f"serial console: cannot listen on {spec.host}:{spec.port}: "
                               f"{exc.strerror or exc}") from None
        listener.settimeout(POLL_S)  # accept() wakes up to notice stop()
        self._listener = listener
        host, port = listener.getsockname()[:2]
        self.url = f"socket://{host}:{port}"

    def start(self) -> None:
        target = {"pty": self._serve_pty, "tcp": self._serve_tcp,
                  "url": self._serve_url}[self.spec.kind]
        self._spawn(target, f"console {self.url}")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _session(self, port: Port, name: str) -> None:
        session = ConsoleSession(port, self.controller, self.bus, name)
        with self._lock:
            if self._stopped.is_set():
                port.close()
                return
            self._sessions.add(session)
        session.start()
        session.wait()
        with self._lock:
            self._sessions.discard(session)

    def _serve_pty(self) -> None:
        self._session(self._pty, self.url)

    def _serve_tcp(self) -> None:
        assert self._listener is not None
        while not self._stopped.is_set():
            try:
                conn, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed by stop()
            name = f"{peer[0]}:{peer[1]}"
            self._spawn(lambda c=conn, n=name: self._session(SocketPort(c), n),
                        f"console {name}")

    def _serve_url(self) -> None:
        """A serial device may come and go (a USB adapter); keep trying while the camera runs,
        logging a failure once rather than every attempt."""
        last_problem = None
        while not self._stopped.is_set():
            try:
                port = SerialPort(self.url, self.baudrate)
            except PortGone as exc:
                if str(exc) != last_problem:
                    log.warning("serial console: %s; trying again every %g s", exc, REOPEN_S)
                    last_problem = str(exc)
                self._stopped.wait(REOPEN_S)
                continue
            last_problem = None
            log.info("serial console on %s", self.url)
            self._session(port, self.url)

    def stop(self) -> None:
        self._stopped.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.stop()
        if self.spec.kind == "pty":
            self._pty.close()
        for thread in self._threads:
            thread.join(timeout=2.0)
