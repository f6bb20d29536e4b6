"""A real full card (ENOSPC from the filesystem) and a failing one (EIO): the segment being
written is finalised as far as it got, the camera faults rather than dies, it records again
once space returns, and every recording still verifies (nothing honest is flagged).

Failures are made for real: on a small tmpfs where the machine lets a test mount one, and
everywhere through the fault seam of ``evidence/fsutil.py`` (tests/faults.py), at each write
path in turn: the segment, its manifest and signature, the rename into place, the pending
record, the recording counter, the audit log, fsync, and recovery at boot.
"""

from __future__ import annotations

import contextlib
import errno
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evidence.verify import verify
from sim.encoder import FakeEncoder
from sim.simulator import Simulator
from tests.conftest import tiny_config
from tests.evidence import cut_power
from tests.faults import Faults, fill, injected, small_filesystem
from tests.media import decode, segments

CONFIG = tiny_config(power={"poll_s": 1.0})


def boot(data_dir: Path, config=CONFIG) -> Simulator:
    sim = Simulator(config, data_dir, encoder=FakeEncoder)
    sim.power_on()
    return sim


def not_ok(data_dir: Path) -> list:
    return [f for f in verify([data_dir]) if not f.ok]


def leftovers(data_dir: Path) -> list[str]:
    """Files a failed write must not leave behind (temporary files hold space)."""
    return sorted(p.name for p in data_dir.rglob("*.tmp"))


def audit_events(data_dir: Path) -> list[dict]:
    """The log's entries (a torn line, kept as it is, is not one)."""
    found = []
    for line in (data_dir / "audit" / "audit.jsonl").read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            found.append(json.loads(line))
    return found


def assert_finalised(data_dir: Path, min_segments: int = 1) -> None:
    """Nothing open is left, every kept segment (at least ``min_segments``: a loop over none
    would pass) plays and matches its manifest, all verify."""
    assert not list(data_dir.glob("recordings/*/*.part")), "left open"
    assert not list(data_dir.glob("recordings/*/*.part.json")), "pending record left"
    kept = segments(data_dir)
    assert len(kept) >= min_segments, kept
    for mp4 in kept:
        manifest = json.loads(Path(str(mp4) + ".json").read_text())
        assert len(decode(mp4).frame_times) == manifest["frame_count"]
    assert not not_ok(data_dir), not_ok(data_dir)
    assert not leftovers(data_dir), leftovers(data_dir)


def records_again(sim: Simulator) -> None:
    """Back to a recording-capable mode: a new recording runs and closes normally."""
    assert sim.mode == "buffering", (sim.mode, sim.daemon.fault)
    before = len(segments(sim.data_dir))
    sim.button("record").double_press()
    sim.advance(5)
    assert sim.mode == "recording"
    sim.button("record").hold(3.2)
    sim.advance(3.5)
    assert sim.mode == "buffering"
    assert len(segments(sim.data_dir)) > before


# -- a real full filesystem ----------------------------------------------------------------------

def test_a_really_full_card_faults_then_records_again_when_space_returns(tmp_path: Path
                                                                        ) -> None:
    """No simulated level: the filesystem itself says ENOSPC (reserve 0, so the free-space
    check does not see it coming)."""
    config = tiny_config(camera={"width": 320, "height": 240, "fps": 30},
                         storage={"reserve_mb": 0, "low_mb": 0}, power={"poll_s": 1.0},
                         encoder={"preset": "ultrafast", "crf": 18})
    with small_filesystem(tmp_path / "card", "4m") as card:
        sim = boot(card / "d", config)
        filler = fill(card, leave=500_000)
        sim.button("record").double_press()
        for _ in range(30):
            sim.advance(1)
            if sim.mode != "recording":
                break
        assert sim.mode == "fault" and sim.daemon.fault_kind == "storage", sim.daemon.fault
        assert "No space left" in (sim.daemon.fault or "")
        sim.advance(3)
        assert sim.mode == "fault"  # still full: it waits
        filler.unlink()  # space is back
        sim.advance(1.5)
        assert sim.daemon.fault is None
        records_again(sim)
        sim.shutdown()
        assert_finalised(sim.data_dir)
        assert any(e["event"] == "recovered" for e in audit_events(sim.data_dir))


