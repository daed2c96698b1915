"""The log in the database: dense positions, leaves that re-hash, a stored tree that answers
roots and proofs without rehashing, and tables that refuse to be rewritten."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, insert, inspect, select, text, update
from sqlalchemy.exc import DatabaseError

from docex.audit import events, leaves, merkle, sequencer, tree
from docex.audit.models import (
    AuditEvent,
    AuditPending,
    Checkpoint,
    Cosignature,
    LogEntry,
    TreeNode,
)
from docex.audit.verify import verify_log
from docex.db import Database
from tests.audit.conftest import activity
from tests.helpers import node_of


def log_rows(client: TestClient) -> list[tuple[int, int, bytes]]:
    with node_of(client).db.read() as session:
        return [
            (int(p), int(e), bytes(h))
            for p, e, h in session.execute(
                select(LogEntry.position, LogEntry.event_index, LogEntry.leaf_hash).order_by(
                    LogEntry.position
                )
            )
        ]


def test_every_event_gets_one_dense_position_and_a_leaf_that_rehashes(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    activity(client, credentials)
    node = node_of(client)
    size = node.audit.integrate()
    rows = log_rows(client)
    assert [p for p, _, _ in rows] == list(range(size))
    with node.db.read() as session:
        all_events = {e.index: e for e in session.scalars(select(AuditEvent))}
        pending = session.scalar(select(func.count()).select_from(AuditPending))
    assert pending == 0
    assert sorted(e for _, e, _ in rows) == sorted(all_events)  # each event exactly once
    for position, index, digest in rows:
        e = all_events[index]
        leaf = leaves.encode(
            position, index, e.at, e.event, e.actor_id, e.agency_id, e.document_id, e.detail
        )
        assert merkle.leaf_hash(leaf) == digest
        decoded = leaves.decode(leaf)
        assert (decoded.position, decoded.event_id, decoded.event) == (position, index, e.event)
        assert decoded.at == e.at
        assert decoded.detail == e.detail
    # On a single writer ids commit in order, so the log is in id order here.
    assert [e for _, e, _ in rows] == sorted(all_events)


def test_the_stored_tree_gives_every_root_and_proof_of_the_naive_tree(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    activity(client, credentials, documents=3)
    node = node_of(client)
    node.audit.integrate()
    hashes = [h for _, _, h in log_rows(client)]
    n = len(hashes)
    assert n > 10
    with node.db.read() as session:
        assert tree.size(session) == n
        for size in range(1, n + 1):
            root = tree.root(session, size)
            assert root == merkle.root(hashes[:size])
            for index in range(size):
                proof = tree.inclusion_proof(session, index, size)
                assert proof == merkle.inclusion_proof(hashes, index, size)
                merkle.verify_inclusion(index, size, hashes[index], proof, root)
            for first in range(1, size):
                proof = tree.consistency_proof(session, first, size)
                merkle.verify_consistency(first, size, proof, merkle.root(hashes[:first]), root)
        stored = session.scalar(select(func.count()).select_from(TreeNode))
    # Exactly the complete subtrees above the leaves are stored: n - popcount(n) of them.
    assert stored == n - bin(n).count("1")


def _nodes(session: Any) -> dict[tuple[int, int], bytes]:
    query = select(TreeNode.level, TreeNode.idx, TreeNode.hash)
    return {(lv, i): bytes(h) for lv, i, h in session.execute(query)}


def test_events_committed_later_take_the_next_positions(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    """Integration is incremental: a second batch extends the tree, never rewrites it."""
    activity(client, credentials, documents=1)
    node = node_of(client)
    first = node.audit.integrate()
    before = log_rows(client)
    with node.db.read() as session:
        nodes_before = _nodes(session)
    activity(client, credentials, documents=2)
    second = node.audit.integrate()
    after = log_rows(client)
    assert second > first
    assert after[:first] == before
    with node.db.read() as session:
        nodes_after = _nodes(session)
        assert verify_log(session, node.audit.verifier).ok
    assert all(nodes_after[k] == v for k, v in nodes_before.items())


def test_small_batches_and_checkpoints_every_m_events(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    node = node_of(client)
    node.audit.settings.batch_size = 4
    node.audit.policy = sequencer.CheckpointPolicy(every_events=6, every_seconds=3600)
    activity(client, credentials, documents=2)
    size = node.audit.integrate()
    with node.db.read() as session:
        sizes = list(session.scalars(select(Checkpoint.tree_size).order_by(Checkpoint.tree_size)))
    # A checkpoint at the first pass (no checkpoint yet), then once 6 more leaves are in.
    assert sizes[0] == 4
    assert all(b - a >= 6 for a, b in itertools.pairwise(sizes))
    assert all(s % 4 == 0 or s == size for s in sizes)
    head = node.audit.checkpoint()
    assert head.size == size
    assert node.audit.checkpoint().size == size  # on demand twice: one checkpoint per size


def test_checkpoint_policy() -> None:
    policy = sequencer.CheckpointPolicy(every_events=10, every_seconds=60)
    t = datetime(2026, 1, 1, tzinfo=UTC)
    assert policy.due(None, None, 1, t)
    assert not policy.due(None, None, 0, t)
    assert not policy.due(5, t, 5, t + timedelta(hours=1))  # nothing new: never
    assert not policy.due(5, t, 14, t + timedelta(seconds=59))
    assert policy.due(5, t, 15, t)
    assert policy.due(5, t, 6, t + timedelta(seconds=60))


def test_the_background_integrator_logs_events_without_being_asked(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    node = node_of(client)
    node.audit.settings.integrate_interval_seconds = 0.05
    activity(client, credentials, documents=1)
    node.audit.start()
    try:
        for _ in range(200):
            with node.db.read() as session:
                if not session.scalar(select(func.count()).select_from(AuditPending)):
                    break
            threading.Event().wait(0.05)
    finally:
        node.audit.stop()
    with node.db.read() as session:
        assert session.scalar(select(func.count()).select_from(AuditPending)) == 0
        assert (session.scalar(select(func.count()).select_from(Checkpoint)) or 0) >= 1
        assert verify_log(session, node.audit.verifier).ok


LOG_TABLES = {
    "audit_log": LogEntry,
    "audit_tree": TreeNode,
    "audit_checkpoints": Checkpoint,
    "audit_cosignatures": Cosignature,
    "audit_events": AuditEvent,
}


def _cosign_something(client: TestClient) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from docex.audit import notes

    node = node_of(client)
    head = node.audit.checkpoint()
    cosigner = notes.Cosigner("witness.test/w1", ed25519.Ed25519PrivateKey.generate())
    sig = cosigner.cosign(head.body(), 1_700_000_000)
    with node.db.write() as session:
        session.add(
            Cosignature(
                tree_size=head.size,
                name=cosigner.name,
                key_id=cosigner.verifier.key_id.hex(),
                public_key=cosigner.verifier.public_key,
                timestamp=1_700_000_000,
                line=sig.line(),
                created_at=node.clock.now(),
            )
        )


@pytest.mark.parametrize("table", sorted(LOG_TABLES))
@pytest.mark.parametrize("statement", ["update", "delete"])
def test_the_database_refuses_to_rewrite_any_log_table(
    client: TestClient, credentials: dict[str, Any], table: str, statement: str
) -> None:
    activity(client, credentials, documents=1)
    _cosign_something(client)
    node = node_of(client)
    model = LOG_TABLES[table]
    column = next(iter(inspect(model).primary_key))
    query = update(model).values({column.name: column}) if statement == "update" else delete(model)
    with pytest.raises(DatabaseError, match="append-only"), node.db.write() as session:
        session.execute(query)
    if node.db.dialect == "postgresql":
        with pytest.raises(DatabaseError, match="append-only"), node.db.write() as session:
            session.execute(text(f"TRUNCATE {table} CASCADE"))
    with node.db.read() as session:
        assert (session.scalar(select(func.count()).select_from(model)) or 0) > 0


def test_the_log_table_refuses_a_second_leaf_at_a_position(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    """Even a writer that ignored the lock could not reuse a position or log an event twice."""
    activity(client, credentials, documents=1)
    node = node_of(client)
    node.audit.integrate()
    rows = log_rows(client)
    with pytest.raises(DatabaseError), node.db.write() as session:
        session.execute(
            insert(LogEntry).values(
                position=rows[0][0], event_index=rows[-1][1], leaf_hash=b"\0" * 32
            )
        )
    with pytest.raises(DatabaseError), node.db.write() as session:
        session.execute(
            insert(LogEntry).values(
                position=len(rows), event_index=rows[0][1], leaf_hash=b"\0" * 32
            )
        )


def test_concurrent_writers_and_integrators_keep_positions_dense(
    client: TestClient, settings: Any
) -> None:
    """Several writers record events while several integrators (each with its own engine, as
    separate processes would have) run at once: every event gets exactly one position, the
    positions are dense and the tree verifies."""
    node = node_of(client)
    url = settings.resolved_database_url
    stop = threading.Event()
    errors: list[BaseException] = []
    writers, per_writer = 4, 60

    def write(n: int) -> None:
        db = Database(url)
        try:
            for i in range(per_writer):
                with db.write() as session:
                    for k in range(1 + i % 3):
                        events.record(
                            session,
                            events.GROUP_CREATED,
                            at=datetime.now(UTC),
                            group=f"w{n}-{i}-{k}",
                        )
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.dispose()

    def integrate() -> None:
        from docex.audit.integrator import AuditLog

        db = Database(url)
        audit = AuditLog(db, node.audit.signer, node.audit.settings, clock=node.clock)
        audit.settings.batch_size = 7
        try:
            while not stop.is_set():
                audit.run_pass()
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.dispose()

    integrators = [threading.Thread(target=integrate) for _ in range(3)]
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in integrators + threads:
        t.start()
    for t in threads:
        t.join(120)
    stop.set()
    for t in integrators:
        t.join(120)
    assert not errors, errors
    size = node.audit.integrate()
    with node.db.read() as session:
        total = session.scalar(select(func.count()).select_from(AuditEvent))
        report = verify_log(session, node.audit.verifier)
    assert size == total
    assert [p for p, _, _ in log_rows(client)] == list(range(size))
    assert report.ok, report.problems


def test_proofs_read_the_stored_tree_through_its_indexes(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    """O(log n) reads only if every query a proof makes can use an index: no table scan in
    the plan of any of them (on PostgreSQL, with sequential scans priced out of the way)."""
    from sqlalchemy import event

    activity(client, credentials, documents=1)
    node = node_of(client)
    size = node.audit.integrate()
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "audit_" in statement and statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, params))

    event.listen(node.db.engine, "before_cursor_execute", capture)
    try:
        with node.db.read() as session:
            tree.leaf_and_inclusion_proof(session, size // 3, size)
            tree.consistency_proof(session, size // 2, size)
            tree.root(session, size)
    finally:
        event.remove(node.db.engine, "before_cursor_execute", capture)
    assert len(statements) >= 3  # one per call, each proof in one round trip
    with node.db.engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        if node.db.dialect == "postgresql":
            cursor.execute("SET enable_seqscan = off")
        for statement, params in statements:
            prefix = "EXPLAIN QUERY PLAN " if node.db.dialect == "sqlite" else "EXPLAIN "
            cursor.execute(prefix + statement, params)
            plan = " ".join(str(row) for row in cursor.fetchall())
            assert "SCAN audit_" not in plan, (statement, plan)
            assert "Seq Scan" not in plan, (statement, plan)
        connection.rollback()
