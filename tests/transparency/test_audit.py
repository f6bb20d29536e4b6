"""The rules a deletion leaf must satisfy, and how a rewrite is named, on leaves made by hand:
each broken rule has its own one-line reason, and an honest history has none."""

from __future__ import annotations

import json

import pytest

from evidence.transparency import leaf_hash
from evidence.transparency_audit import audit_leaves, diagnose, root_of
from evidence.utc import utc_iso, utc_seconds
from store.tlog import canonical
from tests.transparency.test_merkle import mth

RECEIVED = "2026-01-01T10:00:00.000Z"
DAY = 86400


def leaf(kind: str, utc: str, **fields: object) -> bytes:
    return canonical({"v": 1, "kind": kind, "utc": utc, "device_id": "dev-1",
                      "recording_id": "R000001-abcdef", **fields})


def deletion(utc: str, received: str = RECEIVED, days: float = 31, **more: object) -> bytes:
    fields: dict[str, object] = {
        "rule": "retention_days", "retention_days": days, "received_utc": received,
        "expires_utc": utc_iso(utc_seconds(received) + days * DAY), "flagged": False,
        "manifest_sha256s": ["a" * 64], **more}
    return leaf("deletion", utc, **fields)


def at(days: float) -> str:
    return utc_iso(utc_seconds(RECEIVED) + days * DAY)


def honest() -> list[bytes]:
    return [leaf("segment", RECEIVED, manifest_sha256="a" * 64, sha256="b" * 64),
            leaf("flag", at(1), case_ref_sha256="c" * 64),
            leaf("unflag", at(2)),
            deletion(at(31))]


def test_an_honest_history_has_no_problem() -> None:
    assert audit_leaves(honest()) == []
    fractional = [leaf("segment", RECEIVED, manifest_sha256="a" * 64),
                  deletion(at(0.001), days=0.001)]
    assert audit_leaves(fractional) == []


@pytest.mark.parametrize("change, reason", [
    (lambda h: [*h[:3], deletion(at(30))], "before it expired"),
    (lambda h: [*h[:2], deletion(at(31))], "flag leaf 1 for it was never lifted"),
    (lambda h: [*h[:3], deletion(at(31), flagged=True)], "was flagged when it was deleted"),
    (lambda h: [*h[:3], deletion(at(31), received=at(-5))], "back-dated"),
    (lambda h: [*h[:3], deletion(at(31), rule="whim")], "cites no rule"),
    (lambda h: [*h[:3], deletion(at(40), expires_utc=at(20))], "is not received"),
    (lambda h: [*h[:3], deletion(at(31), retention_days="31")], "not a number of days"),
    (lambda h: [*h[:3], b"not json"], "leaf 3"),
])
def test_each_broken_rule_is_named(change, reason: str) -> None:
    problems = audit_leaves(change(honest()))
    assert len(problems) == 1 and reason in problems[0] and "\n" not in problems[0]


def test_a_flag_after_the_deletion_does_not_make_it_wrong() -> None:
    assert audit_leaves([*honest(), leaf("flag", at(40), case_ref_sha256="c" * 64)]) == []


def test_a_rewrite_is_named_by_what_changed() -> None:
    saved = honest()
    assert "leaf 1 (flag dev-1/R000001-abcdef" in diagnose(saved, [saved[0], *saved[2:]])
    assert "dropped" in diagnose(saved, saved[:2])
    changed = [saved[0], leaf("flag", at(1), case_ref_sha256="d" * 64), *saved[2:]]
    assert "leaf 1 (flag" in diagnose(saved, changed) and "changed" in diagnose(saved, changed)
    back = [*saved[:3], deletion(at(31), received=at(-1))]
    why = diagnose(saved, back)
    assert why.startswith("deletion leaf 3 of dev-1/R000001-abcdef was back-dated")
    assert f"received_utc {RECEIVED} -> {at(-1)}" in why


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 8, 13])
def test_root_of_is_the_merkle_tree_hash(n: int) -> None:
    data = [json.dumps(i).encode() for i in range(n)]
    assert root_of([leaf_hash(d) for d in data]) == mth(data)


@pytest.mark.parametrize("raw, says", [
    (b"[" * 50_000 + b"]" * 50_000, "is 100000 bytes, larger than any custody record"),
    (b"[" * 20_000 + b"]" * 20_000, "leaf 0 is not JSON"),
    (b'{"v":1,"kind":"segment","utc":NaN}', "leaf 0 is not JSON"),
    (b'{"v":1,"kind":"segment","utc":"2026-13-01T00:00:00.000Z"}', "leaf 0: time"),
    (b'{"v":2,"kind":"segment","utc":"2026-01-01T00:00:00.000Z"}', "not a version 1"),
    (b'{"v":1,"kind":"nonsense","utc":"2026-01-01T00:00:00.000Z"}', "unknown kind"),
])
def test_a_hostile_leaf_is_one_line_not_a_traceback(raw: bytes, says: str) -> None:
    [problem] = audit_leaves([raw])
    assert says in problem and "\n" not in problem


def test_the_fast_time_reader_agrees_with_the_contract() -> None:
    from evidence.transparency_audit import seconds

    for text in ("2026-01-01T10:00:00.000Z", "2024-02-29T23:59:59.999Z", RECEIVED, at(31.5)):
        assert seconds(text) == utc_seconds(text)
    for bad in ("2026-02-30T00:00:00.000Z", "2026-01-01 10:00:00.000Z", "", None, 5):
        with pytest.raises(ValueError):
            seconds(bad)
