"""A node with a day of real traffic: G22 sends to H41 and to a commune of Nghệ An (C1), both
delivered; H41 accepts (03)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from docex.kit.clock import VIETNAM_TZ, SystemClock
from tests.helpers import C1, G22, H41, auth, deliver, envelope, pdf, send


@pytest.fixture
def traffic(client: TestClient, credentials: dict[str, Any]) -> date:
    """The Vietnam day of the traffic (today)."""
    for recipients in ([H41, C1], [H41]):
        response = send(client, auth(credentials, G22), envelope(recipients), pdf())
        assert response.status_code == 201, response.text
        last = response.json()["id"]
    assert deliver(client) > 0
    answered = client.post(
        f"/api/v1/documents/{last}/statuses", json={"code": "03"}, headers=auth(credentials, H41)
    )
    assert answered.status_code in (200, 201), answered.text
    return SystemClock().now().astimezone(VIETNAM_TZ).date()
