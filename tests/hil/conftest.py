"""The hardware-in-the-loop suite: the same tests against the simulator (default, as in CI) or a
board (``--hil-url``), through the serial console only (docs/SERIAL.md).

Tests marked ``@pytest.mark.rig("power")`` / ``rig("button")`` need a rig; where the target has
none they are skipped with the reason. Tests that read the recordings need them locally: the
simulator's data directory, or a board's through ``--hil-data-dir`` (see the README).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from evidence.crypt import load_force_private_key
from evidence.decrypt import decrypt_file, read_manifest
from tests.hil.device import Device
from tests.hil.targets import BoardTarget, SimTarget, Target


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil", "hardware-in-the-loop suite (tests/hil)")
    group.addoption("--hil-url", metavar="URL",
                    help="run against the camera whose serial console is at URL (/dev/ttyUSB0, "
                         "socket://HOST:PORT, rfc2217://HOST:PORT) instead of the simulator")
    group.addoption("--hil-data-dir", metavar="DIR",
                    help="the board's data directory as seen from here (an sshfs mount of "
                         "/var/lib/bodycam), for the tests that verify recordings")
    group.addoption("--hil-power-off", metavar="CMD",
                    help="shell command that cuts the board's power (power rig)")
    group.addoption("--hil-power-on", metavar="CMD",
                    help="shell command that restores the board's power (power rig)")
    group.addoption("--hil-button", metavar="CMD",
                    help="shell command pressing a real button through a relay; {button} and "
                         "{seconds} are filled in (button rig)")
    group.addoption("--hil-force-key", metavar="PEM",
                    help="the force's private key, to read a board's encrypted segments "
                         "(default: the simulator's development key beside the data directory)")
    group.addoption("--hil-timeout", type=float, default=10.0, metavar="S",
                    help="longest wait for one line from a board (default 10)")
    group.addoption("--hil-boot-timeout", type=float, default=120.0, metavar="S",
                    help="longest wait for a board to answer after power returns (default 120)")


@pytest.fixture
def target(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    option = request.config.getoption
    url = option("--hil-url", default=None)
    made: Target
    if url:
        made = BoardTarget(url, option("--hil-data-dir"), option("--hil-power-off"),
                           option("--hil-power-on"), option("--hil-button"),
                           option("--hil-timeout"), option("--hil-boot-timeout"))
    else:  # a short path: the control socket's must fit in a Unix socket address
        made = SimTarget(tmp_path_factory.mktemp("hil"))
    yield made
    made.close()
    if isinstance(made, SimTarget):  # shown with a failing test's report
        print("".join(made.output))


@pytest.fixture
def device(target: Target) -> Device:
    """The camera, connected and back in buffering with no flags set."""
    camera = target.connect()
    camera.ready()
    return camera


@pytest.fixture(autouse=True)
def _needs_rig(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("rig")
    if marker is not None:
        reason = request.getfixturevalue("target").no_rig(marker.args[0])
        if reason:
            pytest.skip(reason)


@pytest.fixture
def data_dir(target: Target) -> Path:
    """Where this target's recordings can be read."""
    if target.data_dir is None:
        pytest.skip("the board's recordings are not reachable from here: pass --hil-data-dir "
                    "(for example an sshfs mount of /var/lib/bodycam)")
    return target.data_dir


@pytest.fixture
def media(request: pytest.FixtureRequest, data_dir: Path,
          tmp_path: Path) -> Callable[[Path], Path]:
    """A segment as an MP4 a player reads: the file itself when it is in the clear, else its
    plaintext decrypted (and checked against the signed hash) with the force's private key
    (``--hil-force-key``, or the simulator's development key beside the data directory)."""
    given = request.config.getoption("--hil-force-key", default=None)
    key_file = Path(given) if given else data_dir.parent / f"{data_dir.name}.dev-force.key.pem"

    def plain(mp4: Path) -> Path:
        if read_manifest(mp4).encryption is None:
            return mp4
        if not key_file.is_file():
            pytest.skip(f"{mp4.name} is encrypted and {key_file} is not here: pass "
                        "--hil-force-key with the force's private key")
        out = tmp_path / "plain" / mp4.name
        out.parent.mkdir(exist_ok=True)
        decrypt_file(mp4, load_force_private_key(key_file), out)
        return out
    return plain


def verify(path: Path) -> subprocess.CompletedProcess[str]:
    """``bodycam verify PATH``, as an investigator would run it."""
    return subprocess.run([sys.executable, "-m", "device.cli", "verify", str(path)],
                          capture_output=True, text=True, timeout=120)