# -- every write path, through the seam ----------------------------------------------------------

#: (what fails, the fault). ``where`` picks the file by name; writes of the segment itself
#: go through the muxer, the rest through evidence/fsutil.py.
SEGMENT_PATHS = {
    "segment data": Faults(where=".mp4.part"),
    "segment data, part-written": Faults(where=".mp4.part", partial=700),
    "segment fsync (EIO)": Faults(ops=("fsync",), error=errno.EIO, where=".mp4.part"),
    "manifest": Faults(where=".mp4.json.tmp"),
    "signature": Faults(where=".json.sig.tmp"),
    "manifest rename": Faults(ops=("rename",), where=".mp4.json"),
    "signature rename": Faults(ops=("rename",), where=".json.sig"),
    "segment rename": Faults(ops=("rename",), ends="-S0001.mp4"),
    "pending record": Faults(where=".part.json.tmp"),
    "directory fsync (EIO)": Faults(ops=("fsync",), error=errno.EIO, where="/recordings/R"),
    "everything (full card)": Faults(ops=("write", "fsync", "rename")),
}


@pytest.mark.parametrize("name", list(SEGMENT_PATHS))
def test_a_write_failing_mid_recording_is_finalised_and_the_camera_comes_back(
        tmp_path: Path, name: str) -> None:
    faults = SEGMENT_PATHS[name]
    sim = boot(tmp_path / "d")
    sim.button("record").double_press()
    sim.advance(5)  # segment 0 closed, segment 1 open
    with injected(faults):
        sim.advance(5)  # segment 1 closes at 8 s (or lands a fragment before)
        assert faults.failed, "the fault never fired"
        if faults.ops == ("write", "fsync", "rename"):  # a full card: it waits for space
            assert sim.mode == "fault" and sim.daemon.fault_kind == "storage"
            sim.advance(2)
            assert sim.mode == "fault"
        # (a fault on one path alone clears as soon as recovery writes what it must)
        faults.clear()
        sim.advance(1.5)
    faulted = [e for e in audit_events(sim.data_dir) if e["event"] == "fault"]
    assert faulted and faulted[0]["data"]["kind"] == "storage"
    assert faulted[0]["reason"].startswith("storage error: ")
    records_again(sim)
    sim.shutdown()
    assert_finalised(sim.data_dir)
    first = sorted((sim.data_dir / "recordings").iterdir())[0]
    kept = json.loads(sorted(first.glob("*.mp4.json"))[-1].read_text())
    assert kept["last"], "the interrupted recording is closed"
    assert json.loads(sorted(first.glob("*.mp4.json"))[0].read_text())["frame_count"] > 0


def test_the_recording_counter_failing_starts_nothing_and_the_camera_comes_back(
        tmp_path: Path) -> None:
    sim = boot(tmp_path / "d")
    with injected(Faults(where="recording_counter")) as faults:
        sim.button("record").double_press()
        sim.advance(1)
        assert faults.failed and sim.mode == "fault", sim.mode
        assert "recording counter" in (sim.daemon.fault or "")
        faults.clear()
        sim.advance(1.5)
    records_again(sim)
    sim.shutdown()
    assert_finalised(sim.data_dir)


def test_the_audit_log_failing_alone_loses_nothing_and_the_recording_goes_on(tmp_path: Path
                                                                            ) -> None:
    sim = boot(tmp_path / "d")
    sim.button("record").double_press()
    sim.advance(2)
    with injected(Faults(where="audit.jsonl", partial=30)) as faults:
        sim.advance(5)  # segment 0 closes: its audit entry cannot be written
        sim.button("function").press()  # a marker, also audited
        sim.advance(1)
        assert faults.failed and sim.mode == "recording"
        assert "No space left" in sim.daemon.status().audit_error
        faults.clear()
    sim.button("record").hold(3.2)
    sim.advance(3.5)
    sim.shutdown()
    assert_finalised(sim.data_dir)
    names = [e["event"] for e in audit_events(sim.data_dir)]
    assert "torn_line" in names and names.count("segment") == len(segments(sim.data_dir))
    assert "marker" in names and names[-1] == "checkpoint"


