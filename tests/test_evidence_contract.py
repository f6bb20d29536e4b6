"""The evidence contract stands alone: importing all of ``evidence`` (and verifying a real data
directory with it) loads nothing else of this project and no media library. Checked in a fresh
interpreter, since this one has loaded everything."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from evidence.hashlog import CAMERA, STORE, ChainHead, line_hash
from evidence.layout import Layout
from evidence.settings import RULES_GROUP, SettingsError
from evidence.utc import parse_utc, utc_iso, utc_seconds, utc_time
from store import service
from tests.evidence import Camera, template_fixture

ROOT = Path(__file__).resolve().parent.parent
template = template_fixture()
#: what the contract must never load
FORBIDDEN = ("device", "hal", "sim", "store", "av", "cv2", "numpy", "PIL")

PROBE = """
import importlib, json, pkgutil, sys
from pathlib import Path
import evidence
for info in pkgutil.walk_packages(evidence.__path__, "evidence."):
    importlib.import_module(info.name)
findings = []
if len(sys.argv) > 1:
    from evidence.verify import verify
    found = verify([Path(sys.argv[1])])
    findings = [[f.kind, f.code] for f in found]
forbidden = %r
loaded = sorted(m for m in sys.modules if m.split(".")[0] in forbidden)
print(json.dumps({"loaded": loaded, "findings": findings}))
"""


def probe(*args: str) -> dict[str, list]:
    out = subprocess.run([sys.executable, "-c", PROBE % (FORBIDDEN,), *args], cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout)


def test_importing_the_whole_contract_loads_no_firmware_no_store_and_no_media_library() -> None:
    result = probe()
    assert result["loaded"] == []


def test_verifying_a_data_directory_loads_only_the_contract(template: Path) -> None:
    result = probe(str(template / "a"))
    assert result["loaded"] == []
    codes = {code for kind, code in result["findings"] if kind == "segment"}
    assert codes == {"ok"}, result["findings"]  # honest footage, all verified
    assert ["audit", "ok"] in result["findings"]


def test_the_probe_would_see_a_forbidden_import() -> None:
    """The check can fail: a module the contract must not load is seen when loaded."""
    out = subprocess.run([sys.executable, "-c", "import hal.clock\n" + PROBE % (FORBIDDEN,)],
                         cwd=ROOT, capture_output=True, text=True, check=True, timeout=120)
    assert "hal.clock" in json.loads(out.stdout)["loaded"]


def test_one_time_format_written_and_read_in_one_place() -> None:
    text = utc_iso(1767225604.2)
    assert text == "2026-01-01T00:00:04.200Z"
    assert utc_seconds(text) == 1767225604.2
    assert utc_time(text).isoformat() == "2026-01-01T00:00:04.200000+00:00"
    assert parse_utc("2026-01-01T01:00:04.2+01:00") == 1767225604.2
    for bad in ("2026-01-01T00:00:04Z", "2026-01-01 00:00:04.200Z", None):
        try:
            utc_time(bad)
        except ValueError as exc:
            assert "not UTC ISO-8601 with milliseconds and Z" in str(exc)
        else:
            raise AssertionError(f"{bad!r} parsed")


def test_layout_names_what_the_camera_writes(template: Path) -> None:
    data = Camera(template / "c").data_dir
    assert (data / Layout.AUDIT_LOG).is_file() and (data / Layout.PUBLIC_KEY).is_file()
    assert (data / Layout.COUNTER).is_file() and (data / Layout.IDENTITY).is_file()
    folders = sorted((data / Layout.RECORDINGS).iterdir())
    assert all(Layout.RECORDING_ID.fullmatch(f.name) for f in folders)
    first = folders[0] / Layout.segment_name(folders[0].name, 0)
    assert first.is_file() and Layout.manifest(first).is_file()
    assert Layout.manifest_signature(first).is_file()
    assert Layout.recording_number(folders[0].name) == 1
    # camera C lost power mid-recording: its open segment's three files, as Layout names them
    parts = list(folders[-1].glob(f"*{Layout.MP4}{Layout.PART}"))
    assert parts, "the power cut left no open segment"
    mp4 = parts[0].with_name(parts[0].name[: -len(Layout.PART)])
    assert Layout.part(mp4) == parts[0]
    assert Layout.pending(mp4).is_file() and Layout.fragment_log(mp4).is_file()


def test_one_chain_two_spellings_byte_for_byte() -> None:
    """The camera's and the store's logs link the same way, each in its own on-disk spelling."""
    for fmt, first_prev in ((CAMERA, "0" * 64), (STORE, None)):
        chain = ChainHead(fmt)
        one = chain.link({"event": "a", "note": "é"})
        assert one[fmt.prev_key] == first_prev and one["seq"] == 1
        line = fmt.encode(one)
        chain.advance(line_hash(line), one["seq"])
        two = chain.link({"event": "b"})
        assert two[fmt.prev_key] == line_hash(line) and chain.links(two) and chain.follows(two)
    assert CAMERA.encode({"b": "é", "a": 1}) == '{"a":1,"b":"é"}'.encode()
    assert STORE.encode({"b": "é", "a": 1}) == b'{"a":1,"b":"\\u00e9"}'
    # a torn line: the store's sequence counts it, the camera's does not
    store, camera = ChainHead(STORE), ChainHead(CAMERA)
    store.advance("f" * 64)
    camera.advance("f" * 64)
    assert (store.seq, camera.seq) == (1, 0)
    assert store.head == camera.head == "f" * 64


def test_the_store_takes_the_cameras_settings_rules_by_entry_point(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The store imports no firmware: the installed camera offers its rules as an entry point;
    one that cannot be loaded stops the store with one line naming it."""
    [rules] = service.camera_rules()
    rules({"indicators": {"reminder_interval_s": 60}})
    with pytest.raises(SettingsError, match=r"recording\.pre_event_s: 500 is out of range"):
        rules({"recording": {"pre_event_s": 500}})
    broken = EntryPoint("camera", "no_such_firmware.settings:check", RULES_GROUP)
    monkeypatch.setattr(service, "entry_points", lambda group: [broken])
    with pytest.raises(service.StoreDirError,
                       match=r"^the camera settings rules no_such_firmware\.settings:check cannot "
                             r"be loaded \(ModuleNotFoundError: .*\)$"):
        service.camera_rules()


PROJECT = {"device", "hal", "sim", "store", "evidence", "tests", "scripts"}
MEDIA = {"av", "cv2", "numpy", "PIL", "picamera2"}


def offending_imports(package: str, allowed: set[str]) -> list[str]:
    """Every import (lazy ones too) in ``package`` of a project package not in ``allowed`` or
    of a media library (for the contract)."""
    banned_media = MEDIA if package == "evidence" else set()
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module
                     and not node.level else [])
            for name in names:
                top = name.split(".")[0]
                if (top in PROJECT and top not in allowed) or top in banned_media:
                    found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


def test_the_contract_and_the_store_import_only_what_the_layers_allow() -> None:
    assert offending_imports("evidence", {"evidence"}) == []
    assert offending_imports("store", {"store", "evidence"}) == []


def test_the_import_check_names_an_offender(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "bad.py").write_text("def f():\n    import av\n"
                                                   "from device.config import Config\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert sorted(offending_imports("evidence", {"evidence"})) == [
        "evidence/bad.py imports av", "evidence/bad.py imports device.config"]
