"""The local control socket: how ``bodycam status|press|shutdown`` talk to a running daemon.

A Unix stream socket ``control.sock`` in the data directory (mode 0600: only the camera's own
user may drive it). One JSON object per line each way: a request ``{"cmd": "press", "button":
"record", "gesture": "double"}`` gets ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``.
A bad request gets an error line and never disturbs the device: a line that is not JSON, not
UTF-8 or over 64 KiB, NaN, infinity or a number of more than 20 digits, an argument a command
does not take. One thread serves every client (:class:`ControlServer`), so a flood of them
costs no threads and never holds up ``status`` or a gesture.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import queue
import resource
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from device.console_protocol import BadLine, LineSplitter, decode
from device.daemon import Daemon
from device.gestures import GESTURE_KINDS
from evidence.messages import plain, show
from hal.inputs import BUTTON_NAMES

SOCKET_NAME = "control.sock"
MAX_REQUEST = 64 * 1024
REPLY_TIMEOUT_S = 60.0
#: Clients connected at once (fewer where the process has few file descriptors).
MAX_CONNECTIONS = 256
#: Connections the kernel queues before the loop takes them. A burst of this many clients gets
#: in at once, and ``request`` waits its turn past a full queue; a longer queue would only make
#: a new client wait behind more of a flood (the loop takes some 10,000 a second).
BACKLOG = 128
#: A client that sends no complete request (or takes no answer) for this long is closed.
IDLE_S = 10.0
#: Threads working on requests that may wait; the loop answers the quick ones itself.
WORKERS = 8
INLINE = frozenset({"status", "version", "events"})
#: Gestures have workers of their own, so no other command (a long poll, a slow one) can
#: hold one up.
GESTURES = frozenset({"press", "edge", "button", "trigger"})
GESTURE_WORKERS = 4
#: The longest hold a request may ask for.
MAX_HOLD_S = 30.0
#: What each built-in command takes besides "cmd"; anything else is refused by name. An extra
#: handler may say the same with :func:`takes` (one that does not is not checked).
PARAMS: dict[str, tuple[str, ...]] = {
    "status": (), "version": (), "shutdown": (), "press": ("button", "gesture", "seconds"),
    "edge": ("button", "pressed"), "marker": ("note",), "trigger": ("name",),
    "events": ("since",),
}
#: Integers in a request have at most this many digits.
MAX_DIGITS = 20
#: On stop, answers under way get this long to go out.
STOP_S = 5.0

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ControlError(Exception):
    """A request failed; the message is one line meant for the person who asked."""


def takes(*params: str) -> Callable[[Handler], Handler]:
    """Declare what a backend's command takes besides "cmd": others are refused by name."""
    def mark(handler: Handler) -> Handler:
        handler.params = params  # type: ignore[attr-defined]
        return handler
    return mark


def socket_path(data_dir: Path) -> Path:
    return data_dir / SOCKET_NAME


