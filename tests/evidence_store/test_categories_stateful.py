"""Hypothesis drives flag, unflag, categorise and retention on an injected clock against a model:
no recording is ever deleted while flagged, while its category holds it, before its category's
days have passed since receipt, or before any date the store gave it; a categorise is refused
exactly when it would shorten that date."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from evidence.identity import load_identity
from store.config import StoreConfig
from store.errors import StoreError
from store.service import Store, init_store
from tests.evidence_store.conftest import START, Camera, MovableClock, Running

DAY = 86400.0
CATEGORIES = {"no further action": 31, "evidence": None, "training": 365, "brief": 2}


@pytest.fixture(scope="module")
def template(recorded: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the two recorded recordings (uploaded over HTTP once)."""
    root = tmp_path_factory.mktemp("categories")
    shutil.copytree(recorded, root / "camera")
    camera = Camera(root / "camera", load_identity(root / "camera", "BWV-OPEN-1", "SIM00001"))
    token = init_store(root / "store", StoreConfig(categories=CATEGORIES))
    running = Running(root / "store", token, MovableClock(START)).start()
    try:
        running.operator().enrol(camera.pub_pem)
        running.upload_all(camera)
    finally:
        running.stop()
    return root / "store"


class Model:
    def __init__(self, received: float) -> None:
        self.received = received
        self.flagged = False
        self.category: str | None = None
        self.promised = received + 31 * DAY  # what ingest locked it to
        self.deleted = False

    def days(self) -> float | None:
        return 31.0 if self.category is None else CATEGORIES[self.category]

    def earliest(self) -> float | None:
        """When it may go, as the model says (None: not while as it is)."""
        days = self.days()
        if self.flagged or days is None:
            return None
        return max(self.received + days * DAY, self.promised)


class CustodyMachine(RuleBasedStateMachine):
    template: Path

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="bodycam-cat-"))
        shutil.copytree(self.template, self.dir / "store")
        self.clock = MovableClock(START)
        self.store = Store(self.dir / "store", clock=self.clock)
        rows = self.store.catalogue.all("SELECT recording_id, received_s FROM recordings "
                                        "ORDER BY recording_id")
        self.models = {r["recording_id"]: Model(r["received_s"]) for r in rows}
        self.ids = sorted(self.models)

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(which=st.integers(0, 1), category=st.sampled_from(sorted(CATEGORIES)))
    def categorise(self, which: int, category: str) -> None:
        rec = self.ids[which]
        model = self.models[rec]
        days = CATEGORIES[category]
        until = None if days is None else model.received + days * DAY
        shortening = until is not None and until < model.promised - 0.001
        try:
            self.store.categorise(rec, category)
        except StoreError as exc:
            assert exc.status == 409 and "\n" not in exc.message
            assert model.deleted or (shortening and category != model.category), exc.message
            return
        assert not model.deleted and (not shortening or category == model.category)
        model.category = category
        if until is not None:
            model.promised = max(model.promised, until)

    @rule(which=st.integers(0, 1))
    def flag(self, which: int) -> None:
        rec = self.ids[which]
        try:
            self.store.flag(rec, "CASE-1")
        except StoreError as exc:
            assert self.models[rec].deleted and exc.status == 409
            return
        self.models[rec].flagged = True

    @rule(which=st.integers(0, 1))
    def unflag(self, which: int) -> None:
        rec = self.ids[which]
        try:
            self.store.unflag(rec)
        except StoreError as exc:
            assert not self.models[rec].flagged and exc.status == 409
            return
        self.models[rec].flagged = False

    @rule(days=st.floats(0, 400))
    def retention(self, days: float) -> None:
        self.clock.now += days * DAY
        now = self.clock.now
        gone = {d["recording_id"] for d in self.store.retention.step(now)}
        for rec, model in self.models.items():
            earliest = model.earliest()
            if rec in gone:
                assert not model.deleted and earliest is not None and now >= earliest, rec
                model.deleted = True
            elif not model.deleted:  # nothing due stays: retention is not late either
                assert earliest is None or now < earliest, rec

    @invariant()
    def listing_agrees(self) -> None:
        for rec, model in self.models.items():
            row = self.store.recording(self.store.find_recording(rec)[0], rec)
            assert bool(row["deleted_utc"]) == model.deleted
            assert row["category"] == model.category


@pytest.fixture
def machine(template: Path) -> type[CustodyMachine]:
    CustodyMachine.template = template
    return CustodyMachine


def test_flag_unflag_categorise_retention_never_delete_early(machine) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(machine, settings=settings(
        max_examples=40, stateful_step_count=12, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))
