"""Hostile files: whatever is put on the card in place of evidence, the verifier names it in one
line and never hangs or crashes, and the camera still boots, records and keeps a valid chain.

Issue 11, items 3-6: a data directory planted inside another's recordings, recording numbers
reused, symlinks and special files, and hostile JSON; with the neighbours of each. Every case
runs under :func:`bounded`, so a hang fails the test instead of stopping the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.audit import AUDIT_LOG, AuditLog, canonical, verify_log
from device.cli import main
from device.recordings import COUNTER, next_recording_id, recording_number
from evidence.bounded import MAX_DEPTH, BadJSON, Refused, lines, loads, read_json, read_regular
from evidence.findings import CODES, MAX_DETAIL, Finding
from evidence.identity import PUBLIC_KEY
from evidence.keyring import KeyRing, data_dir_of
from evidence.manifest import Manifest, ManifestError, manifest_path, signature_path
from evidence.verify import verify
from sim.simulator import Simulator
from tests.evidence import (
    CONFIG,
    Camera,
    copy_template,
    identity_of,
    log_lines,
    problems,
    record,
    recording_dirs,
    segment_files,
    template_fixture,
    tree_digest,
    write_lines,
)

template = template_fixture()
T = TypeVar("T")
#: Long enough for anything here to finish many times over; a hang never finishes.
BOUND_S = float(os.environ.get("HOSTILE_BOUND_S", "120"))


def bounded(fn: Callable[[], T], seconds: float = BOUND_S) -> T:
    """``fn()``, failing the test if it has not returned within ``seconds`` (it runs in a
    daemon thread, so a hang is reported, not waited for)."""
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # re-raised in the test's thread
            error.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: it hangs"
    if error:
        raise error[0]
    return result[0]


def check(paths: list[Path], keys: KeyRing | None = None) -> set[tuple[str, str, str]]:
    """The problems verify finds, bounded in time, every one a known code in one line."""
    findings = bounded(lambda: verify(paths, keys))
    assert_one_line(findings)
    return problems(findings)


def assert_one_line(findings: list[Finding]) -> None:
    for f in findings:
        assert f.code in CODES and "\n" not in f.detail and len(f.detail) <= MAX_DETAIL, f


@pytest.fixture
def cams(template: Path, tmp_path: Path) -> dict[str, Camera]:
    return copy_template(template, tmp_path / "copy")


def seg(cam: Camera, recording: int, index: int) -> Path:
    return cam.segments(recording)[index]


def seg_problem(path: Path, code: str) -> tuple[str, str, str]:
    return ("segment", str(path), code)


def rec_problem(cam: Camera, n: int, code: str) -> tuple[str, str, str]:
    return ("recording", str(cam.recording(n)), code)


def resign(cam: Camera, mp4: Path, raw: bytes) -> None:
    """Put ``raw`` in as the manifest, signed with the camera's own key (what only the key
    holder, or a firmware bug, could do): the content itself must then be judged."""
    manifest_path(mp4).write_bytes(raw)
    signature_path(mp4).write_bytes(identity_of(cam.data_dir).sign(raw))


def manifest_dict(mp4: Path) -> dict[str, Any]:
    return json.loads(manifest_path(mp4).read_bytes())


NESTED = b"[" * 100_000 + b"]" * 100_000


# -- the bounded reader itself -----------------------------------------------------------------

@pytest.mark.parametrize("raw, says", [
    (NESTED, "nested more than"),
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested more than"),
    (b'{"a": NaN}', "NaN is not a JSON number"),
    (b'{"a": Infinity}', "Infinity is not a JSON number"),
    (b'{"a": -Infinity}', "-Infinity is not a JSON number"),
    (b'{"a": 1e999}', "out of range"),
    (b'{"a": ' + b"9" * 4300 + b"}", "digits"),
    (b'{"a": ' + b"9" * 5000 + b"}", "digits"),
    (b'{"a": "\xff\xfe"}', "not UTF-8"),
    (b'{"a": "\\ud800"}', "lone surrogate"),
    (b'{"\\udfff": 1}', "lone surrogate"),
    (b'{"a": ', "not UTF-8 JSON"),
    (b"", "not UTF-8 JSON"),
])
def test_hostile_json_is_one_line_error_never_a_traceback(raw: bytes, says: str) -> None:
    with pytest.raises(BadJSON) as caught:
        loads(raw, "x.json")
    message = str(caught.value)
    assert says in message and message.startswith("x.json: ") and "\n" not in message


def test_what_the_camera_writes_passes_the_bounds() -> None:
    value = {"a": [1, 2.5, {"b": [None, True, "é"]}], "n": 2**63, "f": -0.001}
    assert loads(json.dumps(value).encode(), "x") == value
    deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads(deep.encode(), "x") == json.loads(deep)


def test_a_document_over_its_size_is_refused_without_being_read(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(150 * 1024 * 1024)  # sparse: 150 MB that cost nothing to make
    with pytest.raises(Refused) as caught:
        read_json(big)
    assert caught.value.code == "too_large" and "157286400 bytes" in str(caught.value)


def special_files(tmp_path: Path) -> dict[str, Path]:
    """A FIFO, a symlink to /dev/zero, a folder, a socket and a dangling or looping link."""
    made = {"fifo": tmp_path / "fifo", "zero": tmp_path / "zero", "dir": tmp_path / "dir",
            "socket": tmp_path / "sock", "loop": tmp_path / "loop"}
    os.mkfifo(made["fifo"])
    made["zero"].symlink_to("/dev/zero")
    made["dir"].mkdir()
    unix_socket(made["socket"])
    made["loop"].symlink_to(made["loop"])
    return made


def unix_socket(path: Path) -> None:
    """A socket file at ``path`` (bound in a short folder: socket paths are limited to ~100)."""
    with tempfile.TemporaryDirectory(dir="/tmp") as short:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(f"{short}/s")
        sock.close()
        os.rename(f"{short}/s", path)


@pytest.mark.parametrize("kind", ["fifo", "zero", "dir", "socket", "loop"])
def test_special_files_are_refused_not_read(tmp_path: Path, kind: str) -> None:
    path = special_files(tmp_path)[kind]
    with pytest.raises(Refused) as caught:
        bounded(lambda: read_regular(path, 1024))
    assert caught.value.code == "not_a_file" and "not a regular file" in str(caught.value)


def test_lines_keep_memory_bounded_but_hash_everything(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_bytes(b"short\n" + b"x" * 3000 + b"\ntorn")
    with open(log, "rb") as f:
        got = list(lines(f, limit=1000))
    assert [(g.number, g.data, g.length, g.terminated) for g in got] == [
        (1, b"short", 5, True), (2, None, 3000, True), (3, b"torn", 4, False)]
    import hashlib
    assert got[1].sha256 == hashlib.sha256(b"x" * 3000).hexdigest()


# -- item 6: hostile JSON in a manifest ---------------------------------------------------------

def mutate(field: str, value: Any) -> Callable[[dict[str, Any]], bytes]:
    def edit(manifest: dict[str, Any]) -> bytes:
        manifest[field] = value
        return json.dumps(manifest).encode()
    return edit


def set_raw(field: str, literal: bytes) -> Callable[[dict[str, Any]], bytes]:
    """The manifest with ``field`` set to ``literal`` as written (``NaN``, a 4,300-digit
    number: what json.dumps would never write), every other field as it was."""
    def edit(manifest: dict[str, Any]) -> bytes:
        manifest[field] = "@@"
        return json.dumps(manifest, sort_keys=True).encode().replace(b'"@@"', literal, 1)
    return edit


HOSTILE_MANIFESTS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "100,000 nested arrays": lambda m: NESTED,
    "nested arrays in a field": lambda m: json.dumps(m).encode()[:-1] + b', "gaps": '
                                         + NESTED + b"}",
    "NaN duration": set_raw("duration_s", b"NaN"),
    "-Infinity pre-event": set_raw("pre_event_s", b"-Infinity"),
    "1e999 duration": set_raw("duration_s", b"1e999"),
    "Infinity fps": mutate("fps", float("inf")),
    "4300-digit size": set_raw("size", b"9" * 4300),
    "4000-digit segment index": set_raw("segment_index", b"9" * 4000),
    "30-digit frame count": set_raw("frame_count", b"9" * 30),
    "huge segment index": mutate("segment_index", 10**15),
    "negative size": mutate("size", -1),
    "string for an int": mutate("segment_index", "2"),
    "string size": mutate("size", "100"),
    "bool for an int": mutate("frame_count", True),
    "int for a bool": mutate("last", 1),
    "number for a string": mutate("start_utc", 17),
    "list for a string": mutate("device_id", ["x"]),
    "marker not an object": mutate("markers", [1]),
    "marker with a list time": mutate("markers", [{"utc": [], "offset_s": 1.0}]),
    "gap not an object": mutate("gaps", ["x"]),
    "not UTF-8": lambda m: json.dumps(m).encode().replace(b'"codec": "', b'"codec": "\xff', 1),
    "an array": lambda m: b"[]",
    "a string": lambda m: b'"manifest"',
    "version true": mutate("version", True),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_MANIFESTS))
def test_a_hostile_manifest_is_one_line_never_a_crash(cams, name: str) -> None:
    """Signed with the device's key, the content is judged: manifest_invalid. Unsigned (the
    attacker has no key) it is a bad signature. Either way nothing else is blamed."""
    cam = cams["a"]
    mp4 = seg(cam, 0, 1)
    raw = HOSTILE_MANIFESTS[name](manifest_dict(mp4))
    with pytest.raises(ManifestError) as caught:
        Manifest.from_bytes(raw, "m.json")
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300
    resign(cam, mp4, raw)
    found = check([cam.data_dir])
    assert seg_problem(mp4, "manifest_invalid") in found
    assert {kind for kind, path, _ in found if path != str(mp4)} <= {"recording",
                                                                     "log-vs-footage"}
    signature_path(mp4).write_bytes(b"\0" * 64)
    assert seg_problem(mp4, "bad_signature") in check([cam.data_dir])


def test_a_150_mb_manifest_is_too_large_and_not_read(cams) -> None:
    cam = cams["a"]
    mp4 = seg(cam, 0, 1)
    with open(manifest_path(mp4), "r+b") as f:
        f.truncate(150 * 1024 * 1024)  # sparse
    assert check([cam.data_dir]) == {seg_problem(mp4, "too_large"),
                                     rec_problem(cam, 0, "segment_failed")}


def test_a_huge_signature_file_is_a_bad_signature_read_no_further(cams) -> None:
    cam = cams["a"]
    mp4 = seg(cam, 0, 1)
    sig = signature_path(mp4)
    good = sig.read_bytes()
    with open(sig, "r+b") as f:
        f.truncate(2 * 1024**3)  # sparse: 2 GB, of which the first 64 bytes are the signature
        f.write(good)
    assert check([cam.data_dir]) == {seg_problem(mp4, "bad_signature"),
                                     rec_problem(cam, 0, "segment_failed")}


# -- item 5: symlinks and special files ---------------------------------------------------------

def test_a_segment_symlinked_to_another_blames_the_link_not_the_real_file(cams) -> None:
    cam = cams["a"]
    real, link = seg(cam, 0, 1), seg(cam, 0, 2)
    link.unlink()
    link.symlink_to(real.name)
    found = check([cam.data_dir])
    assert found == {seg_problem(link, "not_a_file"), rec_problem(cam, 0, "segment_failed")}


@pytest.mark.parametrize("which", ["mp4", "manifest", "signature"])
@pytest.mark.parametrize("kind", ["fifo", "zero", "dir", "socket", "loop"])
def test_a_special_file_in_place_of_a_segments_file_never_hangs(cams, tmp_path, which: str,
                                                                kind: str) -> None:
    cam = cams["a"]
    mp4 = seg(cam, 0, 3)
    victim = {"mp4": mp4, "manifest": manifest_path(mp4), "signature": signature_path(mp4)}[which]
    special = special_files(tmp_path)
    victim.unlink()
    os.rename(special[kind], victim)
    assert check([cam.data_dir]) == {seg_problem(mp4, "not_a_file"),
                                     rec_problem(cam, 0, "segment_failed")}


def test_a_symlink_to_dev_zero_given_directly_never_hangs(tmp_path: Path) -> None:
    link = tmp_path / "R000001-abcdef-S0000.mp4"
    link.symlink_to("/dev/zero")
    found = check([link])
    assert ("segment", str(link), "not_a_file") in found


def test_a_symlinked_folder_or_a_loop_in_recordings_is_reported_not_followed(cams) -> None:
    cam, other = cams["a"], cams["b"]
    loop = cam.recording(0) / "loop"
    outside = cam.data_dir / "recordings" / other.recording(0).name
    outside.symlink_to(other.recording(0))
    loop.symlink_to("..")
    found = check([cam.data_dir])
    assert found == {("file", str(outside), "not_a_file"), ("file", str(loop), "not_a_file")}


def test_a_folder_named_like_a_segment_is_not_a_file(cams) -> None:
    cam = cams["a"]
    fake = cam.recording(0) / "R000001-000000-S0099.mp4"
    fake.mkdir()
    found = check([cam.data_dir])
    assert seg_problem(fake, "not_a_file") in found


@pytest.mark.parametrize("kind", ["fifo", "zero", "dir", "loop"])
def test_a_special_file_as_the_audit_log_never_hangs(cams, tmp_path, kind: str) -> None:
    cam = cams["a"]
    special = special_files(tmp_path)[kind]
    cam.log.unlink()
    os.rename(special, cam.log)
    found = check([cam.data_dir])
    assert ("audit", str(cam.log), "not_a_file") in found


@pytest.mark.parametrize("kind", ["fifo", "zero", "dir"])
def test_a_special_file_as_the_device_key_never_hangs(cams, tmp_path, kind: str) -> None:
    cam = cams["a"]
    key = cam.data_dir / PUBLIC_KEY
    key.unlink()
    os.rename(special_files(tmp_path)[kind], key)
    found = check([cam.data_dir])
    assert found and {code for _, _, code in found} <= {"bad_key", "not_a_file"}


def test_an_unlistable_folder_is_one_line(cams, monkeypatch) -> None:
    """Root reads everything, so the folder's listing is made to fail as permissions would."""
    cam = cams["a"]
    real = os.scandir
    bad = cam.recording(1)

    def scandir(path: Any) -> Any:
        if Path(path) == bad:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    found = check([cam.data_dir])
    assert ("file", str(bad), "unreadable") in found


