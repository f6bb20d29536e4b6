"""``bodycam sim``: the simulated camera, in the browser.

Prints a local address and serves the front panel there. The daemon runs as a child process
(``bodycam sim --headless``, see ``supervisor.py``) whose log this terminal shows; Ctrl-C powers
it off cleanly (the recording is finalised and signed) and stops the panel.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from device.config import Config
from device.control import ControlError, request, socket_path
from evidence.fsutil import private_dir
from hal.inputs import BUTTON_NAMES
from sim.web.hub import Hub
from sim.web.panel import Panel, PanelError
from sim.web.preview import PREVIEW_FPS, PreviewPump
from sim.web.server import PanelServer
from sim.web.supervisor import DaemonProcess

DEFAULT_HOST = "127.0.0.1"
#: The panel's usual port; when it is taken (and none was asked for) any free one will do.
DEFAULT_PORT = 8470


def panel_info(config: Config, data_dir: Path, virtual_clock: bool) -> dict[str, Any]:
    """What the page needs to know that is not the daemon's status."""
    return {"virtual_clock": virtual_clock, "buttons": list(BUTTON_NAMES),
            "triggers": list(config.triggers.names), "hold_s": config.gestures.hold_s,
            "debounce_s": config.gestures.debounce_s,
            "model": config.device.model, "serial": config.device.serial,
            "data_dir": str(data_dir), "preview_fps": PREVIEW_FPS,
            "camera": {"width": config.camera.width, "height": config.camera.height,
                       "fps": config.camera.fps}}


def _listen(host: str, port: int | None, make: Any) -> PanelServer:
    try:
        return make(host, DEFAULT_PORT if port is None else port)
    except OSError as exc:
        if port is None and exc.errno == errno.EADDRINUSE:
            return make(host, 0)
        raise PanelError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def run_panel(config: Config, data_dir: Path, config_file: str | None = None,
              virtual_clock: bool = False, clock_unset: bool = False,
              host: str = DEFAULT_HOST, port: int | None = None) -> int:
    private_dir(data_dir)
    with contextlib.suppress(ControlError):  # the child would say so too, less visibly
        request(data_dir, {"cmd": "status"}, timeout=5)
        raise PanelError(f"a daemon is already running on {socket_path(data_dir)}")

    panel: Panel | None = None

    def argv() -> list[str]:
        args = [sys.executable, "-m", "device.cli", "sim", "--headless", "--exit-with-stdin",
                "--data-dir", str(data_dir)]
        args += ["--config", config_file] if config_file else []
        args += ["--virtual-clock"] if virtual_clock else []
        clock_set = panel.clock_set if panel is not None else not clock_unset
        return args + ([] if clock_set else ["--clock-unset"])

    def on_state(state: str, detail: str) -> None:
        hub.daemon_changed(state, detail)
        if panel is not None:
            panel.daemon_changed(state, detail)

    daemon = DaemonProcess(argv, data_dir, on_state, echo=lambda line: print(line, flush=True))
    hub = Hub(daemon, data_dir, panel_info(config, data_dir, virtual_clock))
    pump = PreviewPump(daemon)
    panel = Panel(daemon, hub, clock_set=not clock_unset)
    server = _listen(host, port, lambda h, p: PanelServer(h, p, hub, pump, panel, data_dir))
    if server.hosts is None:
        print(f"bodycam panel: listening on {host}: anyone who can reach it can drive this "
              f"camera", flush=True)
    print(f"bodycam panel: {server.url}  (open it in a browser; Ctrl-C powers the camera off)",
          flush=True)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C, a service stop, or the terminal closing: power the camera off cleanly.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    hub.start()
    daemon.start()
    serving.start()
    try:
        stop.wait()
    finally:
        daemon.stop()
        hub.close()
        pump.close()
        server.shutdown()
        server.server_close()
    print("bodycam panel: stopped", flush=True)
    return 0
