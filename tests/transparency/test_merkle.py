"""The transparency log's Merkle tree against a brute-force RFC 9162 tree, and its proofs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.transparency import (
    Checkpoint,
    ProofError,
    leaf_hash,
    node_hash,
    open_note,
    verify_consistency,
    verify_inclusion,
)
from store.tlog import LEAVES, LogRangeError, TransparencyLog


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.1, written as the RFC writes it."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hash(leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*subproof(m, leaves[:k], whole), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def entry(i: int) -> dict[str, object]:
    return {"kind": "segment", "i": i}


def data(i: int) -> bytes:
    return b'{"i":%d,"kind":"segment"}' % i


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def grown(tmp_path: Path, key: Ed25519PrivateKey, n: int) -> TransparencyLog:
    log = TransparencyLog(tmp_path / "tlog", "bodycam.test/log", key)
    for i in range(n):
        assert log.append(entry(i)) == i
    return log


@settings(max_examples=40, deadline=None)
@given(n=st.integers(min_value=1, max_value=70), picks=st.data())
def test_roots_and_proofs_match_the_rfc(tmp_path_factory, n, picks) -> None:
    log = grown(tmp_path_factory.mktemp("t"), Ed25519PrivateKey.generate(), n)
    leaves = [data(i) for i in range(n)]
    size = picks.draw(st.integers(min_value=1, max_value=n))
    index = picks.draw(st.integers(min_value=0, max_value=size - 1))
    size1 = picks.draw(st.integers(min_value=1, max_value=size))
    assert log.root(size) == mth(leaves[:size])
    proof = log.inclusion_proof(index, size)
    assert proof == path(index, leaves[:size])
    verify_inclusion(leaf_hash(leaves[index]), index, size, proof, log.root(size))
    consistency = log.consistency_proof(size1, size)
    assert consistency == ([] if size1 == size else subproof(size1, leaves[:size], True))
    verify_consistency(size1, size, consistency, log.root(size1), log.root(size))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(min_value=2, max_value=40), picks=st.data())
def test_a_changed_leaf_or_proof_never_verifies(tmp_path_factory, n, picks) -> None:
    log = grown(tmp_path_factory.mktemp("t"), Ed25519PrivateKey.generate(), n)
    index = picks.draw(st.integers(min_value=0, max_value=n - 1))
    proof = log.inclusion_proof(index, n)
    with pytest.raises(ProofError):
        verify_inclusion(leaf_hash(b"forged"), index, n, proof, log.root())
    other = picks.draw(st.integers(min_value=0, max_value=n - 1).filter(lambda i: i != index))
    with pytest.raises(ProofError):  # the right leaf claimed at the wrong place
        verify_inclusion(log.leaf_hash_at(index), other, n, proof, log.root())
    if proof:
        bad = list(proof)
        bad[picks.draw(st.integers(min_value=0, max_value=len(bad) - 1))] = bytes(32)
        with pytest.raises(ProofError):
            verify_inclusion(log.leaf_hash_at(index), index, n, bad, log.root())
        with pytest.raises(ProofError):
            verify_inclusion(log.leaf_hash_at(index), index, n, proof[:-1], log.root())


@settings(max_examples=40, deadline=None)
@given(n=st.integers(min_value=2, max_value=40), picks=st.data())
def test_a_rewritten_history_fails_consistency(tmp_path_factory, n, picks) -> None:
    """A store that dropped or changed an entry before an old checkpoint cannot prove it grew
    from that checkpoint."""
    base = tmp_path_factory.mktemp("t")
    key = Ed25519PrivateKey.generate()
    honest = grown(base / "a", key, n)
    size1 = picks.draw(st.integers(min_value=1, max_value=n - 1))
    old_root = honest.root(size1)
    victim = picks.draw(st.integers(min_value=0, max_value=size1 - 1))
    rewritten = TransparencyLog(base / "b", "bodycam.test/log", key)
    for i in range(n + 1):
        if i == victim:
            continue  # dropped (and so everything after it moves up)
        rewritten.append(entry(i))
    size2 = rewritten.size
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, rewritten.consistency_proof(size1, size2), old_root,
                           rewritten.root())


def test_leaves_survive_a_restart_and_a_torn_line_is_kept_aside(tmp_path, key) -> None:
    log = grown(tmp_path, key, 5)
    root = log.root()
    with open(tmp_path / "tlog" / LEAVES, "ab") as f:
        f.write(b'{"kind":"torn')
    again = TransparencyLog(tmp_path / "tlog", "bodycam.test/log", key)
    assert again.size == 5 and again.root() == root
    assert (tmp_path / "tlog" / (LEAVES + ".torn")).read_bytes() == b'{"kind":"torn\n'
    assert again.append(entry(5)) == 5
    assert again.leaves(4, 6) == [data(4), data(5)]
    assert os.stat(tmp_path / "tlog" / LEAVES).st_mode & 0o077 == 0


def test_out_of_range_requests_are_named(tmp_path, key) -> None:
    log = grown(tmp_path, key, 3)
    for call in (lambda: log.inclusion_proof(3, 3), lambda: log.inclusion_proof(0, 4),
                 lambda: log.consistency_proof(2, 4), lambda: log.consistency_proof(3, 2),
                 lambda: log.root(4), lambda: log.leaves(2, 5)):
        with pytest.raises(LogRangeError):
            call()


def test_signed_checkpoint_round_trip(tmp_path, key) -> None:
    log = grown(tmp_path, key, 7)
    note = log.signed_checkpoint()
    body = open_note(note, log.origin, key.public_key())
    checkpoint = Checkpoint.parse(body)
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == (log.origin, 7, log.root())
    lines = note.split("\n")
    assert lines[:3] == [log.origin, "7", lines[2]] and lines[3] == "" and \
        lines[4].startswith("\u2014 bodycam.test/log ")


@pytest.mark.parametrize("edit", [
    lambda n: n.replace("\n7\n", "\n8\n", 1),
    lambda n: n.replace("bodycam.test/log\n", "bodycam.test/other\n", 1),
    lambda n: n[:-5] + ("A" if n[-5] != "A" else "B") + n[-4:],
    lambda n: n.split("\n\n")[0] + "\n",
    lambda n: n.replace("\u2014 ", "- "),
    lambda n: n + "\u2014 x !!!\n",
])
def test_edited_checkpoints_are_refused(tmp_path, key, edit) -> None:
    note = grown(tmp_path, key, 7).signed_checkpoint()
    with pytest.raises(ProofError):
        open_note(edit(note), "bodycam.test/log", key.public_key())


def test_another_keys_signature_is_not_the_stores(tmp_path, key) -> None:
    note = grown(tmp_path, key, 2).signed_checkpoint()
    with pytest.raises(ProofError, match="no signature by"):
        open_note(note, "bodycam.test/log", Ed25519PrivateKey.generate().public_key())


@pytest.mark.parametrize("body", ["", "a\n1\n", "a\n01\nAAAA\n", "a\nx\nAAAA\n",
                                  "a\n1\nnot base64!\n", "a\n1\nAAAA\n",
                                  "a\n1\n" + "A" * 44 + "\n\n"])
def test_malformed_checkpoints_are_named(body) -> None:
    with pytest.raises(ProofError):
        Checkpoint.parse(body)


#: The RFC 6962 reference leaves and the roots of their first 1..8 (Certificate Transparency's
#: own test vectors), so the tree agrees with other implementations, not only with ours.
VECTOR_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                 "606162636465666768696a6b6c6d6e6f"]
VECTOR_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_reference_vectors(tmp_path, key) -> None:
    log = TransparencyLog(tmp_path / "tlog", "bodycam.test/log", key)
    for leaf in VECTOR_LEAVES:
        log.append_raw(bytes.fromhex(leaf))
    assert [log.root(n).hex() for n in range(1, 9)] == VECTOR_ROOTS
    again = TransparencyLog(tmp_path / "tlog", "bodycam.test/log", key)
    assert again.root().hex() == VECTOR_ROOTS[-1]
