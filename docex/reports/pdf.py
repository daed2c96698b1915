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

from docex.kit.clock import VIETNAM_TZ
from docex.reports import columns as c
from docex.reports.daily import DailyReport, Totals, duration, is_slow
from docex.stats.rows import AgencyRow

_FONT: Final = "dejavu"
_WIDTHS: Final = (22, 50, 14, 14, 17, 15, 14, 14, 16, 20, 20, 20, 20, 16)
_LINE: Final = 4.5
_HEADER_HEIGHT: Final = 7.0
_HEAD_FILL: Final = (232, 238, 247)
_SLOW_FILL: Final = (253, 226, 225)
_TOTAL_FILL: Final = (245, 245, 245)


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
    """Drawn cell by cell (fpdf2's ``table()`` lays out every cell as a paragraph: some forty
    times slower for a nation of some 700 agencies); a name too long for its cell is cut with
    an ellipsis, and the header repeats on each new page."""
    pdf.set_font(_FONT, size=7)
    _header(pdf)
    for row in rows:
        slow = is_slow(row)
        cells = [row.agency_id, row.name, *_figures(row), c.SLOW if slow else ""]
        _row(pdf, cells, _SLOW_FILL if slow else None)
    label, name, figures = total
    _row(pdf, [label, name, *_figures(figures), ""], _TOTAL_FILL)


def _header(pdf: FPDF) -> None:
    headings = [c.AGENCY, c.NAME, *(col.heading for col in c.columns()), c.VERDICT]
    if pdf.will_page_break(_HEADER_HEIGHT + _LINE):
        pdf.add_page()
    top, x = pdf.get_y(), pdf.l_margin
    pdf.set_fill_color(*_HEAD_FILL)
    for width, text in zip(_WIDTHS, headings, strict=True):
        pdf.rect(x, top, width, _HEADER_HEIGHT, style="DF")
        pdf.set_xy(x, top + 0.5)
        pdf.multi_cell(width, _HEADER_HEIGHT / 2 - 0.5, text, align="C")
        x += width
    pdf.set_xy(pdf.l_margin, top + _HEADER_HEIGHT)


def _row(pdf: FPDF, cells: list[str], fill: tuple[int, int, int] | None) -> None:
    if pdf.will_page_break(_LINE):
        pdf.add_page()
        _header(pdf)
    if fill is not None:
        pdf.set_fill_color(*fill)
    for index, (width, text) in enumerate(zip(_WIDTHS, cells, strict=True)):
        align = "L" if index < 2 else "R"
        pdf.cell(
            width, _LINE, _fit(pdf, text, width - 2), border=1, align=align, fill=fill is not None
        )
    pdf.ln(_LINE)


def _fit(pdf: FPDF, text: str, width: float) -> str:
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _figures(source: AgencyRow | Totals) -> list[str]:
    out = []
    for col in c.columns():
        value = getattr(source, col.field)
        out.append(duration(value) if col.is_time else str(value))
    return out
