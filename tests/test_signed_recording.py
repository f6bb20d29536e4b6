"""Signed as it is recorded: the pending record and each landed fragment are signed on the
camera, so whoever edits the card between a power cut and the next boot cannot have the edit
signed as ``recovered`` (issue 11, item 7). Every case is a real recording cut by a real power
loss (the simulator), then edited the way an attacker with the card could.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from device.pipeline import segments
from device.pipeline.recovery import recover_segment
from evidence.identity import create_identity, verify_signature
from evidence.manifest import Manifest, manifest_path, write_signed_manifest
from evidence.pending import (
    FragmentLog,
    encode_record,
    examine,
    record_hash,
    signed_record,
)
from evidence.verify import verify
from sim.simulator import Simulator
from tests.evidence import CONFIG, identity_of, lose_power, problems

SNAPSHOTS = ("other_recording", "other_segment", "before_marker")


def open_pending(data_dir: Path) -> Path:
    (pending,) = data_dir.glob("recordings/*/*.mp4.part.json")
    return pending


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A camera with one complete recording and one cut by power loss in its segment 2 (with a
    marker), and signed pending records saved on the way: recording 0's, recording 1's segment
    0, and segment 2's own before the marker was set."""
    root = tmp_path_factory.mktemp("signed")
    saved = root / "saved"
    saved.mkdir()
    sim = Simulator(CONFIG, root / "data")
    sim.power_on()
    sim.advance(2.0)
    sim.button("record").double_press()
    sim.advance(1.0)
    shutil.copy(open_pending(sim.data_dir), saved / "other_recording")
    sim.advance(2.0)
    sim.button("record").hold(3.2)  # recording 0 is complete
    sim.advance(3.5)
    sim.button("record").double_press()
    sim.advance(1.0)
    shutil.copy(open_pending(sim.data_dir), saved / "other_segment")
    while not open_pending(sim.data_dir).name.endswith("S0002.mp4.part.json"):
        sim.advance(0.5)
    shutil.copy(open_pending(sim.data_dir), saved / "before_marker")
    sim.button("function").press()
    sim.advance(2.5)
    sim.daemon.sync()
    lose_power(sim)
    return root


@dataclass
class Card:
    """A copy of the cut camera's data directory, as the attacker finds it."""

    data_dir: Path
    saved: Path
    #: the interrupted segment, as it will be named once recovered
    mp4: Path

    @property
    def folder(self) -> Path:
        return self.mp4.parent

    def file(self, suffix: str) -> Path:
        return self.mp4.with_name(self.mp4.name + suffix)

    @property
    def part(self) -> Path:
        return self.file(".part")

    @property
    def pending(self) -> Path:
        return self.file(".part.json")

    @property
    def log(self) -> Path:
        return self.file(".part.sigs")

    def record(self) -> dict:
        return json.loads(self.pending.read_text())

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_bytes().splitlines()]

    def signed_end(self) -> int:
        return self.lines()[-1]["end"]


@pytest.fixture
def card(template: Path, tmp_path: Path) -> Card:
    shutil.copytree(template, tmp_path / "card")
    data_dir = tmp_path / "card" / "data"
    pending = open_pending(data_dir)
    return Card(data_dir, tmp_path / "card" / "saved",
                pending.with_name(pending.name.removesuffix(".part.json")))


def boot(data_dir: Path) -> list[dict]:
    """The next start: what the daemon's recovery did."""
    sim = Simulator(CONFIG, data_dir)
    sim.power_on()
    results = list(sim.daemon.recovered)
    sim.shutdown()
    return results


def files_of(card: Card) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in card.folder.iterdir()}


def refused(card: Card, why: str) -> None:
    """Recovery signs nothing, keeps every file as it is, and says why; the verifier calls the
    interrupted segment tampered, before and after the boot."""
    expected = {("segment", str(card.mp4), "part_tampered"),
                ("recording", str(card.folder), "segment_failed")}
    assert problems(verify([card.data_dir])) >= expected
    before = files_of(card)
    [result] = boot(card.data_dir)
    assert why in result["detail"] and "left as .part" in result["detail"], result
    assert files_of(card) == before  # nothing signed, nothing cut, nothing deleted
    assert not manifest_path(card.mp4).exists()
    found = problems(verify([card.data_dir]))
    assert found >= expected and all(kind != "segment" or path == str(card.mp4)
                                     for kind, path, _ in found), found


