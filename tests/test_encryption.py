"""Encryption at rest (issue 15): a camera with encryption on writes no byte of plaintext media
to its card, through recordings, markers, a camera unplug, a full card and a power cut with
recovery; every segment decrypts, with our tool and with openssl alone, to an MP4 that ffprobe
plays and whose SHA-256 the device signed; bad keys and damaged files get one-line errors.

Real parts: the simulator's daemon, real AES/RSA (``cryptography``), real ffprobe and openssl.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from device.cli import main as bodycam
from device.config import Config
from device.pipeline.recovery import count_audio
from device.status import Status
from evidence import fsutil
from evidence.crypt import (
    load_force_private_key,
    new_force_key,
    new_segment_key,
    private_pem,
    public_pem,
)
from evidence.decrypt import decrypt_file, read_manifest
from evidence.identity import create_identity
from evidence.identity import public_pem as ed_pem
from evidence.keyring import KeyRing
from evidence.layout import Layout
from evidence.manifest import write_signed_manifest
from evidence.verify import verify
from sim.encoder import FakeEncoder
from sim.simulator import Simulator
from tests.conftest import have, tiny_config
from tests.evidence import identity_of, lose_power, problems, record
from tests.faults import Faults
from tests.simproc import BODYCAM, start_sim
from tests.simproc import bodycam as simproc_bodycam

FORMAT_MD = Path(__file__).resolve().parent.parent / "docs" / "FORMAT.md"
CONFIG = tiny_config(encryption={"enabled": True})
#: What a plain segment has and no ciphertext should: MP4 box names, and an Annex-B start code
#: followed by an H.264 NAL header (IDR slice, non-IDR slice, SPS, PPS, SEI, AUD).
PLAINTEXT = [b"ftyp", b"moov", b"moof", b"mdat", b"avcC", b"mvhd",
             *(b"\x00\x00\x00\x01" + bytes([nal]) for nal in (0x65, 0x41, 0x61, 0x67, 0x68,
                                                               0x06, 0x09))]

pytestmark = pytest.mark.skipif(not have("ffprobe"), reason="ffprobe not installed")


def plaintext_in(data_dir: Path) -> list[str]:
    """Every file of the data directory with a plaintext-media pattern in its bytes."""
    found = []
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file() and not p.is_symlink()):
        data = path.read_bytes()
        found += [f"{path.relative_to(data_dir)}: {pattern!r}" for pattern in PLAINTEXT
                  if pattern in data]
    return found


def pin_force_key(data_dir: Path, keys: Path) -> Path:
    """A force key pair: the public half pinned on the camera, the private one kept apart."""
    key = new_force_key(2048)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / Layout.FORCE_KEY).write_bytes(public_pem(key.public_key()))
    keys.mkdir(parents=True, exist_ok=True)
    (keys / "force.key.pem").write_bytes(private_pem(key))
    return keys / "force.key.pem"


def boot(data_dir: Path) -> Simulator:
    sim = Simulator(CONFIG, data_dir, encoder=FakeEncoder)
    sim.power_on()
    assert sim.mode == "buffering", sim.daemon.fault
    return sim


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One camera through everything that writes footage; its card copied at the power cut
    (before recovery) and at the end."""
    root = tmp_path_factory.mktemp("crypt")
    data = root / "data"
    key = pin_force_key(data, root / "force")
    sim = boot(data)
    sim.advance(2.0)
    record(sim, 9.0, marker_at=2.0)  # three segments, a marker
    sim.button("record").double_press()  # the camera is unplugged mid-recording
    sim.advance(3.0)
    sim.camera.unplug()
    sim.advance(2.0)
    sim.camera.replug()
    sim.advance(3.0)
    sim.button("record").hold(3.2)
    sim.advance(3.5)
    faults = Faults(where=".mp4.part", after=8)  # the card fills mid-segment
    fsutil.fault = faults
    try:
        sim.button("record").double_press()
        for _ in range(20):
            sim.advance(0.5)
            if sim.mode == "fault":
                break
        assert sim.mode == "fault" and sim.daemon.fault_kind == "storage", sim.daemon.fault
    finally:
        fsutil.fault = None
    for _ in range(60):  # space is back: the open segment is finalised as after a power cut
        sim.advance(1.0)
        if sim.mode == "buffering":
            break
    assert sim.mode == "buffering", sim.daemon.fault
    full = read_manifest(segments(data)[-1])
    assert full.recovered and full.frame_count > 0, full  # kept up to the refused write
    sim.button("record").double_press()  # and a recording cut by a power loss
    sim.advance(5.5)
    sim.daemon.sync()
    lose_power(sim)
    shutil.copytree(data, root / "at-the-cut")
    sim = boot(data)  # the next start recovers it, without any key
    recovered = [r for r in sim.daemon.recovered if r["frames"]]
    assert recovered and all(not r["detail"] for r in sim.daemon.recovered), sim.daemon.recovered
    sim.shutdown()
    return {"data": data, "cut": root / "at-the-cut", "key": key,
            "recovered": data / "recordings" / recovered[0]["recording_id"]
            / recovered[0]["file"]}


