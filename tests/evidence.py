"""Real evidence for the verifier's tests: recordings from the simulator, a power cut, the
recovery the daemon does at its next start, and an attacker who re-signs everything.

Every file here is made by the firmware's own code (the simulator, ``write_signed_manifest``,
``AuditLog``'s format), so the verifier is tested on the real thing.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device.audit import AUDIT_LOG, canonical, line_hash, signed_bytes
from device.config import Config
from evidence.findings import Finding
from evidence.identity import (
    IDENTITY,
    PUBLIC_KEY,
    DeviceIdentity,
    device_id_for,
    load_identity,
    public_pem,
)
from evidence.manifest import (
    Manifest,
    manifest_path,
    signature_path,
)
from sim.simulator import Simulator
from tests.conftest import clear_config, tiny_config

#: 4 s segments at 5 fps, tiny frames: a recording of a few segments takes a blink.
CONFIG = tiny_config()


def record(sim: Simulator, seconds: float, marker_at: float | None = None) -> None:
    """Double-press, record ``seconds`` (a marker on the way), hold to stop."""
    sim.button("record").double_press()
    if marker_at is not None:
        sim.advance(marker_at)
        sim.button("function").press()
        seconds -= marker_at
    sim.advance(seconds)
    sim.button("record").hold(3.2)
    sim.advance(3.5)


def recording_dirs(data_dir: Path) -> list[Path]:
    return sorted(p for p in (data_dir / "recordings").iterdir() if p.is_dir())


def segment_files(mp4: Path) -> list[Path]:
    """A segment's three files."""
    return [mp4, manifest_path(mp4), signature_path(mp4)]


def identity_of(data_dir: Path, config: Config = CONFIG) -> DeviceIdentity:
    return load_identity(data_dir, config.device.model, config.device.serial)


def cut_power(sim: Simulator, seconds: float) -> None:
    """Start recording, record ``seconds``, then lose power: the open segment stays a
    ``.part``, the recording never closes, and nothing else is written."""
    sim.button("record").double_press()
    sim.advance(seconds)
    lose_power(sim)


def lose_power(sim: Simulator) -> None:
    """The power goes now: the open segment stays a ``.part`` and nothing else is written."""
    daemon = sim.daemon
    assert daemon.pipeline is not None and daemon.audit is not None
    daemon.pipeline.stop_camera()
    daemon.pipeline.sync()
    daemon.pipeline.recorder.abort()  # the recorder thread is idle after sync
    daemon.pipeline.close()
    daemon.audit.close()
    sim.hw.close()


def recover(data_dir: Path, config: Config = CONFIG) -> list[Path]:
    """The next start: the daemon recovers every interrupted segment
    (device/pipeline/recovery.py) and says so in the audit log."""
    sim = Simulator(config, data_dir)
    sim.power_on()
    results = list(sim.daemon.recovered)
    sim.shutdown()
    return [data_dir / "recordings" / r["recording_id"] / r["file"] for r in results]


@dataclass
class Camera:
    """One simulated camera's data directory in a template."""

    data_dir: Path

    @property
    def device_id(self) -> str:
        return json.loads((self.data_dir / IDENTITY).read_text())["device_id"]

    def recording(self, n: int) -> Path:
        return recording_dirs(self.data_dir)[n]

    def segments(self, n: int) -> list[Path]:
        return sorted(self.recording(n).glob("*.mp4"))

    @property
    def log(self) -> Path:
        return self.data_dir / AUDIT_LOG


def build_template(root: Path) -> dict[str, Camera]:
    """Camera A: recording 0 (five segments, a marker) and recording 1 (three); camera B: one
    recording (three); camera C: one recording, then one cut by power loss (a ``.part``)."""
    cameras = {}
    for name in ("a", "b", "c"):
        sim = Simulator(CONFIG, root / name)
        sim.power_on()
        sim.advance(2.0)
        if name == "a":
            record(sim, 13.0, marker_at=5.0)
            record(sim, 5.0)
        elif name == "b":
            record(sim, 5.0)
        else:
            record(sim, 5.0)
            cut_power(sim, 9.6)  # the open segment has landed more than one fragment
            cameras[name] = Camera(root / name)
            continue
        sim.shutdown()
        cameras[name] = Camera(root / name)
    return cameras


def template_fixture() -> Callable[..., Path]:
    """A module-scoped fixture ``template``: the cameras of :func:`build_template`, recorded
    once per test module (tests copy them with :func:`copy_template`)."""
    @pytest.fixture(scope="module")
    def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
        root = tmp_path_factory.mktemp("evidence") / "template"
        build_template(root)
        return root

    return template


def copy_template(template: Path, dest: Path) -> dict[str, Camera]:
    shutil.copytree(template, dest)
    return {name: Camera(dest / name) for name in ("a", "b", "c")}


