"""Categories: what a recording is, and so how long the store keeps it (docs/STORE.md).

``store.json`` lists the categories with a retention each, in days after the store received the
recording (its own clock, as for every retention), or ``null``: kept until the category changes
(a legal hold, as a flag is). An uncategorised recording has ``retention_days``. A recording's
category is set by ``bodycam store categorise`` or ``POST /v1/recordings/ID/category``; every
change goes to the store's audit log and, before the catalogue commits it, to the public
transparency log as a ``category`` leaf.

A retention date is only ever extended. The catalogue keeps the latest date the store gave a
recording (``retain_until_s``); a category whose date would come before it is refused in one
line, on every backend, because with Object Lock the bucket would refuse it anyway and a store
must not behave differently by where it keeps its bytes. Leaving a holding category is allowed
(as unflagging is), to a category whose date is not earlier than the one already given.

A category a recording carries that ``store.json`` no longer lists holds the recording: nothing
is deleted by a rule no longer written down; categorising it again decides.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from store.clock import utc_iso
from store.errors import bad_request, conflict

if TYPE_CHECKING:
    from store.service import Store

DAY_S = 86400.0
#: The categories a new store has: name -> days after receipt, or None (kept until changed).
DEFAULT_CATEGORIES: dict[str, float | None] = {"no further action": 31, "evidence": None,
                                               "training": 365}
MAX_CATEGORIES = 64
MAX_NAME = 64
#: Lowercase letters, digits, spaces, hyphens and underscores; no space at either end.
NAME = re.compile(r"[a-z0-9](?:[a-z0-9 _-]{0,62}[a-z0-9])?")
MIN_DAYS, MAX_DAYS = 0.001, 36500


def check_name(name: object) -> str | None:
    """Why ``name`` is not a category name (None when it is)."""
    if not isinstance(name, str):
        return f"a category is text, not {type(name).__name__}"
    if not NAME.fullmatch(name) or "  " in name:
        return (f"category {name[:80]!r} must be 1-{MAX_NAME} lowercase letters, digits, single "
                "spaces, hyphens or underscores")
    return None


def check_categories(value: object) -> str | None:
    """Why ``store.json``'s ``categories`` is wrong (None when it is right)."""
    if not isinstance(value, dict):
        return "categories: expected an object of category name -> retention days or null"
    if len(value) > MAX_CATEGORIES:
        return f"categories: at most {MAX_CATEGORIES} categories, got {len(value)}"
    for name, days in value.items():
        problem = check_name(name)
        if problem:
            return f"categories: {problem}"
        if days is None:
            continue
        if isinstance(days, bool) or not isinstance(days, int | float) \
                or not MIN_DAYS <= days <= MAX_DAYS:
            return (f"categories: {name!r}: {days!r} is not a retention in days "
                    f"({MIN_DAYS}..{MAX_DAYS}) or null (kept until the category changes)")
    return None


def retention_days(store: Store, category: str | None) -> float | None:
    """Days after receipt a recording of ``category`` is kept; None: held (a holding
    category, or one ``store.json`` no longer lists)."""
    if category is None:
        return store.config.retention_days
    days = store.config.categories.get(category)
    return None if days is None else float(days)


def holds(store: Store, category: str | None) -> bool:
    """Whether a recording of this category is kept until its category changes."""
    return retention_days(store, category) is None


def delete_after(store: Store, row: Any) -> float | None:
    """When retention may delete this recording (UTC seconds, store clock); None: not while it
    is as it is (flagged, held by its category, or never received)."""
    if row["case_ref"] is not None or row["received_s"] is None:
        return None
    days = retention_days(store, row["category"])
    if days is None:
        return None
    due = row["received_s"] + days * DAY_S
    promised = row["retain_until_s"]
    return due if promised is None else max(due, promised)


def given_until(store: Store, row: Any) -> float | None:
    """The latest retention date the store has given this recording's objects: the one it
    recorded, or (before any category) receipt plus the default retention ingest locked."""
    dates = [d for d in (row["retain_until_s"],
                         None if row["received_s"] is None else
                         row["received_s"] + store.config.retention_s) if d is not None]
    return max(dates) if dates else None


def categorise(store: Store, recording_id: str, category: object,
               device_id: str | None = None) -> dict[str, Any]:
    """Give a recording a category: its retention follows (extend only); audited and logged."""
    problem = check_name(category)
    if problem:
        raise bad_request(problem)
    assert isinstance(category, str)
    if category not in store.config.categories:
        raise bad_request(f"unknown category {category!r} (this store's: "
                          f"{', '.join(sorted(store.config.categories)) or 'none'})")
    days = retention_days(store, category)
    with store.custody_lock:
        device_id, recording_id = store.find_recording(recording_id, device_id)
        now = store.now_utc()
        with store.live_recording(device_id, recording_id, "categorised") as (db, row):
            previous = row["category"]
            if previous == category:
                return {**store.recording(device_id, recording_id), "changed": False}
            given = given_until(store, row)
            until = None if days is None or row["received_s"] is None else \
                row["received_s"] + days * DAY_S
            if until is not None and given is not None and until < given - 0.0005:
                raise conflict(
                    f"category {category!r} would keep recording {recording_id} until "
                    f"{utc_iso(until)}, before the {utc_iso(given)} it already has: a retention "
                    "date is only ever extended (Object Lock refuses to shorten one)")
            promised = max(d for d in (given, until) if d is not None) \
                if given is not None or until is not None else None
            db.execute("UPDATE recordings SET category = ?, categorised_utc = ?, "
                       "retain_until_s = ? WHERE device_id = ? AND recording_id = ?",
                       (category, now, promised, device_id, recording_id))
            store.tlog.category(now, device_id, recording_id, category=category,
                                previous=previous, retention_days=days)  # before the commit
        objects: int | str = 0
        try:
            objects = _lock_objects(store, device_id, recording_id, promised, days is None,
                                    leaving_hold=holds(store, previous),
                                    flagged=row["case_ref"] is not None)
        except Exception as exc:  # the category stands (retention obeys it); say what failed
            objects = f"failed: {exc}"
            raise
        finally:
            store.audit.append("categorise", device_id=device_id, recording_id=recording_id,
                               category=category, previous_category=previous,
                               retention_days=days,
                               retain_until_utc=None if promised is None else utc_iso(promised),
                               **({"objects_locked": objects} if store.objects.locks else {}))
    return {**store.recording(device_id, recording_id), "changed": True}


def _lock_objects(store: Store, device_id: str, recording_id: str, until: float | None,
                  hold: bool, leaving_hold: bool, flagged: bool) -> int:
    """With Object Lock: extend each object's retention to ``until``, put the legal hold on for
    a holding category, lift it on leaving one (unless a flag or another recording needs it)."""
    if not store.objects.locks:
        return 0
    rows = store.catalogue.all("SELECT sha256, manifest_sha256 FROM segments WHERE "
                               "device_id = ? AND recording_id = ? AND deleted_utc IS NULL",
                               device_id, recording_id)
    shas = sorted({sha for row in rows for sha in (row["sha256"], row["manifest_sha256"])})
    for sha in shas:
        if until is not None:
            store.objects.extend_retention(sha, until)
        if hold:
            store.objects.set_legal_hold(sha, True)
        elif leaving_hold and not flagged and not store.catalogue.object_held(sha):
            store.objects.set_legal_hold(sha, False)
    return len(shas)
