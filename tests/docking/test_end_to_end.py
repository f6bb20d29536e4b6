"""The README's docking walkthrough, as processes: ``bodycam store serve`` and ``bodycam sim``
(daemon and uploader on their own threads), driven by the command line."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

BODYCAM = [sys.executable, "-m", "device.cli"]


class Process:
    """A child whose output lines a test can wait for without sleeping."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([*BODYCAM, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put("")

    def wait_for(self, text: str, timeout: float = 60) -> str:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no {text!r} within {timeout} s: {self.seen[-5:]}") from None
            if not line:
                raise AssertionError(f"exited before {text!r}: {self.seen[-5:]}")
            self.seen.append(line)
            if text in line:
                return line

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Process, dict[str, str]]]:
    token = tmp_path / "operator.token"
    subprocess.run([*BODYCAM, "store", "init", "--dir", str(tmp_path / "store-data"),
                    "--token-file", str(token)], check=True, capture_output=True)
    server = Process("store", "serve", "--dir", str(tmp_path / "store-data"), "--port", "0")
    url = server.wait_for("listening on").split("listening on ")[1].split(",")[0]
    env = {**os.environ, "BODYCAM_STORE_URL": url,
           "BODYCAM_STORE_TOKEN": token.read_text().strip()}
    yield server, env
    server.stop()


def test_dock_the_simulator_and_watch_the_footage_arrive_and_verify(store, tmp_path: Path):
    _, env = store
    data = tmp_path / "bodycam-data"
    data.mkdir()
    shutil.copy(tmp_path / "store-data" / "store.pub.pem", data)
    config = tmp_path / "dock.toml"
    config.write_text(f'[camera]\nwidth = 160\nheight = 120\n[encoder]\npreset = "ultrafast"\n'
                      f'[upload]\nstore_url = "{env["BODYCAM_STORE_URL"]}"\n')
    sim = Process("sim", "--headless", "--virtual-clock", "--config", str(config),
                  "--data-dir", str(data))

    def run(*args: str) -> str:
        return subprocess.run([*BODYCAM, *args], check=True, capture_output=True, text=True,
                              env=env, timeout=120).stdout

    try:
        sim.wait_for("control socket")
        run("store", "enrol", str(data / "device.pub.pem"), "--label", "PC 4711")
        for step in (["press", "record", "--double"], ["advance", "3"],
                     ["press", "record", "--hold", "3"], ["advance", "3.5"], ["dock"]):
            run(*step, "--data-dir", str(data))
        sim.wait_for("upload finished: 1 segment(s)")
        status = json.loads(run("status", "--json", "--data-dir", str(data)))
        assert status["mode"] == "docked" and status["clock_set"]
        upload = status["upload"]
        assert upload["state"] == "done" and upload["pending_segments"] == 0
        assert upload["receipts"] == 2 and upload["last_error"] is None
        assert "1 seg complete" in run("store", "list")
        verified = run("verify", str(data))
        assert re.search(r"^OK +uploaded ", verified, re.M) and "all intact" in verified
        run("shutdown", "--data-dir", str(data))
        sim.wait_for("camera off")
    finally:
        sim.stop()
