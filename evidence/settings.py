"""The settings document a store pushes to its docked cameras: the part of it on the wire
(docs/STORE.md, "Camera settings").

The store signs the document with its key (the one the camera pins for receipts), so settings
cannot be injected by whoever sits between dock and store. Only behaviour may be pushed:
recording, gestures, indicators, power, audit and triggers. Signed text = :data:`SIGNING_PREFIX`
followed by the document's bytes, so no other store signature can pass for it. What each key
may hold is the camera's configuration's to say (device/upload/settings.py applies a document;
it also serves, as the ``bodycam.settings_rules`` entry point, the rules a store checks its file
with before it serves it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence.identity import signed_document

PUSHABLE = ("recording", "gestures", "indicators", "power", "audit", "triggers", "encryption")
#: Keys a store may set in a section it may otherwise not: the force key's rotation only
#: (switching encryption off, or pointing the camera at another file, is the camera's own).
ONLY: dict[str, frozenset[str]] = {"encryption": frozenset({"force_key"})}
#: Signed text = this prefix + the document's bytes, so no other store signature can pass for it.
SIGNING_PREFIX = b"bodycam-settings-v1\n"

Settings = dict[str, dict[str, Any]]


class SettingsError(ValueError):
    """The store's settings cannot be applied; nothing of them is. One line."""


def parse(raw: bytes, signature: bytes, store_key: Ed25519PublicKey) -> Settings:
    """The settings document, if the pinned store key signed it and it names only what a store
    may set."""
    try:
        data = signed_document(raw, signature, store_key, SIGNING_PREFIX, "settings")
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise SettingsError("settings must be a JSON object of sections, each an object of keys")
    refused = sorted(set(data) - set(PUSHABLE))
    if refused:
        raise SettingsError(f"settings name section [{refused[0]}], which only the camera's own "
                            f"configuration may set (a store may set: {', '.join(PUSHABLE)})")
    check_only(data)
    return data


def check_only(data: Settings) -> None:
    """SettingsError for a key of a section a store may set only in part."""
    for section, allowed in ONLY.items():
        extra = sorted(set(data.get(section, {})) - allowed)
        if extra:
            raise SettingsError(f"settings set {section}.{extra[0]}, which only the camera's own "
                                f"configuration may set (a store may set {section}."
                                f"{', '.join(sorted(allowed))})")


#: The entry-point group through which camera firmware offers its rules for a pushed document:
#: each is a callable that raises :class:`SettingsError` for a document its cameras would refuse.
RULES_GROUP = "bodycam.settings_rules"
Rules = Callable[[Settings], None]