class Controller:
    """Turns requests into daemon events. Backends add commands through ``extra``."""

    def __init__(self, daemon: Daemon, extra: dict[str, Handler] | None = None) -> None:
        self.daemon = daemon
        self.commands: dict[str, Handler] = {
            "status": self._status,
            "press": self._press,
            "edge": self._edge,
            "marker": self._marker,
            "trigger": self._trigger,
            "shutdown": self._shutdown,
            "version": self._version,
            "events": self._events,
            **(extra or {}),
        }

    def handle(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
            return {"ok": False, "error": 'request must be a JSON object with a "cmd" string'}
        cmd = request["cmd"]
        handler = self.commands.get(cmd)
        if handler is None:
            return {"ok": False, "error": f"unknown command {show(cmd)} "
                                          f"(expected one of: {', '.join(sorted(self.commands))})"}
        params = PARAMS.get(cmd, getattr(handler, "params", None))
        unknown = [k for k in request if k != "cmd" and params is not None and k not in params]
        if unknown:
            takes = f"only {', '.join(params)}" if params else "no arguments"
            return {"ok": False, "error": f"{cmd} takes {takes}, got {show(unknown[0])}"}
        try:
            return {"ok": True, **handler(request)}
        except ControlError as exc:
            return {"ok": False, "error": str(exc)}

    def _status(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"status": self.daemon.status().to_json()}

    def _press(self, request: dict[str, Any]) -> dict[str, Any]:
        button, kind = _button(request), request.get("gesture", "press")
        if kind not in GESTURE_KINDS:
            raise ControlError(f"unknown gesture {show(kind)} "
                               f"(expected one of: {', '.join(GESTURE_KINDS)})")
        seconds = request.get("seconds")
        clock = self.daemon.clock
        if seconds is not None and kind != "hold":
            raise ControlError(f'seconds goes with gesture "hold" only, not {show(kind)}')
        if kind == "hold" and seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not (
                    0 < seconds <= MAX_HOLD_S):
                raise ControlError(f"hold seconds must be a number more than 0 and at most "
                                   f"{MAX_HOLD_S:g}, got {show(seconds)}")
            end = self._hold(button, float(seconds), self._stamp(request))
        else:
            end = self.daemon.gestures.inject(button, kind, self._stamp(request))
        if not clock.realtime:
            return {"button": button, "gesture": kind, "mode": self.daemon.state,
                    "pending_until": end}
        # A real clock: answer once the gesture is done (a lone press is only recognised
        # after the double-press window) and the daemon has acted on it.
        done = threading.Event()
        gestures = self.daemon.config.gestures
        clock.call_at(end + gestures.double_press_window_s + gestures.late_s + 0.05, done.set)
        done.wait(timeout=REPLY_TIMEOUT_S)
        self.daemon.sync()
        return {"button": button, "gesture": kind, "mode": self.daemon.state}

    def _edge(self, request: dict[str, Any]) -> dict[str, Any]:
        """One contact change, for a front end that has real key-down and key-up (the browser
        panel): the recogniser, not the caller, decides what the presses mean."""
        button, pressed = _button(request), request.get("pressed")
        if not isinstance(pressed, bool):
            raise ControlError(f"edge takes pressed: true (button down) or false (up), "
                               f"got {show(pressed)}")
        self.daemon.gestures.edge(button, pressed, self._stamp(request))
        return {"button": button, "pressed": pressed}

    def _stamp(self, request: dict[str, Any]) -> float:
        """When the press happened: its arrival at this thread, taken before anything else is
        done with it, so the edges it makes are stamped there and a thread that runs their
        timers late does not stretch or split the gesture."""
        return self.daemon.clock.monotonic()

    def _hold(self, button: str, seconds: float, start: float) -> float:
        gestures, clock = self.daemon.gestures, self.daemon.clock
        gestures.edge(button, True, start)
        if start + seconds <= clock.monotonic():
            gestures.edge(button, False, start + seconds)
        else:
            clock.call_at(start + seconds, lambda: gestures.edge(button, False, start + seconds))
        return start + seconds

    def _marker(self, request: dict[str, Any]) -> dict[str, Any]:
        note = request.get("note", "")
        if not isinstance(note, str) or len(note) > 200:
            raise ControlError("marker note must be a string of at most 200 characters")
        placed = self.daemon.request("marker", note=note).result(timeout=REPLY_TIMEOUT_S)
        if not placed:
            raise ControlError(f"no recording to mark (mode is {self.daemon.state})")
        return {}

    def _trigger(self, request: dict[str, Any]) -> dict[str, Any]:
        name, names = request.get("name"), self.daemon.config.triggers.names
        if name not in names:
            raise ControlError(f"unknown trigger {show(name)} (configured: "
                               f"{', '.join(names) or 'none'})")
        started = self.daemon.request("trigger", name=name).result(timeout=REPLY_TIMEOUT_S)
        return {"started": started, "mode": self.daemon.state}

    def _version(self, request: dict[str, Any]) -> dict[str, Any]:
        """Who answers: a test suite picks how to wait (virtual clock or real) from this."""
        daemon = self.daemon
        return {"version": _package_version(), "backend": daemon.hw.name,
                "model": daemon.config.device.model, "serial": daemon.config.device.serial,
                "device_id": daemon.identity.device_id if daemon.identity else None,
                "clock": "real" if daemon.clock.realtime else "virtual",
                "commands": sorted(self.commands)}

    def _events(self, request: dict[str, Any]) -> dict[str, Any]:
        """The events kept since ``since`` (a seq): how the boot went, to a late listener."""
        since = request.get("since", 0)
        if isinstance(since, bool) or not isinstance(since, int) or since < 0:
            raise ControlError(f"events since must be a whole number >= 0, got {show(since)}")
        return {"events": [e.as_dict() for e in self.daemon.bus.recent(since)]}

    def _shutdown(self, request: dict[str, Any]) -> dict[str, Any]:
        self.daemon.post("shutdown", reason="shutdown command")
        if not self.daemon.exit_requested.wait(timeout=REPLY_TIMEOUT_S):
            raise ControlError("the daemon did not stop within 60 s")
        return {"mode": self.daemon.state}


def _button(request: dict[str, Any]) -> str:
    button = request.get("button")
    if button not in BUTTON_NAMES:
        raise ControlError(f"unknown button {show(button)} "
                           f"(expected one of: {', '.join(BUTTON_NAMES)})")
    return str(button)


class _Refused(ValueError):
    """A request line that is not one JSON object of plain values; the message says why."""


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise _Refused(f"request has a number of more than {MAX_DIGITS} digits")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"request has a number too large to use ({text[:20]})")
    return value