def test_a_checkpoint_due_on_a_full_card_is_written_when_space_returns(tmp_path: Path) -> None:
    config = tiny_config(power={"poll_s": 1.0}, audit={"checkpoint_interval_s": 2.0})
    sim = boot(tmp_path / "d", config)
    with injected(Faults(where="audit.jsonl")) as faults:
        sim.advance(3)
        assert faults.failed
        faults.clear()
    sim.advance(0.5)
    sim.daemon.audit.flush()
    sim.shutdown()
    assert not not_ok(sim.data_dir), not_ok(sim.data_dir)
    reasons = [e["reason"] for e in audit_events(sim.data_dir) if e["event"] == "checkpoint"]
    assert reasons.count("interval") >= 1 and reasons[-1] == "shutdown"


@pytest.mark.parametrize("ops", [("write",), ("rename",), ("write", "fsync", "rename")])
def test_recovery_at_boot_on_a_full_card_waits_for_space_then_finishes(tmp_path: Path,
                                                                       ops: tuple) -> None:
    sim = boot(tmp_path / "d")
    cut_power(sim, 6.3)  # segment 1 left open
    with injected(Faults(ops=ops, where="/recordings/")) as faults:
        sim = boot(tmp_path / "d")
        assert faults.failed and sim.mode == "fault", sim.mode
        assert sim.daemon.fault_kind == "storage" and "recovery" in (sim.daemon.fault or "")
        sim.advance(2)
        assert sim.mode == "fault"
        faults.clear()
        sim.advance(1.5)
    records_again(sim)
    sim.shutdown()
    assert_finalised(sim.data_dir)


def test_a_torn_audit_log_on_a_full_card_at_boot_settles_once_space_returns(tmp_path: Path
                                                                            ) -> None:
    sim = boot(tmp_path / "d")
    sim.shutdown()
    with open(tmp_path / "d" / "audit" / "audit.jsonl", "ab") as f:
        f.write(b'{"torn')  # the last run was cut mid-write, and the card is full now
    with injected(Faults(where="audit.jsonl")) as faults:
        sim = boot(tmp_path / "d")  # no traceback: the entries wait in memory
        assert faults.failed and sim.mode == "buffering", sim.mode
        faults.clear()
    records_again(sim)
    sim.shutdown()
    assert_finalised(sim.data_dir)
    assert "torn_line" in [e["event"] for e in audit_events(sim.data_dir)]


def test_a_published_segment_whose_pending_record_was_left_is_not_overwritten(tmp_path: Path
                                                                              ) -> None:
    """Renamed into place, then the card failed (or the power went) before the pending
    record was dropped: recovery must keep the segment, not close the recording over it."""
    sim = boot(tmp_path / "d")
    sim.button("record").double_press()
    sim.advance(5)
    (pending,) = sim.data_dir.glob("recordings/*/*-S0001.mp4.part.json")
    saved = tmp_path / "pending"
    shutil.copy(pending, saved)
    sim.advance(5)  # segment 1 is published
    sim.button("record").hold(3.2)
    sim.advance(3.5)
    sim.shutdown()
    mp4 = pending.with_name(pending.name[: -len(".part.json")])
    published = mp4.read_bytes(), Path(str(mp4) + ".json").read_bytes()
    shutil.copy(saved, pending)
    sim = boot(tmp_path / "d")
    sim.shutdown()
    assert (mp4.read_bytes(), Path(str(mp4) + ".json").read_bytes()) == published
    assert_finalised(sim.data_dir)


def test_a_marker_whose_pending_record_cannot_be_rewritten_is_kept_and_recording_goes_on(
        tmp_path: Path) -> None:
    sim = boot(tmp_path / "d")
    sim.button("record").double_press()
    sim.advance(1)
    with injected(Faults(where=".part.json.tmp", sticky=False)) as faults:
        sim.button("function").press()
        sim.advance(1)
        assert faults.failed and sim.mode == "recording"
    sim.button("record").hold(3.2)
    sim.advance(3.5)
    sim.shutdown()
    assert_finalised(sim.data_dir)
    first = json.loads(Path(str(segments(sim.data_dir)[0]) + ".json").read_text())
    assert len(first["markers"]) == 1
    assert sim.daemon.status().audit_error is None


