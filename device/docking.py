"""The daemon's side of docking: what the uploader asks of the thread that owns the camera.

The uploader (``device/upload/uploader.py``) talks to the network on a thread of its own; the
daemon's thread alone writes the audit log, sets the clock and swaps the configuration. These
handlers run there, each answering one request at once: no network, no waiting.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from device.config import Config
from device.indicators import IndicatorPolicy
from device.pipeline.encoder import EncoderError
from device.pipeline.pipeline import Pipeline
from device.upload import settings as store_settings
from evidence.utc import utc_iso
from hal.clock import ClockSetError

if TYPE_CHECKING:
    from device.daemon import Event


class DockingMixin:
    """Mixed into :class:`device.daemon.Daemon`, whose attributes these are."""

    if TYPE_CHECKING:
        from device.audit import AuditLog
        from device.gestures import GestureRecognizer
        from hal.clock import Clock
        from hal.hardware import Hardware

        clock: Clock
        config: Config
        file_config: Config
        data_dir: Path
        hw: Hardware
        audit: AuditLog | None
        pipeline: Pipeline | None
        policy: IndicatorPolicy
        gestures: GestureRecognizer
        state: str

        def _audit(self, event: str, reason: str = "", /, **data: Any) -> None: ...
        def _set_flag(self, flag: str, value: bool, reason: str) -> None: ...
        def _fail(self, kind: str, reason: str) -> None: ...
        def _refresh_indicators(self) -> None: ...
        def _pipeline_emit(self, kind: str, **data: Any) -> None: ...
        def note(self, text: str) -> None: ...

    def _new_pipeline(self) -> Pipeline:
        return Pipeline(self.config, self.hw.camera, self.clock, self.hw.storage.free_bytes,
                        self._pipeline_emit)

    def _on_upload_audit(self, event: Event) -> bool:
        """An audit entry for the uploader; True once it is written (then footage may go)."""
        data = dict(event.data)
        name, reason = data.pop("event"), data.pop("reason", "")
        if self.audit is None:
            return False
        self._audit(name, reason, **data)
        return True

    def _on_store_time(self, event: Event) -> dict[str, Any]:
        """Set the clock from the store's (the time it answered, plus how long ago that was)."""
        store_id = event.data["store_id"]
        store_now = float(event.data["time"]) + self.clock.monotonic() - float(event.data["at"])
        before = self.clock.wall()
        delta = round(store_now - before, 3)
        answer: dict[str, Any] = {"set": False, "error": None, "store_now": store_now,
                                  "delta_s": delta}
        if self.clock.wall_is_set and abs(delta) <= self.config.upload.clock_tolerance_s:
            return answer
        try:
            self.clock.set_wall(store_now)
        except ClockSetError as exc:
            answer["error"] = str(exc)
            self._audit("clock", f"not set from the store: {exc}", action="not set",
                        store_id=store_id, delta_s=delta)
            self.note(f"clock not set from the store ({exc})")
            return answer
        answer["set"] = True
        self._audit("clock", f"set from store {store_id}", action="set", store_id=store_id,
                    before_utc=utc_iso(before), delta_s=delta)
        self.note(f"clock set from the store: {delta:+.3f} s")
        self._set_flag("clock_not_set", False, "clock set from the store")
        return answer

    def _on_store_settings(self, event: Event) -> dict[str, Any]:
        """Apply the store's settings over the configuration file; audit every change."""
        store_id, document = event.data["store_id"], event.data["settings"]
        if self.state != "docked":  # only with the camera off; the next dock brings them again
            return {"applied": 0, "error": f"not docked (mode {self.state})"}
        try:
            new = store_settings.apply(self.file_config, document)
        except store_settings.SettingsError as exc:
            self._audit("settings_refused", str(exc), store_id=store_id)
            self.note(f"settings from the store refused: {exc}")
            return {"applied": 0, "error": str(exc)}
        changed = store_settings.changes(self.config, new)
        store_settings.save(self.data_dir, document, store_id)
        for change in changed:
            self._audit("setting", f"from store {store_id}", store_id=store_id, **change)
            self.note(f"setting {change['key']}: {change['old']!r} -> {change['new']!r}")
        if changed:
            self._use_config(new, any(c["key"].startswith("recording.") for c in changed))
        return {"applied": len(changed), "error": None}

    def _use_config(self, config: Config, rebuild_pipeline: bool) -> None:
        """Run on ``config`` from now on. The recorder keeps its settings from when it was made,
        so it is made again (the camera is off in the dock: nothing is being captured)."""
        self.config = config
        self.policy = IndicatorPolicy(config.indicators)
        self.gestures.config = config.gestures
        if rebuild_pipeline and self.pipeline is not None:
            self.pipeline.close()
            self.pipeline = None
            try:
                self.pipeline = self._new_pipeline()
            except EncoderError as exc:
                self._fail("pipeline", str(exc))
        self._refresh_indicators()
