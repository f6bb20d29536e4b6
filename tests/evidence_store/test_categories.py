"""Categories drive retention (store/categories.py): each category deleted at its own date on
the injected clock, a holding category and a flag never, a retention date only ever extended;
every change audited and in the transparency log; bad input refused in one line."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from evidence.store_client import StoreHttpError
from evidence.transparency_audit import audit_leaves
from store import cli
from store.auditlog import verify_chain
from store.config import StoreConfig, StoreConfigError
from tests.evidence_store.conftest import Camera, Running

DAY = 86400.0


def received_of(running: Running, recording_id: str) -> float:
    return running.store.catalogue.one("SELECT received_s FROM recordings WHERE "
                                       "recording_id = ?", recording_id)["received_s"]


def leaves(running: Running) -> list[dict]:
    log = running.store.tlog.log
    log.refresh()
    return [json.loads(raw) for raw in log.leaves(0, log.size)]


def test_each_category_is_deleted_at_its_own_date(running: Running, enrolled: Camera) -> None:
    training, nfa = running.upload_all(enrolled)
    op = running.operator()
    assert op.categorise(training, "training")["category"] == "training"
    answer = op.categorise(nfa, "no further action")
    assert answer["changed"] and answer["category"] == "no further action"
    t_training, t_nfa = received_of(running, training), received_of(running, nfa)
    retention = running.store.retention

    assert retention.step(t_nfa + 31 * DAY - 1) == []
    assert [d["recording_id"] for d in retention.step(t_nfa + 31 * DAY + 1)] == [nfa]
    assert retention.step(t_training + 365 * DAY - 1) == []
    if running.store.objects.locks:
        # the bucket's own (real) clock has the last word: the category's date, a year after
        # the tests' January 2026, has not passed for it, so it refuses, audited
        assert retention.step(t_training + 365 * DAY + 1) == []
        refused = [e for e in running.store.audit.entries()
                   if e["event"] == "retention_refused"]
        assert refused and refused[-1]["recording_id"] == training
        assert "COMPLIANCE" in refused[-1]["reason"]
        return
    done = retention.step(t_training + 365 * DAY + 1)
    assert [(d["recording_id"], d["category"]) for d in done] == [(training, "training")]

    events = [(e["event"], e.get("recording_id"), e.get("category"))
              for e in running.store.audit.entries()]
    assert ("categorise", training, "training") in events
    assert ("retention_delete", training, "training") in events
    assert verify_chain(running.store.audit.path)[1] == []
    kinds = [(leaf["kind"], leaf.get("recording_id")) for leaf in leaves(running)]
    assert ("category", training) in kinds and ("category", nfa) in kinds
    deletion = next(leaf for leaf in leaves(running) if leaf["kind"] == "deletion"
                    and leaf["recording_id"] == training)
    assert deletion["retention_days"] == 365 and deletion["category"] == "training"
    log = running.store.tlog.log
    assert audit_leaves(log.leaves(0, log.size)) == []  # every deletion allowed by its rule


def test_evidence_category_holds_until_it_changes_and_a_flag_always(
        running: Running, enrolled: Camera) -> None:
    held, flagged = running.upload_all(enrolled)
    op = running.operator()
    rec = op.categorise(held, "evidence")
    assert rec["delete_after_utc"] is None
    op.flag(flagged, "CASE-9")
    op.categorise(flagged, "no further action")
    retention = running.store.retention
    assert retention.step(received_of(running, held) + 3000 * DAY) == []
    op.unflag(flagged)  # its category's date has long passed: it goes now
    assert [d["recording_id"] for d in retention.step(
        received_of(running, held) + 3000 * DAY)] == [flagged]
    op.categorise(held, "no further action")  # leaving the hold: its date from receipt
    assert [d["recording_id"] for d in retention.step(
        received_of(running, held) + 3000 * DAY)] == [held]


def test_uncategorised_keeps_the_default(running: Running, enrolled: Camera) -> None:
    first, second = running.upload_all(enrolled)
    running.operator().categorise(first, "training")
    received = received_of(running, second)
    assert [d["recording_id"] for d in running.store.retention.step(
        received + 31 * DAY + 1)] == [second]
    listed = {r["recording_id"]: r for r in running.operator().recordings()}
    assert listed[first]["category"] == "training" and listed[second]["category"] is None


def test_a_shortening_is_refused_in_one_line(running: Running, enrolled: Camera) -> None:
    rec, _ = running.upload_all(enrolled)
    op = running.operator()
    op.categorise(rec, "training")
    with pytest.raises(StoreHttpError) as err:
        op.categorise(rec, "no further action")
    assert err.value.status == 409 and "only ever extended" in str(err.value)
    assert "\n" not in str(err.value)
    # through a hold and out again: still not earlier than the date it was given
    op.categorise(rec, "evidence")
    with pytest.raises(StoreHttpError) as err:
        op.categorise(rec, "no further action")
    assert err.value.status == 409
    assert op.categorise(rec, "training")["category"] == "training"
    deleted = running.store.retention.step(received_of(running, rec) + 100 * DAY)
    assert rec not in [d["recording_id"] for d in deleted]  # the other, uncategorised, went
    categorised = [e for e in running.store.audit.entries() if e["event"] == "categorise"]
    assert [e["category"] for e in categorised] == ["training", "evidence", "training"]


@pytest.mark.parametrize("category, status, words", [
    ("archive", 400, "unknown category"),
    ("Evidence", 400, "lowercase"),
    ("", 400, "lowercase"),
    ("x" * 200, 400, "lowercase"),
    (" evidence", 400, "lowercase"),
    (7, 400, "is text"),
    (None, 400, "is text"),
])
def test_bad_categories_are_refused(running: Running, enrolled: Camera, category: object,
                                    status: int, words: str) -> None:
    rec, _ = running.upload_all(enrolled)
    op = running.operator()
    with pytest.raises(StoreHttpError) as err:
        op.request("POST", f"/v1/recordings/{rec}/category",
                   json.dumps({"category": category}).encode())
    assert err.value.status == status and words in str(err.value)
    assert "\n" not in str(err.value)
    assert not [e for e in running.store.audit.entries() if e["event"] == "categorise"]


def test_unknown_recording_and_deleted_recording(running: Running, enrolled: Camera) -> None:
    rec, _ = running.upload_all(enrolled)
    op = running.operator()
    with pytest.raises(StoreHttpError) as err:
        op.categorise("R999999-000000", "training")
    assert err.value.status == 404 and "no recording" in str(err.value)
    running.store.retention.step(received_of(running, rec) + 40 * DAY)
    with pytest.raises(StoreHttpError) as err:
        op.categorise(rec, "training")
    assert err.value.status == 409 and "deleted by retention" in str(err.value)
    with pytest.raises(StoreHttpError) as err:
        op.request("POST", f"/v1/recordings/{rec}/category", b'{"category": "training", "x": 1}')
    assert err.value.status == 400 and "unknown field" in str(err.value)


def test_the_same_category_again_changes_nothing(running: Running, enrolled: Camera) -> None:
    rec, _ = running.upload_all(enrolled)
    op = running.operator()
    op.categorise(rec, "training")
    assert op.categorise(rec, "training")["changed"] is False
    assert len([e for e in running.store.audit.entries() if e["event"] == "categorise"]) == 1


def test_cli_categorise(running: Running, enrolled: Camera, capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    rec, _ = running.upload_all(enrolled)
    monkeypatch.setenv("BODYCAM_STORE_TOKEN", running.token)
    base = ["--url", running.url]
    assert cli.main(["categorise", rec, "training", *base]) == 0
    assert "'training'" in capsys.readouterr().out
    assert cli.main(["categorise", rec, "no further action", *base]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("bodycam store categorise: error:") and "\n" not in err
    assert cli.main(["categorise", rec, "nope", *base]) == 1
    assert "unknown category" in capsys.readouterr().err
    assert cli.main(["categorise", "R000404-000000", "training", *base]) == 1
    assert "no recording" in capsys.readouterr().err


def test_categories_in_store_json(tmp_path: Path) -> None:
    config = StoreConfig(categories={"no further action": 31, "evidence": None,
                                     "traffic": 90})
    path = tmp_path / "store.json"
    path.write_bytes(config.to_bytes())
    assert StoreConfig.load(path).categories["traffic"] == 90
    assert StoreConfig().categories == {"no further action": 31, "evidence": None,
                                        "training": 365}
    for bad, words in (([], "expected an object"), ({"x": "31"}, "not a retention"),
                       ({"x": True}, "not a retention"), ({"x": 0}, "not a retention"),
                       ({"x": 1e9}, "not a retention"), ({"BAD": 3}, "lowercase"),
                       ({f"c{i}": 1 for i in range(100)}, "at most")):
        data = json.loads(config.to_bytes())
        data["categories"] = bad
        path.write_text(json.dumps(data))
        with pytest.raises(StoreConfigError) as err:
            StoreConfig.load(path)
        assert words in str(err.value) and "\n" not in str(err.value)


def test_a_category_dropped_from_store_json_holds(running: Running, enrolled: Camera) -> None:
    rec, other = running.upload_all(enrolled)
    running.operator().categorise(rec, "training")
    config = running.store.config
    cats = {k: v for k, v in config.categories.items() if k != "training"}
    (running.directory / "store.json").write_bytes(replace(config, categories=cats).to_bytes())
    running.restart()
    deleted = running.store.retention.step(received_of(running, rec) + 5000 * DAY)
    assert [d["recording_id"] for d in deleted] == [other]


def _leaf(kind: str, utc: str, **fields: object) -> bytes:
    return json.dumps({"v": 1, "kind": kind, "utc": utc, "device_id": "bwv-1",
                       "recording_id": "R1", **fields}, sort_keys=True,
                      separators=(",", ":")).encode()


def _deletion(days: float) -> bytes:
    expires = 1767225600.0 + days * DAY
    from evidence.utc import utc_iso

    return _leaf("deletion", utc_iso(expires + 1), rule="retention_days", retention_days=days,
                 received_utc="2026-01-01T00:00:00.000Z", expires_utc=utc_iso(expires),
                 flagged=False, manifest_sha256s=[])


@pytest.mark.parametrize("category_days, deleted_days, words", [
    (None, 31, "holds it"), (365, 31, "category leaf 1 gives 365"), (365, 365, None),
    (31, 365, None), ("x", 31, "not a number"),
])
def test_the_public_check_holds_deletions_to_the_category(category_days: object,
                                                          deleted_days: float,
                                                          words: str | None) -> None:
    log = [_leaf("segment", "2026-01-01T00:00:00.000Z", segment_index=0, file="f", sha256="0",
                 size=1, manifest_sha256="0"),
           _leaf("category", "2026-01-02T00:00:00.000Z", category="c", previous_category=None,
                 retention_days=category_days),
           _deletion(deleted_days)]
    problems = audit_leaves(log)
    if words is None:
        assert problems == []
    else:
        assert len(problems) == 1 and words in problems[0]


def test_object_lock_follows_the_category_extend_only(running: Running,
                                                      enrolled: Camera) -> None:
    """With Object Lock (the engines run: Ceph's RGW) each object's COMPLIANCE date becomes
    the category's, a holding category puts legal holds on and leaving it lifts them, and the
    refused shortening leaves every date as it was. On the folder the catalogue says the same."""
    rec, _ = running.upload_all(enrolled)
    store, op = running.store, running.operator()
    shas = [sha for row in store.catalogue.all(
        "SELECT sha256, manifest_sha256 FROM segments WHERE recording_id = ?", rec)
        for sha in row]
    op.categorise(rec, "training")
    until = received_of(running, rec) + 365 * DAY
    row = store.catalogue.one("SELECT retain_until_s FROM recordings WHERE recording_id = ?",
                              rec)
    assert row["retain_until_s"] == pytest.approx(until, abs=0.01)
    with pytest.raises(StoreHttpError):
        op.categorise(rec, "no further action")
    op.categorise(rec, "evidence")
    if store.objects.locks:
        for sha in shas:
            date, held = store.objects.retention(sha)
            assert date == pytest.approx(until, abs=1.0) and held
    op.categorise(rec, "training")
    if store.objects.locks:
        assert all(store.objects.retention(sha) == (pytest.approx(until, abs=1.0), False)
                   for sha in shas)
    entries = [e for e in store.audit.entries() if e["event"] == "categorise"]
    assert [e["category"] for e in entries] == ["training", "evidence", "training"]
    if store.objects.locks:
        assert all(e["objects_locked"] == len(shas) for e in entries)


def test_a_category_leaf_that_never_committed_is_reconciled_before_a_deletion(
        running: Running, enrolled: Camera) -> None:
    """Log first: a crash between the leaf and the commit leaves a holding category in the log
    that the catalogue never had. The honest deletion (at the default 31 days) is preceded by a
    reconciling category leaf, so the public check does not call it early."""
    rec, _ = running.upload_all(enrolled)
    store = running.store
    device = store.find_recording(rec)[0]
    store.tlog.category(store.now_utc(), device, rec, category="evidence", previous=None,
                        retention_days=None)  # as if the transaction then failed
    deleted = store.retention.step(received_of(running, rec) + 31 * DAY + 1)
    assert rec in [d["recording_id"] for d in deleted]
    mine = [leaf for leaf in leaves(running) if leaf.get("recording_id") == rec]
    assert [leaf["kind"] for leaf in mine][-2:] == ["category", "deletion"]
    assert mine[-2]["reconciled"] is True and mine[-2]["category"] is None
    assert mine[-2]["retention_days"] == 31
    log = store.tlog.log
    assert audit_leaves(log.leaves(0, log.size)) == []
