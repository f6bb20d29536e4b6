"""Reproducible installs: every install (make sim/test, CI, the Pi installer) takes exact
versions with their hashes from a lock, the locks agree with pyproject.toml's ranges, and the
venv is rebuilt when a lock changes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK, TEST_LOCK = ROOT / "requirements.lock", ROOT / "requirements-test.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pins(lock: Path) -> dict[str, tuple[str, list[str], Requirement]]:
    """name -> (version, hashes, requirement) of every entry of a lock."""
    entries = {}
    text = lock.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        spec, *options = re.split(r"\s+--", line)
        req = Requirement(spec)
        exact = [s.version for s in req.specifier if s.operator == "=="]
        assert len(exact) == 1 and len(req.specifier) == 1, f"{lock.name}: {line[:60]} not =="
        hashes = [o.split(":", 1)[1] for o in options if o.startswith("hash=sha256:")]
        assert hashes and len(hashes) == len(options), f"{lock.name}: {req.name} without hash"
        entries[canonicalize_name(req.name)] = (exact[0], hashes, req)
    return entries


def applies(req: Requirement, extra: str = "") -> bool:
    return req.marker is None or req.marker.evaluate({**default_environment(), "extra": extra})


@pytest.mark.parametrize(("lock", "extra"), [(LOCK, ""), (TEST_LOCK, "test")])
def test_every_dependency_is_pinned_within_its_range(lock: Path, extra: str) -> None:
    locked = pins(lock)
    wanted = [Requirement(r) for r in PYPROJECT["dependencies"]]
    if extra:
        wanted += [Requirement(r) for r in PYPROJECT["optional-dependencies"][extra]]
    for req in wanted:
        name = canonicalize_name(req.name)
        assert name in locked, f"{lock.name} does not pin {req.name}"
        assert req.specifier.contains(locked[name][0]), (lock.name, str(req), locked[name][0])


def test_the_pi_and_ci_install_the_same_versions() -> None:
    runtime, test = pins(LOCK), pins(TEST_LOCK)
    for name, (pinned, hashes, _) in runtime.items():
        assert name in test and test[name][0] == pinned, name
        assert set(test[name][1]) == set(hashes), f"{name}: the locks hash different files"


def test_numpy_stays_1x_for_the_pis_picamera2() -> None:
    """apt's simplejpeg (picamera2) is built against NumPy 1.x on Raspberry Pi OS Bookworm."""
    assert pins(LOCK)["numpy"][0].startswith("1.")


def test_binary_packages_carry_a_hash_per_platforms_file() -> None:
    """x86_64 (CI) and aarch64 (the Pi) install different wheels of one version: a lock made on
    one machine must hash the other's files too, so packages with wheels have many hashes."""
    locked = pins(LOCK)
    for name in ("numpy", "opencv-python-headless", "av", "cryptography", "cffi"):
        assert len(locked[name][1]) >= 4, f"{name}: {len(locked[name][1])} hash(es) only"


def test_this_environment_was_installed_from_the_lock() -> None:
    """``make test`` installs from requirements-test.lock: what runs these tests is the lock."""
    if not Path(sys.prefix, ".installed").exists():
        pytest.skip(f"{sys.prefix} is not a venv made by make")
    for name, (pinned, _, req) in pins(TEST_LOCK).items():
        if not applies(req):
            continue
        try:
            installed = version(name)
        except PackageNotFoundError:
            pytest.fail(f"{name} is locked but not installed")
        assert installed == pinned, f"{name}: installed {installed}, locked {pinned}"


def make(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


@needs_make
def test_make_installs_from_the_lock_with_hashes(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    plan = make("-n", f"VENV={venv}", f"{venv}/.installed").stdout
    assert "--require-hashes -r requirements-test.lock" in plan, plan
    assert "--no-deps -e ." in plan
    assert "'.[test]'" not in plan  # never the ranges


@needs_make
def test_a_changed_lock_rebuilds_the_venv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    stamp = venv / ".installed"
    stamp.touch()
    newest = max(p.stat().st_mtime for p in (TEST_LOCK, ROOT / "pyproject.toml"))
    os.utime(stamp, (newest + 10, newest + 10))
    assert make("-q", f"VENV={venv}", str(stamp)).returncode == 0  # up to date
    os.utime(stamp, (newest - 10, newest - 10))  # the lock changed after the install
    assert make("-q", f"VENV={venv}", str(stamp)).returncode == 1


@needs_make
def test_make_lock_is_the_one_refresh_command() -> None:
    plan = make("-n", "lock").stdout
    assert plan.count("uv pip compile pyproject.toml") == 2
    assert "--generate-hashes" in plan and "--universal" in plan and "--upgrade" in plan
    for lock in (LOCK, TEST_LOCK):
        assert "make lock" in lock.read_text().splitlines()[1], lock.name


def test_the_pi_installer_and_ci_install_from_the_locks() -> None:
    script = (ROOT / "scripts" / "install-pi.sh").read_text()
    assert "LOCK=requirements.lock" in script
    assert '--require-hashes \\\n    -r "$SRC/$LOCK"' in script
    assert '--no-deps "$SRC"' in script
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "pip install" not in ci  # CI goes through the Makefile
