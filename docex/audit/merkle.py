"""RFC 6962 / RFC 9162 Merkle tree hashing and proofs, as small pure functions.

Guarantees, for SHA-256 and the tree of RFC 9162 §2.1.1:

- ``leaf_hash(d) = SHA-256(0x00 || d)`` and ``node_hash(l, r) = SHA-256(0x01 || l || r)``: a
  leaf can never be passed off as an inner node, nor the other way round (second preimages).
- ``verify_inclusion`` and ``verify_consistency`` follow RFC 9162 §2.1.3.2 and §2.1.4.2 step by
  step and *raise* :class:`ProofError` on any failure; they return nothing, so a caller cannot
  forget to look at a boolean. Every hash they are given must be 32 bytes.
- Proof *generation* is split in two so that a log stored in a database needs O(log n) reads:
  :func:`inclusion_ranges` / :func:`consistency_ranges` say which leaf ranges' hashes make the
  proof (RFC 9162 §2.1.3.1 PATH and §2.1.4.1 SUBPROOF, on sizes only, no data), and
  :func:`range_nodes` says which complete subtrees (``level``, ``index``: the 2^level leaves from
  ``index * 2^level``) those hashes are made of. Every range these functions produce starts at a
  multiple of a power of two at least as large as its left part, so its complete subtrees are
  the binary decomposition of its size: at most ``2 * log2(n)`` distinct nodes per proof.
- :class:`Frontier` appends leaves one by one and yields each complete subtree as it closes: the
  integrator stores exactly those, and the full verifier recomputes them the same way.

Nothing here does I/O; ``docex.audit.tree`` reads the stored nodes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) = SHA-256() (RFC 9162 §2.1.1)

Range = tuple[int, int]  # leaves [start, end)
Node = tuple[int, int]  # (level, index): leaves [index * 2^level, (index + 1) * 2^level)


class ProofError(ValueError):
    """A proof that does not prove what it claims (or is malformed)."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(size: int) -> int:
    """k, the largest power of two smaller than ``size`` (>= 2): where RFC 9162 splits a tree."""
    if size < 2:
        raise ValueError("only a tree of two leaves or more has a split point")
    return 1 << ((size - 1).bit_length() - 1)


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a whole list of leaf hashes, in memory (tests, small trees)."""
    frontier = Frontier()
    for h in leaf_hashes:
        frontier.append(h)
    return frontier.root()


# -- which hashes a proof is made of ---------------------------------------------------------


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The leaf ranges whose hashes form PATH(index, D[size]), leaf first (RFC 9162 §2.1.3.1)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    out: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start += k
    out.reverse()
    return out


def consistency_ranges(first: int, second: int) -> list[Range]:
    """The leaf ranges whose hashes form PROOF(first, D[second]) (RFC 9162 §2.1.4.1)."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    out: list[Range] = []
    start, end, m, complete = 0, second, first, True
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start += k
            m -= k
            complete = False
    if not complete:
        out.append((start, end))
    out.reverse()
    return out


def range_nodes(start: int, end: int) -> list[Node]:
    """The complete subtrees whose hashes determine MTH(D[start:end]), left to right."""
    if not 0 <= start < end:
        raise ValueError(f"empty or negative range [{start}, {end})")
    out: list[Node] = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start & ((1 << level) - 1):
            level -= 1
        out.append((level, start >> level))
        start += 1 << level
    return out


def range_hash(start: int, end: int, nodes: Mapping[Node, bytes]) -> bytes:
    """MTH(D[start:end]) from the hashes of its :func:`range_nodes` (RFC 9162 §2.1.1)."""
    parts = [nodes[n] for n in range_nodes(start, end)]
    return fold(parts)


def fold(parts: Sequence[bytes]) -> bytes:
    """Combine complete subtrees, largest first, into the hash of the range they tile: the
    rightmost two are joined first, as RFC 9162's split at the largest power of two does."""
    if not parts:
        return EMPTY_ROOT
    acc = parts[-1]
    for part in reversed(parts[:-1]):
        acc = node_hash(part, acc)
    return acc


def proof_nodes(ranges: Iterable[Range]) -> set[Node]:
    """Every stored node a proof made of ``ranges`` needs (one round trip to fetch)."""
    return {n for r in ranges for n in range_nodes(*r)}


def build_proof(ranges: Sequence[Range], nodes: Mapping[Node, bytes]) -> list[bytes]:
    return [range_hash(a, b, nodes) for a, b in ranges]