def segments(data_dir: Path) -> list[Path]:
    return sorted(data_dir.glob("recordings/*/*.mp4"))


def probe_frames(mp4: Path) -> int:
    done = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                           "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0",
                           str(mp4)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    said = done.stdout.strip()
    return int(said) if said.isdigit() else 0  # N/A: no frame (a segment of its moov alone)


def test_the_scan_finds_plaintext_in_an_unencrypted_camera(tmp_path: Path) -> None:
    """The check below can fail: a camera recording in the clear is caught by it."""
    sim = Simulator(tiny_config(), tmp_path / "plain", encoder=FakeEncoder)
    sim.power_on()
    record(sim, 3.0)
    sim.shutdown()
    assert any("ftyp" in hit for hit in plaintext_in(tmp_path / "plain"))


def test_no_file_on_the_card_holds_plaintext_media(camera) -> None:
    for card in (camera["cut"], camera["data"]):
        assert list(card.glob("recordings/*/*.mp4*")), card
        assert plaintext_in(card) == [], card
    assert list(camera["cut"].glob("recordings/*/*.mp4.part")), "the cut left a segment open"


def test_the_encrypted_card_verifies_without_any_key(camera) -> None:
    findings = verify([camera["data"]])
    assert findings and all(f.ok for f in findings), problems(findings)
    codes = {f.code for f in findings if f.kind == "recording"}
    assert "recovered" in codes


def test_every_segment_decrypts_to_the_mp4_the_device_signed_and_it_plays(camera, tmp_path
                                                                          ) -> None:
    key = _private(camera)
    mp4s = segments(camera["data"])
    assert len(mp4s) >= 6
    for mp4 in mp4s:
        out = tmp_path / mp4.name
        manifest, digest = decrypt_file(mp4, key, out)
        assert manifest.encryption is not None
        assert hashlib.sha256(out.read_bytes()).hexdigest() == digest \
            == manifest.encryption["plaintext_sha256"]
        assert hashlib.sha256(mp4.read_bytes()).hexdigest() == manifest.sha256 != digest
        assert out.read_bytes()[4:8] == b"ftyp"
        assert probe_frames(out) == manifest.frame_count, mp4.name


def test_a_recovered_segment_decrypts_and_plays_to_its_last_whole_fragment(camera, tmp_path
                                                                           ) -> None:
    mp4 = camera["recovered"]
    manifest = read_manifest(mp4)
    assert manifest.recovered and manifest.encryption is not None
    assert manifest.frame_count > 0
    out = tmp_path / "recovered.mp4"
    decrypt_file(mp4, _private(camera), out)
    assert probe_frames(out) == manifest.frame_count
    assert manifest.recovery and manifest.recovery["signed_fragments"] >= 1
    assert manifest.recovery["signed_bytes"] == manifest.size


def test_a_recovered_encrypted_segment_signs_the_sound_it_holds(camera, tmp_path) -> None:
    """Recovery never decrypts, yet the recovered manifest's sound (packets, seconds, first
    offset, gaps) is what the plaintext's AAC track holds up to the last whole fragment: the
    camera counted it as the fragments landed, and signed it in the fragment log."""
    recovered = {camera["recovered"], *(p for p in camera["data"].glob("recordings/*/*.mp4")
                                        if read_manifest(p).recovered
                                        and read_manifest(p).frame_count)}
    assert len(recovered) >= 2  # the power cut's, and the storage-full stop's
    for mp4 in sorted(recovered):
        manifest = read_manifest(mp4)
        assert manifest.audio is not None and manifest.audio["packets"] > 0, mp4.name
        out = tmp_path / f"{mp4.stem}.plain.mp4"
        decrypt_file(mp4, _private(camera), out)
        counted, sound = count_audio(out, int(manifest.audio["rate"])), manifest.audio
        assert (sound["packets"], sound["gaps"]) == (counted["packets"], counted["gaps"])
        # the manifest says what was muxed; the demuxer shows the first packet from 0,
        # lengthened by its offset: where the sound ends is the same
        assert round(sound["first_s"] + sound["duration_s"], 6) == round(
            counted["first_s"] + counted["duration_s"], 6), mp4.name


def _private(camera: dict[str, Path]) -> rsa.RSAPrivateKey:
    return load_force_private_key(camera["key"])


def test_a_camera_without_its_force_key_faults_at_boot(tmp_path: Path) -> None:
    sim = Simulator(CONFIG, tmp_path / "d", encoder=FakeEncoder)
    sim.power_on()
    assert sim.mode == "fault" and sim.daemon.fault_kind == "key"
    assert "force key missing" in (sim.daemon.fault or "")
    assert "\n" not in (sim.daemon.fault or "")
    sim.button("record").double_press()
    sim.advance(2.0)
    assert not list((tmp_path / "d").glob("recordings/*/*"))
    sim.shutdown()


