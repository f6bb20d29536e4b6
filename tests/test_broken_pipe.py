"""A reader that goes away (`bodycam ... | head`) ends the command quietly, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BODYCAM = Path(sys.executable).with_name("bodycam")


@pytest.mark.parametrize("command", [["config"], ["store", "--help"]])
def test_a_closed_pipe_is_no_traceback(command: list[str], tmp_path: Path) -> None:
    """The reader closes before the command has printed a line (it takes longer than that to
    start), so every write the command makes meets a closed pipe."""
    proc = subprocess.Popen([str(BODYCAM), *command], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=tmp_path)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # as `head` does once it has what it wanted
    stderr = proc.stderr.read().decode()
    code = proc.wait(timeout=60)
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert code in (0, 141)
