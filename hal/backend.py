"""Backends as plug-ins, gpiozero's way: each is found by name through an entry point.

A backend (the simulator, the Raspberry Pi, a third party's board) is an object registered in
the ``bodycam.backends`` entry-point group (``pyproject.toml``). It names the configuration
section it reads, gives that section's schema (a frozen dataclass whose fields are made by
:func:`opt`, checked by the firmware's loader like its own sections) and builds a
:class:`~hal.hardware.Hardware` bundle from that section. It never sees the firmware: the
firmware looks it up here and runs the daemon on what it built, so the firmware names none.

The module an entry point names should load quickly and import no driver (the configuration
loader asks every installed backend for its schema); drivers are imported in ``build``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # the configuration loader loads this module: no numpy for it
    from hal.clock import Clock
    from hal.hardware import Hardware


#: The entry-point group every backend registers in.
GROUP = "bodycam.backends"

log = logging.getLogger(__name__)


def opt(default: Any, doc: str, lo: float | None = None, hi: float | None = None,
        choices: tuple[str, ...] | None = None, text: str | None = None) -> Any:
    """A key: its default, its meaning, and what values it takes (a number: ``lo`` to ``hi``,
    which every number has; a string: ``choices``, or a ``text`` kind, label or codec)."""
    if isinstance(default, int | float) and not isinstance(default, bool) and (
            lo is None or hi is None):
        raise TypeError(f"a number key needs its range: {doc}")  # pragma: no cover
    return field(default=default, metadata={"doc": doc, "lo": lo, "hi": hi, "choices": choices,
                                            "text": text})


class SectionError(ValueError):
    """A backend's section is wrong as a whole (a required pin missing, two keys on one
    GPIO); the message is one line naming the source and the key."""


class BackendError(RuntimeError):
    """The hardware cannot be brought up (a pin refused, no GPIO access, no backend of that
    name); the message is one line that says what and how to fix it."""


@dataclass(frozen=True)
class Setup:
    """What the firmware tells every backend besides its own section: where the data lives
    (for the storage device) and the mode the camera records in. ``clock``: an injected clock
    (tests, the simulator's virtual one); None, the backend's own real-time clock."""

    data_dir: Path
    width: int
    height: int
    fps: int
    clock: Clock | None = None
    #: ``bodycam run --codec``: ``auto`` lets the backend's encoder factory pick the board's
    #: encoder; any other name is the codec to open, whatever the configuration says.
    codec: str = "auto"
    #: ``[audio]``: a microphone at this rate and channel count, or none (``audio.enabled``
    #: false: the backend opens no capture device).
    audio: bool = True
    audio_rate: int = 48000
    audio_channels: int = 1
    audio_device: str = "default"


@runtime_checkable
class Backend(Protocol):
    """The plug-in: a name, the section it reads and its schema, and a way to build."""

    #: ``bodycam run --backend NAME``; also ``Hardware.name`` and the console's hello.
    name: str
    #: The configuration section this backend reads (``pins``), or None for none.
    section: str | None
    #: That section's schema: a frozen dataclass of :func:`opt` fields, its defaults the
    #: defaults (None with ``section``).
    schema: type | None

    def check(self, section: Any, source: str) -> None:
        """Raise :class:`SectionError` if the section is wrong as a whole (each key has
        already been checked against its :func:`opt` range)."""

    def build(self, section: Any, setup: Setup, **parts: Any) -> Hardware:
        """Every device, from ``section``; ``parts`` replace devices by the backend's own
        names (a test's pin factory or camera). Raises :class:`BackendError` when the
        hardware cannot be brought up, and leaves nothing reserved."""


#: Backends added by :func:`register` (tests, an embedding program), by name; they shadow
#: installed ones of the same name.
_registered: dict[str, Backend] = {}
_loaded: dict[str, Backend] | None = None
#: Installed backends that did not load, by name: why, in one line.
_broken: dict[str, str] = {}


def register(backend: Backend) -> None:
    """Add a backend without installing a distribution (``unregister`` takes it away)."""
    name = str(getattr(backend, "name", "?"))
    why = _problem(backend, name)
    if why is not None:
        raise BackendError(f"backend {name!r} {why}")
    _registered[name] = backend


def unregister(name: str) -> None:
    _registered.pop(name, None)


def _installed() -> dict[str, Backend]:
    """Every backend the entry points name, loaded once, in the order they are declared. One
    that does not load is left out (with a one-line warning), so that a broken plug-in stops
    only itself: asking for it by name is its error."""
    global _loaded
    if _loaded is None:
        found: dict[str, Backend] = {}
        for point in entry_points(group=GROUP):
            if point.name in found or point.name in _broken:
                continue  # an older copy on the path: the first one wins, as for imports
            try:
                backend = point.load()
            except Exception as exc:
                why = f"does not load: {type(exc).__name__}: {exc}"
            else:
                why = _problem(backend, point.name)
                if why is None:
                    found[point.name] = backend
                    continue
            _broken[point.name] = f"backend {point.name!r} ({point.value}) {why}".replace(
                "\n", " ")
            log.warning("%s", _broken[point.name])
        _loaded = found
    return _loaded


def _problem(backend: object, name: str) -> str | None:
    """Why ``backend`` cannot serve as the backend ``name``, or None."""
    if not isinstance(backend, Backend) or backend.name != name:
        return f"is not a backend named {name!r}"
    schema = backend.schema
    if backend.section is None:
        return None
    if not (isinstance(schema, type) and dataclasses.is_dataclass(schema)) or any(
            "doc" not in f.metadata for f in dataclasses.fields(schema)):
        return f"gives no schema for [{backend.section}] (a dataclass of opt() keys)"
    return None


def backends() -> Mapping[str, Backend]:
    """Every backend there is, installed and registered, by name."""
    return {**_installed(), **_registered}


def find(name: str) -> Backend:
    """The backend called ``name``; an unknown name is one line listing those installed."""
    known = backends()
    if name in known:
        return known[name]
    if name in _broken:
        raise BackendError(_broken[name])
    listed = ", ".join(sorted(known)) or (
        f"none; the {GROUP!r} entry points come with the installed package: run make")
    raise BackendError(f"no backend {name!r} (installed: {listed})")
