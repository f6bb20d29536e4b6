"""The HIL suite's board mode (``--hil-url``), run unchanged against a camera it did not start:
a simulator serving its console on TCP stands in for a board on a USB-serial adapter. Without
rig commands the rig tests are skipped, and say why."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.hil.targets import SIM_CONFIG


def hil_against_a_board(tmp_path: Path, config_text: str, *pytest_args: str
                        ) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Start a simulator on ``config_text`` with its console on TCP (the board), run the HIL
    suite with ``pytest_args`` against it in another process; (that run, the board's data)."""
    config = tmp_path / "bodycam.toml"
    config.write_text(config_text)
    data = tmp_path / "d"
    board = subprocess.Popen(
        [sys.executable, "-m", "device.cli", "sim", "--headless", "--virtual-clock",
         "--serial", "tcp:127.0.0.1:0", "--config", str(config), "--data-dir", str(data)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert board.stdout is not None
        url = next(line.split()[2] for line in board.stdout
                   if line.startswith("serial console "))
        assert url.startswith("socket://127.0.0.1:")
        suite = subprocess.run(
            [sys.executable, "-m", "pytest", *pytest_args, "-p", "no:cacheprovider",
             "--hil-url", url, "--hil-data-dir", str(data), "--hil-timeout", "30"],
            capture_output=True, text=True, timeout=300, cwd=Path(__file__).parent.parent)
    finally:
        board.terminate()
        board.wait(timeout=30)
    return suite, data


def test_the_hil_suite_runs_unchanged_against_a_board(tmp_path: Path) -> None:
    suite, _ = hil_against_a_board(tmp_path, SIM_CONFIG, "tests/hil", "-rs")
    report = suite.stdout
    assert suite.returncode == 0, report
    assert "needs a power rig (cut and restore power): pass --hil-power-off" in report
    assert "needs a button rig (press a real button): pass --hil-button" in report
    assert " 14 passed, 2 skipped" in report, report


def test_the_hil_mute_check_on_a_board_that_forbids_muting(tmp_path: Path) -> None:
    """A board configured with ``audio.mute_allowed = false``: the same mute check passes by
    finding the holds refused and audited, and nothing silenced."""
    suite, data = hil_against_a_board(tmp_path, SIM_CONFIG + "[audio]\nmute_allowed = false\n",
                                      "tests/hil/test_audio.py", "-k", "mute or stealth")
    assert suite.returncode == 0, suite.stdout
    assert " 2 passed" in suite.stdout, suite.stdout
    audit = (data / "audit" / "audit.jsonl").read_text()
    assert audit.count('"event":"mute_refused"') == 2 and '"flag":"muted"' not in audit