# -- honest power cuts -------------------------------------------------------------------------

def test_an_honest_cut_is_recovered_with_exactly_the_signed_bytes(card: Card) -> None:
    part_size, signed = card.part.stat().st_size, card.signed_end()
    assert card.record()["sig"] and card.lines()
    [result] = boot(card.data_dir)
    assert result["detail"] == ""
    manifest = json.loads(manifest_path(card.mp4).read_text())
    assert manifest["recovered"] and manifest["size"] == signed == card.mp4.stat().st_size
    assert manifest["recovery"]["signed_bytes"] == signed
    assert manifest["recovery"]["signed_fragments"] >= 2
    assert manifest["recovery"]["unverified_bytes"] == part_size - signed
    assert manifest["recovery"]["unverified_fragments"] == 0
    assert [m["note"] for m in manifest["markers"]] == [""]  # the marker set before the cut
    assert not card.pending.exists() and not card.log.exists()
    findings = verify([card.data_dir])
    assert findings and all(f.ok for f in findings), problems(findings)


def test_a_torn_last_line_of_the_fragment_log_is_tolerated(card: Card) -> None:
    with open(card.log, "ab") as f:
        f.write(b'{"end":99999999,"file":"')  # the power went mid-append
    [result] = boot(card.data_dir)
    assert result["detail"] == ""
    assert all(f.ok for f in verify([card.data_dir]))


def test_bytes_landed_but_not_yet_signed_are_kept_aside_unverified(card: Card) -> None:
    """The cut came between a fragment's fsync and its signature: its bytes are not vouched
    for, nor lost."""
    lines = card.log.read_bytes().splitlines(keepends=True)
    card.log.write_bytes(b"".join(lines[:-1]))
    vouched, original = json.loads(lines[-2])["end"], card.part.read_bytes()
    [result] = boot(card.data_dir)
    assert result["detail"] == ""
    torn = card.file(".torn")
    assert card.mp4.read_bytes() == original[:vouched]
    assert torn.read_bytes() == original[vouched:]
    recovery = json.loads(manifest_path(card.mp4).read_text())["recovery"]
    assert recovery["unverified_bytes"] == len(original) - vouched > 0
    assert recovery["unverified_fragments"] == 1
    assert recovery["unverified_file"] == torn.name
    assert all(f.ok for f in verify([card.data_dir]))


def test_bytes_appended_after_the_cut_are_never_vouched_for(card: Card) -> None:
    original, signed = card.part.read_bytes(), card.signed_end()
    with open(card.part, "ab") as f:
        f.write(b"\x00\x00\x00\x10mdatFORGED!!")
    [result] = boot(card.data_dir)
    assert result["detail"] == ""
    assert card.mp4.read_bytes() == original[:signed]
    torn = card.file(".torn").read_bytes()
    assert torn.endswith(b"FORGED!!")  # kept, named unverified, not in the signed MP4
    assert b"FORGED" not in card.mp4.read_bytes()
    recovery = json.loads(manifest_path(card.mp4).read_text())["recovery"]
    assert recovery["unverified_bytes"] == len(torn)
    assert all(f.ok for f in verify([card.data_dir]))


def test_a_pending_record_left_beside_its_published_segment_is_dropped(card: Card) -> None:
    """The power went after a segment was renamed into place, before its pending record was
    removed: the segment stays exactly as published (no zero-frame segment over it)."""
    s0 = sorted(card.folder.glob("*.mp4"))[0]
    before = {p.name: p.read_bytes() for p in card.folder.glob(s0.name + "*")}
    shutil.copy(card.saved / "other_segment", s0.with_name(s0.name + ".part.json"))
    results = boot(card.data_dir)
    assert all(r["detail"] == "" for r in results), results
    assert {p.name: p.read_bytes() for p in card.folder.glob(s0.name + "*")} == before
    findings = verify([card.data_dir])
    assert findings and all(f.ok for f in findings), problems(findings)


