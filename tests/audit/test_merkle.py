"""The Merkle math: every transparency-dev vector, and properties against a naive tree."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docex.audit import merkle
from tests.fixtures import fixture_files

INCLUSION = fixture_files("merkle/testdata/inclusion", "**/*.json")
CONSISTENCY = fixture_files("merkle/testdata/consistency", "**/*.json")


def _case(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _name(path: Path) -> str:
    return "/".join(path.parts[-2:])


def _accepts(check: Any) -> bool:
    try:
        check()
    except merkle.ProofError:
        return False
    return True


@pytest.mark.parametrize("path", INCLUSION, ids=_name)
def test_inclusion_vector(path: Path) -> None:
    case = _case(path)
    if path.name == "happy-path.json":
        assert case["wantErr"] is False
    accepted = _accepts(
        lambda: merkle.verify_inclusion(
            case["leafIdx"],
            case["treeSize"],
            _b64(case["leafHash"]),
            [_b64(p) for p in case["proof"] or []],
            _b64(case["root"]),
        )
    )
    assert accepted is not case["wantErr"], case["desc"]


@pytest.mark.parametrize("path", CONSISTENCY, ids=_name)
def test_consistency_vector(path: Path) -> None:
    case = _case(path)
    if path.name == "happy-path.json":
        assert case["wantErr"] is False
    accepted = _accepts(
        lambda: merkle.verify_consistency(
            case["size1"],
            case["size2"],
            [_b64(p) for p in case["proof"] or []],
            _b64(case["root1"]),
            _b64(case["root2"]),
        )
    )
    assert accepted is not case["wantErr"], case["desc"]


def test_vectors_cover_both_outcomes() -> None:
    """The vector sets are real: happy paths in every folder, and many more failures."""
    for paths in (INCLUSION, CONSISTENCY):
        wanted = [_case(p)["wantErr"] for p in paths]
        assert wanted.count(False) >= 5
        assert wanted.count(True) > 50


def test_happy_path_proofs_are_the_ones_we_generate() -> None:
    """Our generator gives the vectors' own happy-path proofs (leaves are the RFC 6962 test
    leaves of transparency-dev, rebuilt here from their documented values)."""
    leaves = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ]
    hashes = [merkle.leaf_hash(x) for x in leaves]
    for path in INCLUSION:
        case = _case(path)
        if path.name != "happy-path.json":
            continue
        proof = merkle.inclusion_proof(hashes, case["leafIdx"], case["treeSize"])
        assert proof == [_b64(p) for p in case["proof"] or []]
        assert merkle.root(hashes[: case["treeSize"]]) == _b64(case["root"])
    for path in CONSISTENCY:
        case = _case(path)
        if path.name != "happy-path.json":
            continue
        proof = merkle.consistency_proof(hashes, case["size1"], case["size2"])
        assert proof == [_b64(p) for p in case["proof"] or []]


# -- a naive tree, straight from RFC 9162 §2.1.1-2.1.4's recursive definitions -------------------


def naive_mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + naive_mth(leaves[:k]) + naive_mth(leaves[k:])).digest()


def naive_path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*naive_path(m, leaves[:k]), naive_mth(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), naive_mth(leaves[:k])]


def naive_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [naive_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*naive_subproof(m, leaves[:k], whole), naive_mth(leaves[k:])]
    return [*naive_subproof(m - k, leaves[k:], False), naive_mth(leaves[:k])]


# Distinct leaves, so that a wrong leaf or size cannot pass by coincidence.
leaf_lists = st.lists(st.binary(max_size=8), min_size=1, max_size=70, unique=True)


@settings(max_examples=300, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_inclusion_matches_naive_and_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    n = len(leaves)
    m = data.draw(st.integers(0, n - 1))
    hashes = [merkle.leaf_hash(x) for x in leaves]
    root = merkle.root(hashes)
    assert root == naive_mth(leaves)
    proof = merkle.inclusion_proof(hashes, m, n)
    assert proof == naive_path(m, leaves)
    merkle.verify_inclusion(m, n, hashes[m], proof, root)
    # Any other leaf, index or size fails.
    other = data.draw(st.integers(0, n - 1))
    if other != m:
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(m, n, hashes[other], proof, root)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(m, n, hashes[m], [*proof, hashes[m]], root)


@settings(max_examples=300, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_consistency_matches_naive_and_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    n = len(leaves)
    m = data.draw(st.integers(1, n))
    hashes = [merkle.leaf_hash(x) for x in leaves]
    proof = merkle.consistency_proof(hashes, m, n)
    assert proof == naive_subproof(m, leaves, True)
    first, second = merkle.root(hashes[:m]), merkle.root(hashes)
    merkle.verify_consistency(m, n, proof, first, second)
    if m < n:
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(m, n, proof, second, first)
        changed = [*hashes[: m - 1], merkle.leaf_hash(b"forged"), *hashes[m:]]
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(m, n, proof, first, merkle.root(changed))


@settings(max_examples=200, deadline=None)
@given(leaves=st.lists(st.binary(max_size=4), max_size=300))
def test_frontier_closes_every_complete_subtree_once(leaves: list[bytes]) -> None:
    frontier = merkle.Frontier()
    hashes = [merkle.leaf_hash(x) for x in leaves]
    closed: dict[merkle.Node, bytes] = {}
    for i, h in enumerate(hashes):
        for level, index, digest in frontier.append(h):
            assert (level, index) not in closed
            closed[(level, index)] = digest
        assert frontier.root() == naive_mth(leaves[: i + 1])
    read = merkle.subtree_reader(hashes)
    n = len(leaves)
    expected = {(lv, i) for lv in range(1, 10) for i in range(n >> lv)}
    assert set(closed) == expected
    assert all(closed[node] == read(node) for node in closed)
    # The frontier rebuilt from stored nodes is the same.
    nodes = {**closed, **{(0, i): h for i, h in enumerate(hashes)}}
    rebuilt = merkle.Frontier.of(n, nodes)
    assert rebuilt.hashes == frontier.hashes


@settings(max_examples=200, deadline=None)
@given(size=st.integers(1, 10**12), data=st.data())
def test_proofs_need_few_stored_nodes(size: int, data: st.DataObject) -> None:
    """A proof at any size reads O(log n) complete subtrees: at most 2 per level."""
    index = data.draw(st.integers(0, size - 1))
    levels = size.bit_length()
    assert len(merkle.proof_nodes(merkle.inclusion_ranges(index, size))) <= 2 * levels
    first = data.draw(st.integers(1, size))
    assert len(merkle.proof_nodes(merkle.consistency_ranges(first, size))) <= 2 * levels


def test_malformed_inputs_are_refused() -> None:
    leaf = merkle.leaf_hash(b"x")
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(0, 1, leaf[:31], [], leaf[:31])
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(-1, 1, leaf, [], leaf)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(0, 0, [], merkle.EMPTY_ROOT, merkle.EMPTY_ROOT)
    with pytest.raises(ValueError, match="not in a tree"):
        merkle.inclusion_ranges(3, 3)
    with pytest.raises(ValueError, match="no consistency proof"):
        merkle.consistency_ranges(0, 3)
