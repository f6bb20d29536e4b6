"""The audit log: chained, signed, crash-tolerant, and every manipulation detected."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device.audit import AuditLog, canonical, line_hash, signed_bytes, verify_log
from evidence.identity import verify_signature
from sim.clock import SimClock


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def checker(key: Ed25519PrivateKey):
    return lambda sig, data: verify_signature(key.public_key(), sig, data)


@pytest.fixture
def log_path(tmp_path: Path, key: Ed25519PrivateKey) -> Path:
    clock = SimClock()
    log = AuditLog(tmp_path / "audit.jsonl", clock, key.sign)
    for i in range(6):
        clock.advance(1)
        log.append("gesture", f"press {i}", button="record", n=i)
    log.checkpoint("shutdown")
    log.close()
    return tmp_path / "audit.jsonl"


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def write(path: Path, rows: list[bytes]) -> None:
    path.write_bytes(b"".join(r + b"\n" for r in rows))


def test_an_untouched_log_verifies_and_is_closed(log_path: Path, key) -> None:
    report = verify_log(log_path, checker(key))
    assert report.ok, report.problems
    assert (report.entries, report.checkpoints, report.closed) == (7, 1, True)


def test_entries_chain_and_sign_as_documented(log_path: Path, key) -> None:
    rows = lines(log_path)
    first, second = json.loads(rows[0]), json.loads(rows[1])
    assert first["prev"] == "0" * 64
    assert second["prev"] == line_hash(rows[0])
    assert canonical(second) == rows[1]
    assert verify_signature(key.public_key(), base64.b64decode(second["sig"]),
                            signed_bytes(second))


def test_an_edited_entry_is_detected(log_path: Path, key) -> None:
    rows = lines(log_path)
    entry = json.loads(rows[2])
    entry["reason"] = "nothing happened"
    rows[2] = canonical(entry)
    write(log_path, rows)
    problems = verify_log(log_path, checker(key)).problems
    assert any("line 3" in p and "signature" in p for p in problems)
    assert any("line 4" in p and "chain broken" in p for p in problems)


def test_a_deleted_entry_is_detected(log_path: Path, key) -> None:
    rows = lines(log_path)
    del rows[3]
    write(log_path, rows)
    problems = verify_log(log_path, checker(key)).problems
    assert any("line 4" in p and "chain broken" in p for p in problems)
    assert any("sequence 5 follows 3" in p for p in problems)


def test_reordered_entries_are_detected(log_path: Path, key) -> None:
    rows = lines(log_path)
    rows[1], rows[2] = rows[2], rows[1]
    write(log_path, rows)
    assert not verify_log(log_path, checker(key)).ok


def test_an_entry_appended_by_hand_is_detected(log_path: Path, key) -> None:
    rows = lines(log_path)
    last = json.loads(rows[-1])
    forged = {**last, "seq": last["seq"] + 1, "event": "mode", "reason": "by hand",
              "prev": line_hash(rows[-1]), "sig": ""}
    forger = Ed25519PrivateKey.generate()  # chained correctly, but not with the device key
    forged["sig"] = base64.b64encode(forger.sign(signed_bytes(forged))).decode()
    write(log_path, [*rows, canonical(forged)])
    problems = verify_log(log_path, checker(key)).problems
    assert problems == [f"line {len(rows) + 1} (seq {forged['seq']}): signature does not "
                        f"verify with the device key"]


def test_a_truncated_tail_shows_as_not_closed(log_path: Path, key) -> None:
    write(log_path, lines(log_path)[:-2])
    report = verify_log(log_path, checker(key))
    assert report.ok and not report.closed
    assert "does not end with a checkpoint" in report.notes[0]


def test_a_torn_last_line_is_kept_reported_and_acknowledged(log_path: Path, key) -> None:
    before = log_path.read_bytes()
    with open(log_path, "ab") as f:
        f.write(b'{"data":{"button":"rec')  # power cut mid-write
    assert "unterminated last line" in verify_log(log_path, checker(key)).problems[0]
    log = AuditLog(log_path, SimClock(), key.sign)  # the next start
    log.append("power", "power on")
    log.close()
    raw = log_path.read_bytes()
    assert raw.startswith(before + b'{"data":{"button":"rec\n')  # nothing dropped
    report = verify_log(log_path, checker(key))
    assert report.ok, report.problems
    assert any("torn by a crash" in n for n in report.notes)
    torn_entry = json.loads(lines(log_path)[-2])
    assert torn_entry["event"] == "torn_line" and torn_entry["data"]["line"] == 8


def test_garbage_in_the_middle_is_not_excused_as_torn(log_path: Path, key) -> None:
    rows = lines(log_path)
    rows.insert(3, b"not json at all")
    write(log_path, rows)
    problems = verify_log(log_path, checker(key)).problems
    assert any("line 4: not a JSON entry" in p for p in problems)


def test_daemon_session_log_records_every_mode_change(sim) -> None:
    sim.button("record").double_press()
    sim.advance(2)
    sim.button("record").hold(3.2)
    sim.advance(4)
    sim.shutdown()
    rows = [json.loads(r) for r in lines(sim.data_dir / "audit" / "audit.jsonl")]
    modes = [(r["data"]["source"], r["data"]["dest"], r["reason"]) for r in rows
             if r["event"] == "mode"]
    assert modes == [("off", "booting", "power button"),
                     ("booting", "buffering", "self-test passed"),
                     ("buffering", "recording", "record double"),
                     ("recording", "buffering", "record hold"),
                     ("buffering", "shutting_down", "shutdown"),
                     ("shutting_down", "off", "shutdown complete")]
    events = [r["event"] for r in rows]
    for expected in ("power", "gesture", "recording_start", "recording_stop", "segment",
                     "recording_closed", "checkpoint"):
        assert expected in events
    assert events[-1] == "checkpoint"