def test_an_old_recovered_segment_without_the_new_fields_still_verifies(card: Card) -> None:
    """Version-1 data from firmware before signed recording: no ``recovery`` field."""
    boot(card.data_dir)
    manifest = Manifest.from_bytes(manifest_path(card.mp4).read_bytes())
    old = dataclasses.replace(manifest, recovery=None)
    assert b'"recovery"' not in old.to_bytes()
    write_signed_manifest(identity_of(card.data_dir), card.mp4, old)
    log = card.data_dir / "audit" / "audit.jsonl"  # the log recorded the manifest's hash
    log.unlink()
    found = problems(verify(sorted((card.data_dir / "recordings").iterdir())))
    assert found == set(), found


# -- edits between the cut and the next boot ---------------------------------------------------

@pytest.mark.parametrize("field, change", [
    ("start_wall", lambda v: v - 60.0),
    ("start_mono", lambda v: v + 1.0),
    ("reason", lambda v: "trigger:holster"),
    ("markers", lambda v: []),
    ("markers", lambda v: [*v, [v[0][0] + 0.5, v[0][1], "suspect ran"]]),
    ("prev_manifest_sha256", lambda v: "0" * 64),
])
def test_an_edited_pending_record_is_refused(card: Card, field: str, change) -> None:
    pending = card.record()
    assert pending["markers"]
    pending[field] = change(pending[field])
    card.pending.write_text(json.dumps(pending, indent=1))
    refused(card, "signature")


def test_an_unsigned_pending_record_is_not_vouched_for(card: Card) -> None:
    """As older firmware wrote it (or with the signature stripped): never signed as
    recovered, and reported as interrupted, not tampered."""
    pending = card.record()
    del pending["sig"]
    card.pending.write_text(json.dumps(pending, indent=1))
    [result] = boot(card.data_dir)
    assert "not signed" in result["detail"] and not manifest_path(card.mp4).exists()
    assert ("segment", str(card.mp4), "part_file") in problems(verify([card.data_dir]))


@pytest.mark.parametrize("snapshot, why", [("other_segment", "for "),
                                           ("other_recording", "for "),
                                           ("before_marker", "older")])
def test_a_replayed_signed_pending_record_is_refused(card: Card, snapshot: str, why: str
                                                     ) -> None:
    shutil.copy(card.saved / snapshot, card.pending)
    refused(card, why)


def test_replaced_bytes_of_a_landed_fragment_are_refused(card: Card) -> None:
    data = bytearray(card.part.read_bytes())
    data[card.lines()[1]["end"] - 10] ^= 0x40  # inside the first fragment
    card.part.write_bytes(bytes(data))
    refused(card, "differ")


def test_a_part_truncated_into_its_signed_bytes_is_refused(card: Card) -> None:
    ends = sorted({line["end"] for line in card.lines()})
    assert len(ends) >= 3
    card.part.write_bytes(card.part.read_bytes()[:ends[-2] - 100])  # before the last landing
    refused(card, "truncated")


def test_a_last_signature_that_outran_its_bytes_vouches_for_the_landing_before(card: Card
                                                                             ) -> None:
    """A power cut between the two fsyncs: the last line reached the card, not all the bytes
    it signed. Honest, so not tampered; those bytes are not vouched for, only set aside."""
    ends = sorted({line["end"] for line in card.lines()})
    original = card.part.read_bytes()[:ends[-1] - 100]
    card.part.write_bytes(original)
    [result] = boot(card.data_dir)
    assert result["detail"] == ""
    assert card.mp4.read_bytes() == original[:ends[-2]]
    assert card.file(".torn").read_bytes() == original[ends[-2]:]
    assert all(f.ok for f in verify([card.data_dir]))


def test_a_deleted_fragment_log_is_refused(card: Card) -> None:
    card.log.unlink()
    refused(card, "missing")


def test_a_fragment_log_line_edited_is_refused(card: Card) -> None:
    lines = card.log.read_bytes().splitlines(keepends=True)
    entry = json.loads(lines[1])
    entry["end"] -= 1
    lines[1] = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    card.log.write_bytes(b"".join(lines))
    refused(card, "line 2")


