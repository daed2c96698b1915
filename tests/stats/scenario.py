"""A small exchange on one node, on a movable clock, whose figures are counted by hand.

Day ``DAY`` (a Tuesday, Vietnam time), G22 sends:

- doc1, doc2, doc3 to H41 at 09:00, 09:01, 09:02, delivered together at 09:04 (to 01: 240,
  180, 120 s); H41 accepts doc1 at 09:14 (to 03: 600 s), returns doc2 at 09:30, leaves doc3
  unanswered: the sweep at 17:01 marks it overdue;
- doc4 to H26, which is hosted on a node there is no route to: it fails (one attempt);
- an unsigned PDF at 09:05: refused (``unsigned``), nothing stored.

``DAY + 1``: doc5 to H41 at 10:00, delivered at 10:00:10 (to 01: 10 s), accepted at 10:00:20
(to 03: 10 s).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from docex.agencies.models import Agency
from docex.app import create_app
from docex.config import Settings
from docex.kit.clock import VIETNAM_TZ, SystemClock
from docex.kit.samplepdf import sample_pdf
from docex.signing.sandbox import ValidatorPool
from tests.helpers import G22, H26, H41, MovableClock, auth, envelope, node_of, send, sign_as


def vn(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A Vietnam wall-clock time, as the UTC instant docex keeps."""
    return datetime.combine(day, time(hour, minute, second), tzinfo=VIETNAM_TZ).astimezone(UTC)


def _next_tuesday() -> date:
    today = SystemClock().now().astimezone(VIETNAM_TZ).date()
    return today - timedelta(days=today.isoweekday() - 1) + timedelta(weeks=1, days=1)


DAY = _next_tuesday()


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(vn(DAY, 8))


@pytest.fixture
def node(
    settings: Settings, clock: MovableClock, validator_pool: ValidatorPool
) -> Iterator[TestClient]:
    settings.dispatcher.max_attempts = 1  # the delivery to nowhere fails at its first attempt
    app = create_app(settings, clock=clock, validators=validator_pool)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _send(
    c: TestClient, clock: MovableClock, credentials: dict[str, Any], to: str, at: datetime
) -> str:
    # Signed now (the time-stamping authority's time is the real one), sent at ``at``.
    clock.at = SystemClock().now()
    signed = sign_as(c, G22, sample_pdf("Công văn"))
    clock.at = at
    response = send(c, auth(credentials, G22), envelope([to]), signed)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _answer(
    c: TestClient,
    clock: MovableClock,
    credentials: dict[str, Any],
    doc: str,
    code: str,
    at: datetime,
) -> None:
    clock.at = at
    body = {"code": code, **({"note": "Không đúng thẩm quyền"} if code == "02" else {})}
    response = c.post(
        f"/api/v1/documents/{doc}/statuses", json=body, headers=auth(credentials, H41)
    )
    assert response.status_code == 201, response.text


def _deliver(c: TestClient, clock: MovableClock, at: datetime) -> None:
    clock.at = at
    node_of(c).worker.run_once()


def play(c: TestClient, clock: MovableClock, credentials: dict[str, Any]) -> dict[str, str]:
    """Plays the scenario; returns the documents by name."""
    node = node_of(c)
    with node.db.write() as session:
        session.execute(update(Agency).where(Agency.id == H26).values(node_id="elsewhere"))
    docs = {
        "doc1": _send(c, clock, credentials, H41, vn(DAY, 9, 0)),
        "doc2": _send(c, clock, credentials, H41, vn(DAY, 9, 1)),
        "doc3": _send(c, clock, credentials, H41, vn(DAY, 9, 2)),
        "doc4": _send(c, clock, credentials, H26, vn(DAY, 9, 3)),
    }
    _deliver(c, clock, vn(DAY, 9, 4))
    clock.at = vn(DAY, 9, 5)
    refused = send(c, auth(credentials, G22), envelope([H41]), sample_pdf("Không ký"))
    assert refused.status_code == 422
    assert refused.json()["error"] == "unsigned"
    _answer(c, clock, credentials, docs["doc1"], "03", vn(DAY, 9, 14))
    _answer(c, clock, credentials, docs["doc2"], "02", vn(DAY, 9, 30))
    assert node.overdue.run_once(vn(DAY, 17, 1)) == 1
    docs["doc5"] = _send(c, clock, credentials, H41, vn(DAY + timedelta(days=1), 10))
    _deliver(c, clock, vn(DAY + timedelta(days=1), 10, 0, 10))
    _answer(c, clock, credentials, docs["doc5"], "03", vn(DAY + timedelta(days=1), 10, 0, 20))
    return docs
