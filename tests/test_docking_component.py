"""The daemon's side of docking (``device/docking.py``) as a component: it works with what it
is handed, no daemon needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from device.config import Config
from device.docking import Docking
from sim.clock import SimClock


def make(tmp_path: Path, mode: str, audit_open: bool = True
         ) -> tuple[Docking, SimClock, list[tuple[str, str, dict[str, Any]]], list[tuple]]:
    clock = SimClock()
    clock.wall_is_set = False
    audited: list[tuple[str, str, dict[str, Any]]] = []
    flags: list[tuple] = []

    def refuse(config: Config, rebuild: bool) -> None:
        pytest.fail("settings applied outside the dock")

    docking = Docking(clock=clock, data_dir=tmp_path, file_config=Config(), config=Config,
                      mode=lambda: mode,
                      audit=lambda event, reason="", **data: audited.append((event, reason, data)),
                      audit_open=lambda: audit_open, note=lambda text: None,
                      set_flag=lambda *change: flags.append(change), use_config=refuse)
    return docking, clock, audited, flags


def test_the_store_s_time_sets_an_unset_clock_and_is_audited(tmp_path: Path) -> None:
    docking, clock, audited, flags = make(tmp_path, "docked")
    answer = docking.store_time("store-x", time=1.8e9, at=clock.monotonic())
    assert answer["set"] is True and answer["error"] is None
    assert clock.wall() == pytest.approx(1.8e9) and clock.wall_is_set
    assert [(e, d["action"], d["store_id"]) for e, _, d in audited] == [
        ("clock", "set", "store-x")]
    assert flags == [("clock_not_set", False, "clock set from the store")]


def test_settings_wait_for_the_dock_and_audit_needs_an_open_log(tmp_path: Path) -> None:
    docking, _, audited, _ = make(tmp_path, "buffering", audit_open=False)
    assert docking.store_settings("store-x", {}) == {"applied": 0,
                                                     "error": "not docked (mode buffering)"}
    assert docking.upload_audit("upload_deleted", "receipt checked", file="a.mp4") is False
    assert audited == []  # no log open: nothing said to have been written
    docking, _, audited, _ = make(tmp_path, "docked")
    assert docking.upload_audit("upload_deleted", "receipt checked", file="a.mp4") is True
    assert audited == [("upload_deleted", "receipt checked", {"file": "a.mp4"})]