def test_a_recovery_cut_while_closing_with_a_terminator_keeps_the_first_bytes_set_aside(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing of the segment was signed (the cut came before its first signature), so
    recovery sets its bytes aside and closes the recording with a zero-frame segment; the
    power goes again while that is written. The next try must not overwrite what it set aside
    with the half-written terminator."""
    sim = Simulator(CONFIG.replace(recording={"pre_event_s": 0.0}), tmp_path / "d")
    sim.power_on()
    sim.button("record").double_press()
    sim.advance(1.0)  # frames wait for their sound a little: one has reached the muxer
    sim.daemon.sync()
    lose_power(sim)
    pending = open_pending(tmp_path / "d")
    mp4 = pending.with_name(pending.name.removesuffix(".part.json"))
    Path(f"{mp4}.part.sigs").write_bytes(b"")  # no line written before the cut
    original = Path(f"{mp4}.part").read_bytes()
    identity = identity_of(tmp_path / "d")

    def cut(*args: object) -> str:
        raise OSError("the power went")

    monkeypatch.setattr(segments, "publish", cut)
    with pytest.raises(OSError):
        recover_segment(mp4, identity)
    monkeypatch.undo()
    assert recover_segment(mp4, identity).ok
    assert mp4.with_name(mp4.name + ".torn").read_bytes() == original
    manifest = json.loads(manifest_path(mp4).read_text())
    assert manifest["frame_count"] == 0 and manifest["recovered"] and manifest["last"]
    assert manifest["recovery"]["unverified_bytes"] == len(original)
    findings = verify([tmp_path / "d"])
    assert all(f.ok for f in findings if f.kind != "audit" and f.kind != "log-vs-footage"), \
        problems(findings)


def test_a_signed_manifest_whose_recovery_is_not_an_object_is_invalid(card: Card) -> None:
    """Only the key holder can write one (a firmware bug): a clear finding, no traceback."""
    boot(card.data_dir)
    manifest = json.loads(manifest_path(card.mp4).read_text())
    manifest["recovery"] = [1, 2]
    raw = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    manifest_path(card.mp4).write_bytes(raw)
    Path(f"{card.mp4}.json.sig").write_bytes(identity_of(card.data_dir).sign(raw))
    found = problems(verify([card.data_dir]))
    assert ("segment", str(card.mp4), "manifest_invalid") in found, found


def test_a_fragment_log_line_the_card_refused_leaves_the_log_readable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The card fails mid-line (ENOSPC): the error is raised for the recorder to handle, the
    torn line stays the last one (no line is appended after it), and what was signed before
    is still vouched for, never reported as tampered."""
    identity = create_identity(tmp_path, "BWV-OPEN-1", "SIM00001")
    mp4 = tmp_path / "R000001-aaaaaa-S0000.mp4"
    part, pending = Path(f"{mp4}.part"), Path(f"{mp4}.part.json")
    part.write_bytes(b"A" * 100)
    record = signed_record({}, mp4.name, identity.device_id, 0, None, identity.sign)
    pending.write_bytes(encode_record(record))
    log = FragmentLog(mp4, identity.sign)
    log.append(50, hashlib.sha256(b"A" * 50).hexdigest(), record_hash(record))
    write = os.write

    def full(fd: int, data: bytes) -> int:
        write(fd, bytes(data[:10]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError):
        log.append(100, hashlib.sha256(b"A" * 100).hexdigest(), record_hash(record), sync=False)
    monkeypatch.undo()
    log.append(100, hashlib.sha256(b"A" * 100).hexdigest(), record_hash(record))
    log.sync()
    log.close()
    state = examine(mp4, part, pending,
                    lambda sig, data, _: verify_signature(identity.public_key, sig, data))
    assert (state.problem, state.signed_end) == ("", 50)


@pytest.mark.parametrize("which", ["log", "part", "pending"])
def test_a_fifo_in_place_of_a_cut_segments_file_never_blocks_the_boot(card: Card,
                                                                       which: str) -> None:
    """A FIFO has no writer, so opening it to read would wait for ever: the camera must still
    boot (and sign nothing for that segment)."""
    target = getattr(card, which)
    target.unlink()
    os.mkfifo(target)
    [result] = boot(card.data_dir)
    assert not card.mp4.exists() and target.exists()
    assert result is not None
