"""GET /api/v1/alerts lists by state for the watchers; POST .../acknowledge: supervisors and
admins, once (a second time is 409), audited; a clerk is refused (403), nothing changed."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from docex.audit import events
from tests.alerts.conftest import MovableClock, watch_of
from tests.alerts.test_rules import PEER, fork
from tests.helpers import H41, audit_events, auth


def test_acknowledge_once_audited_then_listed_by_state(
    node: TestClient, credentials: dict[str, Any], clock: MovableClock
) -> None:
    fork(node, clock)
    watch_of(node).run_once()
    supervisor = auth(credentials, "supervisor")
    listed = node.get("/api/v1/alerts?state=open", headers=supervisor)
    assert listed.status_code == 200, listed.text
    (alert,) = [a for a in listed.json()["items"] if a["key"] == f"witness_fork:{PEER}"]
    assert alert["title"] == "Nhật ký kiểm toán bị rẽ nhánh"

    clerk = node.post(f"/api/v1/alerts/{alert['id']}/acknowledge", headers=auth(credentials, H41))
    assert clerk.status_code == 403
    assert clerk.json()["error"] == "forbidden"
    auditor = node.post(
        f"/api/v1/alerts/{alert['id']}/acknowledge", headers=auth(credentials, "auditor")
    )
    assert auditor.status_code == 403

    url = f"/api/v1/alerts/{alert['id']}/acknowledge"
    done = node.post(url, json={"note": "Đã liên hệ tỉnh"}, headers=supervisor)
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "acknowledged"
    assert done.json()["note"] == "Đã liên hệ tỉnh"
    again = node.post(url, headers=supervisor)
    assert again.status_code == 409
    assert again.json()["error"] == "alert_not_open"
    acknowledged = audit_events(node, events.ALERT_ACKNOWLEDGED)
    assert [e.detail["alert_id"] for e in acknowledged] == [alert["id"]]
    refused = [e for e in audit_events(node, events.REQUEST_REFUSED) if url in str(e.detail)]
    assert len(refused) == 3  # the clerk, the auditor, the second acknowledgement

    def ids(state: str, who: str = "auditor") -> list[str]:
        answer = node.get(f"/api/v1/alerts?state={state}", headers=auth(credentials, who))
        assert answer.status_code == 200, answer.text
        return [a["id"] for a in answer.json()["items"]]

    assert alert["id"] in ids("acknowledged")
    assert alert["id"] not in ids("open")
    assert ids("resolved") == []


def test_bad_requests_are_refused_with_a_code(
    node: TestClient, credentials: dict[str, Any]
) -> None:
    supervisor = auth(credentials, "supervisor")
    bad_state = node.get("/api/v1/alerts?state=closed", headers=supervisor)
    assert bad_state.status_code == 422
    assert "error" in bad_state.json()
    assert node.get("/api/v1/alerts", headers=auth(credentials, H41)).status_code == 403
    missing = node.post("/api/v1/alerts/nope/acknowledge", headers=supervisor)
    assert (missing.status_code, missing.json()["error"]) == (404, "alert_not_found")
    extra = node.post("/api/v1/alerts/nope/acknowledge", json={"notes": "x"}, headers=supervisor)
    assert extra.status_code == 422
