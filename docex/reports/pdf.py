"""The daily report as a PDF (fpdf2), A4 landscape, in Vietnamese with its diacritics.

The font is the DejaVu Sans subset of the signature stamps (``docex/signing/fonts``), embedded
as a subset with a ToUnicode map, so the text can be searched and copied. The same tables as
the XLSX: the nation's row, then one table per province with its ``Cộng`` row; slow agencies
are marked ``Chậm`` and shaded; times read as durations (``4 phút 10 giây``).
"""

from __future__ import annotations

from importlib.resources import as_file, files
from typing import Final

from fpdf import FPDF
from fpdf.fonts import FontFace

from docex.kit.clock import VIETNAM_TZ
from docex.reports import columns as c
from docex.reports.daily import DailyReport, Totals, duration, is_slow
from docex.stats.rows import AgencyRow

_FONT: Final = "dejavu"
_WIDTHS: Final = (22, 50, 14, 14, 17, 15, 14, 14, 16, 20, 20, 20, 20, 16)
_HEAD: Final = FontFace(fill_color=(232, 238, 247))
_SLOW: Final = FontFace(fill_color=(253, 226, 225))
_TOTAL: Final = FontFace(fill_color=(245, 245, 245))


def render(report: DailyReport) -> bytes:
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_title(f"{c.TITLE} {report.day:%d/%m/%Y}")
    pdf.set_creator(report.node_id)
    pdf.set_creation_date(report.generated_at)
    with as_file(files("docex.signing") / "fonts" / "DejaVuSans-vi.ttf") as font:
        pdf.add_font(_FONT, fname=str(font))
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font(_FONT, size=15)
    pdf.cell(0, 8, c.TITLE, new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.set_font(_FONT, size=10)
    when = report.generated_at.astimezone(VIETNAM_TZ)
    pdf.cell(
        0,
        6,
        f"{c.SUBTITLE} — ngày {report.day:%d/%m/%Y} — nút {report.node_id}",
        new_x="LMARGIN",
        new_y="NEXT",
        align="C",
    )
    pdf.set_font(_FONT, size=8)
    pdf.cell(0, 5, f"Lập lúc {when:%H:%M %d/%m/%Y} (giờ Việt Nam)", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 5, c.TOTALS_NOTE, new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 5, c.SLOW_NOTE, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    nation = report.nation
    _table(pdf, [], (c.NATION, f"{nation.agencies} đơn vị", nation))
    for section in report.sections:
        pdf.ln(3)
        pdf.set_font(_FONT, size=11)
        pdf.cell(0, 7, section.title, new_x="LMARGIN", new_y="NEXT")
        _table(pdf, list(section.rows), (c.SUBTOTAL, section.title, section.subtotal))
    return bytes(pdf.output())


def _table(pdf: FPDF, rows: list[AgencyRow], total: tuple[str, str, Totals]) -> None:
    pdf.set_font(_FONT, size=7)
    headings = [c.AGENCY, c.NAME, *(col.heading for col in c.columns()), c.VERDICT]
    with pdf.table(col_widths=_WIDTHS, headings_style=_HEAD, line_height=4) as table:
        table.row(headings)
        for row in rows:
            slow = is_slow(row)
            table.row(
                [row.agency_id, row.name, *_figures(row), c.SLOW if slow else ""],
                style=_SLOW if slow else None,
            )
        label, name, figures = total
        table.row([label, name, *_figures(figures), ""], style=_TOTAL)


def _figures(source: AgencyRow | Totals) -> list[str]:
    out = []
    for col in c.columns():
        value = getattr(source, col.field)
        out.append(duration(value) if col.is_time else str(value))
    return out
