"""Settings the store pushes to a docked camera (docs/STORE.md, "Camera settings").

The store signs the document with its key (the one the camera pins for receipts), so settings
cannot be injected by whoever sits between dock and store. Only behaviour may be pushed:
recording, gestures, indicators, power, audit and triggers, and the force key's rotation
(``encryption.force_key`` alone: a store cannot switch encryption off). What ties the camera
to its hardware, its identity, its storage or its store (device, camera, encoder, storage,
pins, upload, simulator) stays with the local configuration file.

Precedence: defaults < the configuration file < the store's document. The document as applied is
kept in ``DATA_DIR/state/store-settings.json`` and laid over the file again at every start; a
new document replaces it whole, so a key the store no longer sends returns to the file's value.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from device.config import Config, ConfigError
from evidence.bounded import read_json
from evidence.fsutil import atomic_write, private_dir
from evidence.layout import Layout
from evidence.settings import (
    PUSHABLE,
    SIGNING_PREFIX,
    Settings,
    SettingsError,
    check_only,
    parse,
)

SAVED = Layout.STORE_SETTINGS

__all__ = ["PUSHABLE", "SAVED", "SIGNING_PREFIX", "Settings", "SettingsError", "apply", "changes",
           "check", "load_saved", "parse", "save"]


def apply(base: Config, settings: Settings) -> Config:
    """``base`` (the configuration file) with the store's settings over it, validated whole."""
    check_only(settings)
    try:
        return base.replace("settings from the store", **settings)
    except ConfigError as exc:
        raise SettingsError(str(exc)) from None


def check(settings: Settings) -> None:
    """The camera's rules for a pushed document, for a store to check its file with before it
    serves it (the ``bodycam.settings_rules`` entry point): SettingsError if a camera on its
    defaults would refuse it."""
    apply(Config(), settings)


def changes(old: Config, new: Config) -> list[dict[str, Any]]:
    """Every key that differs, as ``{"key": "section.key", "old": ..., "new": ...}``."""
    found = []
    for section in dataclasses.fields(Config):
        before, after = getattr(old, section.name), getattr(new, section.name)
        for f in dataclasses.fields(before):
            a, b = getattr(before, f.name), getattr(after, f.name)
            if a != b:
                found.append({"key": f"{section.name}.{f.name}", "old": a, "new": b})
    return found


def save(data_dir: Path, settings: Settings, store_id: str) -> None:
    path = data_dir / SAVED
    private_dir(path.parent)
    atomic_write(path, (json.dumps({"store_id": store_id, "settings": settings}, indent=2,
                                   sort_keys=True) + "\n").encode())


def load_saved(base: Config, data_dir: Path) -> tuple[Config, str | None]:
    """``base`` with the kept store settings over it, and a one-line problem if they could not
    be used (the camera then runs on its file alone rather than not at all)."""
    path = data_dir / SAVED
    try:
        data = read_json(path)
        settings = data["settings"]
        if not isinstance(settings, dict) or set(settings) - set(PUSHABLE):
            raise SettingsError("not a settings document")
        return apply(base, settings), None
    except FileNotFoundError:
        return base, None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        return base, f"{path}: store settings not applied ({exc})"
