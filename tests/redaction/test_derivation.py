"""The derivation manifest: it verifies, and a changed redacted MP4, a changed manifest or a
swapped-in source are each caught and named, by the verifier, by ``bodycam store
check-redaction`` and by docs/STORE.md's walk-through run with the real ``openssl``."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from evidence.identity import public_pem
from store.cli import main as store_main
from store.redaction.derivation import verify_derivation
from tests.conftest import have
from tests.redaction.conftest import Redacted
from tests.redaction.scene import build_scene

STORE_MD = Path(__file__).resolve().parents[2] / "docs" / "STORE.md"


def redaction_walkthrough() -> str:
    [block] = re.findall(r"<!-- redaction-walkthrough -->\n```sh\n(.*?)```",
                         STORE_MD.read_text(), flags=re.DOTALL)
    return block


def flip_byte(path: Path, at: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2 if at is None else at] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture
def case(redacted: Redacted, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the redacted folder and of its sources, free to change."""
    out = redacted.copy(tmp_path / "copy")
    sources = tmp_path / "sources"
    shutil.copytree(redacted.scene.root / "devices", sources / "devices")
    return out, sources


def swap_source(redacted: Redacted, sources: Path, tmp_path: Path) -> str:
    """Replace segment 1 by a genuine segment of another recording of the same camera, renamed
    into its place: device-signed, but not what the copy was made from."""
    other = build_scene(tmp_path / "other", seconds=2.0, audio=False,
                        recording_id="R000002-d4e5f6", identity=redacted.scene.identity)
    target = sources / "devices" / redacted.scene.identity.device_id / "recordings" / (
        redacted.scene.recording_id) / redacted.scene.segments[1].name
    for suffix in ("", ".json", ".json.sig"):
        shutil.copyfile(str(other.segments[1]) + suffix, str(target) + suffix)
    return target.name


def test_the_derivation_verifies_and_names_everything(redacted: Redacted) -> None:
    d = redacted.derivation
    assert verify_derivation(redacted.out, redacted.key.public_key(), redacted.scene.root) == []
    assert d["reviewer"] == "DC 4711 A. Reviewer" and d["created_utc"] == "2026-01-01T02:00:00.000Z"
    assert [s["file"] for s in d["sources"]] == [p.name for p in redacted.scene.segments]
    assert d["sources"][0]["frames"][0] == 0
    assert d["sources"][-1]["frames"][1] == redacted.scene.frame_count - 1
    assert [o["op"] for o in d["operations"]] == ["keep", "silence"]
    assert d["automatic"]["detector"]["cascades_sha256"]
    raw = (redacted.out / "derivation.json").read_bytes()
    assert raw == (json.dumps(json.loads(raw), indent=2, sort_keys=True) + "\n").encode()
    assert (redacted.out / "store.pub.pem").read_bytes() == public_pem(redacted.key.public_key())


