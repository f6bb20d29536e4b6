"""The simulator as a separate process, driven through the ``bodycam`` command line: how a
script, a tester or CI uses the product."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BODYCAM = [sys.executable, "-m", "device.cli"]


def bodycam(*args: str, data_dir: Path | None = None, check: bool = True,
            ) -> subprocess.CompletedProcess[str]:
    """Run one ``bodycam`` command; with ``check`` a failure raises with its error line."""
    cmd = [*BODYCAM, *args] + (["--data-dir", str(data_dir)] if data_dir else [])
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed: {result.stderr}")
    return result


def status(data_dir: Path) -> dict[str, Any]:
    return json.loads(bodycam("status", "--json", data_dir=data_dir).stdout)


def sim_command(data_dir: Path, config: Path, *extra: str, virtual_clock: bool = True
                ) -> list[str]:
    """``bodycam sim --headless``, on the virtual clock unless told otherwise."""
    return [*BODYCAM, "sim", "--headless", *(["--virtual-clock"] if virtual_clock else []),
            "--config", str(config), "--data-dir", str(data_dir), *extra]


def start_sim(data_dir: Path, config: Path, *extra: str, virtual_clock: bool = True
              ) -> subprocess.Popen[str]:
    """``bodycam sim --headless --virtual-clock`` (or on the real clock), returned once its
    control socket is up."""
    proc = subprocess.Popen(sim_command(data_dir, config, *extra, virtual_clock=virtual_clock),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # the daemon says when its control socket is up
        if line.startswith("control socket"):
            return proc
    raise AssertionError(f"simulator did not start: exit {proc.wait()}")
