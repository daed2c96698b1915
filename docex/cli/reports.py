"""``docex report daily``: the centre's daily data report of this node's database, written to a
file (XLSX or PDF), the same report as ``GET /api/v1/reports/daily`` and the scheduled job
(docex.reports.service).

Registered on the main app by ``register(app)``."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from docex.cli.common import DataDir, DocexTyper, console, fail, settings_for

__all__ = ["register"]

report_app = DocexTyper(help="The supervision centre's reports (this node's database).")


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")


@report_app.command("daily")
def daily(
    out: Annotated[Path, typer.Option("--output", "-o", metavar="FILE", help="Where to write.")],
    day: Annotated[
        str | None,
        typer.Option("--date", metavar="YYYY-MM-DD", help="The Vietnam day (default yesterday)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="xlsx or pdf.")] = "xlsx",
    data_dir: DataDir = None,
) -> None:
    """The daily data report of one Vietnam day: the nation's totals, then each province's
    agencies with subtotals, the slow ones marked (Chậm)."""
    from docex.db import Database
    from docex.kit.clock import SystemClock
    from docex.reports import service

    if fmt not in service.MEDIA_TYPES:
        raise fail(f"--format: xlsx or pdf, not {fmt!r}", code=2)
    try:
        wanted = None if day is None else date.fromisoformat(day)
    except ValueError as exc:
        raise fail(f"--date: YYYY-MM-DD, not {day!r}", code=2) from exc
    settings = settings_for(data_dir)
    now: datetime = SystemClock().now()
    reported = service.previous_day(now) if wanted is None else wanted
    db = Database(settings.resolved_database_url)
    try:
        with db.read() as session:
            report = service.daily_report(session, day=reported, node_id=settings.node_id, now=now)
    finally:
        db.dispose()
    out.write_bytes(service.render(report, "pdf" if fmt == "pdf" else "xlsx"))
    nation = report.nation
    console.print(
        f"{out}: ngày {reported:%d/%m/%Y}, {nation.agencies} đơn vị, "
        f"gửi {nation.sent}, nhận {nation.received}, quá hạn {nation.overdue}"
    )
