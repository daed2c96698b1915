"""``GET /api/v1/stats/agencies``: the hand-counted scenario through the API, who sees which
rows, and every bad period refused with its code (audited, nothing else)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import C1, G22, H41, audit_events, auth
from tests.stats.scenario import DAY, MovableClock, clock, node, play

__all__ = ["clock", "node"]  # fixtures
STATS = "/api/v1/stats/agencies"


def items(c: TestClient, headers: dict[str, str], **params: Any) -> dict[str, dict[str, Any]]:
    response = c.get(STATS, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return {item["agency_id"]: item for item in response.json()["items"]}


def test_a_supervisor_reads_every_agency_s_hand_counted_row(
    node: TestClient, clock: MovableClock, credentials: dict[str, Any]
) -> None:
    play(node, clock, credentials)
    day = DAY.isoformat()
    found = items(node, auth(credentials, "supervisor"), **{"from": day, "to": day})
    assert {G22, H41, C1} <= set(found)
    assert found[G22] | {"name": None} == {
        "agency_id": G22,
        "name": None,
        "node_id": "test-node",
        "province": None,
        "sent": 4,
        "received": 0,
        "accepted": 0,
        "returned": 0,
        "overdue": 0,
        "failed": 1,
        "signature_refusals": 1,
        "median_to_01_s": 180.0,
        "p90_to_01_s": 240.0,
        "median_to_03_s": None,
        "p90_to_03_s": None,
    }
    recipient = found[H41]
    assert [recipient[k] for k in ("received", "accepted", "returned", "overdue")] == [3, 1, 1, 1]
    assert (recipient["median_to_03_s"], recipient["p90_to_03_s"]) == (600.0, 600.0)
    two_days = items(
        node,
        auth(credentials, "auditor"),
        **{"from": day, "to": (DAY + timedelta(days=1)).isoformat(), "agency": H41},
    )
    assert list(two_days) == [H41]
    assert two_days[H41]["median_to_03_s"] == 305.0
    assert set(items(node, auth(credentials, "admin"), **{"from": day, "province": H41})) >= {
        H41,
        C1,
    }
    provinces = items(node, auth(credentials, "supervisor"), **{"from": day, "group": "provinces"})
    assert H41 in provinces
    assert G22 not in provinces


def test_empty_parameters_as_a_form_sends_them_are_absent_ones(
    node: TestClient, clock: MovableClock, credentials: dict[str, Any]
) -> None:
    play(node, clock, credentials)
    supervisor = auth(credentials, "supervisor")
    empty = dict.fromkeys(("from", "to", "group", "province", "agency"), "")
    assert items(node, supervisor, **empty) == items(node, supervisor)
    assert G22 in items(node, supervisor, **empty)


def test_a_clerk_sees_only_her_agency_s_row(
    node: TestClient, clock: MovableClock, credentials: dict[str, Any]
) -> None:
    play(node, clock, credentials)
    day = DAY.isoformat()
    mine = items(node, auth(credentials, H41), **{"from": day, "to": day})
    assert list(mine) == [H41]
    assert mine[H41]["received"] == 3
    assert items(node, auth(credentials, H41), **{"from": day, "agency": G22}) == {}
    assert list(items(node, auth(credentials, G22, "leader"), **{"from": day})) == [G22]


def test_anonymous_is_401(node: TestClient) -> None:
    response = node.get(STATS)
    assert response.status_code == 401
    assert response.json()["error"] == "missing_token"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"from": "2026-13-01"}, "invalid_date"),
        ({"to": "26/11/2026"}, "invalid_date"),
        ({"from": "20261126"}, "invalid_date"),
        ({"from": "2026-11-27", "to": "2026-11-26"}, "invalid_period"),
        ({"from": "2024-01-01", "to": "2025-01-01"}, "period_too_long"),
    ],
)
def test_a_bad_period_is_422_with_its_code_and_audited(
    node: TestClient, credentials: dict[str, Any], params: dict[str, str], code: str
) -> None:
    response = node.get(STATS, params=params, headers=auth(credentials, "supervisor"))
    assert response.status_code == 422, response.text
    assert response.json()["error"] == code
    [refused] = audit_events(node, "api:request:refused")
    assert refused.detail["error"] == code


def test_a_year_is_not_too_long(node: TestClient, credentials: dict[str, Any]) -> None:
    params = {"from": "2024-01-01", "to": "2024-12-31"}  # 366 days: a leap year
    response = node.get(STATS, params=params, headers=auth(credentials, "supervisor"))
    assert response.status_code == 200, response.text