def _constant(text: str) -> Any:
    raise _Refused(f"request has {text}, which is not a JSON number")


def parse_request(raw: bytes | None) -> dict[str, Any] | str:
    """One request line: the request, or the one-line reason it is refused. JSON's own
    extensions (NaN, Infinity) and numbers no command could use (1e999, 5,000 digits) are
    refused here, so no command sees them."""
    if raw is None:
        return f"request longer than {MAX_REQUEST // 1024} KiB: ignored up to its end"
    try:
        text = decode(raw.removesuffix(b"\r"))
    except BadLine as exc:
        return f"request {exc}".replace("request line ", "request ")
    if not text.strip():
        return 'empty request: send one JSON object per line, such as {"cmd": "status"}'
    try:
        request = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except _Refused as exc:
        return str(exc)
    except json.JSONDecodeError as exc:
        return f"request is not JSON: {exc.msg} at column {exc.colno}"
    except RecursionError:
        return "request is not JSON: nested too deeply"
    if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
        return 'request must be a JSON object with a "cmd" string'
    return request


def encode(reply: dict[str, Any]) -> bytes:
    """One answer line; an answer that JSON cannot carry becomes an error line."""
    try:
        return json.dumps(reply, allow_nan=False, default=str).encode() + b"\n"
    except (TypeError, ValueError):
        log.exception("control socket: answer not sendable as JSON: %r", reply)
        return json.dumps({"ok": False, "error": "the answer could not be sent as JSON "
                                                 "(logged)"}).encode() + b"\n"


_turns = itertools.count()


class _Client:
    """One connection: what it sent but was not yet answered, what waits to be sent back."""

    __slots__ = (
        "busy",
        "closing",
        "eof",
        "last",
        "lines",
        "out",
        "sock",
        "splitter",
        "spoke",
        "turn",
        "watching",
    )

    def __init__(self, sock: socket.socket, now: float) -> None:
        self.sock = sock
        self.lines: deque[bytes | None] = deque()
        self.splitter = LineSplitter(MAX_REQUEST, newline_only=True, keep_blank=True)
        self.out = bytearray()
        self.busy = False  # a request of this client is being worked on
        self.eof = False  # the client will send no more
        self.closing = False  # close once ``out`` is sent
        self.last = now  # the last complete request, or bytes sent: idle time counts from it
        self.turn = next(_turns)  # the same, in order: who was idle longest when times tie
        self.spoke = False  # it has sent a complete request
        self.watching = 0  # the selector events registered for it