@pytest.fixture
def card(camera, tmp_path: Path) -> Path:
    copy = tmp_path / "card"
    shutil.copytree(camera["data"], copy)
    return copy


def decrypt_cli(mp4: Path, key: Path, out: Path, capsys) -> tuple[int, str]:
    code = bodycam(["decrypt", str(mp4), "--key", str(key), "--out", str(out)])
    err = capsys.readouterr().err
    return code, err


def test_bodycam_decrypt_writes_the_signed_plaintext(camera, tmp_path, capsys) -> None:
    mp4 = segments(camera["data"])[0]
    code = bodycam(["decrypt", str(mp4), "--key", str(camera["key"]), "--out",
                    str(tmp_path / "out.mp4")])
    said = capsys.readouterr().out
    digest = hashlib.sha256((tmp_path / "out.mp4").read_bytes()).hexdigest()
    assert code == 0 and digest in said
    assert digest == read_manifest(mp4).encryption["plaintext_sha256"]


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _edit_wrapped_key(mp4: Path) -> None:
    path = Layout.manifest(mp4)
    manifest = json.loads(path.read_text())
    wrapped = manifest["encryption"]["wrapped_key"]
    manifest["encryption"]["wrapped_key"] = ("B" if wrapped[0] != "B" else "C") + wrapped[1:]
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


