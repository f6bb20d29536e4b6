"""Device identity: ``bodycam provision`` and ``export-key``, and a camera without its key."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from device.cli import main
from evidence.identity import PRIVATE_KEY, PUBLIC_KEY, load_public_key
from sim.encoder import FakeEncoder
from sim.simulator import Simulator
from tests.conftest import have, tiny_config


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def raw_sha256(pem_file: Path) -> str:
    raw = load_public_key(pem_file).public_bytes(serialization.Encoding.Raw,
                                                 serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def test_provision_makes_an_owner_only_key_and_prints_what_enrolment_needs(
        tmp_path: Path, capsys) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[device]\nmodel = "BWV-TEST"\nserial = "SN-4711"\n')
    data = tmp_path / "data"
    code, out, _ = run(capsys, "provision", "--data-dir", str(data), "--config", str(config))
    assert code == 0
    assert os.stat(data / PRIVATE_KEY).st_mode & 0o777 == 0o600
    assert os.stat(data / PRIVATE_KEY.parent).st_mode & 0o777 == 0o700
    pem = (data / PUBLIC_KEY).read_text()
    assert out.endswith(pem)
    identity = json.loads((data / "identity.json").read_text())
    assert (identity["model"], identity["serial"]) == ("BWV-TEST", "SN-4711")
    assert f"SHA256:{raw_sha256(data / PUBLIC_KEY)}" in out
    assert identity["device_id"] == "bwv-" + raw_sha256(data / PUBLIC_KEY)[:16]
    assert identity["device_id"] in out


def test_provision_refuses_to_replace_a_key_unless_forced(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    assert run(capsys, "provision", "--data-dir", str(data))[0] == 0
    before = (data / PRIVATE_KEY).read_bytes()
    old_id = json.loads((data / "identity.json").read_text())["device_id"]
    code, out, err = run(capsys, "provision", "--data-dir", str(data))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "already has a key" in err and old_id in err
    assert "--force" in err
    assert (data / PRIVATE_KEY).read_bytes() == before

    assert run(capsys, "provision", "--data-dir", str(data), "--force")[0] == 0
    assert (data / PRIVATE_KEY).read_bytes() != before
    retired = data / "retired-keys" / f"{old_id}.pub.pem"
    assert raw_sha256(retired)[:16] == old_id[4:]  # the old public key is kept, not lost


def test_a_lone_public_key_also_counts_as_provisioned(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    run(capsys, "provision", "--data-dir", str(data))
    (data / PRIVATE_KEY).unlink()  # the private key lost: a new one must be a decision
    code, _, err = run(capsys, "provision", "--data-dir", str(data))
    assert code == 1 and "already has a key" in err


def test_export_key_prints_or_writes_the_public_key(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    run(capsys, "provision", "--data-dir", str(data))
    code, out, _ = run(capsys, "export-key", "--data-dir", str(data))
    assert code == 0 and out == (data / PUBLIC_KEY).read_text()
    enrolled = tmp_path / "enrolled"
    enrolled.mkdir()
    code, out, _ = run(capsys, "export-key", "--data-dir", str(data), "--out", str(enrolled))
    device_id = json.loads((data / "identity.json").read_text())["device_id"]
    assert code == 0 and device_id in out
    assert (enrolled / f"{device_id}.pem").read_bytes() == (data / PUBLIC_KEY).read_bytes()


def test_export_key_without_a_key_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    code, out, err = run(capsys, "export-key", "--data-dir", str(tmp_path / "none"))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "bodycam provision" in err


@pytest.mark.skipif(not have("openssl"), reason="openssl CLI not installed")
def test_the_fingerprint_can_be_recomputed_with_openssl(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    _, out, _ = run(capsys, "provision", "--data-dir", str(data))
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", str(data / PUBLIC_KEY),
                          "-outform", "DER"], capture_output=True, check=True).stdout
    assert f"SHA256:{hashlib.sha256(der[-32:]).hexdigest()}" in out


NO_FIRST_START_KEY = {"create_key_on_first_start": False}


def test_an_unprovisioned_camera_faults_and_writes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    sim = Simulator(tiny_config(device=NO_FIRST_START_KEY), data, provisioned=False,
                    encoder=FakeEncoder)
    sim.power_on()
    try:
        assert sim.mode == "fault"
        assert "device key missing" in (sim.daemon.fault or "")
        assert sim.led.state.colour == "red" and not sim.led.state.blinking
        assert sim.hw.buzzer.log.entries[-1].value == sim.daemon.policy.tones("error")
        sim.button("record").double_press()
        sim.advance(3)
        assert sim.mode == "fault"
        # no key made, no footage, and no audit entry that could not be signed
        assert not (data / PRIVATE_KEY).exists() and not (data / "recordings").exists()
        assert not (data / "audit").exists()
    finally:
        sim.shutdown()


def test_provisioning_then_powering_on_again_clears_the_fault(tmp_path: Path) -> None:
    data = tmp_path / "data"
    sim = Simulator(tiny_config(device=NO_FIRST_START_KEY), data, provisioned=False,
                    encoder=FakeEncoder)
    sim.power_on()
    assert sim.mode == "fault"
    sim.button("power").hold(3.2)
    sim.advance(3.5)
    assert sim.mode == "off"
    main(["provision", "--data-dir", str(data)])
    sim.power_on()
    try:
        assert sim.mode == "buffering"
    finally:
        sim.shutdown()


def test_first_start_makes_a_key_only_in_an_empty_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    sim = Simulator(tiny_config(), data, provisioned=False, encoder=FakeEncoder)  # the default: on
    sim.power_on()
    try:
        assert sim.mode == "buffering"
        assert os.stat(data / PRIVATE_KEY).st_mode & 0o777 == 0o600
    finally:
        sim.shutdown()
    # the private key lost, the public key still there: a fault, never a quiet new key
    (data / PRIVATE_KEY).unlink()
    public = (data / PUBLIC_KEY).read_bytes()
    again = Simulator(tiny_config(), data, provisioned=False, encoder=FakeEncoder)
    again.power_on()
    try:
        assert again.mode == "fault" and "device key missing" in (again.daemon.fault or "")
        assert not (data / PRIVATE_KEY).exists() and (data / PUBLIC_KEY).read_bytes() == public
    finally:
        again.shutdown()
