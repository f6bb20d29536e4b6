"""The README's command lines, run as written (from its own text) in a fresh directory: what a
newcomer types is what these tests type."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest

from device.cli import main
from tests.evidence import template_fixture

README = Path(__file__).resolve().parent.parent / "README.md"

template = template_fixture()


def readme_command(contains: str) -> list[str]:
    """The README's one ``.venv/bin/bodycam`` line containing ``contains``, as argv (the
    comment dropped)."""
    lines = [line.split("#", 1)[0].strip() for line in README.read_text().splitlines()
             if line.startswith(".venv/bin/bodycam ") and contains in line]
    assert len(lines) == 1, f"README has {len(lines)} lines with {contains!r}"
    argv = shlex.split(lines[0])
    assert argv[0] == ".venv/bin/bodycam"
    return argv[1:]


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_export_key_into_a_new_directory_then_verify_against_it(
        template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """``export-key --out enrolled/`` when enrolled/ does not exist yet makes the directory
    (not a file named ``enrolled``), and the README's next command finds the key there."""
    shutil.copytree(template / "a", tmp_path / "bodycam-data")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BODYCAM_DATA_DIR", raising=False)
    device_id = json.loads((tmp_path / "bodycam-data" / "identity.json").read_text())["device_id"]
    code, out, err = run(capsys, readme_command("export-key --out"))
    assert code == 0, err
    assert (tmp_path / "enrolled").is_dir()
    assert (tmp_path / "enrolled" / f"{device_id}.pem").read_bytes() == \
        (tmp_path / "bodycam-data" / "device.pub.pem").read_bytes()
    code, out, err = run(capsys, readme_command("verify --keys"))
    assert code == 0, out + err
    findings = json.loads(out)
    assert findings and device_id in out


@pytest.mark.parametrize("given", ["keys/", "keys/sub/", "existing"])
def test_export_key_takes_a_slash_or_an_existing_directory_as_a_directory(
        given: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(capsys, ["provision", "--data-dir", "data"])[0] == 0
    (tmp_path / "existing").mkdir()
    code, _, err = run(capsys, ["export-key", "--data-dir", "data", "--out", given])
    assert code == 0, err
    written = list((tmp_path / given).glob("*.pem"))
    assert len(written) == 1 and re.fullmatch(r"bwv-[0-9a-f]{16}\.pem", written[0].name)
    assert written[0].read_bytes() == (tmp_path / "data" / "device.pub.pem").read_bytes()


def test_export_key_to_a_file_name_writes_that_file(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys) -> None:
    monkeypatch.chdir(tmp_path)
    run(capsys, ["provision", "--data-dir", "data"])
    code, _, err = run(capsys, ["export-key", "--data-dir", "data", "--out", "cam.pem"])
    assert code == 0, err
    assert (tmp_path / "cam.pem").read_bytes() == (tmp_path / "data/device.pub.pem").read_bytes()


def test_export_key_into_a_directory_that_cannot_be_made_is_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    run(capsys, ["provision", "--data-dir", "data"])
    (tmp_path / "taken").write_text("a file, not a directory")
    code, out, err = run(capsys, ["export-key", "--data-dir", "data", "--out", "taken/"])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "taken" in err
    assert (tmp_path / "taken").read_text() == "a file, not a directory"