def test_untouched_evidence_with_a_socket_and_relative_paths_is_intact(cams, monkeypatch) -> None:
    cam = cams["a"]
    unix_socket(cam.data_dir / "control.sock")  # the running daemon's control socket
    assert check([cam.data_dir]) == set()
    monkeypatch.chdir(cam.data_dir / "recordings")
    assert check([Path(cam.recording(0).name)]) == set()
    assert data_dir_of(Path(cam.recording(0).name) / "x.mp4") == cam.data_dir


# -- item 3: a data directory inside another --------------------------------------------------

def plant(source: Camera, into: Path) -> Path:
    """Another camera's recording and key put in, as a data directory of its own would be."""
    into.mkdir(parents=True)
    shutil.copytree(source.recording(0), into / "recordings" / source.recording(0).name)
    shutil.copy(source.data_dir / PUBLIC_KEY, into / PUBLIC_KEY)
    return into


@pytest.mark.parametrize("where", ["recordings/planted", "recordings/R000001-000000/deeper",
                                   "elsewhere"])
def test_another_cameras_recording_planted_with_its_key_is_caught(cams, tmp_path,
                                                                  where: str) -> None:
    cam, other = cams["a"], cams["b"]
    planted = plant(other, cam.data_dir / where)
    segments = sorted((planted / "recordings").rglob("*.mp4"))
    nested = ("key", str(planted / PUBLIC_KEY), "nested_data_dir")
    found = check([cam.data_dir])
    assert nested in found
    assert {seg_problem(mp4, "bad_signature") for mp4 in segments} <= found
    enrolled = tmp_path / "enrolled"
    enrolled.mkdir()
    shutil.copy(cam.data_dir / PUBLIC_KEY, enrolled / "a.pem")
    shutil.copy(other.data_dir / PUBLIC_KEY, enrolled / "b.pem")
    found = check([cam.data_dir], KeyRing.from_dir(enrolled))
    assert nested in found
    assert {seg_problem(mp4, "foreign_device") for mp4 in segments} <= found