@pytest.mark.parametrize("tamper, named", [
    ("mp4", "redacted.mp4: its SHA-256 or size differs"),
    ("derivation", "derivation.json: the signature does not verify"),
    ("source", "its manifest is not the one the derivation names"),
    ("footage", "the footage differs from its device-signed manifest"),
])
def test_each_tampering_is_caught_and_named(redacted: Redacted, case: tuple[Path, Path],
                                            tmp_path: Path, tamper: str, named: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out, sources = case
    seg0 = sources / "devices" / redacted.scene.identity.device_id / "recordings" / (
        redacted.scene.recording_id) / redacted.scene.segments[0].name
    changes: dict[str, Callable[[], object]] = {
        "mp4": lambda: flip_byte(out / "redacted.mp4"),
        "derivation": lambda: flip_byte(out / "derivation.json", 200),
        "source": lambda: swap_source(redacted, sources, tmp_path),
        "footage": lambda: flip_byte(seg0),
    }
    changes[tamper]()
    problems = verify_derivation(out, redacted.key.public_key(), sources)
    assert len(problems) == 1 and named in problems[0], problems
    if tamper in ("source", "footage"):
        name = redacted.scene.segments[1 if tamper == "source" else 0].name
        assert name in problems[0]
        # the copy itself still checks without the sources
        assert verify_derivation(out, redacted.key.public_key()) == []
    key_file = tmp_path / "store.pub.pem"
    key_file.write_bytes(public_pem(redacted.key.public_key()))
    rc = store_main(["check-redaction", str(out), "--store-key", str(key_file),
                     "--sources", str(sources)])
    printed = capsys.readouterr().out
    assert rc == 1 and f"FAILED {problems[0]}" in printed


def test_another_stores_key_does_not_verify(redacted: Redacted) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = Ed25519PrivateKey.generate().public_key()
    [problem] = verify_derivation(redacted.out, other, redacted.scene.root)
    assert "signature does not verify with the store key" in problem


def test_check_redaction_cli_confirms_an_intact_copy(redacted: Redacted, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    key_file = tmp_path / "store.pub.pem"
    key_file.write_bytes(public_pem(redacted.key.public_key()))
    assert store_main(["check-redaction", str(redacted.out), "--store-key", str(key_file),
                       "--sources", str(redacted.scene.root)]) == 0
    assert "OK the redacted copy is the one the store signed, made from" in capsys.readouterr().out


needs_tools = pytest.mark.skipif(not (have("openssl") and have("jq")),
                                 reason="openssl and jq CLIs not installed")


def run_walkthrough(out: Path, sources: Path, key_file: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COPY": str(out), "SOURCES": str(sources), "STORE_KEY": str(key_file)}
    return subprocess.run(["bash", "-euo", "pipefail", "-c", redaction_walkthrough()], env=env,
                          cwd=out.parent, capture_output=True, text=True, timeout=120)


@needs_tools
def test_the_openssl_walkthrough_confirms_an_intact_copy(redacted: Redacted,
                                                         case: tuple[Path, Path]) -> None:
    out, sources = case
    result = run_walkthrough(out, sources, out / "store.pub.pem")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "FAILED" not in text, text
    assert "OK derivation signed\n" in text
    assert f"OK derivation by {redacted.derivation['store_id']}\n" in text
    assert "OK redacted.mp4 is the one the derivation names\n" in text
    assert "reviewed by DC 4711 A. Reviewer" in text
    for seg in redacted.scene.segments:
        for check in (f"OK source {seg.name} named", f"OK source {seg.name} device-signed",
                      f"OK footage {seg.name}"):
            assert check + "\n" in text
    assert text.count(f"OK key of {redacted.scene.identity.device_id}\n") == len(
        redacted.scene.segments)


@needs_tools
def test_the_openssl_walkthrough_catches_each_tampering(redacted: Redacted,
                                                        case: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    out, sources = case
    key_file = tmp_path / "store.pub.pem"
    key_file.write_bytes(public_pem(redacted.key.public_key()))
    flip_byte(out / "redacted.mp4")
    swapped = swap_source(redacted, sources, tmp_path)
    text = run_walkthrough(out, sources, key_file).stdout
    assert "OK derivation signed\n" in text
    assert "FAILED redacted.mp4\n" in text
    assert f"FAILED source {swapped}: not the manifest the derivation names\n" in text
    flip_byte(out / "derivation.json", 200)
    assert "FAILED derivation signature\n" in run_walkthrough(out, sources, key_file).stdout


@pytest.mark.parametrize("document", [b"[]", b'{"format": "bodycam.derivation"}',
                                      b'{"format": "bodycam.derivation", "version": 1, '
                                      b'"output": 3, "sources": {}}', b"\xff\xfe"])
def test_a_signed_document_that_is_no_derivation_is_named(tmp_path: Path,
                                                         document: bytes) -> None:
    """Even signed by the store key, nonsense is a one-line problem, not a crash."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    (tmp_path / "derivation.json").write_bytes(document)
    (tmp_path / "derivation.json.sig").write_bytes(key.sign(document))
    [problem] = verify_derivation(tmp_path, key.public_key(), tmp_path)
    assert problem.startswith("derivation.json: signed, but not a bodycam.derivation manifest")
