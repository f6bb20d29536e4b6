"""The Raspberry Pi install script and systemd unit: syntax, and systemd's own verifier."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import have

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "install-pi.sh"
UNIT = ROOT / "scripts" / "bodycam.service"
INSTALLED = "/opt/bodycam/venv/bin/bodycam"


def unit_settings() -> dict[str, str]:
    settings = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings[key] = value
    return settings


@pytest.mark.skipif(not have("bash"), reason="bash is not installed")
def test_install_script_parses() -> None:
    done = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(not have("bash"), reason="bash is not installed")
def test_install_script_rejects_unknown_options_before_touching_anything() -> None:
    done = subprocess.run(["bash", str(SCRIPT), "--frobnicate"], capture_output=True,
                          text=True, timeout=10)
    assert done.returncode == 1
    assert done.stderr.strip() == ("install-pi: unknown option --frobnicate "
                                   "(expected --no-start or --help)")


def test_install_script_makes_a_venv_that_sees_apt_picamera2() -> None:
    text = SCRIPT.read_text()
    assert "python3 -m venv --system-site-packages" in text
    assert "python3-picamera2" in text and "python3-lgpio" in text
    assert "/etc/bodycam/bodycam.toml" in text and "/var/lib/bodycam" in text


def test_unit_is_a_notify_service_with_watchdog_and_restart() -> None:
    s = unit_settings()
    assert (s["Type"], s["Restart"], s["User"]) == ("notify", "on-failure", "bodycam")
    assert int(s["WatchdogSec"]) >= 10
    assert s["ExecStart"].startswith(INSTALLED + " run ")
    assert "PrivateDevices" not in s  # it would hide /dev/gpiochip* and the camera


def test_unit_runs_in_a_writable_working_directory_for_lgpio() -> None:
    """ProtectSystem=strict makes / read-only; lgpio's notification pipe goes in the working
    directory (or LG_WD), so both must name a directory the unit itself makes writable."""
    s = unit_settings()
    assert s["ProtectSystem"] == "strict"
    writable = [f"/run/{s['RuntimeDirectory']}"] if "RuntimeDirectory" in s else []
    writable += [f"/var/lib/{s['StateDirectory']}"] if "StateDirectory" in s else []
    assert s.get("WorkingDirectory") in writable
    environment = [line.split("=", 1)[1] for line in UNIT.read_text().splitlines()
                   if line.startswith("Environment=")]
    assert f"LG_WD={s['WorkingDirectory']}" in environment


@pytest.mark.skipif(not have("systemd-analyze"), reason="systemd-analyze is not installed")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify insists that ExecStart exists: point it at this environment's bodycam.
    bodycam = Path(sys.prefix) / "bin" / "bodycam"
    if not bodycam.exists():
        pytest.skip(f"{bodycam} is not installed (run through 'make test')")
    unit = tmp_path / "bodycam.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED, str(bodycam)))
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "bodycam.service" not in done.stderr, done.stderr  # no warnings about our unit