def test_a_key_planted_in_recordings_does_not_change_which_key_checks_the_footage(cams) -> None:
    cam, other = cams["a"], cams["b"]
    planted = cam.data_dir / "recordings" / PUBLIC_KEY
    shutil.copy(other.data_dir / PUBLIC_KEY, planted)
    assert check([cam.data_dir]) == {("key", str(planted), "nested_data_dir")}


# -- item 4: recording numbers ---------------------------------------------------------------

def numbers(data_dir: Path) -> list[int]:
    return [n for d in recording_dirs(data_dir) if (n := recording_number(d.name)) is not None]


def boot(data_dir: Path) -> Simulator:
    sim = Simulator(CONFIG, data_dir)
    bounded(sim.power_on)
    assert sim.mode == "buffering", sim.daemon.fault
    return sim


@pytest.mark.parametrize("counter", ["0\n", "", "garbage\n", "-7\n", None, "fifo"])
def test_a_rolled_back_or_damaged_counter_never_reuses_a_number(cams, counter: str | None) -> None:
    cam = cams["a"]
    path = cam.data_dir / COUNTER
    path.unlink()
    if counter == "fifo":
        os.mkfifo(path)
    elif counter is not None:
        path.write_text(counter)
    sim = boot(cam.data_dir)
    bounded(lambda: record(sim, 5.0))
    sim.shutdown()
    assert numbers(cam.data_dir) == [1, 2, 3]
    assert check([cam.data_dir]) == set()


