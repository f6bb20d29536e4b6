"""The store's settings: ``DIR/store.json``, written by ``bodycam store init``, every key optional.

Retention and limits are per store, not per command line, so a restart never applies a different
retention period by accident. An unknown key, a wrong type or an out-of-range value is refused
with one line naming the file and the key.

Where the store keeps things (docs/STORE.md): ``catalogue`` is ``"sqlite"`` (the embedded
default, ``DIR/catalogue.sqlite``) or a ``postgresql://`` DSN; ``objects`` is ``"folder"``
(``DIR/objects``) or ``s3://BUCKET[/PREFIX]`` on the gateway at ``s3_endpoint`` (else
``$BODYCAM_S3_ENDPOINT``). S3 credentials come only from the environment, never this file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from store.categories import DEFAULT_CATEGORIES, check_categories

MiB = 1 << 20

#: key -> (minimum, maximum, meaning)
LIMITS: dict[str, tuple[float, float, str]] = {
    "retention_days": (0.001, 36500, "days after receipt that unflagged footage is deleted"),
    "retention_interval_s": (1, 86400, "how often 'store serve' applies retention"),
    "clock_skew_s": (1, 86400, "accepted difference between a device's clock and the store's"),
    "max_chunk_bytes": (1024, 256 * MiB, "largest body of one upload request"),
    "max_segment_bytes": (1024, 1 << 40, "largest segment MP4 accepted"),
    "max_audit_log_bytes": (1024, 1 << 40, "largest device audit log accepted"),
    "staging_max_age_s": (60, 3650 * 86400, "an upload with no progress for this long has its "
                                            "staged bytes removed"),
}
#: Text settings: key -> (check, meaning). ``check`` returns an error or None.
TEXTS: dict[str, tuple[str, str]] = {
    "catalogue": ("catalogue", "'sqlite' or a postgresql:// DSN"),
    "objects": ("objects", "'folder' or s3://BUCKET[/PREFIX]"),
    "s3_endpoint": ("endpoint", "the S3 gateway's http(s):// URL, or '' for "
                                "$BODYCAM_S3_ENDPOINT"),
}


def check_text(key: str, value: object) -> str | None:
    """Why a text setting is wrong (None when it is right)."""
    meaning = TEXTS[key][1]
    if not isinstance(value, str) or not value.isprintable() or len(value) > 2048:
        return f"{key}: expected text ({meaning}), got {value!r}"
    kind = TEXTS[key][0]
    if kind == "catalogue" and value != "sqlite" and not value.startswith(
            ("postgresql://", "postgres://")):
        return f"{key}: {value!r} is not {meaning}"
    if kind == "objects" and value != "folder":
        bucket = value[5:].partition("/")[0] if value.startswith("s3://") else ""
        if not 3 <= len(bucket) <= 63 or not all(c.isalnum() or c in ".-" for c in bucket):
            return f"{key}: {value!r} is not {meaning} (a bucket name has 3-63 letters, " \
                   "digits, dots or hyphens)"
    if kind == "endpoint" and value and not value.startswith(("http://", "https://")):
        return f"{key}: {value!r} is not {meaning}"
    if kind == "endpoint" and "@" in value.partition("://")[2].partition("/")[0]:
        return f"{key}: credentials do not go in the endpoint; set BODYCAM_S3_ACCESS_KEY and " \
               "BODYCAM_S3_SECRET_KEY"
    return None


class StoreConfigError(ValueError):
    """A setting is wrong; the message names the file and the key."""


@dataclass(frozen=True)
class StoreConfig:
    retention_days: float = 31.0
    retention_interval_s: float = 3600.0
    clock_skew_s: int = 300
    max_chunk_bytes: int = 16 * MiB
    max_segment_bytes: int = 4096 * MiB
    max_audit_log_bytes: int = 256 * MiB
    staging_max_age_s: float = 7 * 86400.0
    catalogue: str = "sqlite"
    objects: str = "folder"
    s3_endpoint: str = ""
    #: category -> retention in days after receipt, or None: kept until the category changes
    #: (a legal hold); store/categories.py
    categories: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_CATEGORIES))

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "categories":
                problem = check_categories(value)
                if problem:
                    raise StoreConfigError(problem)
                continue
            if f.name in TEXTS:
                problem = check_text(f.name, value)
                if problem:
                    raise StoreConfigError(problem)
                continue
            low, high, meaning = LIMITS[f.name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise StoreConfigError(f"{f.name}: expected a number ({meaning}), got {value!r}")
            if f.type == "int" and not isinstance(value, int):
                raise StoreConfigError(f"{f.name}: expected a whole number, got {value!r}")
            if not low <= value <= high:
                raise StoreConfigError(f"{f.name}: {value} is outside {low}..{high} ({meaning})")

    @property
    def retention_s(self) -> float:
        return self.retention_days * 86400.0

    @property
    def engines(self) -> bool:
        """Whether the catalogue or the objects live outside the store directory."""
        return self.catalogue != "sqlite" or self.objects != "folder"

    def to_bytes(self) -> bytes:
        return (json.dumps(asdict(self), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def load(cls, path: Path) -> StoreConfig:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StoreConfigError(f"{path}: not readable JSON ({exc})") from None
        if not isinstance(data, dict):
            raise StoreConfigError(f"{path}: expected a JSON object of settings")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise StoreConfigError(f"{path}: unknown key {unknown[0]!r} (known: "
                                   f"{', '.join(f.name for f in fields(cls))})")
        try:
            return cls(**data)
        except StoreConfigError as exc:
            raise StoreConfigError(f"{path}: {exc}") from None
