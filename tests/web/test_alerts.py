"""The early-warning fragment and page: open alerts with their severity, in Vietnamese; the
"Xác nhận đã xử lý" form acknowledges (audited) for a supervisor; by htmx the fragment alone;
a clerk is refused (403 page, audited), and a form without its CSRF token changes nothing."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from docex.alerts.models import Alert
from docex.audit import events
from tests.alerts.conftest import MovableClock
from tests.alerts.test_rules import PEER, fork
from tests.helpers import H41, audit_events, node_of
from tests.web.conftest import csrf_of, login


def raise_fork(web: TestClient) -> str:
    node = node_of(web)
    fork(web, MovableClock(node.clock.now()))
    assert node.alerts is not None
    assert node.alerts.run_once()[0] == [f"witness_fork:{PEER}"]
    with node.db.read() as session:
        return session.scalars(select(Alert.id)).one()


def test_a_supervisor_sees_the_open_alert_and_acknowledges_it(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    alert_id = raise_fork(web)
    login(web, credentials, "supervisor")
    page = web.get("/ui/supervision/alerts")
    assert page.status_code == 200, page.text
    assert "<html" in page.text
    assert "Nghiêm trọng" in page.text
    assert "Nhật ký kiểm toán bị rẽ nhánh" in page.text
    assert "Xác nhận đã xử lý" in page.text

    fragment = web.get("/ui/supervision/alerts", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert 'id="alerts-panel"' in fragment.text

    done = web.post(
        f"/ui/supervision/alerts/{alert_id}/ack",
        data={"csrf": csrf_of(page.text), "note": "Đã báo tỉnh"},
    )
    assert done.status_code == 303
    after = web.get(done.headers["location"])
    assert "Đã xác nhận cảnh báo." in after.text
    assert "Không có cảnh báo nào đang mở" in after.text
    assert len(audit_events(web, events.ALERT_ACKNOWLEDGED)) == 1
    again = web.post(f"/ui/supervision/alerts/{alert_id}/ack", data={"csrf": csrf_of(page.text)})
    assert again.status_code == 409


def test_a_clerk_is_refused_and_a_form_without_csrf_changes_nothing(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    alert_id = raise_fork(web)
    login(web, credentials, H41)
    refused = web.get("/ui/supervision/alerts")
    assert refused.status_code == 403
    login(web, credentials, "supervisor")
    forged = web.post(f"/ui/supervision/alerts/{alert_id}/ack", data={"note": "x"})
    assert forged.status_code == 403
    with node_of(web).db.read() as session:
        assert session.get(Alert, alert_id).state == "open"  # type: ignore[union-attr]
    assert audit_events(web, events.ALERT_ACKNOWLEDGED) == []
    assert len(audit_events(web, events.REQUEST_REFUSED)) >= 2