def test_the_audit_log_keeps_numbers_unique_when_the_folders_are_gone(cams) -> None:
    """Every folder gone (say, emptied after upload) and the counter rolled back: the log's
    recording_start entries still say which numbers were handed out."""
    cam = cams["b"]
    shutil.rmtree(cam.data_dir / "recordings")
    (cam.data_dir / COUNTER).write_text("0\n")
    sim = boot(cam.data_dir)
    bounded(lambda: record(sim, 5.0))
    sim.shutdown()
    assert numbers(cam.data_dir) == [2]


def test_next_recording_id_takes_the_highest_of_counter_folders_and_log(tmp_path: Path) -> None:
    (tmp_path / "recordings" / "R000041-abcdef").mkdir(parents=True)
    (tmp_path / "recordings" / "notes").mkdir()
    assert recording_number(next_recording_id(tmp_path)) == 42
    assert recording_number(next_recording_id(tmp_path, seen=99)) == 100
    assert (tmp_path / COUNTER).read_text() == "100\n"


def reuse_a_number(cam: Camera, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    """What the old firmware did with a counter rolled back: hand out R000001 again."""
    (cam.data_dir / COUNTER).write_text("0\n")
    monkeypatch.setattr("device.recordings.highest_recording", lambda data_dir: 0)
    sim = boot(cam.data_dir)
    assert sim.daemon.audit is not None
    sim.daemon.audit.highest_recording = 0
    bounded(lambda: record(sim, 5.0))
    sim.shutdown()
    return sim


def test_two_recordings_with_the_same_number_are_reported(cams, monkeypatch) -> None:
    cam = cams["a"]
    reuse_a_number(cam, monkeypatch)
    assert numbers(cam.data_dir) == [1, 1, 2]
    found = check([cam.data_dir])
    assert found == {("recording", str(cam.data_dir / "recordings"), "duplicate_recording"),
                     ("audit", str(cam.log), "recording_order")}


def test_a_number_reused_after_its_folder_left_is_still_out_of_order_in_the_log(
        cams, monkeypatch) -> None:
    cam = cams["b"]
    shutil.rmtree(cam.recording(0))
    (cam.data_dir / COUNTER).write_text("0\n")
    sim = boot(cam.data_dir)
    assert sim.daemon.audit is not None
    sim.daemon.audit.highest_recording = 0  # as the old firmware, which did not read the log
    bounded(lambda: record(sim, 5.0))
    sim.shutdown()
    found = check([cam.data_dir])
    assert ("audit", str(cam.log), "recording_order") in found
    assert ("recording", str(cam.data_dir / "recordings"), "duplicate_recording") in found


# -- item 6: hostile audit lines, for the verifier and for the camera at boot -----------------

HOSTILE_LINES: dict[str, bytes] = {
    "100,000 nested arrays": NESTED,
    "nested in an entry": b'{"data":' + NESTED + b',"seq":99}',
    "NaN": b'{"seq": NaN}',
    "a 300-digit seq": b'{"event":"x","seq":' + b"9" * 300 + b"}",
    "a 5000-digit seq": b'{"event":"x","seq":' + b"9" * 5000 + b"}",
    "a huge single line": b"a" * (5 * 1024 * 1024),
    "not UTF-8": b'{"event":"\xff\xfe"}',
    "an array": b"[1,2,3]",
    "a lone surrogate": b'{"event":"\\ud800","seq":1}',
}


@pytest.mark.parametrize("name", sorted(HOSTILE_LINES))
def test_a_hostile_audit_line_is_a_finding_and_the_camera_still_boots_and_records(
        cams, name: str) -> None:
    cam = cams["a"]
    write_lines(cam, [*log_lines(cam), HOSTILE_LINES[name]])
    found = check([cam.data_dir])
    assert found == {("audit", str(cam.log), "not_an_entry")}
    before = numbers(cam.data_dir)
    sim = boot(cam.data_dir)
    bounded(lambda: record(sim, 5.0))
    sim.shutdown()
    assert numbers(cam.data_dir) == [*before, before[-1] + 1]
    # the chain goes on through the bad line; it is noted at boot and still reported
    assert check([cam.data_dir]) == {("audit", str(cam.log), "not_an_entry")}
    noted = [json.loads(line) for line in log_lines(cam) if b'"bad_lines"' in line]
    assert len(noted) == 1 and noted[0]["data"]["count"] == 1


def test_a_hostile_line_in_the_middle_does_not_stop_the_boot(cams) -> None:
    cam = cams["a"]
    lines_ = log_lines(cam)
    write_lines(cam, [*lines_[:5], NESTED, *lines_[5:]])
    sim = boot(cam.data_dir)
    sim.shutdown()
    found = check([cam.data_dir])
    assert ("audit", str(cam.log), "not_an_entry") in found
    assert {code for _, _, code in found} <= {"not_an_entry", "chain_broken"}


def test_a_huge_torn_tail_is_acknowledged_at_boot(cams) -> None:
    cam = cams["a"]
    cam.log.write_bytes(cam.log.read_bytes() + b"x" * (5 * 1024 * 1024))  # no newline
    assert check([cam.data_dir]) == {("audit", str(cam.log), "torn_tail"),
                                      ("audit", str(cam.log), "not_an_entry")}
    boot(cam.data_dir).shutdown()
    assert check([cam.data_dir]) == set()


@pytest.mark.parametrize("kind", ["fifo", "zero", "dir", "loop"])
def test_the_camera_boots_and_records_with_a_special_file_as_its_log(cams, tmp_path,
                                                                     kind: str) -> None:
    """The thing is set aside (renamed, never deleted) and a new log, a valid chain, begun."""
    cam = cams["a"]
    cam.log.unlink()
    os.rename(special_files(tmp_path)[kind], cam.log)
    sim = boot(cam.data_dir)
    bounded(lambda: record(sim, 5.0))
    sim.shutdown()
    assert os.path.lexists(cam.log.with_name("audit.jsonl.refused-1"))
    report = verify_log(cam.log, None)
    assert report.ok and report.closed
    assert json.loads(log_lines(cam)[0])["event"] == "audit_log_refused"
    found = check([cam.data_dir])  # the old recordings are no longer in the (new) log
    aside = ("file", str(cam.log.with_name("audit.jsonl.refused-1")), "not_a_file")
    assert (aside in found) == (kind != "dir")  # what was put there is still named
    assert {code for _, path, code in found if path != aside[1]} == {"not_in_log"}


def test_a_log_of_many_bad_lines_keeps_few_issues(cams) -> None:
    cam = cams["a"]
    with open(cam.log, "ab") as f:
        f.write(b"{}\n" * 200_000)
    report = bounded(lambda: verify_log(cam.log, None))
    assert len(report.issues) <= 2 * 100 and report.counts["sequence"] == 200_000
    found = check([cam.data_dir])
    audit = {code for kind, _, code in found if kind == "audit"}
    assert audit == {"chain_broken", "sequence", "bad_signature"}


def test_boot_scan_of_a_log_made_by_audit_log_is_unchanged(tmp_path: Path) -> None:
    """The streaming scan agrees with what was written: seq, head, numbers."""
    from sim.clock import SimClock
    log = AuditLog(tmp_path / AUDIT_LOG, SimClock())
    log.append("recording_start", "button", recording_id="R000007-abcdef")
    log.append("mode", "x")
    head, seq = log.head, log.seq
    log.close()
    again = AuditLog(tmp_path / AUDIT_LOG, SimClock())
    assert (again.seq, again.head, again.highest_recording) == (seq, head, 7)
    again.close()
    assert canonical({"a": 1}) == b'{"a":1}'


# -- the command line: one line each, never a traceback -------------------------------------

def test_the_cli_reports_a_hostile_tree_in_one_line_each(cams, tmp_path, capsys) -> None:
    cam = cams["a"]
    made = special_files(tmp_path)
    zero, fifo, nested, fine = seg(cam, 0, 0), seg(cam, 0, 1), seg(cam, 1, 0), seg(cam, 0, 2)
    zero.unlink()
    os.rename(made["zero"], zero)
    signature_path(fifo).unlink()
    os.rename(made["fifo"], signature_path(fifo))
    resign(cam, nested, NESTED)
    write_lines(cam, [*log_lines(cam), NESTED])
    before = tree_digest(cam.data_dir)
    code = bounded(lambda: main(["verify", "--json", str(cam.data_dir)]))
    out, err = capsys.readouterr()
    assert code == 1 and err == "" and "Traceback" not in out
    report = json.loads(out)
    bad = {(f["path"], f["code"]) for f in report["findings"] if f["status"] != "ok"}
    assert {(str(zero), "not_a_file"), (str(fifo), "not_a_file"),
            (str(nested), "manifest_invalid"), (str(cam.log), "not_an_entry")} <= bad
    assert (str(fine), "ok") in {(f["path"], f["code"]) for f in report["findings"]}
    assert tree_digest(cam.data_dir) == before  # it only reads
    assert all(f.is_file() for f in segment_files(fine))


# -- the camera's own reading at boot: recovery of a hostile interrupted segment -------------

def interrupted_files(cam: Camera) -> dict[str, Path]:
    folder = cam.recording(1)
    part = next(folder.glob("*.mp4.part"))
    return {"part": part, "pending": part.with_name(part.name + ".json"),
            "manifest": sorted(cam.recording(0).glob("*.mp4.json"))[-1]}


PENDING_RECORDS: dict[str, Callable[[Path, Path], None]] = {
    "nested": lambda p, tmp: p.write_bytes(NESTED),
    "NaN": lambda p, tmp: p.write_bytes(p.read_bytes().replace(b'"fps": ', b'"fps": NaN, "x": ')),
    "empty object": lambda p, tmp: p.write_bytes(b"{}"),
    "a string index": lambda p, tmp: p.write_text(json.dumps(
        {**json.loads(p.read_bytes()), "segment_index": "x"})),
    "markers wrong": lambda p, tmp: p.write_text(json.dumps(
        {**json.loads(p.read_bytes()), "markers": [1]})),
    "not UTF-8": lambda p, tmp: p.write_bytes(b'{"\xff": 1}'),
    "fifo": lambda p, tmp: (p.unlink(), os.rename(special_files(tmp)["fifo"], p)),
    "dev zero": lambda p, tmp: (p.unlink(), os.rename(special_files(tmp)["zero"], p)),
}


@pytest.mark.parametrize("name", sorted(PENDING_RECORDS))
def test_a_hostile_pending_record_never_stops_the_boot(cams, tmp_path, name: str) -> None:
    cam = cams["c"]
    files = interrupted_files(cam)
    PENDING_RECORDS[name](files["pending"], tmp_path)
    sim = boot(cam.data_dir)
    [result] = sim.daemon.recovered
    assert result["detail"] and "\n" not in result["detail"]
    bounded(lambda: record(sim, 5.0))
    sim.shutdown()
    assert os.path.lexists(files["part"]) and os.path.lexists(files["pending"])  # left as is
    assert numbers(cam.data_dir)[-1] == 3


@pytest.mark.parametrize("which, kind", [("part", "fifo"), ("part", "zero"), ("part", "dir"),
                                         ("manifest", "fifo"), ("manifest", "zero"),
                                         ("manifest", "nested")])
def test_a_special_or_hostile_file_in_a_recording_never_stops_the_boot(cams, tmp_path,
                                                                     which: str,
                                                                     kind: str) -> None:
    cam = cams["c"]
    victim = interrupted_files(cam)[which]
    victim.unlink()
    if kind == "nested":
        victim.write_bytes(NESTED)
    else:
        os.rename(special_files(tmp_path)[kind], victim)
    sim = boot(cam.data_dir)
    bounded(lambda: record(sim, 5.0))
    sim.shutdown()
    assert numbers(cam.data_dir)[-1] == 3
    found = check([cam.data_dir])  # and the verifier names it
    assert any(path in (str(victim), str(victim).removesuffix(".json"),
                        str(victim).removesuffix(".part")) for _, path, _ in found)


def test_a_hostile_receipt_kept_beside_an_uploaded_segment_is_one_line(cams, tmp_path) -> None:
    from evidence.kept import receipt_path, receipt_signature_path
    cam = cams["a"]
    mp4 = seg(cam, 0, 2)
    mp4.unlink()  # as if uploaded
    os.rename(special_files(tmp_path)["fifo"], receipt_path(mp4))
    receipt_signature_path(mp4).write_bytes(b"\0" * 64)
    found = check([cam.data_dir])  # never read (it would block): not checked, not accused
    assert seg_problem(mp4, "unreadable") in found
    assert ("file", str(receipt_path(mp4)), "not_a_file") in found
    receipt_path(mp4).unlink()
    receipt_path(mp4).write_bytes(b"[" * 5000 + b"]" * 5000)
    findings = bounded(lambda: verify([cam.data_dir]))
    detail = next(f.detail for f in findings if f.path == str(mp4))
    assert "receipt" in detail and "nested" in detail


@pytest.mark.parametrize("raw", [NESTED, b'{"recording": {"segment_s": NaN}}',
                                 b'{"recording": {"segment_s": ' + b"9" * 5000 + b"}}",
                                 b'{"\xff": {}}'])
def test_hostile_store_settings_are_one_line_errors(tmp_path: Path, raw: bytes) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from device.upload.settings import SAVED, SIGNING_PREFIX, SettingsError, load_saved, parse
    key = Ed25519PrivateKey.generate()
    with pytest.raises(SettingsError) as caught:
        parse(raw, key.sign(SIGNING_PREFIX + raw), key.public_key())
    assert "\n" not in str(caught.value) and str(caught.value).startswith("settings: ")
    saved = tmp_path / SAVED
    saved.parent.mkdir(parents=True)
    saved.write_bytes(raw)
    config, problem = load_saved(CONFIG, tmp_path)
    assert config == CONFIG and problem is not None and "\n" not in problem
    saved.unlink()
    os.mkfifo(saved)
    config, problem = bounded(lambda: load_saved(CONFIG, tmp_path))
    assert config == CONFIG and problem is not None and "FIFO" in problem


def test_a_hostile_receipt_from_the_store_is_a_receipt_error() -> None:
    from evidence.receipt import Receipt, ReceiptError
    for raw in (NESTED, b'{"size": NaN}', b'{"size": ' + b"9" * 5000 + b"}"):
        with pytest.raises(ReceiptError) as caught:
            Receipt.from_bytes(raw)
        assert str(caught.value).startswith("receipt: ") and "\n" not in str(caught.value)


def test_a_folder_in_place_of_the_counter_is_set_aside_and_numbers_go_on(cams) -> None:
    cam = cams["a"]
    counter = cam.data_dir / COUNTER
    counter.unlink()
    counter.mkdir()
    sim = boot(cam.data_dir)
    bounded(lambda: record(sim, 5.0))
    sim.shutdown()
    assert numbers(cam.data_dir) == [1, 2, 3]
    assert counter.read_text() == "3\n" and counter.with_name(counter.name + ".refused-1").is_dir()


def test_an_audit_log_the_card_cannot_open_faults_the_camera_instead_of_hanging(
        cams, monkeypatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr("device.daemon.AuditLog", broken)
    sim = Simulator(CONFIG, cams["a"].data_dir)
    bounded(sim.power_on)
    assert sim.mode == "fault" and "Input/output error" in (sim.daemon.fault or "")
    sim.shutdown()


def test_a_signed_segment_index_of_millions_costs_a_few_lines(cams) -> None:
    cam = cams["a"]
    mp4 = cam.segments(1)[-1]  # the last segment of recording 1
    manifest = manifest_dict(mp4)
    manifest["segment_index"] = 9_999_999
    resign(cam, mp4, json.dumps(manifest).encode())
    findings = bounded(lambda: verify([cam.data_dir]))
    missing = [f for f in findings if f.code == "missing_segment" and f.kind == "recording"]
    assert 1 < len(missing) <= 21 and "more segments are missing" in missing[-1].detail


def test_a_finding_is_one_bounded_line_whatever_went_into_it() -> None:
    from evidence.findings import MAX_DETAIL, finding
    f = finding("segment", "x", "misplaced", "renamed: its manifest describes " +
                "a\nb" * 10_000)
    assert "\n" not in f.detail and len(f.detail) == MAX_DETAIL


def test_recovery_never_writes_through_a_symlinked_folder(cams) -> None:
    """Camera C's interrupted recording, linked into camera A's recordings: A's boot must not
    recover (write into) a folder that is not its own."""
    a, c = cams["a"], cams["c"]
    link = a.data_dir / "recordings" / c.recording(1).name
    link.symlink_to(c.recording(1))
    before = tree_digest(c.data_dir)
    boot(a.data_dir).shutdown()
    assert tree_digest(c.data_dir) == before


# -- wrong types anywhere: hypothesis puts hostile values in real entries and manifests -------

HOSTILE_VALUES = st.sampled_from([None, True, 0, -1, 2**63, 1.5, "", "x" * 5000, [], [1, [2]],
                                  {}, {"a": []}, ["R000001-abcdef"], "R000001-abcdef",
                                  "../../etc/passwd", "\n"])


@pytest.fixture(scope="module")
def shared(template: Path) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        yield copy_template(template, Path(tmp) / "copy")


def replace_somewhere(value: dict[str, Any], choice: int, hostile: Any) -> str:
    """Put ``hostile`` at one of the keys of ``value`` or of its ``data`` (chosen by
    ``choice``); return which."""
    places = [(value, k) for k in value] + [(value["data"], k) for k in value.get("data", {})
                                             if isinstance(value.get("data"), dict)]
    target, key = places[choice % len(places)]
    target[key] = hostile
    return key


FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(line=st.integers(0, 10**6), choice=st.integers(0, 10**6), hostile=HOSTILE_VALUES)
def test_an_audit_entry_with_any_field_of_any_type_is_a_finding_never_a_crash(
        shared, line: int, choice: int, hostile: Any) -> None:
    cam = shared["a"]
    original = cam.log.read_bytes()
    try:
        entries = log_lines(cam)
        entry = json.loads(entries[line % len(entries)])
        replace_somewhere(entry, choice, hostile)
        write_lines(cam, [*entries, canonical(entry)])
        found = check([cam.data_dir])
        assert found and {kind for kind, _, _ in found} <= {"audit", "log-vs-footage",
                                                             "recording"}
    finally:
        cam.log.write_bytes(original)


@FUZZ
@given(index=st.integers(0, 4), choice=st.integers(0, 10**6), hostile=HOSTILE_VALUES)
def test_a_signed_manifest_with_any_field_of_any_type_is_a_finding_never_a_crash(
        shared, index: int, choice: int, hostile: Any) -> None:
    cam = shared["a"]
    mp4 = seg(cam, 0, index)
    saved = {f: f.read_bytes() for f in (manifest_path(mp4), signature_path(mp4))}
    try:
        manifest = manifest_dict(mp4)
        key = replace_somewhere(manifest, choice, hostile)
        resign(cam, mp4, json.dumps(manifest).encode())
        findings = bounded(lambda: verify([cam.data_dir]))
        assert_one_line(findings)
        assert len([f for f in findings if f.path == str(mp4)]) == 1
        if key in ("segment_index", "size", "sha256", "file", "recording_id", "device_id",
                   "format", "version", "last", "prev_manifest_sha256"):
            # what binds the segment to its bytes, name and chain: a change is always caught
            changed = manifest[key] != json.loads(saved[manifest_path(mp4)])[key]
            assert not changed or not all(f.ok for f in findings)
    finally:
        for f, data in saved.items():
            f.write_bytes(data)


@pytest.mark.parametrize("which", ["mp4", "manifest", "signature", "log"])
def test_a_file_that_cannot_be_read_is_unreadable_in_one_line(cams, monkeypatch,
                                                              which: str) -> None:
    """Root reads everything, so opening is made to fail as a file of mode 000 would."""
    cam = cams["a"]
    mp4 = seg(cam, 1, 0)
    victim = {"mp4": mp4, "manifest": manifest_path(mp4), "signature": signature_path(mp4),
              "log": cam.log}[which]
    real = os.open

    def guarded(path: Any, *args: Any, **kwargs: Any) -> int:
        if os.fspath(path) == str(victim):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded)
    findings = bounded(lambda: verify([cam.data_dir]))
    assert_one_line(findings)
    item = str(cam.log) if which == "log" else str(mp4)
    [bad] = [f for f in findings if f.path == item and not f.ok]
    assert bad.code == "unreadable" and "Permission denied" in bad.detail


def test_many_bad_lines_at_the_end_are_named_a_few_and_counted(cams) -> None:
    cam = cams["b"]
    with open(cam.log, "ab") as f:
        f.write(b"not json\n" * 50_000)
    boot(cam.data_dir).shutdown()
    [note] = [json.loads(line) for line in log_lines(cam) if b'"bad_lines"' in line]
    assert note["data"]["count"] == 50_000 and len(note["data"]["lines"]) == 20
    assert check([cam.data_dir]) == {("audit", str(cam.log), "not_an_entry")}


@pytest.mark.parametrize("name", ["recordings", "audit"])
def test_a_symlinked_recordings_or_audit_folder_is_reported_not_followed(cams, name: str) -> None:
    cam, other = cams["a"], cams["b"]
    folder = cam.data_dir / name
    shutil.rmtree(folder)
    folder.symlink_to(other.data_dir / name)
    found = check([cam.data_dir])
    assert ("file", str(folder), "not_a_file") in found
    assert not any(str(other.data_dir) in path for _, path, _ in found)


def test_a_fifo_given_inside_a_single_recording_folder_is_reported(cams) -> None:
    cam = cams["a"]
    os.mkfifo(cam.recording(0) / "notes")
    assert check([cam.recording(0)]) == {("file", str(cam.recording(0) / "notes"),
                                          "not_a_file")}


def test_an_enrolled_key_may_be_a_symlink_to_a_key_but_never_to_a_device(cams, tmp_path) -> None:
    """The enrolled keys are the operator's, not evidence: a link to a key file is followed;
    one to /dev/zero or a FIFO is refused in one line."""
    from evidence.identity import IdentityError
    cam = cams["a"]
    enrolled = tmp_path / "enrolled"
    enrolled.mkdir()
    (enrolled / "a.pem").symlink_to(cam.data_dir / PUBLIC_KEY)
    assert check([cam.data_dir], KeyRing.from_dir(enrolled)) == set()
    (enrolled / "b.pem").symlink_to("/dev/zero")
    with pytest.raises(IdentityError) as caught:
        bounded(lambda: KeyRing.from_dir(enrolled))
    assert "not a regular file" in str(caught.value) and "\n" not in str(caught.value)
