"""What the HIL suite runs against: the simulator it starts itself, or a board at a URL.

A target gives the console URL, where its recordings can be read (if anywhere), and its rigs:
``power`` (cut and restore power) and ``button`` (press a real button). The simulator has both:
SIGKILL is its power cut, and its ``button`` command moves the simulated contact. A board has a
rig when the command line says how to work it (``--hil-power-off`` and so on).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path

from tests.hil.console import Console
from tests.hil.device import Device

#: The simulator's camera for the suite: small frames, short segments, a 2 s pre-event buffer.
SIM_CONFIG = """
[camera]
width = 64
height = 48
fps = 5
[encoder]
preset = "ultrafast"
[recording]
pre_event_s = 2
segment_s = 4
"""

RIGS = {"power": "cut and restore power", "button": "press a real button"}


class Target(ABC):
    url: str
    data_dir: Path | None
    rigs: set[str]
    #: How long one line may take, and a (re)booting target to answer.
    timeout: float
    boot_timeout: float

    def __init__(self) -> None:
        self.consoles: list[Console] = []

    def open_console(self) -> Console:
        console = Console(self.url, self.timeout)
        self.consoles.append(console)
        return console

    def connect(self) -> Device:
        """A console on the target, once it answers."""
        return Device(self.open_console())

    def no_rig(self, kind: str) -> str | None:
        """Why a test needing rig ``kind`` cannot run here, or None when it can."""
        return None if kind in self.rigs else self.missing(kind)

    @abstractmethod
    def missing(self, kind: str) -> str: ...

    @abstractmethod
    def power_cut(self) -> None: ...

    @abstractmethod
    def power_restore(self) -> None: ...

    @abstractmethod
    def press(self, device: Device, button: str, seconds: float) -> None:
        """Press ``button`` for ``seconds`` with the rig (not through the console's gestures)."""

    def close(self) -> None:
        for console in self.consoles:
            console.close()


class SimTarget(Target):
    """``bodycam sim --headless --virtual-clock --serial pty`` in a subprocess, on its own
    data directory; its output is kept for a failing test's report."""

    def __init__(self, workdir: Path, timeout: float = 30.0) -> None:
        super().__init__()
        self.rigs = {"power", "button"}
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.config = workdir / "bodycam.toml"
        self.config.write_text(SIM_CONFIG)
        self.timeout = self.boot_timeout = timeout
        self.output: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self._start()

    def _start(self) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-m", "device.cli", "sim", "--headless", "--virtual-clock",
             "--serial", "pty", "--config", str(self.config), "--data-dir", str(self.data_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        self.proc = proc
        for line in proc.stdout:  # the simulator prints its console's URL once it has booted
            self.output.append(line)
            if line.startswith("serial console "):
                self.url = line.split()[2]
                break
        else:
            raise AssertionError(f"the simulator did not start (exit {proc.wait()}):\n"
                                 + "".join(self.output))
        threading.Thread(target=self._drain, args=(proc,), daemon=True).start()

    def _drain(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.output.append(line)

    def missing(self, kind: str) -> str:  # pragma: no cover - the simulator has every rig
        return f"the simulator has no {kind} rig"

    def power_cut(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: nothing is finalised, as when the battery is knocked out
        self.proc.wait(timeout=30)

    def power_restore(self) -> None:
        self._start()

    def press(self, device: Device, button: str, seconds: float) -> None:
        device.ask(f"button {button} down")
        device.elapse(seconds)
        device.ask(f"button {button} up")

    def close(self) -> None:
        super().close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM powers off cleanly
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class BoardTarget(Target):
    """A camera at a serial URL. Rigs and file access come from shell commands and paths given
    on the command line (see tests/hil/conftest.py)."""

    def __init__(self, url: str, data_dir: str | None, power_off: str | None,
                 power_on: str | None, button: str | None, timeout: float,
                 boot_timeout: float) -> None:
        super().__init__()
        self.url = url
        self.data_dir = Path(data_dir) if data_dir else None
        self.commands = {"power_off": power_off, "power_on": power_on, "button": button}
        self.rigs = {kind for kind, ready in (("power", power_off and power_on),
                                              ("button", button)) if ready}
        self.timeout = timeout
        self.boot_timeout = boot_timeout

    def missing(self, kind: str) -> str:
        how = {"power": "--hil-power-off CMD and --hil-power-on CMD",
               "button": "--hil-button 'CMD {button} {seconds}'"}[kind]
        return f"needs a {kind} rig ({RIGS[kind]}): pass {how}"

    def connect(self) -> Device:
        """After a power cut the board takes a while to boot: ask until it answers, each ask
        bounded by the read timeout. The port itself must stay (a USB-serial adapter powered
        by the test host, not a USB gadget port that vanishes with the board)."""
        deadline = time.monotonic() + self.boot_timeout
        console = self.open_console()
        while True:
            try:
                return Device(console)
            except AssertionError:
                console.discard_input()
                if time.monotonic() > deadline:
                    raise

    def _run(self, name: str, **fields: object) -> None:
        command = self.commands[name]
        assert command is not None
        subprocess.run(command.format(**{k: shlex.quote(str(v)) for k, v in fields.items()}),
                       shell=True, check=True, timeout=120)

    def power_cut(self) -> None:
        self._run("power_off")

    def power_restore(self) -> None:
        self._run("power_on")

    def press(self, device: Device, button: str, seconds: float) -> None:
        self._run("button", button=button, seconds=seconds)
