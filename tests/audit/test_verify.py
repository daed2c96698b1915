"""Full verification beyond the tamper suite: altered checkpoint rows and cosignatures, events
kept out of the log, trusted witness keys, and the snapshot a live node is verified in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update

from docex.audit import events, notes
from docex.audit.models import AuditPending, Checkpoint, Cosignature
from docex.audit.verify import snapshot, verify_log
from docex.node import Node
from tests.audit import tampering
from tests.audit.conftest import activity
from tests.helpers import node_of


def _cosign(node: Node, size: int, cosigner: notes.Cosigner) -> None:
    with node.db.write() as session:
        row = session.get(Checkpoint, size)
        assert row is not None
        sig = cosigner.cosign(notes.parse(row.note).text, 1_800_000_000)
        session.add(
            Cosignature(
                tree_size=size,
                name=cosigner.name,
                key_id=cosigner.verifier.key_id.hex(),
                public_key=cosigner.verifier.public_key,
                timestamp=1_800_000_000,
                line=sig.line(),
                created_at=datetime.now(UTC),
            )
        )


def test_altered_checkpoints_cosignatures_and_hidden_events_are_reported(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    node = node_of(client)
    activity(client, credentials, documents=1)
    first = node.audit.checkpoint()
    activity(client, credentials, documents=1)
    second = node.audit.checkpoint()
    cosigner = notes.Cosigner("auditor.test/w", ed25519.Ed25519PrivateKey.generate())
    _cosign(node, first.size, cosigner)
    key = node.audit.verifier
    with snapshot(node.db) as session:
        clean = verify_log(session, key, witnesses=[cosigner.verifier])
    assert clean.ok, clean.problems
    assert (clean.checkpoints, clean.cosignatures) == (2, 1)

    def verify_after(change: Any, **kwargs: Any) -> Any:
        with node.db.engine.connect() as connection:
            transaction = connection.begin()
            from sqlalchemy.orm import Session

            session = Session(bind=connection)
            try:
                tampering.unguard(session)
                change(session)
                session.flush()
                return verify_log(session, key, **kwargs)
            finally:
                session.close()
                transaction.rollback()

    # A checkpoint row altered, while a later good one vouches for every entry: its size.
    def bump(session: Any) -> None:
        row = session.get(Checkpoint, first.size)
        root_line = row.note.split("\n")[2]
        flipped = ("B" if root_line[0] != "B" else "C") + root_line[1:]
        session.execute(
            update(Checkpoint)
            .where(Checkpoint.tree_size == first.size)
            .values(note=row.note.replace(root_line, flipped))
        )

    report = verify_after(bump)
    assert [p.code for p in report.problems] == ["checkpoint_signature"]
    assert report.first_bad_index == first.size

    # A cosignature that no longer matches its checkpoint.
    def forge(session: Any) -> None:
        other = cosigner.cosign("another\n1\n" + "A" * 43 + "=\n", 1_800_000_000)
        session.execute(update(Cosignature).values(line=other.line()))

    report = verify_after(forge)
    assert [p.code for p in report.problems] == ["cosignature_invalid"]

    # A witness key the verifier trusts, under which the stored cosignature fails.
    impostor = notes.CosignatureVerifier(cosigner.name, bytes(32))
    impostor.key_id = cosigner.verifier.key_id
    report = verify_after(lambda session: None, witnesses=[impostor])
    assert [p.code for p in report.problems] == ["cosignature_invalid"]

    # An event taken out of the queue before it was logged: kept out of the log for good.
    def hide(session: Any) -> None:
        row = events.record(session, events.BLOBS_SWEPT, at=datetime.now(UTC), count=1)
        session.flush()
        session.execute(delete(AuditPending).where(AuditPending.event_index == row.index))

    report = verify_after(hide)
    assert [p.code for p in report.problems] == ["event_not_logged"]
    assert report.first_bad_index == second.size


def test_a_snapshot_does_not_see_the_log_grow_while_it_is_verified(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    node = node_of(client)
    node.audit.checkpoint()
    with snapshot(node.db) as session:
        before = verify_log(session, node.audit.verifier)
        activity(client, credentials, documents=1)
        node.audit.checkpoint()
        during = verify_log(session, node.audit.verifier)
    assert before.ok
    assert during.ok
    assert during.size == before.size
    with snapshot(node.db) as session:
        after = verify_log(session, node.audit.verifier)
        assert session.scalars(select(Checkpoint)).all()
    assert after.ok
    assert after.size > before.size