def test_a_closing_segment_that_cannot_be_written_leaves_the_recording_closable(
        tmp_path: Path) -> None:
    """Stopped while the sensor is out, the recording ends in a zero-frame segment; if the
    card refuses that one, what it began must not block closing the recording later."""
    sim = boot(tmp_path / "d")
    sim.button("record").double_press()
    sim.advance(5)
    sim.camera.unplug()
    sim.advance(1)
    with injected(Faults(where="-S0002.mp4")) as faults:
        sim.button("record").hold(3.2)
        sim.advance(3.5)
        assert faults.failed and sim.mode == "fault", sim.mode
        faults.clear()
        sim.camera.replug()
        sim.advance(1.5)
    sim.shutdown()
    assert_finalised(sim.data_dir)
    final = json.loads(Path(str(segments(sim.data_dir)[-1]) + ".json").read_text())
    assert final["last"] and final["frame_count"] == 0


class Counter:
    """Counts the write, fsync and rename calls the camera makes (a fault that never fires)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, op: str, target: str) -> None:
        self.calls += 1


def record_through(sim: Simulator) -> None:
    sim.button("record").double_press()
    sim.advance(6)
    sim.button("function").press()
    sim.advance(4)
    sim.button("record").hold(3.2)
    sim.advance(3.5)


@pytest.fixture(scope="module")
def calls_in_a_recording(tmp_path_factory: pytest.TempPathFactory) -> int:
    sim = boot(tmp_path_factory.mktemp("count") / "d")
    counter = Counter()
    with injected(counter):  # type: ignore[arg-type]
        record_through(sim)
    sim.shutdown()
    return counter.calls


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.floats(0.0, 0.95), partial=st.sampled_from([0, 0, 1, 333]),
       error=st.sampled_from([errno.ENOSPC, errno.ENOSPC, errno.EIO]), sticky=st.booleans())
def test_the_card_filling_at_any_write_of_a_recording_loses_nothing(
        tmp_path_factory: pytest.TempPathFactory, calls_in_a_recording: int, where: float,
        partial: int, error: int, sticky: bool) -> None:
    """Whichever write, fsync or rename the card refuses first (and, ``sticky``, all after it
    until space returns; else that one alone), the camera faults or carries on, comes back,
    and every recording verifies."""
    sim = boot(tmp_path_factory.mktemp("any") / "d")
    # (the count varies by a call or two between runs: the last few are left out)
    faults = Faults(ops=("write", "fsync", "rename"), error=error, partial=partial,
                    after=int(where * calls_in_a_recording), sticky=sticky)
    with injected(faults):
        record_through(sim)
        assert faults.failed
        faults.clear()
        sim.advance(1.5)
    records_again(sim)
    sim.shutdown()
    assert_finalised(sim.data_dir)


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(0.5, 9.0), where=st.floats(0.0, 0.95),
       error=st.sampled_from([errno.ENOSPC, errno.EIO]), sticky=st.booleans())
def test_the_card_failing_at_any_write_of_recovery_at_boot_loses_nothing(
        tmp_path_factory: pytest.TempPathFactory, cut: float, where: float, error: int,
        sticky: bool) -> None:
    """Power lost mid-recording; at the next start the card refuses one of recovery's writes
    (or all of them from there on): the camera waits in a storage fault, then finishes."""
    data_dir = tmp_path_factory.mktemp("boot") / "d"
    sim = boot(data_dir)
    cut_power(sim, cut)
    scratch = tmp_path_factory.mktemp("scratch") / "d"
    shutil.copytree(data_dir, scratch)
    counter = Counter()
    with injected(counter):  # type: ignore[arg-type]
        boot(scratch).shutdown()
    faults = Faults(ops=("write", "fsync", "rename"), error=error, sticky=sticky,
                    after=int(where * counter.calls))
    with injected(faults):
        sim = boot(data_dir)
        faults.clear()
        sim.advance(1.5)
    records_again(sim)
    sim.shutdown()
    assert_finalised(sim.data_dir)
