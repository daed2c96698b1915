"""``GET /api/v1/reports/daily`` on a node with a day of real traffic: the XLSX's totals are
the sums of its rows and equal ``agency_rows`` of the same day — the rows the stats API and the
supervision dashboard show, so the report's numbers are the dashboard's —, the PDF states them
in Vietnamese, and only watchers may have it."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pypdf
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from docex.reports import columns
from docex.reports.daily import Totals
from docex.stats.query import agency_rows
from docex.stats.rows import AgencyRow
from tests.helpers import C1, G22, H41, audit_events, auth, node_of

FIELDS = [c.field for c in columns.columns()]
COUNTS = [f for f, _ in columns.COUNTS]


def the_rows(client: TestClient, day: date) -> list[AgencyRow]:
    with node_of(client).db.read() as session:
        return agency_rows(session, start=day, end=day)


def download(client: TestClient, credentials: dict[str, Any], day: date, fmt: str) -> bytes:
    response = client.get(
        "/api/v1/reports/daily",
        params={"date": day.isoformat(), "format": fmt},
        headers=auth(credentials, "supervisor"),
    )
    assert response.status_code == 200, response.text
    assert f"bao-cao-ngay-{day.isoformat()}.{fmt}" in response.headers["content-disposition"]
    return bytes(response.content)


def test_xlsx_totals_are_the_sum_of_its_rows_and_the_dashboards_rows(
    client: TestClient, credentials: dict[str, Any], traffic: date
) -> None:
    book = load_workbook(io.BytesIO(download(client, credentials, traffic, "xlsx")))
    sheet = book["Báo cáo"]
    lines: list[list[Any]] = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert lines[0][0] == "BÁO CÁO SỐ LIỆU HẰNG NGÀY"
    expected = the_rows(client, traffic)
    ids = {r.agency_id for r in expected}
    figures = slice(2, 2 + len(FIELDS))

    agencies = {line[0]: line[figures] for line in lines if line[0] in ids}
    (nation,) = [line[figures] for line in lines if line[0] == "TOÀN QUỐC"]
    subtotals = [line for line in lines if line[0] == "Cộng"]

    # Every agency once, with the very figures of agency_rows (the dashboard's league table).
    assert agencies == {r.agency_id: [getattr(r, f) for f in FIELDS] for r in expected}
    # The nation's counts: the sum of the agencies' rows, and of the provinces' subtotals.
    for i, field in enumerate(COUNTS):
        assert nation[i] == sum(getattr(r, field) for r in expected), field
        assert nation[i] == sum(line[figures][i] for line in subtotals), field
    assert nation == [getattr(Totals.of(expected), f) for f in FIELDS]
    # The traffic itself, counted by hand: 3 deliveries from G22, 1 accepted by H41.
    assert nation[COUNTS.index("received")] == 3
    assert nation[COUNTS.index("accepted")] == 1
    assert agencies[G22][COUNTS.index("sent")] == 2
    assert agencies[C1][COUNTS.index("received")] == 1
    # Nghệ An's section holds its commune, and its subtotal counts both.
    (nghe_an,) = [line for line in subtotals if line[1] == agency_name(expected, H41)]
    assert nghe_an[figures][COUNTS.index("received")] == 3  # H41 twice, C1 once
    flat = book["Số liệu"]
    assert sum(1 for _ in flat.iter_rows(min_row=2)) == len(expected)


def agency_name(rows: list[AgencyRow], agency: str) -> str:
    return next(r.name for r in rows if r.agency_id == agency)


def test_pdf_parses_and_states_the_totals_in_vietnamese(
    client: TestClient, credentials: dict[str, Any], traffic: date
) -> None:
    reader = pypdf.PdfReader(io.BytesIO(download(client, credentials, traffic, "pdf")))
    # Words as they read: a table cell wraps its text onto lines of its own.
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    nation = Totals.of(the_rows(client, traffic))
    assert "BÁO CÁO SỐ LIỆU HẰNG NGÀY" in text
    assert f"ngày {traffic:%d/%m/%Y}" in text
    assert "Đã tiếp nhận (03)" in text
    counts = " ".join(str(getattr(nation, f)) for f in COUNTS)
    assert f"TOÀN QUỐC {nation.agencies} đơn vị {counts}" in text
    assert nation.received == 3


@pytest.mark.parametrize("who", ["supervisor", "auditor", "admin"])
def test_watchers_have_the_report(
    client: TestClient, credentials: dict[str, Any], who: str
) -> None:
    response = client.get(
        "/api/v1/reports/daily", params={"format": "pdf"}, headers=auth(credentials, who)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    (read,) = audit_events(client, "reports:daily:read")
    assert read.detail["format"] == "pdf"


def test_an_empty_date_is_yesterday(client: TestClient, credentials: dict[str, Any]) -> None:
    supervisor = auth(credentials, "supervisor")
    default = client.get("/api/v1/reports/daily", headers=supervisor)
    empty = client.get("/api/v1/reports/daily", params={"date": ""}, headers=supervisor)
    assert (default.status_code, empty.status_code) == (200, 200)
    name = default.headers["content-disposition"]
    assert empty.headers["content-disposition"] == name
    assert "bao-cao-ngay-" in name


@pytest.mark.parametrize(
    ("who", "params", "status", "code"),
    [
        (H41, {"date": "2026-11-25"}, 403, "forbidden"),
        (None, {"date": "2026-11-25"}, 401, "missing_token"),
        ("supervisor", {"date": "25/11/2026"}, 422, "invalid_date"),
        ("supervisor", {"date": "2026-02-30"}, 422, "invalid_date"),
        ("supervisor", {"date": "2026-11-25", "format": "docx"}, 422, "invalid_request"),
    ],
)
def test_refusals_are_4xx_audited_and_give_nothing(
    client: TestClient,
    credentials: dict[str, Any],
    who: str | None,
    params: dict[str, str],
    status: int,
    code: str,
) -> None:
    headers = auth(credentials, who) if who else {}
    response = client.get("/api/v1/reports/daily", params=params, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    refused = audit_events(client, "api:request:refused")
    assert refused
    assert refused[-1].detail["error"] == code
    assert audit_events(client, "reports:daily:read") == []
