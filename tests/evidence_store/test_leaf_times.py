"""``bodycam transparency verify``: leaf times never go back. A leaf older than one before it
(beyond the few minutes several workers may honestly interleave) is back-dated, named by its
index and the later leaf it follows, even by someone who kept no earlier checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from device.cli import main as bodycam
from evidence.transparency_audit import MAX_LEAF_STEP_BACK_S, audit_leaves
from evidence.utc import utc_iso, utc_seconds
from tests.evidence_store.conftest import Camera, Running
from tests.transparency.test_audit import at, deletion, honest, leaf


def test_a_back_dated_leaf_is_named_with_the_leaf_it_follows() -> None:
    history = [*honest(), leaf("flag", at(1.5), case_ref_sha256="c" * 64)]  # before leaf 3
    [problem] = audit_leaves(history)
    assert problem.startswith("leaf 4 (flag dev-1/R000001-abcdef at ") and "back-dated" in problem
    assert f"leaf 3's {at(31)}" in problem and "\n" not in problem


def test_a_back_dated_deletion_is_caught_even_when_its_rules_hold() -> None:
    """The deletion still cites an expiry it respects, but it is logged as if before leaves
    written after it (the store pretending it deleted earlier)."""
    history = [*honest()[:3], leaf("segment", at(40), manifest_sha256="d" * 64,
                                   recording_id="R000002-abcdef"), deletion(at(31))]
    [problem] = audit_leaves(history)
    assert "leaf 4 (deletion" in problem and "leaf 3's" in problem


@pytest.mark.parametrize("back_s", [0.0, 1.0, MAX_LEAF_STEP_BACK_S - 1])
def test_workers_interleaving_a_little_is_not_back_dating(back_s: float) -> None:
    later = utc_iso(utc_seconds(at(2)) - back_s)
    assert audit_leaves([*honest()[:3], leaf("flag", later, case_ref_sha256="e" * 64)]) == []


@pytest.mark.in_process_store("the serving store's own log writes a back-dated leaf")
def test_verify_names_a_back_dated_leaf_without_an_earlier_checkpoint(
        running: Running, enrolled: Camera, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    recordings = running.upload_all(enrolled)
    running.operator().flag(recordings[0], "CASE-1")
    log = running.store.tlog
    size = log.log.size
    # a store writing an unflag as if two days ago (the time a deletion would then count from)
    log.unflag(utc_iso(running.clock.now - 2 * 86400), enrolled.device_id, recordings[0])
    capsys.readouterr()
    code = bodycam(["transparency", "verify", "--store", running.url, "--state",
                    str(tmp_path / "fresh")])
    out = capsys.readouterr().out
    assert code == 1
    [failed] = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert f"leaf {size} (unflag {enrolled.device_id}/{recordings[0]}" in failed
    assert "back-dated" in failed


def test_an_honest_store_verifies(running: Running, enrolled: Camera, tmp_path: Path) -> None:
    recordings = running.upload_all(enrolled)
    op = running.operator()
    op.flag(recordings[0], "CASE-1")
    running.clock.now += 10
    op.unflag(recordings[0])
    running.clock.now += 32 * 86400
    assert running.store.retention.step(running.clock.now)
    assert bodycam(["transparency", "verify", "--store", running.url, "--state",
                    str(tmp_path / "seen")]) == 0