@pytest.mark.parametrize("damage, says", [
    ("wrong key", "wrong force key"),
    ("corrupted wrapped key", "does not unwrap"),
    ("truncated", "truncated"),
    ("flipped byte", "differs from the signed plaintext hash"),
    ("missing manifest", "no manifest"),
    ("not a key", "is not an unencrypted PEM private key"),
    ("endless key", "not a regular file"),
])
def test_bodycam_decrypt_names_what_is_wrong_in_one_line(camera, card, tmp_path, capsys,
                                                         damage, says) -> None:
    mp4 = segments(card)[1]
    key = camera["key"]
    if damage == "wrong key":
        key = tmp_path / "other.pem"
        key.write_bytes(private_pem(new_force_key(2048)))
    elif damage == "corrupted wrapped key":
        _edit_wrapped_key(mp4)
    elif damage == "truncated":
        os.truncate(mp4, mp4.stat().st_size - 100)
    elif damage == "flipped byte":
        _flip(mp4, mp4.stat().st_size // 2)
    elif damage == "missing manifest":
        Layout.manifest(mp4).unlink()
    elif damage == "not a key":
        key = tmp_path / "junk.pem"
        key.write_text("not a key\n")
    elif damage == "endless key":  # never read to its end
        key = Path("/dev/zero")
    out = tmp_path / "out.mp4"
    code, err = decrypt_cli(mp4, key, out, capsys)
    assert code == 2, err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert not out.exists() and not list(tmp_path.glob("out.mp4*"))  # nothing half-written


def test_bodycam_decrypt_names_a_missing_segment_and_an_unwritable_output(
        camera, tmp_path, capsys) -> None:
    code, err = decrypt_cli(tmp_path / "nothing.mp4", camera["key"], tmp_path / "o.mp4", capsys)
    assert code == 2 and "no segment file" in err and err.count("\n") == 1
    mp4 = segments(camera["data"])[0]
    code, err = decrypt_cli(mp4, camera["key"], tmp_path / "no" / "such" / "o.mp4", capsys)
    assert code == 2 and "No such file or directory" in err and err.count("\n") == 1
    assert "Traceback" not in err
    code, _ = decrypt_cli(mp4, camera["key"], tmp_path, capsys)  # a folder: the name in it
    assert code == 0 and (tmp_path / mp4.name).read_bytes()[4:8] == b"ftyp"


def test_bodycam_decrypt_never_writes_plaintext_beside_the_segment(camera, card, capsys
                                                                   ) -> None:
    mp4 = segments(card)[0]
    code, err = decrypt_cli(mp4, camera["key"], mp4.with_name("plain.mp4"), capsys)
    assert code == 2 and "beside the segment" in err
    assert plaintext_in(card) == []


def test_a_flipped_ciphertext_byte_is_a_hash_mismatch_without_any_key(card) -> None:
    mp4 = segments(card)[2]
    _flip(mp4, 1000)
    assert ("segment", str(mp4), "hash_mismatch") in problems(verify([card]))


def test_an_edited_plaintext_hash_breaks_the_signature(card) -> None:
    mp4 = segments(card)[2]
    path = Layout.manifest(mp4)
    text = path.read_text()
    digest = json.loads(text)["encryption"]["plaintext_sha256"]
    path.write_text(text.replace(digest, "0" * 64))
    assert ("segment", str(mp4), "bad_signature") in problems(verify([card]))


@pytest.mark.skipif(not have("openssl") or not have("jq"), reason="openssl or jq missing")
def test_the_openssl_walkthrough_decrypts_every_segment(camera, tmp_path) -> None:
    """docs/FORMAT.md's decryption block, run exactly as written, on every segment."""
    (block,) = re.findall(r"<!-- decrypt -->\n```sh\n(.*?)```", FORMAT_MD.read_text(),
                          flags=re.DOTALL)
    before = sorted(camera["data"].rglob("*"))
    for mp4 in segments(camera["data"]):
        plain = tmp_path / mp4.parent.name
        plain.mkdir(exist_ok=True)
        env = {**os.environ, "DATA_DIR": str(camera["data"]), "REC": mp4.parent.name,
               "SEG": mp4.name, "FORCE_KEY": str(camera["key"]), "PLAIN": str(plain)}
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert f"OK decrypted {mp4.name}: the plaintext the device signed\n" in done.stdout
        assert probe_frames(plain / mp4.name) == read_manifest(mp4).frame_count
    assert sorted(camera["data"].rglob("*")) == before  # nothing written onto the card


# -- the verifier with the force key: each manipulation its own reason ------------------------

def last_segments(card: Path) -> list[Path]:
    """The last segment of each recording: re-signing one leaves every chain whole."""
    return [sorted(folder.glob("*.mp4"))[-1] for folder in sorted(card.glob("recordings/*"))]


def resign(card: Path, mp4: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Edit a manifest's encryption and sign it again with the device key: what a holder of
    the device key (or a firmware bug) could do; the force key still tells."""
    manifest = read_manifest(mp4)
    encryption = dict(manifest.encryption or {})
    edit(encryption)
    write_signed_manifest(identity_of(card, CONFIG), mp4,
                          dataclasses.replace(manifest, encryption=encryption))


def segment_codes(card: Path, camera: dict[str, Path]) -> set[tuple[str, str]]:
    ring = KeyRing().with_force_key(_private(camera))
    return {(Path(path).name, code) for kind, path, code in problems(verify([card], ring))
            if kind == "segment"}


def test_untouched_encrypted_footage_verifies_with_the_force_key(camera) -> None:
    findings = verify([camera["data"]], KeyRing().with_force_key(_private(camera)))
    assert findings and all(f.ok for f in findings), problems(findings)


def test_swapped_wrapped_keys_are_caught(camera, card) -> None:
    one, two = last_segments(card)[:2]
    first, second = read_manifest(one).encryption, read_manifest(two).encryption
    fields = ("wrapped_key", "iv", "key_check")
    resign(card, one, lambda e: e.update({k: second[k] for k in fields}))
    resign(card, two, lambda e: e.update({k: first[k] for k in fields}))
    assert segment_codes(card, camera) == {(one.name, "wrapped_key_swapped"),
                                           (two.name, "wrapped_key_swapped")}


def test_a_key_wrapped_to_another_force_is_caught(camera, card) -> None:
    mp4 = last_segments(card)[0]
    other = new_force_key(2048).public_key()
    theirs = new_segment_key(other, mp4.name).header
    resign(card, mp4, lambda e: e.update(wrapped_key=theirs["wrapped_key"]))
    assert segment_codes(card, camera) == {(mp4.name, "bad_wrapped_key")}
    resign(card, mp4, lambda e: e.update(force_key_sha256=theirs["force_key_sha256"]))
    assert segment_codes(card, camera) == {(mp4.name, "other_force_key")}


def test_an_edited_plaintext_hash_resigned_is_a_plaintext_mismatch(camera, card) -> None:
    mp4 = last_segments(card)[1]
    resign(card, mp4, lambda e: e.update(plaintext_sha256="0" * 64))
    assert segment_codes(card, camera) == {(mp4.name, "plaintext_mismatch")}


def test_a_flipped_ciphertext_byte_resigned_is_a_plaintext_mismatch(camera, card) -> None:
    mp4 = last_segments(card)[2]
    _flip(mp4, 700)
    manifest = read_manifest(mp4)
    write_signed_manifest(identity_of(card, CONFIG), mp4, dataclasses.replace(
        manifest, sha256=hashlib.sha256(mp4.read_bytes()).hexdigest()))
    assert segment_codes(card, camera) == {(mp4.name, "plaintext_mismatch")}


def test_bodycam_verify_takes_the_force_key(camera, card, capsys) -> None:
    assert bodycam(["verify", str(camera["data"]), "--force-key", str(camera["key"])]) == 0
    mp4 = last_segments(card)[1]
    resign(card, mp4, lambda e: e.update(plaintext_sha256="0" * 64))
    capsys.readouterr()
    assert bodycam(["verify", str(card), "--json", "--force-key", str(camera["key"])]) == 1
    codes = {f["code"] for f in json.loads(capsys.readouterr().out)["findings"]}
    assert "plaintext_mismatch" in codes
    assert bodycam(["verify", str(card), "--force-key", "/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert "--force-key" in err and err.count("\n") == 1


def test_status_says_whether_footage_is_encrypted(tmp_path: Path) -> None:
    data = tmp_path / "on"
    pin_force_key(data, tmp_path / "force")
    sim = boot(data)
    status = sim.daemon.status()
    assert status.encryption.startswith("on (force key SHA256:")
    assert Status.from_json(status.to_json()).encryption == status.encryption
    sim.shutdown()
    plain = Simulator(tiny_config(), tmp_path / "off", encoder=FakeEncoder)
    plain.power_on()
    assert plain.daemon.status().encryption == "off (development setting)"
    plain.shutdown()


@pytest.mark.parametrize("faults", [
    Faults(where=".mp4.part", after=5),
    Faults(where=".mp4.part", after=5, partial=700),  # the card takes part of the write
    Faults(ops=("fsync",), where=".mp4.part", after=4),
], ids=["refused", "part-written", "fsync"])
def test_a_card_failing_mid_segment_leaves_only_ciphertext_that_recovers_and_decrypts(
        tmp_path: Path, faults: Faults) -> None:
    key = pin_force_key(tmp_path / "d", tmp_path / "force")
    sim = boot(tmp_path / "d")
    fsutil.fault = faults
    try:
        sim.button("record").double_press()
        for _ in range(20):
            sim.advance(0.5)
            if sim.mode == "fault":
                break
        assert sim.mode == "fault", (faults.failed, sim.daemon.fault)
    finally:
        fsutil.fault = None
    for _ in range(60):
        sim.advance(1.0)
        if sim.mode == "buffering":
            break
    sim.shutdown()
    data = tmp_path / "d"
    assert plaintext_in(data) == []
    findings = verify([data], KeyRing().with_force_key(load_force_private_key(key)))
    assert findings and all(f.ok for f in findings), problems(findings)
    (mp4,) = segments(data)
    manifest, _ = decrypt_file(mp4, load_force_private_key(key), tmp_path / "out.mp4")
    assert manifest.recovered and probe_frames(tmp_path / "out.mp4") == manifest.frame_count


def test_a_segment_cut_before_its_first_byte_is_closed_by_an_encrypted_terminator(
        camera, tmp_path: Path) -> None:
    """The power went after the pending record was written and before the ``.part`` was:
    recovery closes the recording with a zero-frame segment, encrypted like any other."""
    card = tmp_path / "card"
    shutil.copytree(camera["cut"], card)
    (part,) = card.glob("recordings/*/*.mp4.part")
    part.unlink()
    Layout.fragment_log(part.with_suffix("")).unlink()
    sim = boot(card)
    assert [r["frames"] for r in sim.daemon.recovered] == [0]
    sim.shutdown()
    closing = part.with_suffix("")
    manifest = read_manifest(closing)
    assert manifest.last and manifest.recovered and manifest.frame_count == 0
    assert manifest.encryption is not None
    assert plaintext_in(card) == []
    out = tmp_path / "closing.mp4"
    decrypt_file(closing, _private(camera), out)
    assert out.read_bytes()[4:8] == b"ftyp"
    assert all(f.ok for f in verify([card], KeyRing().with_force_key(_private(camera))))


def test_a_recording_cut_between_two_encrypted_segments_is_closed_without_the_key(
        camera, tmp_path: Path) -> None:
    """The power went between closing one segment and opening the next: recovery cannot read
    the encrypted segment's stream headers, and needs none for a zero-frame closing segment."""
    card = tmp_path / "card"
    shutil.copytree(camera["data"], card)
    folder = sorted(card.glob("recordings/*"))[0]
    *kept, gone = sorted(folder.glob("*.mp4"))
    for path in (gone, Layout.manifest(gone), Layout.manifest_signature(gone)):
        path.unlink()  # as if it had never been opened
    sim = boot(card)
    assert [r["detail"] for r in sim.daemon.recovered] == [""]
    sim.shutdown()
    closing = folder / sim.daemon.recovered[0]["file"]
    manifest = read_manifest(closing)
    assert manifest.last and manifest.frame_count == 0 and manifest.encryption is not None
    assert manifest.segment_index == len(kept)
    assert plaintext_in(card) == []
    out = tmp_path / "closing.mp4"
    decrypt_file(closing, _private(camera), out)
    assert out.read_bytes()[4:8] == b"ftyp" and probe_frames(out) == 0


@pytest.mark.parametrize("kind", ["fifo", "device", "folder", "not a key", "ed25519"])
def test_an_unusable_force_key_faults_at_boot_in_one_line_and_never_hangs(
        tmp_path: Path, kind: str) -> None:
    data = tmp_path / "d"
    data.mkdir()
    pinned = data / Layout.FORCE_KEY
    if kind == "fifo":
        os.mkfifo(pinned)
    elif kind == "device":
        pinned.symlink_to("/dev/zero")
    elif kind == "folder":
        pinned.mkdir()
    elif kind == "not a key":
        pinned.write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    else:  # a key, but not the RSA key segment keys are wrapped with
        pinned.write_bytes(ed_pem(create_identity(tmp_path / "other", "M", "S").public_key))
    sim = Simulator(CONFIG, data, encoder=FakeEncoder)
    sim.power_on()
    fault = sim.daemon.fault or ""
    assert sim.mode == "fault" and sim.daemon.fault_kind == "key", fault
    assert "force key" in fault and "\n" not in fault and len(fault) < 500
    sim.shutdown()


# -- on by default: off is a development setting, said wherever the camera says anything ----

def test_encryption_is_on_by_default_and_bodycam_config_says_so(capsys) -> None:
    assert Config().encryption.enabled is True
    assert bodycam(["config"]) == 0
    printed = capsys.readouterr().out
    section = printed[printed.index("[encryption]"):]
    assert re.search(r"^enabled = true$", section, flags=re.MULTILINE), section
    assert "development setting" in section


def test_a_camera_of_the_default_configuration_without_a_force_key_faults_at_boot(
        tmp_path: Path) -> None:
    """No opt-out, no force key: the default camera records nothing, and its one-line reason
    names the missing key, where it should be, and the setting."""
    data = tmp_path / "d"
    sim = Simulator(Config().replace(camera={"width": 64, "height": 48, "fps": 5}), data,
                    encoder=FakeEncoder)
    sim.power_on()
    fault = sim.daemon.fault or ""
    assert sim.mode == "fault" and sim.daemon.fault_kind == "key", fault
    assert f"force key missing: no {data / Layout.FORCE_KEY}" in fault
    assert "bodycam provision --force-key" in fault and "encryption.enabled" in fault
    assert "\n" not in fault and len(fault) < 300
    assert "force key missing" in sim.daemon.status().fault
    sim.button("record").double_press()
    sim.advance(3.0)
    assert not list(data.glob("recordings/*/*"))
    sim.shutdown()


def test_status_names_encryption_off_as_a_development_setting(tmp_path: Path, capsys,
                                                              monkeypatch) -> None:
    sim = Simulator(tiny_config(), tmp_path / "d", encoder=FakeEncoder)
    sim.power_on()
    reply = sim.daemon.status().to_json()
    sim.shutdown()
    assert reply["encryption"] == "off (development setting)"
    monkeypatch.setattr("device.control.request", lambda *a, **k: {"status": reply})
    assert bodycam(["status", "--data-dir", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^encryption  off \(development setting\)$", out, flags=re.MULTILINE), out
    assert re.search(r"^warning     encryption off \(development setting\): footage lies on the "
                     r"card in the clear$", out, flags=re.MULTILINE), out


def test_provision_without_a_force_key_says_the_camera_will_fault(tmp_path: Path,
                                                                  capsys) -> None:
    data = tmp_path / "d"
    assert bodycam(["provision", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    (line,) = [x for x in out.splitlines() if x.startswith("force key")]
    assert "NONE pinned" in line and "faults at boot" in line and "--force-key" in line
    assert "encryption.enabled = false" in line
    off = tmp_path / "off.toml"
    off.write_text("[encryption]\nenabled = false\n")
    assert bodycam(["provision", "--data-dir", str(tmp_path / "e"), "--config", str(off)]) == 0
    assert "encryption off (development setting)" in capsys.readouterr().out
    key = tmp_path / "force.pub.pem"
    key.write_bytes(public_pem(new_force_key(2048).public_key()))
    assert bodycam(["provision", "--data-dir", str(tmp_path / "f"), "--force-key",
                    str(key)]) == 0
    assert "(pinned), fingerprint SHA256:" in capsys.readouterr().out
    sim = Simulator(Config().replace(camera={"width": 64, "height": 48, "fps": 5}),
                    tmp_path / "f", encoder=FakeEncoder)
    sim.power_on()
    assert sim.mode == "buffering", sim.daemon.fault
    assert sim.daemon.status().encryption.startswith("on (force key SHA256:")
    sim.shutdown()


def test_bodycam_sim_of_a_fresh_clone_records_encrypted_with_its_development_key(
        tmp_path: Path) -> None:
    """``make sim`` with no configuration and no flags: the simulator makes its development
    force key, says so, boots, and its status says encryption is on."""
    data = tmp_path / "data"
    empty = tmp_path / "none.toml"
    empty.write_text("")
    proc = subprocess.Popen([*BODYCAM, "sim", "--headless", "--virtual-clock", "--config",
                             str(empty), "--data-dir", str(data)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    said = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            said.append(line)
            if line.startswith("control socket"):
                break
        assert any("made a DEVELOPMENT force key" in line for line in said), said
        status = json.loads(simproc_bodycam("status", "--json", data_dir=data).stdout)
        assert status["mode"] == "buffering", status
        assert status["encryption"].startswith("on (force key SHA256:")
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert (data / Layout.FORCE_KEY).exists()
    assert not list(data.rglob("*.key.pem"))  # the private half is never on the card


# -- hostile inputs to bodycam decrypt and verify --force-key: one line, never a traceback ----

def _edit_manifest(mp4: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Edit the manifest's JSON as it lies (its signature is not bodycam decrypt's business)."""
    path = Layout.manifest(mp4)
    manifest = json.loads(path.read_text())
    change(manifest)
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    path.write_text(text.replace('"HUGE"', "1" + "0" * 5000))  # json.dumps writes no such int


def _enc(**fields: object) -> Callable[[dict[str, Any]], None]:
    return lambda m: m["encryption"].update(fields)


HOSTILE = {
    "plaintext size larger than the file": (_enc(plaintext_size=10 ** 12), "decrypts to"),
    "plaintext size smaller than the file": (_enc(plaintext_size=1), "decrypts to"),
    "plaintext size negative": (_enc(plaintext_size=-1), "plaintext_size"),
    "plaintext size of 5000 digits": (_enc(plaintext_size="HUGE"), "R000001"),
    "plaintext size a string": (_enc(plaintext_size="12"), "plaintext_size"),
    "manifest size lies": (lambda m: m.update(size=m["size"] * 1000), "its manifest says"),
    "iv too short": (_enc(iv="00" * 8), "encryption.iv"),
    "iv not hex": (_enc(iv="zz" * 16), "encryption.iv"),
    "another algorithm": (_enc(algorithm="aes-128-ecb"), "not 'aes-256-ctr'"),
    "key check missing": (lambda m: m["encryption"].pop("key_check"), "encryption has"),
    "encryption a list": (lambda m: m.update(encryption=[1, 2]), "not a JSON object"),
    "wrapped key not base64": (_enc(wrapped_key="!" * 344), "does not unwrap"),
    "wrapped key empty": (_enc(wrapped_key=""), "does not unwrap"),
    "wrapped key twice as long": (lambda m: m["encryption"].update(
        wrapped_key=m["encryption"]["wrapped_key"] * 2), "does not unwrap"),
    "wrapped key of a megabyte": (_enc(wrapped_key="A" * (1 << 20)), "over the limit"),
    "another segment's wrapped key": (None, "taken from another segment"),
    "ciphertext cut to nothing": (None, "is 0 bytes, its manifest says"),
    "ciphertext extended": (None, "its manifest says"),
}


@pytest.mark.parametrize("damage", sorted(HOSTILE))
def test_bodycam_decrypt_refuses_a_hostile_segment_in_one_line(camera, card, tmp_path, capsys,
                                                               damage) -> None:
    mp4 = segments(card)[1]
    change, says = HOSTILE[damage]
    if damage == "another segment's wrapped key":
        other = read_manifest(segments(card)[0]).encryption
        change = _enc(**{k: other[k] for k in ("wrapped_key", "iv", "key_check")})
    elif damage == "ciphertext cut to nothing":
        os.truncate(mp4, 0)
    elif damage == "ciphertext extended":
        with open(mp4, "ab") as f:
            f.write(os.urandom(4096))
    if change is not None:
        _edit_manifest(mp4, change)
    out = tmp_path / "out.mp4"
    code, err = decrypt_cli(mp4, camera["key"], out, capsys)
    assert code == 2, err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert len(err) < 400, err
    assert not out.exists() and not list(tmp_path.glob("out.mp4*"))


@pytest.mark.parametrize("where", ["segment", "key", "manifest"])
def test_bodycam_decrypt_given_a_directory_says_so_in_one_line(camera, card, tmp_path, capsys,
                                                               where) -> None:
    mp4, key = segments(card)[0], camera["key"]
    if where == "segment":
        mp4 = tmp_path / "seg.mp4"
        mp4.mkdir()
    elif where == "key":
        key = tmp_path / "keydir"
        key.mkdir()
    else:
        Layout.manifest(mp4).unlink()
        Layout.manifest(mp4).mkdir()
    code, err = decrypt_cli(mp4, key, tmp_path / "out.mp4", capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert not (tmp_path / "out.mp4").exists()


def test_bodycam_decrypt_of_a_fifo_segment_never_hangs(camera, tmp_path, capsys) -> None:
    fifo = tmp_path / "seg.mp4"
    os.mkfifo(fifo)
    code, err = decrypt_cli(fifo, camera["key"], tmp_path / "out.mp4", capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err


@pytest.mark.parametrize("damage", ["truncated", "extended", "wrapped key twice as long",
                                    "another segment's wrapped key", "not base64"])
def test_bodycam_verify_with_the_force_key_names_each_hostile_segment(
        camera, card, capsys, damage) -> None:
    """Damage a segment, re-sign its manifest as the camera would (so the ciphertext hash
    and signature hold): the force key names what is wrong, in a finding, exit 1."""
    mp4 = last_segments(card)[0]
    if damage == "truncated":
        os.truncate(mp4, mp4.stat().st_size - 100)
    elif damage == "extended":
        with open(mp4, "ab") as f:
            f.write(b"\0" * 100)
    manifest = read_manifest(mp4)
    encryption = dict(manifest.encryption or {})
    other = read_manifest(last_segments(card)[1]).encryption
    encryption.update({
        "wrapped key twice as long": {"wrapped_key": encryption["wrapped_key"] * 2},
        "another segment's wrapped key": {k: other[k] for k in ("wrapped_key", "iv",
                                                               "key_check")},
        "not base64": {"wrapped_key": "!" * 344}}.get(damage, {}))
    write_signed_manifest(identity_of(card, CONFIG), mp4, dataclasses.replace(
        manifest, encryption=encryption, size=mp4.stat().st_size,
        sha256=hashlib.sha256(mp4.read_bytes()).hexdigest()))
    capsys.readouterr()
    assert bodycam(["verify", str(card), "--json", "--force-key", str(camera["key"])]) == 1
    out, err = capsys.readouterr()
    assert err == ""
    codes = {(Path(f["path"]).name, f["code"]) for f in json.loads(out)["findings"]
             if f["kind"] == "segment" and f["code"] not in ("ok", "recovered")}
    expected = {"truncated": "plaintext_mismatch", "extended": "plaintext_mismatch",
                "another segment's wrapped key": "wrapped_key_swapped"}.get(damage,
                                                                           "bad_wrapped_key")
    assert codes == {(mp4.name, expected)}, codes


@pytest.mark.parametrize("key", ["folder", "fifo", "public half", "ed25519", "empty"])
def test_bodycam_verify_refuses_an_unusable_force_key_in_one_line(camera, tmp_path, capsys,
                                                                  key) -> None:
    path = tmp_path / "k.pem"
    if key == "folder":
        path.mkdir()
    elif key == "fifo":
        os.mkfifo(path)
    elif key == "public half":
        path.write_bytes(public_pem(load_force_private_key(camera["key"]).public_key()))
    elif key == "ed25519":
        path.write_bytes((camera["data"] / "keys" / "device.key.pem").read_bytes()
                         if (camera["data"] / "keys" / "device.key.pem").exists()
                         else b"not a key")
    else:
        path.write_bytes(b"")
    capsys.readouterr()
    assert bodycam(["verify", str(camera["data"]), "--force-key", str(path)]) == 2
    err = capsys.readouterr().err
    assert "--force-key" in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_a_sigkilled_simulator_of_the_default_configuration_leaves_only_ciphertext(
        tmp_path: Path) -> None:
    """A real process, the default configuration (encryption on, the simulator's development
    key), killed with SIGKILL mid-recording: the next boot recovers the open segment without
    any key, nothing on the card is plaintext, and the recovered segment decrypts with the
    development key to what the device signed, and plays."""
    config = tmp_path / "bodycam.toml"
    config.write_text("[camera]\nwidth = 160\nheight = 120\nfps = 10\n[encoder]\n"
                      "preset = \"ultrafast\"\n[recording]\nsegment_s = 4\npre_event_s = 2\n")
    data = tmp_path / "d"
    proc = start_sim(data, config)
    simproc_bodycam("press", "record", "--double", data_dir=data)
    simproc_bodycam("advance", "6.5", data_dir=data)
    os.kill(proc.pid, signal.SIGKILL)  # the power goes
    proc.wait()
    assert list(data.glob("recordings/*/*.part"))
    proc = start_sim(data, config)  # the next boot recovers, with no private key on the card
    status = json.loads(simproc_bodycam("status", "--json", data_dir=data).stdout)
    simproc_bodycam("shutdown", data_dir=data)
    proc.wait(timeout=60)
    assert status["recovered"] and all(not r["detail"] for r in status["recovered"]), status
    assert status["encryption"].startswith("on (force key SHA256:")
    assert not list(data.glob("recordings/*/*.part"))
    assert plaintext_in(data) == []
    dev_key = load_force_private_key(tmp_path / "d.dev-force.key.pem")
    findings = verify([data], KeyRing().with_force_key(dev_key))
    assert findings and all(f.ok for f in findings), problems(findings)
    recovered = data / "recordings" / status["recovered"][0]["recording_id"] \
        / status["recovered"][0]["file"]
    manifest, _ = decrypt_file(recovered, dev_key, tmp_path / "plain.mp4")
    assert manifest.recovered and manifest.frame_count > 0
    assert probe_frames(tmp_path / "plain.mp4") == manifest.frame_count
