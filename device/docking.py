"""The daemon's side of docking: what the uploader asks of the thread that owns the camera.

The uploader (``device/upload/uploader.py``) talks to the network on a thread of its own; the
daemon's thread alone writes the audit log, sets the clock and swaps the configuration. These
requests run there, each answered at once: no network, no waiting. What they need of the
daemon is handed to :class:`Docking` when it is made, and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from device import assignment as kept_assignment
from device.config import Config
from device.upload import settings as store_settings
from evidence.assignment import Assignment
from evidence.utc import utc_iso
from hal.clock import Clock, ClockSetError


class Audit(Protocol):
    """The daemon's audit: the entry goes to the log (when one is open) and to listeners."""

    def __call__(self, event: str, reason: str = "", /, **data: Any) -> None: ...


class Docking:
    """The uploader's requests: an audit entry, the store's time, the store's settings, the
    store's assignment of the camera to an officer."""

    def __init__(self, *, clock: Clock, data_dir: Path, file_config: Config,
                 config: Callable[[], Config], mode: Callable[[], str], audit: Audit,
                 audit_open: Callable[[], bool], note: Callable[[str], None],
                 set_flag: Callable[[str, bool, str], None],
                 use_config: Callable[[Config, bool], None],
                 use_assignment: Callable[[Assignment | None], None] | None = None) -> None:
        """``file_config`` is the configuration file's (the store's settings go over it);
        ``config`` and ``mode`` tell what the camera runs on and does now; ``audit_open``
        whether entries can be written; ``use_config(new, rebuild_pipeline)`` switches it to
        new settings."""
        self.clock = clock
        self.data_dir = data_dir
        self.file_config = file_config
        self.config = config
        self.mode = mode
        self.audit = audit
        self.audit_open = audit_open
        self.note = note
        self.set_flag = set_flag
        self.use_config = use_config
        self.use_assignment = use_assignment
        #: who wears the camera (None: never assigned); kept across restarts
        self.assignment, problem = kept_assignment.load(data_dir)
        if problem:
            note(problem)

    def upload_audit(self, event: str, reason: str = "", **data: Any) -> bool:
        """An audit entry for the uploader; True once it is written (then footage may go)."""
        if not self.audit_open():
            return False
        self.audit(event, reason, **data)
        return True

    def store_time(self, store_id: str, time: float, at: float) -> dict[str, Any]:
        """Set the clock from the store's (the time it answered, plus how long ago that was)."""
        store_now = float(time) + self.clock.monotonic() - float(at)
        before = self.clock.wall()
        delta = round(store_now - before, 3)
        answer: dict[str, Any] = {"set": False, "error": None, "store_now": store_now,
                                  "delta_s": delta}
        if self.clock.wall_is_set and abs(delta) <= self.config().upload.clock_tolerance_s:
            return answer
        try:
            self.clock.set_wall(store_now)
        except ClockSetError as exc:
            answer["error"] = str(exc)
            self.audit("clock", f"not set from the store: {exc}", action="not set",
                       store_id=store_id, delta_s=delta)
            self.note(f"clock not set from the store ({exc})")
            return answer
        answer["set"] = True
        self.audit("clock", f"set from store {store_id}", action="set", store_id=store_id,
                   before_utc=utc_iso(before), delta_s=delta)
        self.note(f"clock set from the store: {delta:+.3f} s")
        self.set_flag("clock_not_set", False, "clock set from the store")
        return answer

    def store_settings(self, store_id: str, settings: Any) -> dict[str, Any]:
        """Apply the store's settings over the configuration file; audit every change."""
        mode = self.mode()
        if mode != "docked":  # only with the camera off; the next dock brings them again
            return {"applied": 0, "error": f"not docked (mode {mode})"}
        try:
            new = store_settings.apply(self.file_config, settings)
        except store_settings.SettingsError as exc:
            self.audit("settings_refused", str(exc), store_id=store_id)
            self.note(f"settings from the store refused: {exc}")
            return {"applied": 0, "error": str(exc)}
        changed = store_settings.changes(self.config(), new)
        store_settings.save(self.data_dir, settings, store_id)
        for change in changed:
            self.audit("setting", f"from store {store_id}", store_id=store_id, **change)
            self.note(f"setting {change['key']}: {change['old']!r} -> {change['new']!r}")
        if changed:
            self.use_config(new, any(c["key"].startswith("recording.") for c in changed))
        return {"applied": len(changed), "error": None}

    def store_assignment(self, store_id: str, assignment: Any) -> dict[str, Any]:
        """Apply the store's assignment (signature, camera and nonce already checked by the
        uploader); kept for every later recording, audited when it changes. Docked only: a
        recording under way keeps the officer it started with."""
        mode = self.mode()
        if mode != "docked":
            return {"applied": False, "error": f"not docked (mode {mode})"}
        if not isinstance(assignment, Assignment) or assignment.store_id != store_id:
            reason = "the assignment is not the pinned store's"
            self.audit("assignment_refused", reason, store_id=store_id)
            return {"applied": False, "error": reason}
        before = self.assignment
        same = (before is not None and (before.officer_id, before.collar) ==
                (assignment.officer_id, assignment.collar))
        unassigned = assignment.officer_id is None and (before is None
                                                         or before.officer_id is None)
        if same or unassigned:
            return {"applied": False, "error": None}
        try:
            kept_assignment.save(self.data_dir, assignment)
        except OSError as exc:  # the camera records anyway; the next dock brings it again
            self.audit("assignment_refused", f"could not be kept: {exc}", store_id=store_id)
            return {"applied": False, "error": str(exc)}
        self.assignment = assignment
        if assignment.officer_id is None:
            self.audit("assignment", f"cleared by store {store_id}", action="cleared",
                       store_id=store_id,
                       previous_officer_id=before.officer_id if before else None)
            self.note("unassigned by the store")
        else:
            self.audit("assignment", f"from store {store_id}", action="assigned",
                       store_id=store_id, officer_id=assignment.officer_id,
                       collar=assignment.collar, assigned_utc=assignment.assigned_utc,
                       previous_officer_id=before.officer_id if before else None)
            self.note(f"assigned to officer {assignment.officer_id} "
                      f"(collar {assignment.collar})")
        if self.use_assignment is not None:
            self.use_assignment(assignment)
        return {"applied": True, "error": None}

    def refuse_assignment(self, store_id: str, reason: str) -> dict[str, Any]:
        """The store's assignment did not verify: audited; the camera keeps the one it had."""
        self.audit("assignment_refused", reason, store_id=store_id)
        self.note(f"assignment from the store refused: {reason}")
        return {"applied": False, "error": reason}

    def officer(self) -> dict[str, Any] | str:
        """The ``officer`` of the manifests of a recording starting now."""
        return kept_assignment.officer_field(self.assignment)
