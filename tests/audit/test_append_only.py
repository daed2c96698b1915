"""The audit log only grows: every change and every refusal adds an event, in order, and the
database itself refuses to update or delete one."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DatabaseError

from docex.audit.models import AuditEvent
from tests.helpers import G22, audit_events, auth, deliver, envelope, node_of, pdf, send


def test_events_are_indexed_in_order_without_gaps(client: TestClient, credentials: dict) -> None:
    send(client, auth(credentials, G22), envelope(), pdf())
    client.get("/api/v1/me", headers={"Authorization": "Bearer wrong"})
    deliver(client)
    events = audit_events(client)
    indexes = [e.index for e in events]
    assert indexes == sorted(indexes)
    assert indexes == list(range(indexes[0], indexes[0] + len(indexes)))
    names = [e.event for e in events]
    assert "intake:document:accepted" in names
    assert "api:request:refused" in names
    assert names.index("intake:document:accepted") < names.index("routing:delivery:delivered")


@pytest.mark.parametrize("statement", ["update", "delete"])
def test_the_database_refuses_to_rewrite_history(
    client: TestClient, credentials: dict, statement: str
) -> None:
    send(client, auth(credentials, G22), envelope(), pdf())
    node = node_of(client)
    query = (
        update(AuditEvent).values(event="forged") if statement == "update" else delete(AuditEvent)
    )
    with pytest.raises(DatabaseError, match="append-only"), node.db.write() as session:
        session.execute(query)
    with node.db.read() as session:
        assert session.execute(text("SELECT count(*) FROM audit_events")).scalar_one() > 0
        assert (
            session.execute(
                text("SELECT count(*) FROM audit_events WHERE event = 'forged'")
            ).scalar_one()
            == 0
        )