def tree_digest(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``root``: its content hash and mode (to prove nothing changed)."""
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                       p.stat().st_mode)
            for p in sorted(root.rglob("*")) if p.is_file()}


def problems(findings: list[Finding]) -> set[tuple[str, str, str]]:
    """(kind, item, code) of every finding that is not ok."""
    return {(f.kind, f.path, f.code) for f in findings if not f.ok}


def log_lines(cam: Camera) -> list[bytes]:
    return cam.log.read_bytes().split(b"\n")[:-1]


def write_lines(cam: Camera, lines: list[bytes]) -> None:
    cam.log.write_bytes(b"".join(line + b"\n" for line in lines))


def edit_entry(cam: Camera, index: int, change: Callable[[dict[str, Any]], object],
               key: Ed25519PrivateKey | None = None) -> None:
    """Edit audit entry ``index`` in place and write it back canonically; signed again with
    ``key`` if given (else its old signature stays, now wrong)."""
    lines = log_lines(cam)
    entry = json.loads(lines[index])
    change(entry)
    if key is not None:
        entry["sig"] = ""
        entry["sig"] = base64.b64encode(key.sign(signed_bytes(entry))).decode()
    lines[index] = canonical(entry)
    write_lines(cam, lines)


def resign_everything(data_dir: Path, key: Ed25519PrivateKey, claim_own_id: bool,
                      edit: Callable[[Path, Manifest], Manifest] | None = None) -> None:
    """An attacker with a key of their own: every manifest (re-chained), signature and audit
    entry re-signed, and the data directory's public key replaced by theirs. With
    ``claim_own_id`` the manifests name the attacker's device id (so the data directory looks
    consistent); without, they keep the camera's. ``edit`` changes each segment's manifest
    (by its file) on the way: what the attacker signs."""
    new_id = device_id_for(key.public_key())
    renamed: dict[str, str] = {}
    for folder in recording_dirs(data_dir):
        prev = None
        for mp4 in sorted(folder.glob("*.mp4")):
            old_raw = manifest_path(mp4).read_bytes()
            manifest = Manifest.from_bytes(old_raw)
            manifest = dataclasses.replace(
                manifest, prev_manifest_sha256=prev,
                device_id=new_id if claim_own_id else manifest.device_id)
            if edit is not None:
                manifest = edit(mp4, manifest)
            raw = manifest.to_bytes()
            manifest_path(mp4).write_bytes(raw)
            signature_path(mp4).write_bytes(key.sign(raw))
            prev = hashlib.sha256(raw).hexdigest()
            renamed[hashlib.sha256(old_raw).hexdigest()] = prev
    rewrite_log(data_dir / AUDIT_LOG, key, lambda e: _swap_hashes(e, renamed))
    (data_dir / PUBLIC_KEY).write_bytes(public_pem(key.public_key()))


def _swap_hashes(entry: dict[str, Any], renamed: dict[str, str]) -> dict[str, Any]:
    data = entry.get("data", {})
    if data.get("manifest_sha256") in renamed:
        data["manifest_sha256"] = renamed[data["manifest_sha256"]]
    return entry


def rewrite_log(log: Path, key: Ed25519PrivateKey,
                edit: Callable[[dict[str, Any]], dict[str, Any] | None]) -> None:
    """Rewrite every entry through ``edit`` (None drops it), re-chained and signed by ``key``:
    what someone holding a key can do to a log."""
    head, seq, out = "0" * 64, 0, []
    for line in log.read_bytes().split(b"\n")[:-1]:
        entry = edit(json.loads(line))
        if entry is None:
            continue
        seq += 1
        entry.update(seq=seq, prev=head, sig="")
        if entry["event"] == "checkpoint":
            entry["data"].update(head=head, entries=seq)
        entry["sig"] = base64.b64encode(key.sign(signed_bytes(entry))).decode()
        line = canonical(entry)
        out.append(line)
        head = line_hash(line)
    log.write_bytes(b"".join(line + b"\n" for line in out))


@dataclass
class Marked:
    """A recording with everything its timeline shows, and when each thing happened (device
    monotonic seconds, on the simulator's virtual clock)."""

    folder: Path
    markers: list[tuple[float, str]]  # (when, note)
    unplugged: float
    replugged: float


def record_marked(data_dir: Path) -> Marked:
    """Pre-event footage, a double-press, a marker with a note in segment 0, one without in
    segment 1, the sensor out for a second (a gap), a hold to stop: 1 s pre-event, 2 s segments
    at 30 fps."""
    config = clear_config(camera={"width": 160, "height": 120, "fps": 30},
                          recording={"pre_event_s": 1.0, "segment_s": 2.0},
                          encoder={"preset": "ultrafast"})
    sim = Simulator(config, data_dir)
    sim.power_on()
    sim.advance(1.5)
    sim.button("record").double_press()
    markers = []
    for wait, note in ((0.5, "suspect left"), (2.0, "")):
        sim.advance(wait)
        sim.daemon.post("marker", note=note)
        sim.daemon.sync()
        markers.append((sim.clock.monotonic(), note))
    sim.advance(0.5)
    unplugged = sim.clock.monotonic()
    sim.camera.unplug()
    sim.advance(1.0)
    replugged = sim.clock.monotonic()
    sim.camera.replug()
    sim.advance(1.0)
    sim.button("record").hold(3.2)
    sim.advance(3.5)
    sim.shutdown()
    return Marked(recording_dirs(data_dir)[0], markers, unplugged, replugged)
