"""Per-person read state (documents.reads): only a document one may see is marked, once."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from docex.auth.service import authenticate
from docex.documents.models import DocumentRead
from docex.documents.reads import mark_read, read_among
from docex.errors import DocumentNotFound
from tests.helpers import G22, H26, H41, auth, deliver, envelope, node_of, pdf, send, token


def test_a_document_is_read_by_one_person_once_and_only_if_they_may_see_it(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    sent = send(client, auth(credentials, G22), envelope([H41]), pdf())
    assert sent.status_code == 201, sent.text
    document = str(sent.json()["id"])
    assert deliver(client) == 1
    node = node_of(client)
    now = node.clock.now()
    with node.db.read() as session:
        clerk = authenticate(session, token(credentials, H41), now=now)
        leader = authenticate(session, token(credentials, H41, "leader"), now=now)
        stranger = authenticate(session, token(credentials, H26), now=now)

    with pytest.raises(DocumentNotFound), node.db.write() as session:
        mark_read(session, stranger, document, now)
    with pytest.raises(DocumentNotFound), node.db.write() as session:
        mark_read(session, clerk, "no-such-document", now)
    for _ in range(2):
        with node.db.write() as session:
            mark_read(session, clerk, document, now)

    with node.db.read() as session:
        assert session.scalar(select(func.count()).select_from(DocumentRead)) == 1
        assert read_among(session, clerk, [document]) == {document}
        assert read_among(session, leader, [document]) == set()
        assert read_among(session, clerk, []) == set()
