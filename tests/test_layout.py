"""The layer rule: which package may import which, as one table, with no exemptions.

docs/ARCHITECTURE.md draws the same table. Every import statement counts, wherever it stands
(module top, inside a function, under ``TYPE_CHECKING``): a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("evidence", "device", "hal", "sim", "store")
MEDIA = ("av", "cv2", "numpy", "PIL", "c2pa")
#: Board libraries belong to the Pi backend (hal.pi); hal itself drives serial ports.
BOARD = ("gpiozero", "picamera2", "libcamera", "serial")


@dataclass(frozen=True)
class Layer:
    """A set of modules and what they may import of the project; ``forbidden`` third-party
    prefixes are refused too (a media library in the evidence contract, a board library in the
    firmware)."""

    name: str
    modules: tuple[str, ...]
    may_import: tuple[str, ...]
    forbidden: tuple[str, ...] = ()


#: The simulator modules that compose a daemon with simulated hardware (tests, benches,
#: ``bodycam sim``) or talk to a running one (the browser panel): a client and a harness, not
#: the backend the firmware is handed.
SIM_HARNESS = ("sim.simulator", "sim.app", "sim.preview", "sim.tui", "sim.web")

#: Most specific first: a module belongs to the first layer whose prefix it has. The command
#: line (``device/cli.py``) is firmware too: it reaches backends and the store's command line
#: by entry point (``hal/backend.py``, ``device/runner.py``), never by import.
LAYERS = (
    Layer("evidence contract", ("evidence",), ("evidence",), MEDIA + BOARD),
    Layer("Pi backend", ("hal.pi",), ("hal",)),
    Layer("hardware interfaces", ("hal",), ("hal",), BOARD[:3]),
    Layer("simulator harness and panel", SIM_HARNESS, ("sim", "hal", "device", "evidence")),
    Layer("simulator backend", ("sim",), ("sim", "hal"), BOARD),
    Layer("firmware", ("device",), ("device", "hal", "evidence"), BOARD),
    Layer("evidence store", ("store",), ("store", "evidence"), BOARD),
)

#: Within the interfaces layer, no module may reach into a backend.
NEVER = {"hal": ("hal.pi",), "device": ("hal.pi",), "sim": ("hal.pi",), "evidence": ()}


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file; relative imports resolved to absolute."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            if node.module is None and node.level:
                found.extend((node.lineno, f"{module}.{a.name}") for a in node.names)
            else:
                found.append((node.lineno, module))
    return found


def layer_of(module: str) -> Layer | None:
    return next((layer for layer in LAYERS if _within(module, layer.modules)), None)


def offences(path: Path) -> list[str]:
    """One line per import that the table refuses, naming file, line, import and rule."""
    module = module_name(path)
    layer = layer_of(module)
    if layer is None:
        return []
    rel = path.relative_to(ROOT)
    bad: list[str] = []
    for line, name in imports(path):
        never = NEVER.get(module.split(".")[0], ())
        if layer.name != "Pi backend" and _within(name, never):
            bad.append(f"{rel}:{line} imports {name}: the {layer.name} never imports a backend")
        elif _within(name, PROJECT) and not _within(name, layer.may_import):
            bad.append(f"{rel}:{line} imports {name}: the {layer.name} may import only "
                       f"{', '.join(layer.may_import)}")
        elif _within(name, layer.forbidden):
            bad.append(f"{rel}:{line} imports {name}: the {layer.name} may not use {name}")
    return bad


def project_files() -> list[Path]:
    return sorted(p for top in PROJECT if (ROOT / top).is_dir()
                  for p in (ROOT / top).rglob("*.py"))


def test_every_import_follows_the_layer_table() -> None:
    bad = [line for path in project_files() for line in offences(path)]
    assert bad == [], "\n".join(bad)


def test_every_layer_holds_modules() -> None:
    """A renamed package would leave its layer empty and its rule vacuous."""
    held = {layer_of(module_name(p)) for p in project_files()}
    assert [layer.name for layer in LAYERS if layer not in held] == []


@pytest.mark.parametrize(("where", "source", "expected"), [
    ("hal/camera.py", "from device.config import Config\n",
     "hal/camera.py:1 imports device.config: the hardware interfaces may import only hal"),
    ("hal/camera.py", "def f():\n    import sim.camera\n",
     "hal/camera.py:2 imports sim.camera: the hardware interfaces may import only hal"),
    ("evidence/verify.py", "import av\n",
     "evidence/verify.py:1 imports av: the evidence contract may not use av"),
    ("evidence/verify.py", "from device.audit import AuditLog\n",
     "evidence/verify.py:1 imports device.audit: the evidence contract may import only "
     "evidence"),
    ("device/daemon.py", "from hal.pi.camera import PiCamera\n",
     "device/daemon.py:1 imports hal.pi.camera: the firmware never imports a backend"),
    ("device/daemon.py", "from store.service import Store\n",
     "device/daemon.py:1 imports store.service: the firmware may import only device, hal, "
     "evidence"),
    ("device/daemon.py", "import gpiozero\n",
     "device/daemon.py:1 imports gpiozero: the firmware may not use gpiozero"),
    ("store/ingest.py", "from device.config import Config\n",
     "store/ingest.py:1 imports device.config: the evidence store may import only store, "
     "evidence"),
    ("store/ingest.py", "from hal.clock import SystemClock\n",
     "store/ingest.py:1 imports hal.clock: the evidence store may import only store, evidence"),
    ("sim/devices.py", "from device.daemon import Daemon\n",
     "sim/devices.py:1 imports device.daemon: the simulator backend may import only sim, hal"),
])
def test_the_table_names_an_offending_import(where: str, source: str, expected: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = ROOT / where
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source if self == path
                        else Path.read_bytes(self).decode())
    assert offences(path) == [expected]


def test_relative_imports_are_resolved() -> None:
    path = ROOT / "hal" / "pi" / "camera.py"
    text = "from . import errors\nfrom ..clock import SimClock\nfrom .errors import X\n"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Path, "read_text", lambda self, *a, **k: text)
        assert [name for _, name in imports(path)] == ["hal.pi.errors", "hal.clock",
                                                        "hal.pi.errors"]
