"""The audit log cannot be flooded, or lied to: anonymous refusals are counted per client address,
error code and window (the first at once, the rest as one event when the window closes), each
authenticated refusal stays an event of its own, and the address recorded is the one
``docex.kit.proxies`` decides, never what a client's X-Forwarded-For claims."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from docex.app import create_app
from docex.audit.models import AuditEvent
from docex.audit.refusals import OVERFLOW, RefusalTally
from docex.config import Settings
from docex.db import Database
from tests.helpers import H41, MovableClock, audit_events, auth, node_of
from tests.security.conftest import HANG_SECONDS, http_client, in_parallel, serve

REFUSED = "api:request:refused"
T0 = datetime(2026, 3, 2, 1, 0, 5, tzinfo=UTC)  # five seconds into a one-minute window


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(T0)


@pytest.fixture
def node(settings: Settings, clock: MovableClock) -> Iterator[TestClient]:
    settings.trusted_proxies = ["127.0.0.1"]
    app = create_app(settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False, client=("127.0.0.1", 40000)) as client:
        yield client


def bad_token(client: TestClient, n: int, address: str = "198.51.100.1") -> int:
    response: httpx.Response = client.get(
        "/api/v1/inbox",
        headers={"Authorization": f"Bearer dxt_bad{n}", "X-Forwarded-For": address},
    )
    return response.status_code


def anonymous_refusals(client: TestClient) -> list[AuditEvent]:
    return [e for e in audit_events(client, REFUSED) if e.actor_id is None]


def test_a_thousand_bad_tokens_from_one_address_are_two_audit_events(
    node: TestClient, clock: MovableClock
) -> None:
    for n in range(1000):
        assert bad_token(node, n) == 401
        clock.advance(0.01)
    first = anonymous_refusals(node)
    assert len(first) == 1  # the first at once...
    assert first[0].detail["count"] == 1
    assert first[0].detail["client"] == "198.51.100.1"
    assert first[0].detail["error"] == "invalid_token"
    assert node_of(node).refusals.pending() == 999

    clock.advance(60)  # ...the rest when the window has closed
    assert node_of(node).refusals.flush() == 1
    events = anonymous_refusals(node)
    assert len(events) == 2
    rest = events[1].detail
    assert rest["count"] == 999
    assert rest["client"] == "198.51.100.1"
    assert rest["error"] == "invalid_token"
    assert rest["statuses"] == {"401": 999}
    assert rest["methods"] == {"GET": 999}
    assert rest["paths"] == ["/api/v1/inbox"]
    assert rest["window_start"] == "2026-03-02T01:00:00Z"
    assert rest["window_seconds"] == 60
    assert rest["first_at"] == "2026-03-02T01:00:05.010000Z"
    assert rest["last_at"] == "2026-03-02T01:00:14.990000Z"
    assert node_of(node).refusals.pending() == 0
    assert node_of(node).refusals.flush() == 0


def test_counts_are_kept_per_address_error_and_window_and_add_up(
    node: TestClient, clock: MovableClock
) -> None:
    sent: dict[tuple[str, str], int] = {}
    for _ in range(3):
        for n in range(30):
            address = f"198.51.100.{n % 3}"
            if n % 2:
                assert bad_token(node, n, address) == 401
                key = (address, "invalid_token")
            else:
                response = node.get("/api/v1/outbox", headers={"X-Forwarded-For": address})
                assert response.status_code == 401
                key = (address, "missing_token")
            sent[key] = sent.get(key, 0) + 1
        clock.advance(60)
        node_of(node).refusals.flush()
    events = anonymous_refusals(node)
    counted: dict[tuple[str, str], int] = {}
    for event in events:
        key = (event.detail["client"], event.detail["error"])
        counted[key] = counted.get(key, 0) + event.detail["count"]
    assert counted == sent
    # Six keys, three windows, at most two events each: bounded, whatever the traffic.
    assert len(events) == 6 * 3 * 2


def test_an_authenticated_refusal_is_always_an_event_of_its_own(
    node: TestClient, credentials: dict
) -> None:
    for _ in range(25):
        response = node.post(
            f"/api/v1/documents/{uuid.uuid4()}/statuses",
            json={"code": "03"},
            headers=auth(credentials, H41),
        )
        assert response.status_code == 404
    named = [e for e in audit_events(node, REFUSED) if e.actor_id is not None]
    assert len(named) == 25
    assert all("count" not in e.detail and e.agency_id == H41 for e in named)
    assert node_of(node).refusals.pending() == 0


def test_open_windows_are_written_when_the_node_stops(
    settings: Settings, clock: MovableClock
) -> None:
    with TestClient(create_app(settings, clock=clock), raise_server_exceptions=False) as client:
        for n in range(50):
            bad_token(client, n)
        app_node = node_of(client)
    # Stopped: the lifespan wrote what the open window had counted.
    with app_node.db.read() as session:
        events = list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.event == REFUSED, AuditEvent.actor_id.is_(None))
            )
        )
    assert sorted(e.detail["count"] for e in events) == [1, 49]
    assert {e.detail["client"] for e in events} == {"testclient"}


def test_memory_is_bounded_past_max_keys(settings: Settings, clock: MovableClock) -> None:
    db = Database(str(settings.database_url))
    tally = RefusalTally(db, clock, window_seconds=60, max_keys=10)
    try:
        firsts = [
            tally.count(
                address=f"203.0.113.{n % 50}",
                code="invalid_token",
                status=401,
                method="GET",
                path="/x",
            )
            for n in range(500)
        ]
        assert sum(firsts) == 11  # ten addresses, then the overflow tally's first
        assert tally.pending() == 500 - 11
        assert tally.flush(everything=True) == 11
        with db.read() as session:
            events = list(session.scalars(select(AuditEvent).where(AuditEvent.event == REFUSED)))
        assert {e.detail["client"] for e in events} == {
            *(f"203.0.113.{n}" for n in range(10)),
            OVERFLOW,
        }
        assert sum(e.detail["count"] for e in events) == 500 - 11
    finally:
        db.dispose()


def test_a_tally_that_cannot_be_written_is_kept_for_the_next_try(
    settings: Settings, clock: MovableClock, tmp_path: Path
) -> None:
    broken = Database(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
    tally = RefusalTally(broken, clock, window_seconds=60)
    for _ in range(3):
        tally.count(
            address="198.51.100.1", code="invalid_token", status=401, method="GET", path="/"
        )
    assert tally.flush(everything=True) == 0
    assert tally.pending() == 2
    broken.dispose()
    tally.db = db = Database(str(settings.database_url))
    try:
        assert tally.flush(everything=True) == 1
        with db.read() as session:
            written = session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.event == REFUSED)
            )
        assert written == 1
    finally:
        db.dispose()


@pytest.mark.functional
def test_two_thousand_bad_tokens_to_a_served_node_lying_about_their_address(
    settings: Settings, credentials: dict[str, Any]
) -> None:
    """The issue's reproduction against ``docex serve``: 2,000 bad-token requests claiming to
    come from elsewhere. No proxy is configured, so the socket peer is recorded, and the log
    holds a handful of events whose counts add up to 2,000."""
    node = serve(settings, credentials)
    try:
        with http_client() as client:

            def lie(n: int) -> httpx.Response:
                return client.get(
                    f"{node.url}/api/v1/inbox",
                    headers={
                        "Authorization": f"Bearer dxt_bad{n}",
                        "X-Forwarded-For": f"6.6.6.{n % 250}",
                        "Forwarded": "for=6.6.6.6",
                    },
                )

            answers = in_parallel([partial(lie, n) for n in range(2000)], workers=32)
        assert answers == [401] * 2000
        proc = node.process.proc
        assert proc is not None
        proc.terminate()
        # uvicorn shuts down (the lifespan writes the tallies), then re-raises the signal.
        assert proc.wait(HANG_SECONDS) in (0, -signal.SIGTERM)
    finally:
        node.process.kill()
    db = Database(str(settings.database_url))
    try:
        with db.read() as session:
            events = list(session.scalars(select(AuditEvent).where(AuditEvent.event == REFUSED)))
    finally:
        db.dispose()
    assert {e.detail["client"] for e in events} == {"127.0.0.1"}
    assert sum(e.detail["count"] for e in events) == 2000
    assert len(events) <= 2 * 3  # at most two per window; the flood spans at most three
