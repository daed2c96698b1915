"""The scheduled daily report: after DOCEX_REPORTS__DAILY_AT (Vietnam time) the worker writes
the previous day's report into DATA_DIR/reports, once per day — however many workers race for
it and however often they restart —, and audits it."""

from __future__ import annotations

import io
import threading
from datetime import datetime, time
from pathlib import Path
from time import monotonic, sleep

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from pydantic import ValidationError

from docex.app import create_app
from docex.config import Settings
from docex.kit.clock import VIETNAM_TZ
from docex.reports.service import DailyReportJob, Written
from docex.signing.sandbox import ValidatorPool
from tests.helpers import MovableClock, audit_events, node_of


def vn(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=VIETNAM_TZ)


def job(client: TestClient, clock: MovableClock, directory: Path) -> DailyReportJob:
    return DailyReportJob(
        node_of(client).db, clock, directory=directory, at=time(7, 0), node_id="test-node"
    )


def test_writes_yesterdays_report_once_after_its_time(client: TestClient, tmp_path: Path) -> None:
    clock = MovableClock(vn(2026, 11, 26, 6, 59))
    reports = tmp_path / "reports"
    first = job(client, clock, reports)
    assert first.run_once() is None  # not yet seven o'clock
    assert not reports.exists()

    clock.at = vn(2026, 11, 26, 7, 0)
    written = first.run_once()
    assert written is not None
    assert written.day.isoformat() == "2026-11-25"
    assert sorted(p.name for p in reports.iterdir()) == [
        "bao-cao-ngay-2026-11-25.pdf",
        "bao-cao-ngay-2026-11-25.xlsx",
    ]
    sheet = load_workbook(io.BytesIO((reports / "bao-cao-ngay-2026-11-25.xlsx").read_bytes()))
    assert sheet["Báo cáo"]["A1"].value == "BÁO CÁO SỐ LIỆU HẰNG NGÀY"
    assert (reports / "bao-cao-ngay-2026-11-25.pdf").read_bytes().startswith(b"%PDF-")
    before = (reports / "bao-cao-ngay-2026-11-25.xlsx").stat().st_mtime_ns

    # Later that day, and after a restart (a new job over the same directory): nothing more.
    clock.at = vn(2026, 11, 26, 18, 0)
    assert first.run_once() is None
    assert job(client, clock, reports).run_once() is None
    assert (reports / "bao-cao-ngay-2026-11-25.xlsx").stat().st_mtime_ns == before

    # The next morning, the next day's.
    clock.at = vn(2026, 11, 27, 7, 30)
    again = first.run_once()
    assert again is not None
    assert again.day.isoformat() == "2026-11-26"

    written_events = audit_events(client, "reports:daily:written")
    assert [e.detail["day"] for e in written_events] == ["2026-11-25", "2026-11-26"]
    assert written_events[0].detail["files"] == [
        "bao-cao-ngay-2026-11-25.xlsx",
        "bao-cao-ngay-2026-11-25.pdf",
    ]
    assert not [p for p in reports.iterdir() if p.name.startswith(".")]  # no leftovers


def test_several_workers_at_once_write_it_once(client: TestClient, tmp_path: Path) -> None:
    clock = MovableClock(vn(2026, 11, 26, 7, 1))
    reports = tmp_path / "reports"
    jobs = [job(client, clock, reports) for _ in range(4)]
    start = threading.Barrier(len(jobs))
    results: list[Written | None] = []

    def run(one: DailyReportJob) -> None:
        start.wait()
        results.append(one.run_once())

    threads = [threading.Thread(target=run, args=(one,)) for one in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == len(jobs)
    assert len([r for r in results if r is not None]) == 1
    assert len(audit_events(client, "reports:daily:written")) == 1
    assert sorted(p.name for p in reports.iterdir()) == [
        "bao-cao-ngay-2026-11-25.pdf",
        "bao-cao-ngay-2026-11-25.xlsx",
    ]


def test_a_running_node_writes_it(
    settings: Settings, validator_pool: ValidatorPool, tmp_path: Path
) -> None:
    settings.dispatcher.enabled = True  # the worker and its chores run, as in production
    settings.reports.daily_at = "07:00"
    clock = MovableClock(vn(2026, 11, 26, 7, 5))
    target = settings.reports_dir / "bao-cao-ngay-2026-11-25.xlsx"
    with TestClient(create_app(settings, clock=clock, validators=validator_pool)) as client:
        deadline = monotonic() + 60
        while not audit_events(client, "reports:daily:written"):
            assert monotonic() < deadline, "the worker wrote no report"
            sleep(0.05)
    assert target.exists()
    assert (settings.data_dir / "reports" / "bao-cao-ngay-2026-11-25.pdf").exists()


def test_the_time_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCEX_REPORTS__DAILY_AT", "6:30")
    with pytest.raises(ValidationError, match="daily_at"):
        Settings()
    monkeypatch.delenv("DOCEX_REPORTS__DAILY_AT")
    assert Settings().reports.daily_at == "off"  # the default: only the hub wants it
    for value in ("06:30", "off"):
        monkeypatch.setenv("DOCEX_REPORTS__DAILY_AT", value)
        assert Settings().reports.daily_at == value
