"""Checks on everything that arrives from the network, each failing with a 400 naming the field.

Client text never becomes a path: objects are named by hash and staging files by upload id, and
file names (which do appear in exports) are limited to a safe alphabet without ``..``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

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
MAX_JSON_DEPTH = 32
STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
BRACKETS = re.compile(r"[][{}]")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw: bytes, what: str = "body") -> Any:
    """Strict JSON from the network: UTF-8, no NaN/Infinity, at most ``MAX_JSON_DEPTH`` deep,
    integers of at most 4300 digits; anything else is a ValueError naming what was wrong."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what} is not UTF-8 (byte {exc.start})") from None
    depth = 0
    for bracket in BRACKETS.findall(STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(text, parse_constant=_no_constant)
        if SURROGATE.search(text):  # a pair is one character; a lone half cannot be stored
            json.dumps(data, ensure_ascii=False).encode("utf-8")
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} is not JSON ({exc})") from None
    except (ValueError, RecursionError) as exc:  # a huge integer, NaN, Infinity, a surrogate
        raise ValueError(f"{what} is not acceptable JSON ({str(exc)[:120]})") from None
    return data


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
