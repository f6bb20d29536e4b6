"""Checks on everything that arrives from the network, each failing with a 400 naming the field.

Client text never becomes a path: objects are named by hash and staging files by upload id, and
file names (which do appear in exports) are limited to a safe alphabet without ``..``.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from evidence import bounded
from store.errors import bad_request

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def safe_name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not SAFE_NAME.fullmatch(value) or ".." in value:
        shown = repr(value[:60] if isinstance(value, str) else value)[:62]
        raise bad_request(f"{field} {shown} is not a safe name (letters, digits, '.', '_', '-'; "
                          "at most 128; no '..' or '/')")
    return value


def sha256_hex(value: Any, field: str) -> str:
    if not isinstance(value, str) or not SHA256_HEX.fullmatch(value):
        raise bad_request(f"{field} must be a lowercase hex SHA-256 (64 digits)")
    return value


def whole_number(value: Any, field: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise bad_request(f"{field} must be a whole number from 0 to {maximum}")
    return value


def base64_field(value: Any, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise bad_request(f"{field} must be base64") from None


#: Deeper than any document the API takes; checked before parsing so the parser never recurses
#: far (a deep body would otherwise end in RecursionError, a 500).
def parse_json(raw: bytes, what: str = "body") -> Any:
    """Strict JSON from the network, by the contract's one bounded parser
    (:func:`evidence.bounded.loads`): UTF-8, no NaN/Infinity, no lone surrogate, bounded
    nesting and integer size; anything else is a ValueError naming ``what`` and the fault.
    The size is the caller's to bound (request bodies are limited before they are read)."""
    return bounded.loads(raw, what, limit=len(raw))


def json_object(body: bytes, allowed: set[str], required: set[str]) -> dict[str, Any]:
    """A JSON object body with no unknown and no missing keys."""
    try:
        data = parse_json(body)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    if not isinstance(data, dict):
        raise bad_request("body must be a JSON object")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise bad_request(f"unknown field {unknown[0][:40]!r} (allowed: "
                          f"{', '.join(sorted(allowed))})")
    missing = sorted(required - set(data))
    if missing:
        raise bad_request(f"missing field {missing[0]!r}")
    return data
