"""The control socket under hostile and careless clients, on real AF_UNIX sockets: floods of idle
connections, bursts, clients that never finish a line or never read, and every command with
every kind of bad argument. Each bad request gets one error line and the daemon keeps answering
(issue 11 item 13). Time is the daemon's virtual clock; nothing sleeps."""

from __future__ import annotations

import json
import shutil
import socket
import struct
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from device import control
from device.control import (
    BACKLOG,
    GESTURE_WORKERS,
    IDLE_S,
    WORKERS,
    ControlError,
    Controller,
    ControlServer,
)
from device.service import power_on
from sim.encoder import FakeEncoder
from sim.simulator import Simulator
from tests.conftest import tiny_config

WAIT_S = 20.0  # a socket timeout: how long a broken test may hang, never a sleep


@pytest.fixture
def camera() -> Iterator[Simulator]:
    """A simulated camera on a virtual clock, its daemon on its own thread, in a directory
    short enough for a Unix socket path."""
    data_dir = Path(tempfile.mkdtemp(prefix="ctl", dir="/tmp"))
    sim = Simulator(tiny_config(), data_dir, encoder=FakeEncoder)
    power_on(sim.daemon)
    yield sim
    if sim.daemon.exit_requested.is_set():  # shut down by a test: only the hardware is left
        sim.hw.close()
    else:
        sim.shutdown()
    shutil.rmtree(data_dir, ignore_errors=True)


def serve(sim: Simulator, **limits: Any) -> ControlServer:
    server = ControlServer(sim.data_dir, Controller(sim.daemon, sim.commands()), **limits)
    server.start()
    return server


@pytest.fixture
def server(camera: Simulator) -> Iterator[ControlServer]:
    server = serve(camera)
    yield server
    server.stop()


def connect(server: ControlServer, blocking: bool = True) -> socket.socket:
    """A connection that waits in the kernel (up to WAIT_S, as a socket option) while the
    server's queue of new connections is full; not ``blocking``: one that fails at once then.
    (Python's own timeouts make a Unix socket's connect fail at once, too.)"""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if blocking:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", int(WAIT_S), 0))
        sock.connect(str(server.path))
        sock.settimeout(WAIT_S)
    else:
        sock.setblocking(False)
        sock.connect(str(server.path))
    return sock


def half_open(server: ControlServer) -> socket.socket:
    """A flooder's connection, never used."""
    sock = connect(server)
    sock.setblocking(False)
    return sock


