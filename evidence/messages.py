"""Values and errors spelled for the person who reads a message, not the Python way.

A configuration error shows a value as TOML writes it (``true``, ``"wide"``, ``nan``), a control
socket error as JSON does (``true``, ``null``); an operating-system error is its plain words
("Connection refused"), never ``[Errno 111]`` or an exception's class name. Long values are cut,
so one bad value cannot make a message longer than a line (or too long to print at all: Python
refuses to turn an integer of more than 4,300 digits into text).
"""

from __future__ import annotations

import datetime
import json
import math
import ssl
from typing import Any

#: Values are cut to this many characters in a message.
LIMIT = 60


def show(value: Any, toml: bool = False, limit: int = LIMIT) -> str:
    """``value`` as JSON (or, with ``toml``, TOML) spells it, cut to about ``limit`` chars."""
    text = _spell(value, toml, limit)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _spell(value: Any, toml: bool, limit: int) -> str:
    if value is None:
        return "nothing" if toml else "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        digits = len(str(abs(value))) if abs(value) < 10 ** 50 else None
        return str(value) if digits is not None else "a number of more than 50 digits"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return ("inf" if value > 0 else "-inf") if toml else (
                "Infinity" if value > 0 else "-Infinity")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value[:limit + 1])
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_spell(v, toml, limit) for v in value[:limit // 2]) + (
            ", ...]" if len(value) > limit // 2 else "]")
    if isinstance(value, dict):
        sep = " = " if toml else ": "
        items = [f"{_spell(str(k), False, limit) if not toml else k}{sep}"
                 f"{_spell(v, toml, limit)}" for k, v in list(value.items())[:limit // 2]]
        return "{" + ", ".join(items) + "}"
    return _spell(str(value), toml, limit)


def plain(exc: BaseException) -> str:
    """An exception's message in plain words: an OS error's text without its number or class
    name (with the file it concerns), a certificate failure's reason (with OpenSSL's name for
    it, which people search for), else its own first line."""
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate not trusted: {exc.verify_message} ({exc.reason})"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else None
        return f"{where}: {exc.strerror}" if where else exc.strerror
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__
