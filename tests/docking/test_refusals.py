"""Nothing leaves the camera without a valid receipt: tampered footage, forged receipts, the wrong
store and a broken configuration all keep every byte, and say why."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device.upload.uploader import BACKOFF, IDLE
from evidence.identity import public_pem
from evidence.kept import quarantine_path, receipt_path
from evidence.store_client import DeviceClient, StoreConnection
from sim.simulator import Simulator
from tests.conftest import tiny_config
from tests.docking.conftest import (
    audit,
    dock,
    dock_config,
    drive,
    enrol,
    record,
    segments,
    undock,
)
from tests.evidence_store.conftest import Running


def contents(sim: Simulator) -> dict[str, bytes]:
    return {mp4.name: mp4.read_bytes() for mp4 in segments(sim)}


def test_tampered_segment_is_quarantined_and_its_recording_kept(make_sim, running: Running):
    sim = make_sim(dock_config(running))
    enrol(running, sim)
    record(sim, 6.0)
    record(sim, 6.0)
    first, second = sorted({mp4.parent for mp4 in segments(sim)})
    tampered = sorted(second.glob("*.mp4"))[0]
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))
    kept = {mp4.name: mp4.read_bytes() for mp4 in second.glob("*.mp4")}
    dock(sim)
    assert drive(sim)[-1] == IDLE
    assert list(first.glob("*.mp4")) == []  # the intact recording went
    assert contents(sim) == kept  # the tampered one stays whole, every segment of it
    [held] = running.store.quarantined()
    assert held["file"] == tampered.name and "does not match" in held["reason"]
    assert quarantine_path(tampered).exists() and not receipt_path(tampered).exists()
    [entry] = audit(sim, "upload_quarantined")
    assert entry["data"]["file"] == tampered.name and "does not match" in entry["reason"]
    status = sim.daemon.status().upload
    assert status["quarantined"] == [tampered.name] and "quarantined" in status["last_error"]

    undock(sim)
    dock(sim)  # the next dock does not offer it again
    assert drive(sim)[-1] == IDLE
    assert len(running.store.quarantined()) == 1 and contents(sim) == kept


@pytest.mark.in_process_store("swaps the serving store's signing key")
def test_forged_receipts_delete_nothing(make_sim, running: Running):
    """The store's id is right but its receipts are signed by another key (an impostor in the
    middle, or a store whose key was swapped): the camera keeps everything."""
    sim = make_sim(dock_config(running))
    enrol(running, sim)
    record(sim, 6.0)
    before = contents(sim)
    running.store.private_key = Ed25519PrivateKey.generate()
    dock(sim)
    assert drive(sim)[-1] == IDLE
    assert contents(sim) == before
    assert not list(sim.data_dir.glob("recordings/*/*.receipt.json"))
    refused = audit(sim, "upload_receipt_invalid")
    assert len(refused) == len(before) + 1  # every segment, and the audit log snapshot
    assert all("signature does not verify" in e["reason"] for e in refused)
    assert audit(sim, "upload_deleted") == []


def test_the_wrong_store_gets_nothing(make_sim, running: Running, tmp_path):
    other = tmp_path / "other.pub.pem"
    other.write_bytes(public_pem(Ed25519PrivateKey.generate().public_key()))
    sim = make_sim(dock_config(running, store_public_key=str(other)))
    enrol(running, sim)
    record(sim, 6.0)
    before = contents(sim)
    dock(sim)
    assert drive(sim)[-1] == BACKOFF
    assert "pinned key" in sim.daemon.status().upload["last_error"]
    assert running.store.catalogue.all("SELECT * FROM uploads") == []
    assert contents(sim) == before


def test_unreadable_store_key_stops_the_session_with_one_line(make_sim, running: Running,
                                                               tmp_path):
    missing = tmp_path / "nowhere.pem"
    sim = make_sim(dock_config(running, store_public_key=str(missing)))
    record(sim, 6.0)
    before = contents(sim)
    dock(sim)
    assert drive(sim)[-1] == IDLE
    status = sim.daemon.status().upload
    assert status["state"] == "error" and str(missing) in status["last_error"]
    assert "\n" not in status["last_error"]
    assert [e["data"] for e in audit(sim, "upload_error")] == [{}]
    assert contents(sim) == before and sim.mode == "docked"


def test_without_a_store_the_dock_only_charges(make_sim):
    sim = make_sim(tiny_config())
    record(sim, 6.0)
    before = contents(sim)
    dock(sim)
    assert drive(sim) == [IDLE]
    assert sim.daemon.status().upload["state"] == "off"
    assert sim.daemon.status().upload["pending_segments"] == len(before)
    assert contents(sim) == before


def test_a_changed_local_copy_is_not_deleted_on_the_strength_of_the_receipt(make_sim,
                                                                           running: Running):
    """The store already holds segment 0 (say the camera lost power after sending it); since
    then the camera's copy has rotted. The receipt names other bytes: nothing is deleted."""
    sim = make_sim(dock_config(running))
    enrol(running, sim)
    record(sim, 6.0)
    mp4 = segments(sim)[0]
    identity = sim.daemon.identity
    client = DeviceClient(StoreConnection(running.url), identity.private_key,
                          identity.device_id, clock=running.clock)
    assert client.upload_segment(mp4)["state"] == "stored"
    rotted = bytearray(mp4.read_bytes())
    rotted[-1] ^= 1
    mp4.write_bytes(bytes(rotted))
    dock(sim)
    assert drive(sim)[-1] == IDLE
    assert mp4.read_bytes() == bytes(rotted)
    [entry] = audit(sim, "upload_receipt_invalid")
    assert entry["data"]["file"] == mp4.name and "no longer matches" in entry["reason"]
