"""The supervision dashboard (``/ui/supervision``) through the web, on both backends: who may
open it (supervisors and admins; everyone else a 403 page, audited), the league table is the
stats' ``agency_rows`` of the period in league order, the drill-down of the slow province lists
its overdue delivery without the document's subject, the chart has one bar pair per day and its
table the same numbers as ``daily_series``, and a bad period is a 422 page, audited."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from docex.documents.models import Delivery
from docex.kit.clock import VIETNAM_TZ
from docex.stats.query import agency_rows, daily_series
from docex.vocabulary.transport import DELIVERED
from docex.web.supervision import league
from tests.helpers import G22, H26, H41, audit_events, auth, deliver, envelope, node_of, pdf, send
from tests.web.conftest import csrf_of, login, person_of

DASHBOARD = "/ui/supervision"
SUBJECT = "Báo cáo tiến độ giải ngân vốn đầu tư công"


def today(client: TestClient) -> date:
    return node_of(client).clock.now().astimezone(VIETNAM_TZ).date()


def slow_province(client: TestClient, credentials: dict[str, Any]) -> str:
    """G22 sends to Nghệ An (H41) and Hà Nội (H26); Hà Nội receives it (03) in time, Nghệ An
    lets the day end without an answer: its delivery is due in the past when the sweep runs."""
    sent = send(client, auth(credentials, G22), envelope([H41, H26], subject=SUBJECT), pdf())
    assert sent.status_code == 201, sent.text
    document_id = str(sent.json()["id"])
    delivered(client, document_id)
    answered = client.post(
        f"/api/v1/documents/{document_id}/statuses",
        json={"code": "03"},
        headers=auth(credentials, H26),
    )
    assert answered.status_code == 201, answered.text
    node = node_of(client)
    now = node.clock.now()
    with node.db.write() as session:  # the day ended an hour ago, unanswered
        session.execute(
            update(Delivery)
            .where(Delivery.document_id == document_id, Delivery.recipient_id == H41)
            .values(due_at=now - timedelta(hours=1))
        )
    assert node.overdue.run_once(now) == 1
    return document_id


def delivered(client: TestClient, document_id: str) -> None:
    """Both deliveries made (by this call, or by the node's own worker when it runs)."""
    node = node_of(client)
    deadline = time.monotonic() + 30
    while True:
        deliver(client)
        with node.db.read() as session:
            states = session.scalars(
                select(Delivery.transport).where(Delivery.document_id == document_id)
            ).all()
        if states and all(state == DELIVERED for state in states):
            return
        assert time.monotonic() < deadline, states
        time.sleep(0.05)


def cells(html: str, table_class: str) -> list[tuple[str, list[str]]]:
    """Each body row of the first table of ``table_class``: its key attribute and cell texts."""
    table = re.search(rf'<table class="{table_class}"[^>]*>(.*?)</table>', html, re.S)
    assert table is not None, f"no {table_class} table"
    rows = []
    for key, body in re.findall(r'<tr data-[a-z]+="([^"]*)"[^>]*>(.*?)</tr>', table.group(1), re.S):
        texts = [
            re.sub(r"<[^>]+>", "", c).strip()
            for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", body, re.S)
        ]
        rows.append((key, texts))
    return rows


@pytest.mark.parametrize("who", ["supervisor", "admin"])
def test_supervisors_and_admins_open_the_dashboard(
    web: TestClient, credentials: dict[str, Any], who: str
) -> None:
    login(web, credentials, who)
    page = web.get(DASHBOARD)
    assert page.status_code == 200, page.text
    assert "<h1>Trung tâm giám sát, điều hành</h1>" in page.text
    assert 'href="/ui/supervision" aria-current="page"' in page.text  # the menu entry
    assert 'hx-get="/ui/supervision/alerts" hx-trigger="load, every 30s"' in page.text
    assert 'hx-get="/ui/supervision/network"' in page.text
    assert web.get("/ui/supervision/network").status_code == 200
    assert web.get(f"/ui/supervision/agencies/{H41}").status_code == 200


def test_the_supervisor_lands_on_the_dashboard(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    username, password = person_of(credentials, "supervisor")
    page = web.get("/ui/sign-in")
    signed_in = web.post(
        "/ui/sign-in",
        data={"username": username, "password": password, "csrf": csrf_of(page.text)},
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == DASHBOARD


@pytest.mark.parametrize("who", [G22, "auditor", f"{H41}/leader"])
@pytest.mark.parametrize(
    "path", [DASHBOARD, "/ui/supervision/network", f"/ui/supervision/agencies/{H41}"]
)
def test_everyone_else_gets_a_refusal_page_audited(
    web: TestClient, credentials: dict[str, Any], who: str, path: str
) -> None:
    login(web, credentials, who)
    refused = web.get(path)
    assert refused.status_code == 403
    assert "<h1>" in refused.text
    assert "Giám sát" not in re.findall(r"<nav.*?</nav>", refused.text, re.S)[0]
    audited = audit_events(web, "api:request:refused")[-1].detail
    assert audited["path"] == path
    assert audited["error"] == "forbidden"


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("from=2026-13-01", "invalid_date"),
        ("to=x", "invalid_date"),
        ("from=2026-11-26&to=2026-11-25", "invalid_period"),
        ("from=2024-01-01&to=2026-01-01", "period_too_long"),
    ],
)
def test_a_bad_period_is_a_422_page_audited(
    web: TestClient, credentials: dict[str, Any], query: str, error: str
) -> None:
    login(web, credentials, "supervisor")
    refused = web.get(f"{DASHBOARD}?{query}")
    assert refused.status_code == 422
    assert "<h1>" in refused.text
    audited = audit_events(web, "api:request:refused")[-1].detail
    assert audited["error"] == error


def test_an_unknown_agency_is_a_404_page(web: TestClient, credentials: dict[str, Any]) -> None:
    login(web, credentials, "supervisor")
    assert web.get("/ui/supervision/agencies/000.00.00.X99").status_code == 404
    assert audit_events(web, "api:request:refused")[-1].detail["error"] == "agency_not_found"


def test_the_league_table_is_the_period_s_agency_rows_worst_first_and_the_slow_province_flagged(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    slow_province(web, credentials)
    login(web, credentials, "supervisor")
    page = web.get(DASHBOARD)
    assert page.status_code == 200, page.text
    day = today(web)
    with node_of(web).db.read() as session:
        expected = league(agency_rows(session, start=day, end=day))
    shown = cells(page.text, "sv-league")
    assert [code for code, _ in shown] == [r.agency_id for r in expected]
    for (_, texts), row in zip(shown, expected, strict=True):
        numbers = [int(t) for t in texts[1:7]]
        assert numbers == [
            row.sent,
            row.received,
            row.accepted,
            row.returned,
            row.overdue,
            row.failed,
        ]
        assert texts[-1] == ("Chậm" if row.overdue else "Đúng hạn")
    assert shown[0][0] == H41  # the one overdue: first
    assert shown[0][1][5] == "1"
    provinces = cells(page.text, "sv-provinces")
    assert provinces[0][0] == H41
    assert provinces[0][1][-1].startswith("Chậm")
    others = {code: texts[-1] for code, texts in provinces[1:]}
    assert others[H26] == "Đúng hạn"
    # grouped by province when asked: one table per province, the slow one first
    grouped = web.get(f"{DASHBOARD}?by=province")
    assert grouped.status_code == 200
    tables = re.findall(r'<table class="sv-league" data-province="([^"]*)"', grouped.text)
    assert tables[0] == H41
    assert len(tables) == len(provinces)


def test_the_drill_down_lists_the_slow_agency_s_overdue_delivery_without_its_subject(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    document_id = slow_province(web, credentials)
    login(web, credentials, "supervisor")
    page = web.get(f"/ui/supervision/agencies/{H41}")
    assert page.status_code == 200, page.text
    (overdue,) = cells(page.text, "sv-overdue")
    assert overdue[0] == document_id
    texts = overdue[1]
    assert texts[0] == document_id
    assert texts[1:3] == [G22, H41]
    assert texts[6] == "Chưa phản hồi"
    assert SUBJECT not in page.text  # the envelope is not the supervisor's to read
    # the API's overdue list says the same to the same person
    listed = web.get("/api/v1/overdue", headers=auth(credentials, "supervisor")).json()["items"]
    assert [(i["document_id"], i["recipient_id"]) for i in listed] == [(document_id, H41)]
    assert listed[0]["content_withheld"] is True
    assert listed[0]["side"] is None
    # Hà Nội answered in time: nothing overdue there
    calm = web.get(f"/ui/supervision/agencies/{H26}")
    assert "Không có văn bản quá hạn." in calm.text
    assert document_id not in calm.text


def test_the_chart_has_one_bar_pair_per_day_and_its_table_the_same_numbers(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    slow_province(web, credentials)
    login(web, credentials, "supervisor")
    end = today(web)
    start = end - timedelta(days=2)
    page = web.get(f"{DASHBOARD}?from={start.isoformat()}&to={end.isoformat()}")
    assert page.status_code == 200, page.text
    svg = re.search(r"<svg.*?</svg>", page.text, re.S)
    assert svg is not None
    assert "<title" in svg.group(0)
    assert "<desc" in svg.group(0)
    with node_of(web).db.read() as session:
        series = daily_series(session, start=start, end=end)
    assert [p.day for p in series] == [start + timedelta(days=n) for n in range(3)]
    days = re.findall(r'<g class="sv-day" data-day="([^"]+)">(.*?)</g>', svg.group(0), re.S)
    assert [d for d, _ in days] == [p.day.isoformat() for p in series]
    for (_, group), point in zip(days, series, strict=True):
        values = re.findall(r'<rect class="sv-(sent|received)"[^>]*data-value="(\d+)"', group)
        assert values == [("sent", str(point.sent)), ("received", str(point.received))]
    table = cells(page.text, "sv-series")
    assert [(day, [int(t) for t in texts[1:4]]) for day, texts in table] == [
        (p.day.isoformat(), [p.sent, p.received, p.overdue]) for p in series
    ]
    assert series[-1].sent >= 1
    assert series[-1].overdue >= 1


def test_the_network_shows_the_queue_and_the_oldest_undelivered(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    login(web, credentials, "supervisor")
    assert 'data-undelivered="0"' in web.get("/ui/supervision/network").text
    sent = send(web, auth(credentials, G22), envelope([H41, H26]), pdf())  # not yet delivered
    assert sent.status_code == 201, sent.text
    fragment = web.get("/ui/supervision/network")
    assert fragment.status_code == 200
    assert 'aria-live="polite"' in fragment.text
    assert 'data-undelivered="2"' in fragment.text
    assert 'data-queue-depth="0"' not in fragment.text
    delivered(web, str(sent.json()["id"]))
    assert 'data-undelivered="0"' in web.get("/ui/supervision/network").text
