"""What the auditor's screens ask of the log (``docex.evidence``): the search newest first and
by username, a trace whose every event is proven against the latest checkpoint (and one changed
behind the log's back is not), the checkpoints by pages with each signature checked again."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from docex.audit import events, notes
from docex.audit.models import AuditEvent, Cosignature
from docex.auth.policy import Actor
from docex.auth.service import authenticate
from docex.errors import Forbidden
from docex.evidence import history, proofs, service
from docex.evidence.proofs import ProofStatus
from tests.audit import tampering
from tests.audit.conftest import activity
from tests.helpers import G22, auth, deliver, envelope, node_of, pdf, send, token


def actor_of(client: TestClient, secret: str) -> Actor:
    node = node_of(client)
    with node.db.read() as session:
        return authenticate(session, secret, now=node.clock.now())


@contextmanager
def tampered(client: TestClient) -> Iterator[Session]:
    """A session in which the log's guards are down; everything done in it is rolled back."""
    with node_of(client).db.engine.connect() as connection:
        transaction = connection.begin()
        session = Session(bind=connection)
        try:
            tampering.unguard(session)
            yield session
        finally:
            session.close()
            transaction.rollback()


def test_search_newest_first_by_pages_and_by_username(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    activity(client, credentials, documents=3)
    auditor = actor_of(client, token(credentials, "auditor"))
    clerk = actor_of(client, token(credentials, G22))
    node = node_of(client)
    ids: list[int] = []
    cursor = None
    with node.db.read() as session:
        while True:
            page = service.search(
                session,
                auditor,
                service.SearchFilter(principal=clerk.username),
                limit=2,
                cursor=cursor,
                newest_first=True,
            )
            ids += [item.event.id for item in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        by_id = service.search(
            session, auditor, service.SearchFilter(principal=clerk.id), limit=100, cursor=None
        )
        assert service.usernames(session, {clerk.id}) == {clerk.id: clerk.username}
        with pytest.raises(Forbidden):
            service.search(session, clerk, service.SearchFilter(), limit=1, cursor=None)
    mine = [e.index for e in reversed(all_events(client)) if e.actor_id == clerk.id]
    assert len(mine) >= 3
    assert ids == mine  # newest first, no gap, no overlap
    assert [item.event.id for item in by_id.items] == sorted(mine)  # the API's order, by id


def all_events(client: TestClient) -> list[AuditEvent]:
    with node_of(client).db.read() as session:
        return list(session.query(AuditEvent).order_by(AuditEvent.index))


def test_every_event_of_a_trace_is_proven_and_a_changed_one_fails(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    sent = send(client, auth(credentials, G22), envelope(), pdf("Công văn chứng minh"))
    assert sent.status_code == 201, sent.text
    document = sent.json()["id"]
    deliver(client)
    node = node_of(client)
    auditor = actor_of(client, token(credentials, "auditor"))

    def trace(session: Session) -> proofs.ProvenTrace:
        return proofs.proven_trace(
            session, auditor, document, audit=node.audit, node_id=node.settings.node_id
        )

    with node.db.read() as session:
        before = trace(session)
    assert before.tree_size is None or all(e.status is ProofStatus.PENDING for e in before.events)
    head = node.audit.checkpoint()
    with node.db.read() as session:
        after = trace(session)
        with pytest.raises(Forbidden):  # a party reads the trace, not the proofs
            proofs.proven_trace(
                session,
                actor_of(client, token(credentials, G22)),
                document,
                audit=node.audit,
                node_id=node.settings.node_id,
            )
    assert after.tree_size == head.size
    assert after.checkpoint_valid
    assert len(after.events) > 1
    assert {e.status for e in after.events} == {ProofStatus.PROVEN}
    assert all(e.position is not None and e.position < head.size for e in after.events)
    with node.db.read() as session:
        middle = proofs.proven_trace(
            session,
            auditor,
            document,
            audit=node.audit,
            node_id=node.settings.node_id,
            start=1,
            limit=2,
        )
    assert [e.item.audit_index for e in middle.events] == [
        e.item.audit_index for e in after.events[1:3]
    ]
    assert (middle.total, middle.start) == (len(after.events), 1)
    assert {e.status for e in middle.events} == {ProofStatus.PROVEN}

    victim = after.events[-1].item.audit_index
    with tampered(client) as session:
        session.execute(
            update(AuditEvent)
            .where(AuditEvent.index == victim)
            .values(detail={**after.events[-1].item.detail, "forged": True})
        )
        session.expire_all()
        changed = trace(session)
    status = {e.item.audit_index: e for e in changed.events}
    assert status[victim].status is ProofStatus.FAILED
    assert status[victim].problem == "the event is not the one that was logged"
    assert {e.status for i, e in status.items() if i != victim} == {ProofStatus.PROVEN}


def test_checkpoints_newest_first_each_signature_checked(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    node = node_of(client)
    sizes = []
    for n in range(3):
        sent = send(client, auth(credentials, G22), envelope(), pdf(f"Công văn {n}"))
        assert sent.status_code == 201, sent.text
        sizes.append(node.audit.checkpoint().size)
    auditor = actor_of(client, token(credentials, "auditor"))
    with node.db.read() as session:
        latest = history.checkpoint_history(session, auditor, node.audit, limit=2, cursor=None)
        older = history.checkpoint_history(
            session, auditor, node.audit, limit=2, cursor=latest.next_cursor
        )
    assert [c.tree_size for c in latest.checkpoints] == sizes[::-1][:2]
    assert older.checkpoints[0].tree_size == sizes[0]
    assert all(c.verified and c.signature.startswith("— ") for c in latest.checkpoints)
    assert latest.log_key == node.audit.verifier.vkey()
    assert latest.forks_reported == []

    cosigner = notes.Cosigner("auditor.test/w1", ed25519.Ed25519PrivateKey.generate())
    signed = client.get("/api/v1/audit/checkpoint", headers=auth(credentials, "auditor")).json()
    line = cosigner.cosign(notes.parse(signed["signed"]).text, 1_700_000_000).line()
    posted = client.post(
        "/api/v1/audit/cosignatures",
        json={"tree_size": sizes[-1], "signature": line.rstrip(), "vkey": cosigner.verifier.vkey()},
        headers=auth(credentials, "auditor"),
    )
    assert posted.status_code == 201, posted.text
    with node.db.read() as session:
        (cosigned,) = (
            history.checkpoint_history(session, auditor, node.audit, limit=1, cursor=None)
            .checkpoints[0]
            .cosignatures
        )
    assert (cosigned.name, cosigned.peer, cosigned.verified) == ("auditor.test/w1", None, True)
    assert cosigned.signed_at.timestamp() == 1_700_000_000

    other = notes.Cosigner("auditor.test/w1", ed25519.Ed25519PrivateKey.generate())
    forged = other.cosign(notes.parse(signed["signed"]).text, 1_700_000_000).line()
    with tampered(client) as session:
        session.execute(update(Cosignature).values(line=forged))
        (cosigned,) = (
            history.checkpoint_history(session, auditor, node.audit, limit=1, cursor=None)
            .checkpoints[0]
            .cosignatures
        )
    assert not cosigned.verified

    with node.db.write() as session:
        events.record(
            session, events.FORK_REPORTED, at=node.clock.now(), reason="two roots", seen=""
        )
    with node.db.read() as session:
        found = history.checkpoint_history(session, auditor, node.audit, limit=1, cursor=None)
        with pytest.raises(Forbidden):
            history.checkpoint_history(
                session,
                actor_of(client, token(credentials, G22)),
                node.audit,
                limit=1,
                cursor=None,
            )
    assert [f.reason for f in found.forks_reported] == ["two roots"]
