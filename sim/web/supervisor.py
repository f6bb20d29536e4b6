"""The daemon as a child process, so the panel can cut its power.

A real camera loses power at any moment: the battery is knocked out and the firmware dies
mid-write, with no handler run and no file closed. To simulate that honestly the daemon cannot
live in the panel's process. The panel runs ``bodycam sim --headless`` as a child, talks to it
over its control socket like any other client, SIGKILLs it for a power cut and boots a new one.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from device import control

#: The child prints this line once it has booted and its control socket is up.
READY_PREFIX = "control socket"


class DaemonProcess:
    """One ``bodycam sim --headless`` at a time; ``state`` is what the panel shows about it.

    States: ``booting`` (started, control socket not up yet), ``running``, ``power_cut``
    (killed; a new one boots at once), ``stopped`` (exited by itself: a shutdown command, or a
    crash, with its exit status in the detail).
    """

    def __init__(self, argv: Callable[[], list[str]], data_dir: Path,
                 on_state: Callable[[str, str], None],
                 echo: Callable[[str], None] = print) -> None:
        self.argv = argv
        self.data_dir = data_dir
        self.on_state = on_state
        self.echo = echo
        self.state = "stopped"
        self.detail = "not started"
        #: Set while the control socket answers; cleared the moment the process is gone.
        self.ready = threading.Event()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._stopping = False

    def _set(self, state: str, detail: str) -> None:
        self.state, self.detail = state, detail
        self.on_state(state, detail)

    def start(self) -> None:
        with self._lock:
            if self._proc is not None:
                return
            self._stopping = False
            self.ready.clear()
            # stdin is a pipe the child watches: if the panel dies, the camera powers off.
            proc = subprocess.Popen(self.argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, bufsize=1)
            self._proc = proc
        self._set("booting", f"daemon process {proc.pid} booting")
        threading.Thread(target=self._read, args=(proc,), name="daemon-output",
                         daemon=True).start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        """Relay the child's lines; notice when it is ready and when it is gone."""
        assert proc.stdout is not None
        last = ""
        for line in proc.stdout:
            line = line.rstrip("\n")
            last = line or last
            if line.startswith(READY_PREFIX) and proc is self._proc:
                self.ready.set()
                self._set("running", f"daemon process {proc.pid} running")
            self.echo(line)  # after: whoever reads this line finds the daemon running
        status = proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()
        with self._lock:
            if proc is not self._proc:  # killed for a power cut: already accounted for
                return
            self._proc = None
            self.ready.clear()
            stopping = self._stopping
        if not stopping:
            why = f"the daemon process exited with status {status}"
            self._set("stopped", why + (f": {last}" if status and last else ""))

    def power_cut(self) -> None:
        """Kill the daemon without warning (SIGKILL), then boot a new one."""
        with self._lock:
            proc, self._proc = self._proc, None
            self.ready.clear()
        if proc is None:
            raise control.ControlError("the camera is not running: there is no power to cut")
        proc.kill()
        proc.wait()
        self._set("power_cut", f"power cut: daemon process {proc.pid} killed (SIGKILL)")
        self.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Power off cleanly (the recording is finalised and signed), as Ctrl-C does."""
        with self._lock:
            proc, self._stopping = self._proc, True
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with self._lock:
            if self._proc is proc:
                self._proc = None
        self.ready.clear()
        self._set("stopped", "the simulator stopped")

    def request(self, payload: dict[str, Any], timeout: float = control.REPLY_TIMEOUT_S + 5
                ) -> dict[str, Any]:
        if not self.ready.is_set():
            raise DaemonDown(f"the camera is not running ({self.detail})")
        return control.request(self.data_dir, payload, timeout=timeout)


class DaemonDown(control.ControlError):
    """The daemon process is booting, killed or stopped: nobody to ask."""
