"""``docex stats``: each agency's figures over a period (``GET /api/v1/stats/agencies``)."""

from __future__ import annotations

from typing import Annotated

import typer

from docex.cli import render
from docex.cli.common import json_mode, print_json
from docex.cli.connection import remote
from docex_client import AgencyStats

__all__ = ["stats"]


def stats(
    start: Annotated[
        str | None,
        typer.Option("--from", help="First Vietnam day, YYYY-MM-DD (default: --to)."),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last Vietnam day, YYYY-MM-DD (default: today).")
    ] = None,
    group: Annotated[str | None, typer.Option("--group", help="Only a group's agencies.")] = None,
    province: Annotated[
        str | None, typer.Option("--province", help="Only a province's agencies (its code).")
    ] = None,
    agency: Annotated[str | None, typer.Option("--agency", help="Only this agency.")] = None,
) -> None:
    """Each agency's figures over a period: every agency's for supervisors, auditors and
    admins; your agency's row otherwise.

    Columns: Cơ quan (agency code), Gửi (sent), Nhận (received, 01), Tiếp nhận (03), Trả lại
    (02), Quá hạn (overdue), Lỗi (failed deliveries), Chữ ký (sends refused for their
    signatures), → 01 and → 03 (median / p90 time to 01 from the send, to 03 from delivery)."""
    with remote() as client:
        rows = client.agency_stats(
            start=start, end=end, group=group, province=province, agency=agency
        )
    if json_mode():
        print_json({"items": [dict(row.raw) for row in rows]})
        return
    render.show(
        render.table(
            "Thống kê theo cơ quan",
            [
                "Cơ quan",
                "Gửi",
                "Nhận",
                "Tiếp nhận",
                "Trả lại",
                "Quá hạn",
                "Lỗi",
                "Chữ ký",
                "→ 01",
                "→ 03",
            ],
            (_row(row) for row in rows),
            keep=(0,),
        )
    )


def _row(row: AgencyStats) -> list[str]:
    return [
        row.agency_id,
        str(row.sent),
        str(row.received),
        str(row.accepted),
        str(row.returned),
        str(row.overdue),
        str(row.failed),
        str(row.signature_refusals),
        f"{duration(row.median_to_01_s)}\n{duration(row.p90_to_01_s)}",
        f"{duration(row.median_to_03_s)}\n{duration(row.p90_to_03_s)}",
    ]


def duration(seconds: float | None) -> str:
    """``—``, ``42s``, ``3m05s``, ``5h20m``: short enough for a narrow column."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
