"""``docex report daily``: this node's daily data report into a file, the same as the API's."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import pypdf
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from typer.testing import CliRunner

from docex.cli.main import app
from docex.config import Settings
from docex.kit.clock import VIETNAM_TZ, SystemClock
from tests.helpers import G22, H41, auth, deliver, envelope, pdf, send


def test_writes_the_days_report_as_xlsx_and_pdf(
    runner: CliRunner,
    client: TestClient,
    settings: Settings,
    credentials: dict[str, Any],
    tmp_path: Path,
) -> None:
    assert send(client, auth(credentials, G22), envelope([H41]), pdf()).status_code == 201
    assert deliver(client) == 1
    today: date = SystemClock().now().astimezone(VIETNAM_TZ).date()
    env = {"DOCEX_DATABASE_URL": settings.resolved_database_url, "DOCEX_NODE_ID": "test-node"}
    sheet, document = tmp_path / "r.xlsx", tmp_path / "r.pdf"

    result = runner.invoke(
        app, ["report", "daily", "--date", today.isoformat(), "-o", str(sheet)], env=env
    )
    assert result.exit_code == 0, result.output
    assert "gửi 1, nhận 1" in result.output
    lines = list(
        load_workbook(io.BytesIO(sheet.read_bytes()))["Báo cáo"].iter_rows(values_only=True)
    )
    (nation,) = [line for line in lines if line[0] == "TOÀN QUỐC"]
    assert nation[2:4] == (1, 1)  # sent, received

    args = ["report", "daily", "--date", today.isoformat(), "--format", "pdf", "-o", str(document)]
    assert runner.invoke(app, args, env=env).exit_code == 0
    text = pypdf.PdfReader(io.BytesIO(document.read_bytes())).pages[0].extract_text()
    assert "TOÀN QUỐC" in text


def test_bad_date_or_format_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "r.xlsx"
    bad_date = runner.invoke(app, ["report", "daily", "--date", "26/11/2026", "-o", str(out)])
    assert bad_date.exit_code == 2
    assert "--date" in bad_date.output
    bad_format = runner.invoke(app, ["report", "daily", "--format", "docx", "-o", str(out)])
    assert bad_format.exit_code == 2
    assert not out.exists()
