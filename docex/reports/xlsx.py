"""The daily report as an XLSX workbook (openpyxl).

Sheet ``Báo cáo``: the template a person reads — title, the nation's row, then one table per
province (its agencies, then its ``Cộng`` subtotal row), slow agencies marked ``Chậm`` and
shaded. Times are seconds, as numbers, so that a spreadsheet can compute with them. Sheet
``Số liệu``: the same rows flat, one per agency with its province, for whoever imports them.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any, Final

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

from docex.reports import columns as c
from docex.reports.daily import DailyReport, Totals, is_slow
from docex.stats.rows import AgencyRow

REPORT_SHEET: Final = "Báo cáo"
DATA_SHEET: Final = "Số liệu"
_BOLD = Font(bold=True)
_SLOW = PatternFill("solid", start_color="FDE2E1", end_color="FDE2E1")
_HEAD = PatternFill("solid", start_color="E8EEF7", end_color="E8EEF7")


def render(report: DailyReport) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet  # noqa: S101
    sheet.title = REPORT_SHEET
    _template(sheet, report)
    _data(book.create_sheet(DATA_SHEET), report)
    book.properties.title = f"{c.TITLE} {report.day:%d/%m/%Y}"
    book.properties.creator = report.node_id
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def _headings() -> list[str]:
    return [
        c.AGENCY,
        c.NAME,
        *(f"{col.heading} (giây)" if col.is_time else col.heading for col in c.columns()),
        c.VERDICT,
    ]


def _figures(source: AgencyRow | Totals) -> list[Any]:
    return [getattr(source, col.field) for col in c.columns()]


def _template(sheet: Worksheet, report: DailyReport) -> None:
    sheet.append([c.TITLE])
    sheet.append([f"{c.SUBTITLE} — ngày {report.day:%d/%m/%Y}", None, f"Nút: {report.node_id}"])
    sheet.append([c.TOTALS_NOTE])
    sheet.append([c.SLOW_NOTE])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([])
    _header(sheet)
    nation = report.nation
    sheet.append([c.NATION, f"{nation.agencies} đơn vị", *_figures(nation), None])
    _bold_last(sheet)
    for section in report.sections:
        sheet.append([])
        sheet.append([section.title])
        sheet.cell(sheet.max_row, 1).font = Font(bold=True, size=12)
        _header(sheet)
        for row in section.rows:
            slow = is_slow(row)
            sheet.append([row.agency_id, row.name, *_figures(row), c.SLOW if slow else None])
            if slow:
                for cell in sheet[sheet.max_row]:
                    cell.fill = _SLOW
        sub = section.subtotal
        sheet.append([c.SUBTOTAL, section.title, *_figures(sub), None])
        _bold_last(sheet)
    sheet.column_dimensions["A"].width = 18
    sheet.column_dimensions["B"].width = 40
    sheet.freeze_panes = "C1"


def _header(sheet: Worksheet) -> None:
    sheet.append(_headings())
    for cell in sheet[sheet.max_row]:
        cell.font = _BOLD
        cell.fill = _HEAD
        cell.alignment = Alignment(wrap_text=True, vertical="top")


def _bold_last(sheet: Worksheet) -> None:
    for cell in sheet[sheet.max_row]:
        cell.font = _BOLD


def _data(sheet: Worksheet, report: DailyReport) -> None:
    fields = [col.field for col in c.columns()]
    sheet.append(["date", "agency_id", "name", "node_id", "province", *fields, "slow"])
    for row in report.rows:
        sheet.append(
            [
                report.day.isoformat(),
                row.agency_id,
                row.name,
                row.node_id,
                row.province,
                *_figures(row),
                is_slow(row),
            ]
        )
