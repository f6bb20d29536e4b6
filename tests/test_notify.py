"""The systemd notify protocol against a real AF_UNIX datagram socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from device import control
from device.notify import Heartbeat, Notifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """What systemd does: a datagram socket bound to the path it puts in NOTIFY_SOCKET."""
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(5)
        yield sock, path


def pending(sock: socket.socket) -> list[str]:
    """Datagrams already delivered (AF_UNIX delivery is synchronous, so none are in flight)."""
    sock.setblocking(False)
    got = []
    try:
        while True:
            got.append(sock.recv(4096).decode())
    except BlockingIOError:
        return got
    finally:
        sock.settimeout(5)


def test_ready_and_status_reach_the_socket(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.ready("mode buffering")
    assert notifier.status("mode fault (fault: no\ncamera)")
    assert notifier.stopping()
    assert pending(sock) == ["READY=1\nSTATUS=mode buffering",
                             "STATUS=mode fault (fault: no camera)", "STOPPING=1"]


def test_abstract_socket_names_start_with_at() -> None:
    name = f"bodycam-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).watchdog()
        assert pending(sock) == ["WATCHDOG=1"]


@pytest.mark.parametrize("value", ["", "vsock:2:1234", "relative/notify.sock"])
def test_no_usable_notify_socket_is_a_no_op(value: str) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": value} if value else {})
    assert not notifier.enabled
    assert not notifier.ready("mode buffering")


def test_a_vanished_socket_is_reported_not_raised(tmp_path: Path) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.enabled
    assert not notifier.watchdog()


@pytest.mark.parametrize("env, period", [
    ({"WATCHDOG_USEC": "30000000"}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
    ({}, None),
])
def test_watchdog_period_is_half_of_watchdog_usec(env: dict[str, str],
                                                  period: float | None) -> None:
    assert Notifier({"NOTIFY_SOCKET": "/run/x", **env}).watchdog_period == period


def test_heartbeat_pings_only_while_alive_and_sends_status_on_change(
        listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    state = {"alive": True, "mode": "mode buffering"}
    beat = Heartbeat(Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000"}),
                     lambda: state["alive"], lambda: state["mode"])
    assert beat.period == 5.0
    assert beat.step()
    assert beat.step()
    state["mode"] = "mode recording"
    assert beat.step()
    state["alive"] = False
    assert not beat.step()
    assert pending(sock) == ["STATUS=mode buffering\nWATCHDOG=1", "WATCHDOG=1",
                             "STATUS=mode recording\nWATCHDOG=1"]


def test_heartbeat_thread_pings_at_half_the_watchdog_period(
        listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    beat = Heartbeat(Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000"}),
                     lambda: True, lambda: "mode buffering")
    assert beat.period == 0.01
    beat.start()
    try:
        assert sock.recv(4096) == b"STATUS=mode buffering\nWATCHDOG=1"
        assert sock.recv(4096) == b"WATCHDOG=1"
    finally:
        beat.stop()


def test_the_simulator_says_ready_under_systemd(listener: tuple[socket.socket, str],
                                                 tmp_path: Path) -> None:
    sock, path = listener
    data = tmp_path / "d"
    proc = subprocess.Popen(
        [sys.executable, "-m", "device.cli", "sim", "--headless", "--virtual-clock",
         "--data-dir", str(data)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "NOTIFY_SOCKET": path})
    try:
        assert sock.recv(4096) == b"READY=1\nSTATUS=mode buffering"
        control.request(data, {"cmd": "shutdown"})
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
