"""docs/FORMAT.md's standard-tools walk-through, run exactly as written with the real ``openssl``,
``sha256sum`` and ``jq``: it confirms intact evidence and catches tampering."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from evidence.manifest import manifest_path
from tests.conftest import have
from tests.evidence import Camera, copy_template, edit_entry, segment_files, template_fixture

FORMAT_MD = Path(__file__).resolve().parent.parent / "docs" / "FORMAT.md"

pytestmark = [
    pytest.mark.skipif(not have("openssl"), reason="openssl CLI not installed"),
    pytest.mark.skipif(not have("jq"), reason="jq not installed (Debian package jq)"),
]


def walkthrough() -> str:
    """The shell blocks of FORMAT.md marked ``<!-- walkthrough -->``, in order."""
    blocks = re.findall(r"<!-- walkthrough -->\n```sh\n(.*?)```", FORMAT_MD.read_text(),
                        flags=re.DOTALL)
    assert len(blocks) == 5, ("the walk-through has five steps: key, segment, chain, audit log, "
                              "export report")
    return "\n".join(blocks)


template = template_fixture()


@pytest.fixture
def cam(template: Path, tmp_path: Path) -> Camera:
    return copy_template(template, tmp_path / "copy")["a"]


def run(cam: Camera, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATA_DIR": str(cam.data_dir), "REC": cam.recording(0).name}
    return subprocess.run(["bash", "-euo", "pipefail", "-c", walkthrough()], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_the_walkthrough_confirms_intact_evidence(cam: Camera, tmp_path: Path) -> None:
    result = run(cam, tmp_path)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "FAILED" not in out and "UNTERMINATED" not in out
    assert f"device {cam.device_id}\n" in out
    for check in ("signature", "device", "name", "recording", "size", "sha256"):
        assert f"OK {check}\n" in out
    segments = cam.segments(0)
    assert out.count("OK chained ") == out.count("OK footage ") == len(segments)
    assert f"OK complete: {segments[-1].name}.json is the last segment" in out
    lines = len(cam.log.read_bytes().splitlines())
    assert f"OK chain: {lines} lines" in out
    assert re.search(rf"OK checkpoint at line {lines} signed\n", out)
    assert f"OK checkpoint at line {lines} vouches for the chain" in out
    every_segment = [p for n in (0, 1) for p in cam.segments(n)]
    assert out.count(".json: OK\n") == len(every_segment)  # sha256sum -c, from the log
    assert out.count(" started in the log") == 2
    assert "NO EXPORT REPORT" in out and "step 5 skipped" in out  # a data directory has none


def flip_mp4(cam: Camera) -> None:
    mp4 = cam.segments(0)[1]
    data = bytearray(mp4.read_bytes())
    data[len(data) // 2] ^= 0x40
    mp4.write_bytes(bytes(data))


def edit_manifest(cam: Camera) -> None:
    path = manifest_path(cam.segments(0)[2])
    path.write_text(path.read_text().replace('"last": false', '"last": true'))


def delete_last_segment(cam: Camera) -> None:
    for f in segment_files(cam.segments(0)[-1]):
        f.unlink()


def edit_audit_entry(cam: Camera) -> None:
    edit_entry(cam, 5, lambda entry: entry.update(reason="nothing happened"))


def forge_checkpoint(cam: Camera) -> None:
    edit_entry(cam, -1, lambda checkpoint: checkpoint["data"].update(entries=1))


def test_the_walkthrough_catches_each_tampering(cam: Camera, tmp_path: Path) -> None:
    """Four manipulations at once (one run: the walk-through spawns a process per line)."""
    tampering = {flip_mp4: f"FAILED footage {cam.segments(0)[1].name}\n",
                 edit_manifest: f"FAILED signature {cam.segments(0)[2].name}.json\n",
                 edit_audit_entry: "FAILED chain at line 7\n",
                 forge_checkpoint: "checkpoint at line"}
    for tamper in tampering:
        tamper(cam)
    result = run(cam, tmp_path)
    for says in tampering.values():
        assert says in result.stdout, result.stdout + result.stderr
    lines = len(cam.log.read_bytes().splitlines())
    assert f"FAILED checkpoint at line {lines}: signature" in result.stdout
    assert f"FAILED checkpoint at line {lines}: forged" in result.stdout
    assert result.returncode != 0  # sha256sum -c: the edited manifest is not what was logged


def test_the_walkthrough_tells_a_deleted_end_from_a_complete_recording(
        cam: Camera, tmp_path: Path) -> None:
    delete_last_segment(cam)
    result = run(cam, tmp_path)
    assert "UNTERMINATED: no segment marked last" in result.stdout
    # and the log proves the segment existed
    assert result.returncode != 0 and "FAILED open or read" in result.stdout
