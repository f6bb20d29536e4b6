"""The audit log on a full or failing card: a failed write never glues two entries together,
nothing written is lost, and the log verifies once space returns (never "tampered" for ever)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device import audit as audit_module
from device.audit import AuditLog, verify_log
from evidence.identity import verify_signature
from sim.clock import SimClock
from tests.faults import Faults, fill, injected, small_filesystem


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def check(path: Path, key: Ed25519PrivateKey):
    return verify_log(path, lambda sig, data: verify_signature(key.public_key(), sig, data))


def events(path: Path, key: Ed25519PrivateKey) -> list[str]:
    return [e["event"] + ":" + e["reason"] for e in check(path, key).records]


def started(tmp_path: Path, key: Ed25519PrivateKey) -> tuple[AuditLog, SimClock]:
    clock = SimClock()
    log = AuditLog(tmp_path / "audit.jsonl", clock, key.sign)
    log.append("power", "on")
    return log, clock


@pytest.mark.parametrize("partial", [0, 1, 40, 200])
def test_a_write_cut_part_way_is_terminated_before_the_next_entry(tmp_path: Path, key,
                                                                  partial: int) -> None:
    log, clock = started(tmp_path, key)
    with injected(Faults(partial=partial)) as faults:
        clock.advance(1)
        with pytest.raises(OSError) as err:
            log.append("gesture", "record double")
        assert err.value.errno == errno.ENOSPC and log.error
        clock.advance(1)
        with pytest.raises(OSError):
            log.checkpoint("interval")  # still full: waits too
        faults.clear()
    clock.advance(1)
    log.append("mode", "buffering")  # space is back
    log.close()
    report = check(log.path, key)
    assert report.ok, report.problems
    assert log.error is None
    # nothing lost, in order; a part-written line is kept and acknowledged
    written = [e for e in events(log.path, key) if not e.startswith("torn_line")]
    assert written == ["power:on", "gesture:record double", "checkpoint:interval",
                       "mode:buffering"]
    assert any("torn by a crash" in note for note in report.notes) == (partial > 0)
    assert all(line for line in log.path.read_bytes().split(b"\n")[:-1])


def test_a_whole_line_missing_only_its_newline_becomes_the_entry_it_is(tmp_path: Path,
                                                                       key) -> None:
    """The cut left every byte of the entry but its newline: it is that entry, not torn,
    and it is not written a second time."""
    log, _ = started(tmp_path, key)
    scratch, _ = started(tmp_path / "scratch", key)  # the same entry, to learn its length
    scratch.append("gesture", "record double")
    scratch.close()
    length = len(scratch.path.read_bytes().split(b"\n")[1])
    with injected(Faults(partial=length)) as faults:
        with pytest.raises(OSError):
            log.append("gesture", "record double")
        faults.clear()
    assert not log.path.read_bytes().endswith(b"\n")
    log.append("mode", "recording")
    log.close()
    report = check(log.path, key)
    assert report.ok, report.problems
    assert events(log.path, key) == ["power:on", "gesture:record double", "mode:recording"]


def test_eio_on_fsync_neither_loses_nor_repeats_the_entry(tmp_path: Path, key) -> None:
    log, _ = started(tmp_path, key)
    with injected(Faults(ops=("fsync",), error=errno.EIO, sticky=False)), \
            pytest.raises(OSError):
        log.append("gesture", "record double")
    log.append("mode", "recording")
    log.checkpoint("shutdown")
    log.close()
    report = check(log.path, key)
    assert report.ok and report.closed, report.problems
    assert events(log.path, key) == ["power:on", "gesture:record double", "mode:recording",
                                     "checkpoint:shutdown"]


def test_a_backlog_that_overflows_says_how_many_entries_were_lost(tmp_path: Path, key,
                                                                  monkeypatch) -> None:
    monkeypatch.setattr(audit_module, "BACKLOG", 3)
    log, _ = started(tmp_path, key)
    with injected(Faults()) as faults:
        for i in range(5):
            with pytest.raises(OSError):
                log.append("gesture", f"press {i}")
        faults.clear()
    log.append("mode", "buffering")
    log.close()
    assert check(log.path, key).ok
    found = check(log.path, key).records
    lost = [e for e in found if e["event"] == "entries_lost"]
    assert lost and lost[0]["data"]["count"] == 3
    assert [e["reason"] for e in found if e["event"] == "gesture"] == ["press 3", "press 4"]


def test_a_log_opened_on_a_full_card_with_a_torn_tail_starts_and_settles_later(
        tmp_path: Path, key) -> None:
    log, _ = started(tmp_path, key)
    log.close()
    with open(log.path, "ab") as f:
        f.write(b'{"seq":2,"torn')  # the previous run was cut mid-write
    with injected(Faults()) as faults:
        log = AuditLog(log.path, SimClock(), key.sign)  # no traceback, no crash
        faults.clear()
    log.append("power", "on")
    log.close()
    report = check(log.path, key)
    assert report.ok, report.problems


# -- a real full filesystem ----------------------------------------------------------------------

def test_on_a_really_full_filesystem_the_log_never_glues_two_entries(tmp_path: Path,
                                                                     key) -> None:
    with small_filesystem(tmp_path / "card", "64k") as card:
        clock = SimClock()
        log = AuditLog(card / "audit.jsonl", clock, key.sign)
        log.append("power", "on")
        filler = fill(card, leave=0)  # what is left: the log's last page, part used
        failures = 0
        for i in range(40):
            clock.advance(1)
            try:
                log.append("gesture", f"press {i} " + "x" * 100)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                failures += 1
        assert failures
        filler.unlink()  # space is back
        log.append("mode", "buffering")
        log.close()
        report = check(log.path, key)
        assert report.ok, report.problems
        assert [r for r in events(log.path, key) if r.startswith("gesture")] == [
            f"gesture:press {i} " + "x" * 100 for i in range(40)]
        assert any("torn by a crash" in note for note in report.notes)  # a short write
