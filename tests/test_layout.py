"""The firmware knows hardware only through hal/ interfaces: no backend import in device/."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("sim", "hal.pi", "gpiozero", "picamera2", "serial")
#: The command line is the composition root: it starts a backend, lazily, by name.
COMPOSITION_ROOT = {"device/cli.py"}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_device_never_imports_a_backend() -> None:
    offenders = []
    for path in sorted((ROOT / "device").rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        if rel in COMPOSITION_ROOT:
            continue
        for name in imports(path):
            if any(name == b or name.startswith(b + ".") for b in BACKENDS):
                offenders.append(f"{rel} imports {name}")
    assert offenders == []


def test_the_check_would_catch_an_offender(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from sim.camera import SimCamera\nimport hal.pi.gpio\n")
    assert imports(bad) == {"sim.camera", "hal.pi.gpio"}