class Client:
    """One connection, read line by line."""

    def __init__(self, server: ControlServer) -> None:
        self.sock = connect(server)
        self.stream = self.sock.makefile("rb")

    def send(self, raw: bytes) -> None:
        self.sock.sendall(raw)

    def line(self) -> dict[str, Any]:
        raw = self.stream.readline()
        assert raw.endswith(b"\n"), f"the connection ended instead of answering: {raw!r}"
        return json.loads(raw)

    def ask(self, raw: bytes) -> dict[str, Any]:
        self.send(raw)
        return self.line()

    def request(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self.ask(json.dumps(payload).encode() + b"\n")

    def rest(self) -> list[dict[str, Any]]:
        """Every line until the server closes the connection."""
        lines = []
        while raw := self.stream.readline():
            lines.append(json.loads(raw))
        return lines

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


def error(reply: dict[str, Any]) -> str:
    assert reply["ok"] is False, reply
    message = reply["error"]
    assert isinstance(message, str) and "\n" not in message and 0 < len(message) < 400, reply
    assert "Traceback" not in message and "Errno" not in message
    return message


def threads() -> int:
    return threading.active_count()


def advance(server: ControlServer, seconds: float) -> None:
    """Move the daemon's clock (through the socket, as a test rig does) and let the server
    look at its clients."""
    helper = Client(server)
    assert helper.request({"cmd": "advance", "seconds": seconds})["ok"]
    helper.close()
    server.wake()  # at once, not within the loop's second


# -- the reported cases --------------------------------------------------------------------
def test_a_flood_of_idle_connections_keeps_threads_bounded_and_status_answered(
        camera: Simulator, server: ControlServer) -> None:
    """3,000 half-open connections once made 2,877 threads and a status that took minutes;
    now the threads stay few, the oldest idle client makes room, and status is answered."""
    before = threads()
    flood = [half_open(server) for _ in range(600)]
    try:
        client = Client(server)
        reply = client.request({"cmd": "status"})
        assert reply["ok"] and reply["status"]["mode"] == "buffering"
        assert threads() - before <= WORKERS + GESTURE_WORKERS + 1
        assert server.connections <= server.max_connections
        # a gesture goes through too, and its effect shows in the next status
        assert client.request({"cmd": "press", "button": "record", "gesture": "double"})["ok"]
        assert client.request({"cmd": "status"})["ok"]
        client.close()
    finally:
        for sock in flood:
            sock.close()
    # the clients that made room were told why before being closed
    told = Client(server)
    assert told.request({"cmd": "version"})["ok"]
    told.close()


def test_evicted_and_timed_out_clients_are_told_why(camera: Simulator) -> None:
    server = serve(camera, max_connections=4)
    try:
        talker = Client(server)
        assert talker.request({"cmd": "status"})["ok"]
        silent = Client(server)
        silent.send(b'{"cmd": ')  # half a request is no request
        others = [Client(server) for _ in range(2)]
        assert others[-1].request({"cmd": "version"})["ok"]  # four: all served
        newcomer = Client(server)  # the fifth makes room: the oldest that never asked goes
        assert newcomer.request({"cmd": "version"})["ok"]
        evicted = silent.rest()
        assert len(evicted) == 1 and "closed to make room" in error(evicted[0])
        # time passes (the newcomer moves the clock): the others fall idle and are closed
        assert newcomer.request({"cmd": "advance", "seconds": IDLE_S + 1})["ok"]
        for other in [talker, *others]:
            last = other.rest()
            assert len(last) == 1 and f"no complete request for {IDLE_S:g} s" in error(last[0])
            other.close()
        assert newcomer.request({"cmd": "status"})["ok"]  # it was busy, then answered
        assert server.connections == 1
    finally:
        server.stop()


def test_a_client_that_asked_is_kept_over_one_that_never_did(camera: Simulator) -> None:
    """At the cap, a client that sent a request (here before it was even accepted) is
    answered and kept; one that sent nothing makes room, though it came later."""
    server = ControlServer(camera.data_dir, Controller(camera.daemon, camera.commands()),
                           max_connections=2)
    try:
        early = connect(server, blocking=False)
        early.sendall(b'{"cmd": "status"}\n')
        silent = connect(server, blocking=False)
        late = connect(server, blocking=False)
        server.start()  # accepts all three: early's request is read before anyone is let go
        for sock in (early, silent, late):
            sock.setblocking(True)
            sock.settimeout(WAIT_S)
        with early.makefile("rb") as stream:
            assert json.loads(stream.readline())["ok"]
        with silent.makefile("rb") as stream:
            assert "closed to make room" in error(json.loads(stream.readline()))
        for sock in (early, silent, late):
            sock.close()
    finally:
        server.stop()


def test_a_burst_of_clients_all_get_answers(camera: Simulator) -> None:
    """A listen backlog of 5 made bursts of clients fail: a full backlog of clients connect
    before the server takes any, each sends its request, and each gets its answer."""
    server = ControlServer(camera.data_dir, Controller(camera.daemon, camera.commands()))
    try:
        burst = [connect(server, blocking=False) for _ in range(BACKLOG)]  # none accepted yet
        for sock in burst:
            sock.sendall(b'{"cmd": "status"}\n')
        server.start()
        for sock in burst:
            sock.setblocking(True)
            sock.settimeout(WAIT_S)
            with sock.makefile("rb") as stream:
                reply = json.loads(stream.readline())
            assert reply["ok"] and "status" in reply
            sock.close()
    finally:
        server.stop()


def test_clients_beyond_the_backlog_wait_their_turn(camera: Simulator,
                                                    server: ControlServer) -> None:
    """More clients at once than the kernel queues: ``bodycam status`` (control.request)
    waits for room instead of failing with "Resource temporarily unavailable"."""
    flood = [half_open(server) for _ in range(BACKLOG)]
    replies: list[Any] = []

    def ask() -> None:
        try:
            replies.append(control.request(camera.data_dir, {"cmd": "status"}, timeout=WAIT_S))
        except ControlError as exc:
            replies.append(exc)

    askers = [threading.Thread(target=ask) for _ in range(3 * BACKLOG // 2)]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join(WAIT_S)
    for sock in flood:
        sock.close()
    assert len(replies) == len(askers)
    assert all(isinstance(r, dict) and r["status"]["mode"] == "buffering" for r in replies), [
        r for r in replies if not isinstance(r, dict)][:3]


@pytest.mark.parametrize("raw, words", [
    (b'{"cmd": "advance", "seconds": 1' + b"0" * 5000 + b"}\n", "more than 20 digits"),
    (b'{"cmd": "advance", "seconds": 1e999}\n', "number too large to use (1e999)"),
    (b'{"cmd": "advance", "seconds": -1e999}\n', "number too large to use"),
    (b'{"cmd": "advance", "seconds": NaN}\n', "has NaN, which is not a JSON number"),
    (b'{"cmd": "advance", "seconds": Infinity}\n', "has Infinity, which is not a JSON number"),
    (b'{"cmd": "journal", "since": 1e999}\n', "number too large to use"),
    (b'{"cmd": "events", "since": 1' + b"0" * 5000 + b"}\n", "more than 20 digits"),
    (b'{"cmd": "press", "button": "record", "gesture": "hold", "seconds": 1e999}\n',
     "number too large"),
])
def test_huge_and_infinite_numbers_get_an_error_line(server: ControlServer, raw: bytes,
                                                     words: str) -> None:
    client = Client(server)
    assert words in error(client.ask(raw))
    assert client.request({"cmd": "status"})["ok"]  # the same connection goes on
    client.close()


# -- malformed lines -------------------------------------------------------------------------
@pytest.mark.parametrize("raw, words", [
    (b"\n", "empty request"),
    (b"   \r\n", "empty request"),
    (b"status\n", "request is not JSON: Expecting value at column 1"),
    (b'{"cmd": "status"\n', "request is not JSON"),
    (b"\xff\xfe\x00garbage\n", "not valid UTF-8 (byte 0xff at offset 0)"),
    (b'{"cmd": "st\x00atus"}\n', "control character 0x00"),
    (bytes(range(256)).replace(b"\n", b"") + b"\n", "request"),
    (b"[1, 2]\n", 'request must be a JSON object with a "cmd" string'),
    (b'"status"\n', 'request must be a JSON object with a "cmd" string'),
    (b'{"cmd": 7}\n', 'request must be a JSON object with a "cmd" string'),
    (b'{"cmd": null}\n', 'request must be a JSON object with a "cmd" string'),
    (b'{"command": "status"}\n', 'request must be a JSON object with a "cmd" string'),
    (b'{"cmd": "frobnicate"}\n', 'unknown command "frobnicate"'),
    (b'{"cmd": "' + b"x" * 5000 + b'"}\n', 'unknown command "xxxx'),
    (b"[" * 100_000 + b"\n", "request longer than 64 KiB"),
    (b"[" * 50_000 + b"]" * 10_000 + b"\n", "request is not JSON"),
    (b"x" * 200_000 + b"\n", "request longer than 64 KiB: ignored up to its end"),
])
def test_every_malformed_line_gets_one_error_line(server: ControlServer, raw: bytes,
                                                  words: str) -> None:
    client = Client(server)
    assert words in error(client.ask(raw))
    assert client.request({"cmd": "status"})["ok"], "one line only, and the connection goes on"
    client.close()


def test_a_last_request_without_newline_is_answered_at_end_of_input(
        server: ControlServer) -> None:
    client = Client(server)
    client.send(b'{"cmd": "version"}')
    client.sock.shutdown(socket.SHUT_WR)
    lines = client.rest()
    assert len(lines) == 1 and lines[0]["ok"] and lines[0]["backend"] == "sim"
    client.close()


def test_a_client_that_never_finishes_its_line_times_out(server: ControlServer) -> None:
    slow = Client(server)
    slow.send(b'{"cmd": "status"')  # and never the rest
    other = Client(server)
    assert other.request({"cmd": "status"})["ok"]
    advance(server, IDLE_S + 1)
    lines = slow.rest()
    assert len(lines) == 1 and "no complete request for" in error(lines[0])
    slow.close()
    other.close()


def test_a_client_that_never_reads_holds_up_no_one(server: ControlServer) -> None:
    before = threads()
    deaf = connect(server, blocking=False)
    sent = 0
    request = b'{"cmd": "version"}\n' * 1000
    while sent < 20_000_000:  # until the server stops taking requests from it
        try:
            sent += deaf.send(request)
        except BlockingIOError:
            break
    assert sent < 20_000_000, "the server kept reading from a client that takes no answers"
    client = Client(server)
    assert client.request({"cmd": "status"})["ok"]
    assert client.request({"cmd": "press", "button": "record", "gesture": "double"})["ok"]
    assert threads() - before <= WORKERS + GESTURE_WORKERS + 1
    advance(server, IDLE_S + 1)
    deaf.setblocking(True)
    deaf.settimeout(WAIT_S)
    with pytest.raises(ConnectionResetError):  # closed with its requests still unread
        while deaf.recv(1 << 20):
            pass
    deaf.close()
    client.close()


def test_long_polls_and_slow_commands_do_not_delay_gestures_or_status(
        camera: Simulator, server: ControlServer) -> None:
    """Every general worker busy in a long poll: a gesture and a status still get through."""
    pollers = [Client(server) for _ in range(WORKERS + 2)]
    seq = camera.daemon.bus.seq
    for poller in pollers:
        poller.send(json.dumps({"cmd": "journal", "since": seq,
                                "wait": 30}).encode() + b"\n")
    client = Client(server)
    assert client.request({"cmd": "status"})["status"]["mode"] == "buffering"
    assert client.request({"cmd": "edge", "button": "record", "pressed": True})["ok"]
    assert client.request({"cmd": "edge", "button": "record", "pressed": False})["ok"]
    camera.daemon.bus.publish("test", {})  # ends the long polls
    for poller in pollers:
        assert poller.line()["ok"]
        poller.close()
    client.close()


# -- every command, every kind of bad argument ---------------------------------------------
def command_params(server: ControlServer) -> dict[str, tuple[str, ...]]:
    commands = server.controller.commands
    return {cmd: control.PARAMS.get(cmd, getattr(handler, "params", ())) for cmd, handler in
            commands.items()}


BAD_VALUES: list[Any] = [True, False, "nonsense", "", [], {}, [1, 2], {"a": 1}, -1, -0.5,
                         1e300, -1e300, 10 ** 19, "\u00e9\u0301" * 30, "x" * 3000]
#: (command, argument) where any value is allowed (compared, never used as a number).
ANY_VALUE = {("preview", "after")}
#: Values among BAD_VALUES that are good for one argument.
GOOD_FOR = {("events", "since"): [10 ** 19], ("marker", "note"): ["nonsense", "",
                                                                  "\u00e9\u0301" * 30],
            ("clock", "set"): [True, False], ("edge", "pressed"): [True, False]}


def good_for(cmd: str, param: str, value: Any) -> bool:
    return (cmd, param) in ANY_VALUE or any(
        type(value) is type(good) and value == good for good in GOOD_FOR.get((cmd, param), []))
#: Commands that would change the camera when sent with what they need.
SIDE_EFFECTS = {"shutdown", "dock", "undock"}


def test_every_command_refuses_an_argument_it_does_not_take(server: ControlServer) -> None:
    client = Client(server)
    params = command_params(server)
    assert {"status", "press", "advance", "journal", "button"} <= set(params)
    for cmd, takes in params.items():
        assert not isinstance(takes, type(None)), f"{cmd} does not say what it takes"
        for extra in ("bogus", "Cmd", "x" * 500):
            message = error(client.request({"cmd": cmd, extra: 1}))
            assert message.startswith(f"{cmd} takes "), message
    assert client.request({"cmd": "status"})["status"]["mode"] == "buffering"
    client.close()


def test_every_argument_of_every_command_refuses_bad_values(server: ControlServer,
                                                            camera: Simulator) -> None:
    client = Client(server)
    before = client.request({"cmd": "status"})["status"]
    params = command_params(server)
    assert sum(len(takes) for takes in params.values()) >= 18
    for cmd, takes in params.items():
        for param in takes:
            for value in BAD_VALUES:
                if good_for(cmd, param, value):
                    continue
                request = {"cmd": cmd, param: value}
                if cmd == "press" and param != "button":
                    request["button"] = "record"
                error(client.request(request))
            for raw in (b"1e999", b"NaN", b"-Infinity", b"9" * 5000):
                line = b'{"cmd": "%s", "%s": %s}\n' % (cmd.encode(), param.encode(), raw)
                assert "number" in error(client.ask(line))
    after = client.request({"cmd": "status"})["status"]
    assert after["mode"] == before["mode"] == "buffering"
    client.close()


@pytest.mark.parametrize("request_, words", [
    ({"cmd": "press"}, "unknown button null"),
    ({"cmd": "press", "button": "record", "gesture": None}, "unknown gesture null"),
    ({"cmd": "press", "button": "record", "seconds": 2}, 'seconds goes with gesture "hold"'),
    ({"cmd": "press", "button": "record", "gesture": "hold", "seconds": 0},
     "hold seconds must be a number more than 0 and at most 30, got 0"),
    ({"cmd": "press", "button": "record", "gesture": "hold", "seconds": 30.5}, "got 30.5"),
    ({"cmd": "edge", "button": "record"}, "edge takes pressed: true (button down) or false"),
    ({"cmd": "trigger"}, "unknown trigger null"),
    ({"cmd": "events", "since": 1.5}, "events since must be a whole number >= 0, got 1.5"),
    ({"cmd": "advance"}, "advance takes seconds from 0 to 3600, got null"),
    ({"cmd": "battery"}, "battery takes percent from 0 to 100, got null"),
    ({"cmd": "battery", "percent": True}, "got true"),
    ({"cmd": "camera"}, "camera takes action unplug or replug, got null"),
    ({"cmd": "clock"}, "clock takes set: true or false, got null"),
    ({"cmd": "button", "button": "record"}, 'got "record" null'),
    ({"cmd": "journal", "wait": -1}, "journal takes wait from 0 to 30, got -1"),
    ({"cmd": "storage", "free_mb": "lots"}, 'storage takes free_mb from 0 to 1e+09, got "lots"'),
    ({"cmd": "marker", "note": 5}, "marker note must be a string"),
    ({"cmd": "status", "verbose": True}, 'status takes no arguments, got "verbose"'),
    ({"cmd": "press", "button": "record", "force": 1},
     'press takes only button, gesture, seconds, got "force"'),
])
def test_missing_and_wrong_arguments_are_named(server: ControlServer, request_: dict[str, Any],
                                               words: str) -> None:
    client = Client(server)
    assert words in error(client.request(request_))
    client.close()


def test_a_command_that_breaks_answers_an_error_and_the_socket_goes_on(
        camera: Simulator) -> None:
    def broken(request: dict[str, Any]) -> dict[str, Any]:
        raise OSError(111, "Connection refused")

    server = ControlServer(camera.data_dir, Controller(camera.daemon, {"broken": broken}))
    server.start()
    try:
        client = Client(server)
        assert error(client.request({"cmd": "broken"})) == "broken failed: Connection refused"
        assert client.request({"cmd": "status"})["ok"]
        client.close()
    finally:
        server.stop()


def test_the_shutdown_answer_still_goes_out_when_the_server_stops(camera: Simulator) -> None:
    server = serve(camera)
    client = Client(server)
    client.send(b'{"cmd": "shutdown"}\n')
    camera.daemon.exit_requested.wait(WAIT_S)
    server.stop()
    lines = client.rest()
    assert len(lines) == 1 and lines[0]["ok"], lines
    client.close()
    assert not server.path.exists()
