"""Errors the store reports to a client: an HTTP status and one line that names what was wrong."""

from __future__ import annotations

from typing import Any


class StoreError(Exception):
    """Refused request. ``extra`` goes into the JSON answer (for example ``received``)."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra

    def to_json(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status, **self.extra}


def bad_request(message: str, **extra: Any) -> StoreError:
    return StoreError(400, message, **extra)


def not_found(message: str) -> StoreError:
    return StoreError(404, message)


def conflict(message: str, **extra: Any) -> StoreError:
    return StoreError(409, message, **extra)


def too_large(message: str) -> StoreError:
    return StoreError(413, message)
