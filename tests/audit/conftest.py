"""The audit tests drive the integrator themselves (``node.audit.integrate()``); a test that
wants the background loop turns it back on."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from docex.config import Settings
from tests.helpers import G22, H41, auth, deliver, envelope, pdf, send


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.audit.integrator_enabled = False
    return settings


def activity(client: TestClient, credentials: dict[str, Any], documents: int = 2) -> None:
    """Some real traffic: documents sent and delivered, a status, refusals."""
    for n in range(documents):
        response = send(client, auth(credentials, G22), envelope(), pdf(f"Công văn {n}"))
        assert response.status_code == 201, response.text
    client.get("/api/v1/me", headers={"Authorization": "Bearer wrong"})
    deliver(client)
    inbox = client.get("/api/v1/inbox", headers=auth(credentials, H41)).json()["items"]
    status = client.post(
        f"/api/v1/documents/{inbox[0]['document_id']}/statuses",
        json={"code": "03"},
        headers=auth(credentials, H41),
    )
    assert status.status_code == 201, status.text
