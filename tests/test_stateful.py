"""Random sequences of everything an officer, a dock and a failing world can do to the camera,
with the camera's promises checked after every step (hypothesis ``RuleBasedStateMachine``)."""

from __future__ import annotations

import itertools
import json
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from device.audit import verify_log
from device.gestures import GESTURE_KINDS
from evidence.identity import load_public_key, verify_signature
from hal.inputs import BUTTON_NAMES
from sim.encoder import FakeEncoder
from sim.simulator import Simulator
from tests.conftest import tiny_config

REMINDER_S = 20.0
#: What may end a recording (the reason of its recording_stop audit entry).
STOP_REASONS = ("record hold", "power hold", "battery critical", "storage full",
                "camera sensor not responding", "shutdown")


class CameraMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="bodycam-stateful-"))
        config = tiny_config(indicators={"reminder_interval_s": REMINDER_S},
                             power={"poll_s": 2.0})
        self.sim = Simulator(config, self.tmp / "data", encoder=FakeEncoder)
        self.sim.power_on()
        self.recording_since: float | None = None
        self.audible_since: float | None = None  # recording and not in stealth since

    def teardown(self) -> None:
        self.sim.shutdown()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- what can happen ---------------------------------------------------------------------
    @rule(button=st.sampled_from(BUTTON_NAMES), kind=st.sampled_from(GESTURE_KINDS))
    def gesture(self, button: str, kind: str) -> None:
        target = self.sim.button(button)
        {"press": target.press, "double": target.double_press,
         "hold": lambda: target.hold(3.2)}[kind]()
        self.advance(4.0)

    @rule(name=st.sampled_from(("holster", "taser", "lightbar")))
    def trigger(self, name: str) -> None:
        self.sim.daemon.post("trigger", name=name)
        self.advance(0.5)

    @rule()
    def dock(self) -> None:
        self.sim.dock.dock()
        self.advance(0.5)

    @rule()
    def undock(self) -> None:
        self.sim.dock.undock()
        self.advance(0.5)

    @rule(level=st.floats(min_value=0, max_value=100))
    def battery(self, level: float) -> None:
        self.sim.battery.level = level
        self.advance(2.5)

    @rule(free_mb=st.one_of(st.none(), st.integers(min_value=0, max_value=2048)))
    def storage(self, free_mb: int | None) -> None:
        self.sim.storage.limit_bytes = None if free_mb is None else free_mb * 2**20
        self.advance(2.5)

    @rule()
    def camera_fails(self) -> None:
        self.sim.camera.unplug()
        self.advance(0.5)

    @rule()
    def camera_returns(self) -> None:
        self.sim.camera.replug()
        self.advance(0.5)

    @precondition(lambda self: self.sim.mode == "off")
    @rule()
    def power_on(self) -> None:
        self.sim.battery.level = max(self.sim.battery.level, 50.0)
        self.sim.button("power").press()
        self.advance(1.0)

    @rule(seconds=st.floats(min_value=0.1, max_value=60))
    def time_passes(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move time, keeping track of since when the camera has been recording audibly."""
        end = self.sim.clock.monotonic() + seconds
        while self.sim.clock.monotonic() < end - 1e-9:
            self.sim.advance(min(1.0, end - self.sim.clock.monotonic()))
            self.observe()

    def observe(self) -> None:
        now = self.sim.clock.monotonic()
        recording = self.sim.mode == "recording"
        self.recording_since = (self.recording_since or now) if recording else None
        audible = recording and not self.sim.daemon.flags["stealth"]
        self.audible_since = (self.audible_since or now) if audible else None
        self.check_reminder()

    # -- what must always hold ---------------------------------------------------------------
    @invariant()
    def led_follows_mode_and_stealth(self) -> None:
        led, flags = self.sim.led.state, self.sim.daemon.flags
        if flags["stealth"] or self.sim.mode in ("off", "standby"):
            assert led.colour is None
        elif self.sim.mode == "recording" and flags["camera_fault"]:
            # the error shows instead: solid red (alternating with blue when muted)
            assert led.colour == "red" and (not led.blinking or (flags["muted"] and led.alt))
        elif self.sim.mode == "recording":
            assert led.colour == "red" and led.blinking

    def check_reminder(self) -> None:
        """While recording audibly, start tones sound at least every reminder interval."""
        if self.audible_since is None:
            return
        now = self.sim.clock.monotonic()
        if now - self.audible_since < REMINDER_S + 0.5:
            return
        starts = [e.t for e in self.sim.hw.buzzer.log.entries
                  if len(e.value) == 3 and e.value[0].hz == 880.0]
        assert starts and now - starts[-1] <= REMINDER_S + 0.5, (now, starts[-3:])

    @invariant()
    def nothing_sounds_in_stealth(self) -> None:
        if not self.sim.daemon.flags["stealth"]:
            return
        entries = self._audit()
        since = max(e["mono"] for e in entries if e["event"] == "flag"
                    and e["data"]["flag"] == "stealth" and e["data"]["value"])
        for log in (self.sim.hw.buzzer.log, self.sim.hw.vibration.log):
            assert not [e for e in log.entries if e.t > since + 1e-9]

    @invariant()
    def audit_tells_the_whole_story(self) -> None:
        entries = self._audit()
        if not entries:
            return
        modes = [e for e in entries if e["event"] == "mode"]
        assert modes and modes[-1]["data"]["dest"] == self.sim.mode
        for before, after in itertools.pairwise(modes):
            assert after["data"]["source"] == before["data"]["dest"]  # no unaudited change
        for entry in entries:
            if entry["event"] == "recording_stop":
                assert entry["reason"].startswith(STOP_REASONS), entry["reason"]
                assert "dock" not in entry["reason"]
        key = load_public_key(self.sim.data_dir / "device.pub.pem")
        report = verify_log(self.sim.data_dir / "audit" / "audit.jsonl",
                            lambda sig, data: verify_signature(key, sig, data))
        assert report.ok, report.problems

    def _audit(self) -> list[dict]:
        path = self.sim.data_dir / "audit" / "audit.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]


CameraMachine.TestCase.settings = settings(
    max_examples=50, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestCameraStateful = CameraMachine.TestCase