def subtree_reader(leaf_hashes: Sequence[bytes]) -> Callable[[Node], bytes]:
    """Hash of a complete subtree of an in-memory list of leaf hashes (tests, small trees)."""

    def read(node: Node) -> bytes:
        level, index = node
        return root(leaf_hashes[index << level : (index + 1) << level])

    return read


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int) -> list[bytes]:
    ranges = inclusion_ranges(index, size)
    read = subtree_reader(leaf_hashes)
    return build_proof(ranges, {n: read(n) for n in proof_nodes(ranges)})


def consistency_proof(leaf_hashes: Sequence[bytes], first: int, second: int) -> list[bytes]:
    ranges = consistency_ranges(first, second)
    read = subtree_reader(leaf_hashes)
    return build_proof(ranges, {n: read(n) for n in proof_nodes(ranges)})


# -- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ---------------------------------------------


def _check_hashes(*hashes: bytes) -> None:
    if any(len(h) != HASH_SIZE for h in hashes):
        raise ProofError("a hash is not 32 bytes")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from ``leaf`` at ``index``; ProofError if malformed."""
    _check_hashes(leaf, *proof)
    # 1. leaf_index >= tree_size fails.
    if index >= size or index < 0:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    # 2.-3.
    fn, sn, r = index, size - 1, leaf
    # 4.
    for p in proof:
        # a.
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        # b.
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        # c.
        fn >>= 1
        sn >>= 1
    # 5. (first half) sn must be 0.
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> None:
    """Raise ProofError unless ``leaf`` is leaf ``index`` of the tree of ``size`` with root
    ``expected_root``."""
    _check_hashes(expected_root)
    if root_from_inclusion(index, size, leaf, proof) != expected_root:
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(
    first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes
) -> None:
    """Raise ProofError unless the tree of size ``second`` and root ``second_root`` extends the
    tree of size ``first`` and root ``first_root``.

    Before RFC 9162's algorithm, which assumes 0 < first < second: equal sizes need an empty
    proof and equal roots; a first size of 0 proves nothing and is refused (every tree extends
    the empty one, so a "proof" from it would vouch for anything)."""
    if first > second:
        raise ProofError(f"first size {first} is larger than second size {second}")
    if first <= 0:
        raise ProofError("a consistency proof from an empty tree proves nothing")
    if first == second:
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if first_root != second_root:
            raise ProofError("same size, different roots")
        return
    _check_hashes(first_root, second_root, *proof)
    # 1.
    if not proof:
        raise ProofError("empty consistency proof")
    path = list(proof)
    # 2.
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    # 3.
    fn, sn = first - 1, second - 1
    # 4.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.
    fr = sr = path[0]
    # 6.
    for c in path[1:]:
        # a.
        if sn == 0:
            raise ProofError("consistency proof is too long")
        # b.
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        # c.
        fn >>= 1
        sn >>= 1
    # 7.
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != first_root:
        raise ProofError("consistency proof does not lead to the first root")
    if sr != second_root:
        raise ProofError("consistency proof does not lead to the second root")


# -- appending -----------------------------------------------------------------------------------


@dataclass
class Frontier:
    """The right edge of a tree grown from size 0: one complete subtree per set bit of
    ``size``, largest first (a "compact range" [0, size)). Enough to append and to get the
    root, with O(log n) memory."""

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    @classmethod
    def of(cls, size: int, nodes: Mapping[Node, bytes]) -> Frontier:
        """The frontier of a stored tree of ``size``, from its :func:`frontier_nodes`."""
        return cls(size, [nodes[n] for n in frontier_nodes(size)])

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the complete subtrees above level 0 that it closes, as
        (level, index, hash), lowest first."""
        closed: list[tuple[int, int, bytes]] = []
        self.hashes.append(leaf)
        self.size += 1
        level, n = 0, self.size
        while n & 1 == 0:  # every trailing zero bit of the new size is a subtree closing
            right = self.hashes.pop()
            left = self.hashes.pop()
            level += 1
            n >>= 1
            merged = node_hash(left, right)
            self.hashes.append(merged)
            closed.append((level, n - 1, merged))
        return closed

    def root(self) -> bytes:
        return fold(self.hashes)


def frontier_nodes(size: int) -> list[Node]:
    """The complete subtrees that tile [0, size), largest first."""
    return range_nodes(0, size) if size else []
