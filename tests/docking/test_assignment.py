"""Who wore it: the store assigns a docked camera to an officer (a signed document for this
camera and this dock); the recordings made after it name the officer, those before do not; a
forged, replayed or another camera's assignment is refused and audited; reassign and clear."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device.assignment import load
from device.status import Status
from device.upload.uploader import IDLE
from evidence import assignment as contract
from evidence.layout import Layout
from evidence.manifest import Manifest, ManifestError
from evidence.store_client import StoreHttpError
from evidence.verify import verify
from sim.encoder import FakeEncoder
from sim.simulator import Simulator
from store import cli
from tests.docking.conftest import audit, dock, dock_config, drive, enrol, record, undock
from tests.evidence_store.conftest import Running


@pytest.fixture
def sim(running: Running, tmp_path: Path):
    config = dock_config(running)
    sim = Simulator(config, tmp_path / "cam", encoder=FakeEncoder)
    sim.power_on()
    enrol(running, sim)
    yield sim
    sim.shutdown()


def test_assigned_at_the_dock_named_in_later_recordings_only(running: Running, sim: Simulator,
                                                             tmp_path: Path) -> None:
    record(sim, 2.0)  # before any assignment
    before = _manifest_officers(sim)
    assert set(before.values()) == {json.dumps("unassigned")}
    assert sim.daemon.status().officer == "unassigned"

    device = sim.daemon.identity.device_id
    answer = running.operator().assign(device, "PC-4471", "4471")
    assert answer["changed"] and answer["officer_id"] == "PC-4471"
    [listed] = running.operator().devices()
    assert (listed["officer_id"], listed["collar"]) == ("PC-4471", "4471")
    dock(sim)
    assert drive(sim)[-1] == IDLE
    [entry] = audit(sim, "assignment")
    assert entry["data"]["officer_id"] == "PC-4471" and entry["data"]["collar"] == "4471"
    assert sim.daemon.status().officer == "PC-4471 (collar 4471)"
    assert Status.from_json(sim.daemon.status().to_json()).officer == "PC-4471 (collar 4471)"
    undock(sim)
    record(sim, 2.0)
    after = {k: v for k, v in _manifest_officers(sim).items() if k not in before}
    assert after, "the recording after the dock was kept"
    for officer in after.values():
        data = json.loads(officer)
        assert data["officer_id"] == "PC-4471" and data["collar"] == "4471"
        assert data["store_id"] == running.store.store_id
    dock(sim)  # the store's catalogue says who wore it, from the manifests
    assert drive(sim)[-1] == IDLE
    listed = {r["recording_id"]: r for r in running.operator().recordings()}
    assert {(r["officer_id"], r["collar"]) for r in listed.values()} == {
        (None, None), ("PC-4471", "4471")}
    undock(sim)
    bad = [f for f in verify([sim.data_dir], store_key=running.directory / "store.pub.pem")
           if not f.ok]
    assert bad == []  # signed as today

    # reassigned, then cleared: each dock applies the store's word, each change audited
    running.operator().assign(device, "PC-9", "9")
    dock(sim)
    drive(sim)
    assert sim.daemon.status().officer == "PC-9 (collar 9)"
    running.operator().assign(device, None, None, clear=True)
    undock(sim)
    dock(sim)
    drive(sim)
    assert sim.daemon.status().officer == "unassigned"
    actions = [e["data"]["action"] for e in audit(sim, "assignment")]
    assert actions == ["assigned", "assigned", "cleared"]
    events = [e["event"] for e in running.store.audit.entries()]
    assert events.count("assign") == 2 and events.count("assign_clear") == 1

    sim.shutdown()  # a restart keeps what the last dock said
    again = Simulator(dock_config(running), sim.data_dir, encoder=FakeEncoder)
    again.power_on()
    try:
        assert again.daemon.status().officer == "unassigned"
    finally:
        again.shutdown()


def _manifest_officers(sim: Simulator) -> dict[str, str]:
    """file -> its manifest's officer, for the segments still on the camera and those the
    uploader sent (their receipts' folders are the same; the manifests stay with the store)."""
    found = {}
    for path in sim.data_dir.glob("recordings/*/*.mp4.json"):
        manifest = Manifest.from_bytes(path.read_bytes())
        found[manifest.file] = json.dumps(manifest.officer, sort_keys=True)
    return found


def _signed(key: Ed25519PrivateKey, **doc: object) -> dict[str, str]:
    raw = (json.dumps(doc, sort_keys=True) + "\n").encode()
    return {"assignment": base64.b64encode(raw).decode(),
            "assignment_signature": base64.b64encode(
                key.sign(contract.SIGNING_PREFIX + raw)).decode()}


def test_forged_replayed_and_foreign_assignments_are_refused_and_audited(
        running: Running, sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    device = sim.daemon.identity.device_id
    store_key = running.store.private_key
    good = {"device_id": device, "store_id": running.store.store_id, "officer_id": "PC-1",
            "collar": "1", "assigned_utc": "2026-01-01T00:00:00.000Z",
            "utc": "2026-01-01T00:00:00.000Z"}
    cases = [
        ("does not verify", lambda n: _signed(Ed25519PrivateKey.generate(), nonce=n, **good)),
        ("does not verify", lambda n: {"assignment": _signed(store_key, nonce=n, **good)[
            "assignment"], "assignment_signature": ""}),
        ("nonce differs", lambda n: _signed(store_key, nonce="0" * 32, **good)),
        ("not this camera", lambda n: _signed(store_key, nonce=n,
                                              **{**good, "device_id": "bwv-other"})),
        ("officer id", lambda n: _signed(store_key, nonce=n, **{**good, "officer_id": "a b"})),
        ("exactly", lambda n: _signed(store_key, nonce=n, extra=1, **good)),
        ("JSON", lambda n: {"assignment": base64.b64encode(b"{").decode(),
                                "assignment_signature": base64.b64encode(store_key.sign(
                                    contract.SIGNING_PREFIX + b"{")).decode()}),
    ]
    from evidence.store_client import DeviceClient

    for words, forge in cases:
        monkeypatch.setattr(DeviceClient, "assignment", lambda self, nonce, f=forge: f(nonce))
        dock(sim)
        assert drive(sim)[-1] == IDLE  # the upload goes on; the camera keeps what it had
        refused = audit(sim, "assignment_refused")[-1]
        assert words in refused["reason"] and "\n" not in refused["reason"]
        assert sim.daemon.status().officer == "unassigned"
        assert not (sim.data_dir / Layout.ASSIGNMENT).exists()
        undock(sim)
    assert len(audit(sim, "assignment_refused")) == len(cases)
    assert audit(sim, "assignment") == []


def test_the_store_refuses_bad_ids_in_one_line(running: Running, sim: Simulator,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    device = sim.daemon.identity.device_id
    op = running.operator()
    for officer, collar, words in (("", "1", "officer id"), ("x" * 33, "1", "officer id"),
                                   ("PC 1", "1", "officer id"), ("PC-1", "", "collar"),
                                   ("PC-1", "1" * 17, "collar"), ("PC-1", "4/4", "collar"),
                                   (7, "1", "officer id"), ("PC-1", None, "collar"),
                                   ("PC-\u00e9", "1", "officer id")):
        with pytest.raises(StoreHttpError) as err:
            op.assign(device, officer, collar)  # type: ignore[arg-type]
        assert err.value.status == 400 and words in str(err.value)
        assert "\n" not in str(err.value)
    with pytest.raises(StoreHttpError) as err:
        op.assign("bwv-nobody", "PC-1", "1")
    assert err.value.status == 404 and "no enrolled device" in str(err.value)
    for body in (b'{"clear": true, "officer_id": "x"}', b'{"clear": "yes"}', b'{"x": 1}',
                 b'{"officer_id": "PC-1"}', b"[]"):
        with pytest.raises(StoreHttpError) as err:
            op.request("POST", f"/v1/devices/{device}/assignment", body)
        assert err.value.status == 400 and "\n" not in str(err.value)
    assert not [e for e in running.store.audit.entries() if e["event"].startswith("assign")]

    monkeypatch.setenv("BODYCAM_STORE_TOKEN", running.token)
    base = ["--url", running.url]
    assert cli.main(["assign", device, "--officer", "PC 1", "--collar", "1", *base]) == 2
    assert "--officer" in capsys.readouterr().err
    assert cli.main(["assign", device, "--officer", "PC-1", *base]) == 2
    assert "--collar" in capsys.readouterr().err
    assert cli.main(["assign", device, "--clear", "--officer", "PC-1", *base]) == 2
    capsys.readouterr()
    assert cli.main(["assign", device, "--officer", "PC-1", "--collar", "1", *base]) == 0
    assert "PC-1" in capsys.readouterr().out
    assert cli.main(["assign", device, "--officer", "PC-1", "--collar", "1", *base]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert cli.main(["assign", device, "--clear", *base]) == 0
    assert cli.main(["assign", device, "--clear", *base]) == 0
    assert "already" in capsys.readouterr().out
    assert cli.main(["assign", "bwv-nobody", "--clear", *base]) == 1
    assert "no enrolled device" in capsys.readouterr().err
    events = [e["event"] for e in running.store.audit.entries()]
    assert events.count("assign") == 1 and events.count("assign_clear") == 1


def test_a_damaged_kept_assignment_leaves_the_camera_unassigned(tmp_path: Path) -> None:
    path = tmp_path / Layout.ASSIGNMENT
    path.parent.mkdir(parents=True)
    for text in ("{", "[]", '{"store_id": "s", "officer_id": "a b", "collar": "1"}',
                 '{"store_id": 5, "officer_id": null, "collar": null}'):
        path.write_text(text)
        got, problem = load(tmp_path)
        assert got is None and problem and "\n" not in problem
    assert load(tmp_path / "none") == (None, None)


@pytest.mark.parametrize("officer, words", [
    ({"officer_id": "PC-1", "collar": "1", "assigned_utc": "2026-01-01T00:00:00.000Z"},
     "exactly"),
    ({"officer_id": "PC 1", "collar": "1", "assigned_utc": "2026-01-01T00:00:00.000Z",
      "store_id": "s"}, "officer id"),
    ({"officer_id": "PC-1", "collar": "1", "assigned_utc": "yesterday", "store_id": "s"},
     "assigned_utc"),
    ({"officer_id": "PC-1", "collar": 1, "assigned_utc": "2026-01-01T00:00:00.000Z",
      "store_id": "s"}, "collar"),
    ("someone", "unassigned"), (5, "unassigned"), ([], "unassigned"),
])
def test_a_manifest_officer_of_the_wrong_shape_is_refused(officer: object, words: str) -> None:
    raw = json.loads(SAMPLE)
    raw["officer"] = officer
    with pytest.raises(ManifestError) as err:
        Manifest.from_bytes(json.dumps(raw).encode())
    assert words in str(err.value) and "\n" not in str(err.value)
    raw["officer"] = "unassigned"
    assert Manifest.from_bytes(json.dumps(raw).encode()).officer == "unassigned"
    del raw["officer"]  # older data: no field, still read
    assert Manifest.from_bytes(json.dumps(raw).encode()).officer is None


SAMPLE = Manifest(
    device_id="bwv-0", model="m", serial="s", recording_id="R000001-000000", segment_index=0,
    file="R000001-000000-0000.mp4", sha256="0" * 64, size=1,
    start_utc="2026-01-01T00:00:00.000Z", end_utc="2026-01-01T00:00:01.000Z", duration_s=1.0,
    frame_count=1, codec="h264", width=1, height=1, fps=30, prev_manifest_sha256=None,
    last=True).to_bytes()


@pytest.mark.real_encoder
def test_a_segment_recovered_after_power_loss_keeps_its_officer(tmp_path: Path) -> None:
    from device.assignment import save
    from tests.evidence import CONFIG, cut_power, recover

    data = tmp_path / "cam"
    save(data, contract.Assignment(store_id="store-1", officer_id="PC-77", collar="77",
                                   assigned_utc="2026-01-01T00:00:00.000Z"))
    sim = Simulator(CONFIG, data)
    sim.power_on()
    sim.advance(1.0)
    cut_power(sim, 6.0)  # the open segment stays a .part: recovery rebuilds it
    recovered = recover(data)
    assert recovered
    for mp4 in recovered:
        manifest = Manifest.from_bytes(Layout.manifest(mp4).read_bytes())
        assert manifest.recovered and manifest.officer == {
            "officer_id": "PC-77", "collar": "77", "assigned_utc": "2026-01-01T00:00:00.000Z",
            "store_id": "store-1"}


@pytest.mark.parametrize("status", [500, 403, 0])
def test_a_store_that_does_not_answer_the_assignment_still_gets_the_footage(
        running: Running, sim: Simulator, monkeypatch: pytest.MonkeyPatch, status: int) -> None:
    from evidence.store_client import DeviceClient

    def fail(self: DeviceClient, nonce: str) -> dict:
        raise StoreHttpError(status, "broken")

    monkeypatch.setattr(DeviceClient, "assignment", fail)
    record(sim, 2.0)
    dock(sim)
    assert drive(sim)[-1] == IDLE
    assert not list(sim.data_dir.glob("recordings/*/*.mp4"))  # uploaded, receipts, deleted
    [refused] = audit(sim, "assignment_refused")
    assert "did not give the assignment" in refused["reason"]
    assert sim.daemon.status().officer == "unassigned"


def test_a_store_without_assignments_leaves_the_camera_as_it_was(
        running: Running, sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from evidence.store_client import DeviceClient

    def old_store(self: DeviceClient, nonce: str) -> dict:
        raise StoreHttpError(404, "no such endpoint")

    monkeypatch.setattr(DeviceClient, "assignment", old_store)
    record(sim, 2.0)
    dock(sim)
    assert drive(sim)[-1] == IDLE
    assert audit(sim, "assignment_refused") == [] and audit(sim, "assignment") == []
    assert not list(sim.data_dir.glob("recordings/*/*.mp4"))
