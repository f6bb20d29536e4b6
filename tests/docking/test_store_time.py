"""The clock a camera takes from its dock is signed by the pinned store for the camera's nonce:
another store's answer, an old answer replayed, or a time changed on the way never sets the
clock that stamps evidence (the clock half of "a request for store A replayed to store B")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from device.upload.uploader import IDLE
from evidence.identity import load_public_key
from evidence.request_auth import sign_time, verify_time
from sim.clock import SimClock
from sim.encoder import FakeEncoder
from sim.simulator import Simulator
from store.config import StoreConfig
from store.service import init_store
from tests.docking.conftest import audit, dock, dock_config, drive, enrol, segments
from tests.evidence_store.conftest import START, MovableClock, Running
from tests.evidence_store.test_api_checks import send

LOST_CLOCK = 946684800.0


def unset_camera(running: Running, path: Path) -> tuple[Simulator, SimClock]:
    clock = SimClock(epoch=LOST_CLOCK)
    clock.wall_is_set = False
    sim = Simulator(dock_config(running), path, clock=clock, encoder=FakeEncoder)
    sim.power_on()
    enrol(running, sim)
    return sim, clock


def test_info_signs_its_time_for_the_nonce_with_the_store_key(running: Running) -> None:
    nonce = "ab" * 16
    status, info = send(running, "GET", f"/v1/info?nonce={nonce}")
    key = load_public_key(running.directory / "store.pub.pem")
    assert status == 200 and info["nonce"] == nonce
    assert verify_time(key, running.store.store_id, nonce, info["time"], info["time_signature"])
    assert not verify_time(key, running.store.store_id, "cd" * 16, info["time"],
                           info["time_signature"])  # another nonce: a replayed answer
    assert not verify_time(key, running.store.store_id, nonce, info["time"] + 3600,
                           info["time_signature"])  # the time changed on the way
    assert not verify_time(key, "store-0000000000000000", nonce, info["time"],
                           info["time_signature"])
    for bad in ("XYZ", "ab", "ab" * 40, "%00"):
        status, answer = send(running, "GET", f"/v1/info?nonce={bad}")
        assert status == 400 and "nonce" in answer["error"]
    status, plain = send(running, "GET", "/v1/info")
    assert status == 200 and "time_signature" not in plain


def test_an_honest_store_sets_an_unset_clock(running: Running, tmp_path: Path) -> None:
    sim, clock = unset_camera(running, tmp_path / "cam")
    try:
        dock(sim)
        assert drive(sim)[-1] == IDLE
        assert abs(clock.wall() - START) < 5 and clock.wall_is_set
        assert [e["data"]["action"] for e in audit(sim, "clock")] == ["set"]
    finally:
        sim.shutdown()


@pytest.fixture
def other_key(tmp_path: Path) -> Any:
    directory = tmp_path / "other-store"
    directory.mkdir()
    init_store(directory, StoreConfig())
    from store.service import Store

    store = Store(directory, clock=MovableClock(START))
    yield store
    store.close()


@pytest.mark.in_process_store("replaces the serving store's info() with a forger")
@pytest.mark.parametrize("forgery", ["unsigned", "replayed", "other-store", "time-moved"])
def test_an_unverified_time_does_not_set_the_clock(running: Running, tmp_path: Path,
                                                   other_key: Any, forgery: str) -> None:
    """The dock answers with the pinned store's id but a time the pinned key did not sign for
    this nonce; the clock stays as it was, this is audited, and the footage still goes (the
    requests are signed with the store's time, which here is right)."""
    honest = running.store.info
    captured = honest("ef" * 16)

    def forged(nonce: str | None = None) -> dict[str, Any]:
        info = honest(nonce)
        if forgery == "unsigned":
            info.pop("time_signature", None)
        elif forgery == "replayed":
            info.update(nonce=captured["nonce"], time_signature=captured["time_signature"])
        elif forgery == "other-store":
            info["time_signature"] = sign_time(other_key.private_key, running.store.store_id,
                                               nonce or "", info["time"])
        else:
            info["time_signature"] = sign_time(running.store.private_key,
                                               running.store.store_id, nonce or "",
                                               info["time"] - 7200)
        return info

    running.store.info = forged  # type: ignore[method-assign]
    sim, clock = unset_camera(running, tmp_path / "cam")
    try:
        sim.button("record").double_press()
        sim.advance(4.0)
        sim.button("record").hold(3.2)
        sim.advance(3.5)
        before = clock.wall()
        dock(sim)
        assert drive(sim)[-1] == IDLE
        assert not clock.wall_is_set and clock.wall() - before < 600  # not moved to the store's
        [entry] = audit(sim, "clock")
        assert entry["data"]["action"] == "not set" and "not signed" in entry["reason"]
        assert segments(sim) == []  # uploaded with receipts all the same
    finally:
        sim.shutdown()
