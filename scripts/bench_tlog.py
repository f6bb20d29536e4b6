"""Benchmark of the store's transparency log: appends, proofs and their sizes at 100,000 leaves."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench_pipeline import Row
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from evidence.transparency import leaf_hash, verify_consistency, verify_inclusion
from evidence.transparency_audit import audit_leaves, root_of
from store.tlog import TransparencyLog

LEAVES = 100_000
BATCH = 1_000


def _entry(i: int) -> dict[str, object]:
    """A segment leaf as the store writes it (store/transparency.py): the log indexes these."""
    return {"v": 1, "kind": "segment", "device_id": "bwv-0123456789abcdef",
            "recording_id": f"R{i // 10:06d}-9f3ac2", "segment_index": i % 10,
            "file": f"R{i // 10:06d}-9f3ac2-S{i % 10:04d}.mp4", "sha256": f"{i + 1:064x}",
            "size": 80_000, "manifest_sha256": f"{i:064x}", "utc": "2026-12-01T23:59:59.000Z"}


def transparency_log(seconds: float) -> list[Row]:
    """100,000 leaves appended in group commits of 1,000, durable single appends for a few
    seconds, then inclusion and consistency proofs generated and verified at random places."""
    key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory() as tmp:
        log = TransparencyLog(Path(tmp) / "tlog", "bodycam.bench/log", key)
        start = time.perf_counter()
        for base in range(0, LEAVES, BATCH):
            log.append_many([_entry(i) for i in range(base, base + BATCH)])
        batched = LEAVES / (time.perf_counter() - start)
        single, start = 0, time.perf_counter()
        while time.perf_counter() - start < min(seconds, 3.0):
            log.append(_entry(LEAVES + single))
            single += 1
        single_rate = single / (time.perf_counter() - start)
        size = log.size
        root = log.root()
        n, gen, check, proof_bytes = 2_000, 0.0, 0.0, 0
        for i in range(n):
            index = (i * 7_919) % size
            t0 = time.perf_counter()
            proof = log.inclusion_proof(index, size)
            t1 = time.perf_counter()
            verify_inclusion(log.leaf_hash_at(index), index, size, proof, root)
            check += time.perf_counter() - t1
            gen += t1 - t0
            proof_bytes = max(proof_bytes, 32 * len(proof))
        c_gen, c_bytes = 0.0, 0
        for i in range(n):
            old = 1 + (i * 104_729) % (size - 1)
            t0 = time.perf_counter()
            proof = log.consistency_proof(old, size)
            c_gen += time.perf_counter() - t0
            verify_consistency(old, size, proof, log.root(old), root)
            c_bytes = max(c_bytes, 32 * len(proof))
        t0 = time.perf_counter()
        TransparencyLog(Path(tmp) / "tlog", "bodycam.bench/log", key)
        reload_s = time.perf_counter() - t0
        leaves = log.leaves(0, size)
        t0 = time.perf_counter()  # what `bodycam transparency verify` does with them
        assert root_of([leaf_hash(x) for x in leaves]) == root
        assert audit_leaves(leaves) == []
        audit_s = time.perf_counter() - t0
    return [
        Row(f"tlog: append {LEAVES:,} leaves, group commits of {BATCH:,}", f"{batched:,.0f} /s",
            "one fsync per commit"),
        Row("tlog: append one leaf, fsync each", f"{single_rate:,.0f} /s", "bounded by fsync"),
        Row(f"tlog: inclusion proof at {size:,} leaves", f"{gen / n * 1e6:.0f} us",
            f"verify {check / n * 1e6:.0f} us; at most {proof_bytes} bytes"),
        Row(f"tlog: consistency proof to {size:,} leaves", f"{c_gen / n * 1e6:.0f} us",
            f"at most {c_bytes} bytes"),
        Row(f"tlog: reopen a log of {size:,} leaves", f"{reload_s:.2f} s",
            "rehash and index every leaf"),
        Row(f"tlog: audit {size:,} leaves (root and rules)", f"{audit_s:.2f} s",
            "transparency verify, first run"),
    ]


BENCHMARKS = {"tlog": transparency_log}
