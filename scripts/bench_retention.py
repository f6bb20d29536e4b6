"""Benchmark of categories and retention at the store: categorising (audit + transparency leaf,
each fsynced), and a retention pass over a catalogue of categorised recordings (store/retention.py,
store/categories.py), on the embedded catalogue."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench_pipeline import Row

from store.service import Store, init_store

DAY = 86400.0
RECORDINGS = 20_000
DUE = 500
START = 1_767_225_600.0  # 2026-01-01
HELD = ("training", "evidence")


class _Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def _fill(store: Store, first: int, count: int, categories: tuple[str | None, ...]) -> None:
    """One-segment recordings straight into the catalogue, received 40 days before START (no
    objects: retention's purge takes a missing object as already gone)."""
    rows, segs = [], []
    for i in range(first, first + count):
        rec = f"R{i:06d}-bench0"
        received = START - 40 * DAY + i * 0.001
        rows.append(("bwv-bench", rec, received, received, categories[i % len(categories)]))
        segs.append(("bwv-bench", rec, 0, f"{rec}-S0000.mp4", f"{i:064x}", 1, f"{i + 1:064x}",
                     b"s", "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:04.000Z", received,
                     received + 4, 20, 160, 120, 1, "2026-01-01T00:00:00.000Z", b"r", b"s"))
    with store.catalogue.tx() as db:
        db.executemany("INSERT INTO recordings (device_id, recording_id, start_s, received_s, "
                       "category) VALUES (?, ?, ?, ?, ?)", rows)
        db.executemany("INSERT INTO segments (device_id, recording_id, segment_index, file, "
                       "sha256, size, manifest_sha256, signature, start_utc, end_utc, start_s, "
                       "end_s, frame_count, width, height, last, stored_utc, receipt, "
                       "receipt_signature) VALUES "
                       "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", segs)


def categories_and_retention(seconds: float) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "store"
        init_store(directory)
        clock = _Clock()
        store = Store(directory, clock=clock)
        try:
            _fill(store, 0, RECORDINGS, HELD)  # all past 31 days, all held by their category
            done, start = 0, time.perf_counter()
            while time.perf_counter() - start < min(seconds, 5.0) and done < RECORDINGS:
                store.categorise(f"R{done:06d}-bench0", "training" if done % 2 else "evidence")
                done += 1  # each to the other holding category
            rate = done / (time.perf_counter() - start)
            t0 = time.perf_counter()
            assert store.retention.step(START) == []
            idle_s = time.perf_counter() - t0
            _fill(store, RECORDINGS, DUE, (None,))  # uncategorised and 40 days old: due
            t0 = time.perf_counter()
            deleted = store.retention.step(START)
            pass_s = time.perf_counter() - t0
            assert len(deleted) == DUE, len(deleted)
        finally:
            store.close()
    return [
        Row("categorise a recording (audit + tlog leaf, fsynced)", f"{rate:,.0f} /s",
            f"{done:,} done"),
        Row(f"retention pass over {RECORDINGS:,} recordings past 31 days, all held by category",
            f"{idle_s * 1000:.0f} ms", "none due: each checked against its category"),
        Row(f"retention pass deleting {DUE:,} (with {RECORDINGS:,} held)", f"{pass_s:.2f} s",
            f"{DUE / pass_s:,.0f} recordings/s, each audited and in the tlog"),
    ]


BENCHMARKS = {"retention": categories_and_retention}