class ControlServer:
    """Serves the control socket on one thread with a selector, however many clients connect.

    Requests that may wait (a press on a real clock, a marker, shutdown) go to a small pool of
    workers; ``status``, ``version`` and ``events`` are answered on the loop itself, so a
    flood of clients, slow commands or a client that never reads cannot hold them up. A
    client is idle from its last complete request (or the last bytes it took of an answer):
    after ``idle_s`` on the daemon's clock it is told so and closed; when ``max_connections``
    are open, the one idle longest makes room for a new one. Each client has one request in
    work at a time and is not read from until its answer is sent.
    """

    def __init__(self, data_dir: Path, controller: Controller,
                 max_connections: int = MAX_CONNECTIONS, idle_s: float = IDLE_S,
                 workers: int = WORKERS) -> None:
        self.controller = controller
        self.clock = controller.daemon.clock
        self.max_connections = max(1, min(max_connections, _fd_budget()))
        self.idle_s = idle_s
        self.path = socket_path(data_dir)
        if len(os.fsencode(self.path)) > 100:
            raise ControlError(f"control socket path {self.path} is too long for a Unix socket; "
                               f"use a shorter --data-dir")
        if self.path.exists():
            if _alive(self.path):
                raise ControlError(f"a daemon is already running on {self.path}")
            self.path.unlink()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            self._listener.bind(str(self.path))
            self._listener.listen(BACKLOG)
        except OSError:
            self._listener.close()
            raise
        finally:
            os.umask(old)
        self._listener.setblocking(False)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, "listener")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._accepting = True
        self._clients: dict[_Client, None] = {}  # in the order they came
        self._silent: dict[_Client, None] = {}  # those that never sent a request, likewise
        self._answers: deque[tuple[_Client, dict[str, Any]]] = deque()
        self._pool = _Workers(workers, "control-work")
        self._gesture_pool = _Workers(GESTURE_WORKERS, "control-gesture")
        self._resume_at = 0.0  # out of file descriptors: accept again from then on
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="control", daemon=True)

    @property
    def connections(self) -> int:
        """Clients connected now (for tests and status displays)."""
        return len(self._clients)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Make the loop look at its clients now (an answer is ready; time was moved)."""
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def stop(self) -> None:
        """Stop taking clients and requests; answers under way are still sent (the shutdown
        command's among them), for at most a few seconds."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self.wake()
        if self._thread.is_alive():
            self._thread.join(timeout=STOP_S + 2)
        else:
            self._close_all()
        for pool in (self._pool, self._gesture_pool):
            pool.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    # -- the loop ----------------------------------------------------------------------------
    def _serve(self) -> None:
        stop_by: float | None = None
        try:
            while True:
                if self._stopping.is_set():
                    if stop_by is None:
                        stop_by = time.monotonic() + STOP_S
                        self._stop_accepting()
                    if time.monotonic() > stop_by or not any(
                            c.busy or c.out for c in self._clients):
                        return
                for key, mask in self._selector.select(self._timeout()):
                    if key.data == "listener":
                        self._accept()
                    elif key.data == "wake":
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    else:
                        self._serve_client(key.data, mask)
                while self._answers:
                    client, reply = self._answers.popleft()
                    client.busy = False
                    self._reply(client, reply)
                self._expire()
        except Exception:  # the loop must not die silently: the daemon goes on without it
            log.exception("control socket: the server loop stopped")
        finally:
            self._close_all()

    def _serve_client(self, client: _Client, mask: int) -> None:
        try:
            self._ready(client, mask)
        except Exception:  # one client's trouble is not the others'
            log.exception("control socket: a client broke the loop's step; closing it")
            with contextlib.suppress(Exception):
                self._close(client)

    def _timeout(self) -> float:
        """Until the next client falls idle; at most a second, as the clock may be moved."""
        waiting = [c.last for c in self._clients if not c.busy]
        if not waiting:
            return 1.0
        return min(1.0, max(0.0, min(waiting) + self.idle_s - self.clock.monotonic()))

    def _accept(self) -> None:
        for _ in range(256):  # then let the clients already connected have a turn
            try:
                sock, _ = self._listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:  # out of file descriptors: make room, or wait for it
                if not self._evict():
                    log.warning("control socket: cannot accept a client: %s", plain(exc))
                    self._stop_accepting()
                    self._resume_at = time.monotonic() + 0.2
                return
            sock.setblocking(False)
            if len(self._clients) >= self.max_connections and not self._evict():
                _send_and_close(sock, f"too many clients ({self.max_connections}) have "
                                      f"requests under way; try again")
                continue
            client = _Client(sock, self.clock.monotonic())
            self._clients[client] = None
            self._silent[client] = None
            self._ready(client, selectors.EVENT_READ)  # a request already sent: take it now

    def _evict(self) -> bool:
        """Close the client idle longest, to make room; False if every one is busy. Clients
        that never sent a request go first (a half-open flood); one whose request has just
        arrived is taken up instead of being let go, and the next is looked at."""
        for _ in range(8):
            oldest = next(iter(self._silent), None)  # at once, however many are connected
            if oldest is None or oldest.busy or oldest.lines or oldest.out or oldest.eof:
                idle = [c for c in self._clients if not (c.busy or c.lines or c.out or c.eof)]
                if not idle:
                    return False
                oldest = min(idle, key=lambda c: (c.spoke, c.turn))
            turn = oldest.turn
            self._ready(oldest, selectors.EVENT_READ)  # one last look at what it sent
            if oldest not in self._clients:
                return True  # it had gone: room made
            if oldest.turn == turn and not (oldest.busy or oldest.lines or oldest.out):
                self._close(oldest, f"closed to make room: {self.max_connections} clients "
                                    f"were connected and this one was idle longest")
                return True
        return False

    def _stop_accepting(self) -> None:
        if self._accepting:
            self._selector.unregister(self._listener)
            self._accepting = False

    def _expire(self) -> None:
        now = self.clock.monotonic()
        for client in [c for c in self._clients if not c.busy]:
            if now - client.last >= self.idle_s:
                self._close(client, f"no complete request for {self.idle_s:g} s: closed")
        if not self._accepting and not self._stopping.is_set() and (
                len(self._clients) < self.max_connections) and time.monotonic() >= self._resume_at:
            self._selector.register(self._listener, selectors.EVENT_READ, "listener")
            self._accepting = True

    def _ready(self, client: _Client, mask: int) -> None:
        if mask & selectors.EVENT_READ and not client.eof:
            try:
                data = client.sock.recv(65536)
            except BlockingIOError:
                data = None
            except OSError:
                self._close(client)
                return
            if data == b"":
                client.eof = True
                if rest := client.splitter.rest():
                    client.lines.append(rest)
            elif data:
                lines = client.splitter.feed(data)
                if lines:
                    client.lines.extend(lines)
                    client.spoke = True
                    self._silent.pop(client, None)
                    self._touch(client)
        self._pump(client)

    def _pump(self, client: _Client) -> None:
        """Send what waits, then take the client's next request, until one is in work or the
        client does not take more; then watch for what it needs next."""
        while client in self._clients:
            if client.out:
                try:
                    sent = client.sock.send(client.out)
                except BlockingIOError:
                    break
                except OSError:
                    self._close(client)
                    return
                del client.out[:sent]
                self._touch(client)
                if client.out:
                    break
            if client.closing or client.busy or not client.lines or self._stopping.is_set():
                break
            self._start(client, client.lines.popleft())
        if client not in self._clients:
            return
        if not client.out and (client.closing or (client.eof and not client.busy
                                                  and not client.lines)):
            self._close(client)
            return
        self._watch(client)

    def _touch(self, client: _Client) -> None:
        client.last, client.turn = self.clock.monotonic(), next(_turns)

    def _start(self, client: _Client, raw: bytes | None) -> None:
        request = parse_request(raw)
        if isinstance(request, str):
            client.out += encode({"ok": False, "error": request})
        elif request["cmd"] in INLINE:
            client.out += encode(self._handle(request))
        else:
            client.busy = True
            pool = self._gesture_pool if request["cmd"] in GESTURES else self._pool
            pool.submit(lambda: self._work(client, request))

    def _work(self, client: _Client, request: dict[str, Any]) -> None:
        self._answers.append((client, self._handle(request)))
        self.wake()

    def _handle(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.controller.handle(request)
        except Exception as exc:  # a command that broke must not take the socket with it
            log.exception("control socket: %s failed", request.get("cmd"))
            return {"ok": False, "error": f"{request.get('cmd')} failed: {plain(exc)}"}

    def _reply(self, client: _Client, reply: dict[str, Any]) -> None:
        if client in self._clients:
            client.out += encode(reply)
            self._pump(client)

    def _watch(self, client: _Client) -> None:
        wanted = 0
        if client.out:
            wanted |= selectors.EVENT_WRITE
        elif not (client.busy or client.lines or client.eof or client.closing):
            wanted |= selectors.EVENT_READ
        if wanted == client.watching:
            return
        if client.watching == 0:
            self._selector.register(client.sock, wanted, client)
        elif wanted == 0:
            self._selector.unregister(client.sock)
        else:
            self._selector.modify(client.sock, wanted, client)
        client.watching = wanted

    def _close(self, client: _Client, why: str | None = None) -> None:
        self._clients.pop(client, None)
        self._silent.pop(client, None)
        if client.watching:
            self._selector.unregister(client.sock)
            client.watching = 0
        if why is not None and not client.out:
            _send_and_close(client.sock, why)
        else:
            client.sock.close()

    def _close_all(self) -> None:
        for client in list(self._clients):
            self._close(client)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(self._listener)
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()
        self._selector.close()


class _Workers:
    """Up to ``size`` daemon threads, started as work comes: a command still waiting when the
    process ends (a long poll, a marker for a daemon that stopped) does not hold up its exit."""

    def __init__(self, size: int, name: str) -> None:
        self.size, self.name = size, name
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            start = self._idle == 0 and self._threads < self.size
            if start:
                self._threads += 1
            else:
                self._idle -= 1 if self._idle else 0
        self._jobs.put(job)
        if start:
            threading.Thread(target=self._run, name=f"{self.name}-{self._threads}",
                             daemon=True).start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            job()
            with self._lock:
                self._idle += 1

    def close(self) -> None:
        for _ in range(self.size):
            self._jobs.put(None)


def _send_and_close(sock: socket.socket, why: str) -> None:
    """Tell a client why it is being let go (if it has room to take it), then close."""
    with contextlib.suppress(OSError):
        sock.send(encode({"ok": False, "error": why}))
    sock.close()


def _fd_budget() -> int:
    """Clients the process can hold beside its own files: a quarter of its descriptors."""
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return MAX_CONNECTIONS
    return MAX_CONNECTIONS if soft == resource.RLIM_INFINITY else max(8, soft // 4)


def _package_version() -> str:
    try:
        return metadata.version("bodycam")
    except metadata.PackageNotFoundError:
        return "unknown"


def _alive(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def _connect(s: socket.socket, path: Path, timeout: float) -> None:
    """Connect, waiting while the daemon's queue of new connections is full (a flood of other
    clients): a Unix socket then refuses at once, with EAGAIN, rather than waiting its turn."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            s.connect(str(path))
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the daemon at {path} took no new connection within "
                                   f"{timeout:g} s") from None
            time.sleep(0.002)


def request(data_dir: Path, payload: dict[str, Any], timeout: float = REPLY_TIMEOUT_S + 5
            ) -> dict[str, Any]:
    """Send one request to the daemon in ``data_dir``; raises :class:`ControlError`."""
    path = socket_path(data_dir)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            _connect(s, path, timeout)
        except (FileNotFoundError, ConnectionRefusedError):
            raise ControlError(f"no daemon running in {data_dir} (no one listening on "
                               f"{path}); start one with 'bodycam sim'") from None
        except OSError as exc:
            raise ControlError(f"cannot reach the daemon at {path}: {plain(exc)}") from None
        s.sendall(json.dumps(payload).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                raise ControlError(f"the daemon at {path} did not answer within "
                                   f"{timeout:g} s") from None
            except OSError as exc:
                raise ControlError(f"the daemon at {path} went away ({exc.strerror})") from None
            if not chunk:
                break
            data += chunk
    try:
        reply = json.loads(data)
    except json.JSONDecodeError:
        raise ControlError(f"the daemon at {path} sent a malformed answer") from None
    if not reply.get("ok"):
        raise ControlError(reply.get("error", "request failed"))
    return reply
