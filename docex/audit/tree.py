"""Reading the stored tree: size, roots and proofs in O(log n) reads, never a rehash of the log.

Level 0 of the tree is ``audit_log.leaf_hash``; every complete subtree above it is a row of
``audit_tree`` (written by the integrator as the subtree closes, see ``docex.audit.sequencer``).
A root at any size, an inclusion proof or a consistency proof needs the hashes of at most
``2 * log2(n)`` complete subtrees (``docex.audit.merkle.range_nodes``), fetched in two indexed
queries. The answers are only as good as the stored hashes: ``docex.audit.verify`` is what
checks those against the events.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docex.audit import merkle
from docex.audit.models import LogEntry


class TreeError(RuntimeError):
    """The stored tree lacks a hash it must have: the log's tables were tampered with."""


def size(session: Session) -> int:
    last = session.scalar(select(func.max(LogEntry.position)))
    return 0 if last is None else int(last) + 1


def read_nodes(session: Session, nodes: Iterable[merkle.Node]) -> dict[merkle.Node, bytes]:
    """The stored hashes of ``nodes``, in one round trip; TreeError if any is missing.

    One plain SQL statement, because a proof is read per request and building the equivalent
    ORM expression (some forty ``level = ? AND idx = ?`` terms) cost four times the query.
    It is made of integers computed here (``int`` formatted), never of caller text, and its
    (level, idx) pairs are ORed, which both SQLite and PostgreSQL answer from the primary-key
    index (a row-value IN makes SQLite scan the table)."""
    wanted = set(nodes)
    if not wanted:
        return {}
    leaves = ",".join(str(int(i)) for level, i in wanted if level == 0)
    inner = " OR ".join(
        f'("level" = {int(level)} AND "idx" = {int(i)})' for level, i in wanted if level > 0
    )
    parts = []
    if leaves:
        parts.append(
            f'SELECT 0, "position", "leaf_hash" FROM audit_log WHERE "position" IN ({leaves})'  # noqa: S608 (integers only)
        )
    if inner:
        parts.append(f'SELECT "level", "idx", "hash" FROM audit_tree WHERE {inner}')  # noqa: S608
    rows = session.connection().exec_driver_sql(" UNION ALL ".join(parts))
    found = {(int(level), int(i)): bytes(digest) for level, i, digest in rows}
    missing = wanted - found.keys()
    if missing:
        raise TreeError(f"the stored tree lacks {len(missing)} node(s), e.g. {min(missing)}")
    return found


def frontier(session: Session, tree_size: int) -> merkle.Frontier:
    return merkle.Frontier.of(tree_size, read_nodes(session, merkle.frontier_nodes(tree_size)))


def root(session: Session, tree_size: int) -> bytes:
    if tree_size == 0:
        return merkle.EMPTY_ROOT
    return merkle.range_hash(0, tree_size, read_nodes(session, merkle.range_nodes(0, tree_size)))


def inclusion_proof(session: Session, index: int, tree_size: int) -> list[bytes]:
    return leaf_and_inclusion_proof(session, index, tree_size)[1]


def leaf_and_inclusion_proof(
    session: Session, index: int, tree_size: int
) -> tuple[bytes, list[bytes]]:
    """The leaf hash at ``index`` and its inclusion proof in the tree of ``tree_size``, read
    together (two queries)."""
    ranges = merkle.inclusion_ranges(index, tree_size)
    nodes = read_nodes(session, merkle.proof_nodes(ranges) | {(0, index)})
    return nodes[(0, index)], merkle.build_proof(ranges, nodes)


def consistency_proof(session: Session, first: int, second: int) -> list[bytes]:
    ranges = merkle.consistency_ranges(first, second)
    return merkle.build_proof(ranges, read_nodes(session, merkle.proof_nodes(ranges)))
