"""What the camera recorded holds up: it verifies, markers are in it, and a power cut during a
recording loses at most the fragment being written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hil.conftest import verify
from tests.hil.console import Event
from tests.hil.device import Device, in_order
from tests.hil.targets import Target


def test_a_recording_verifies_with_its_marker(device: Device, data_dir: Path) -> None:
    mark = device.mark()
    device.gesture("double", "record")
    device.elapse(5)
    device.ask("marker hil check")
    device.elapse(1)
    device.gesture("hold", "record")
    closed = device.wait_for("recording_closed", mark)
    folder = data_dir / "recordings" / closed.data["recording_id"]

    result = verify(folder)
    assert result.returncode == 0 and "all intact" in result.stdout, result.stdout
    segment_lines = [line for line in result.stdout.splitlines()
                     if line.split()[:3] == ["OK", "ok", "segment"]]
    assert len(segment_lines) == len(closed.data["segments"]) >= 2, result.stdout
    manifests = [json.loads(Path(str(folder / name) + ".json").read_text())
                 for name in closed.data["segments"]]
    assert [m["note"] for s in manifests for m in s["markers"]] == ["hil check"]
    assert manifests[-1]["last"] is True


@pytest.mark.rig("power")
def test_power_cut_while_recording_then_recovery(device: Device, target: Target) -> None:
    mark = device.mark()
    device.gesture("double", "record")
    device.elapse(6)  # one segment closed (4 s), the next one being written
    recording = device.status()["recording"]["id"]
    device.wait_for("segment", mark, recording_id=recording, last=False)

    device.console.close()
    target.power_cut()
    target.power_restore()
    device = target.connect()

    status = device.status()
    assert status["mode"] == "buffering"
    recovered = [r for r in status["recovered"] if r["recording_id"] == recording]
    assert len(recovered) == 1 and not recovered[0]["detail"], status["recovered"]
    assert recovered[0]["frames"] > 0
    kept = [Event.from_dict(e) for e in device.ask("events")["events"]]
    in_order(kept,  # recovery is part of the boot's self-test
             ("led", {"every_led": True, "colour": "red"}),  # both LEDs blink while recovering
             ("recovered", {"recording_id": recording}),
             ("mode", {"source": "booting", "dest": "buffering"}))

    if target.data_dir is not None:  # the recording, and the audit log across the cut
        result = verify(target.data_dir)
        assert result.returncode == 0 and "all intact" in result.stdout, result.stdout
        assert f"{recording}-S0001.mp4" in result.stdout
