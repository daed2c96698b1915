"""The daily report's arithmetic, on rows written by hand: sections by province, subtotals and
the nation's totals as sums of the rows, slow agencies marked."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from docex.reports.daily import NO_PROVINCE, Totals, build, duration, is_slow
from docex.stats.rows import AgencyRow


def row(agency: str, province: str | None, **figures: Any) -> AgencyRow:
    values: dict[str, Any] = {
        "sent": 1,
        "received": 2,
        "accepted": 1,
        "returned": 0,
        "overdue": 0,
        "failed": 0,
        "signature_refusals": 0,
        "median_to_01_s": 10.0,
        "p90_to_01_s": 20.0,
        "median_to_03_s": 600.0,
        "p90_to_03_s": 900.0,
    }
    values.update(figures)
    return AgencyRow(
        agency_id=agency, name=f"UBND {agency}", node_id="n", province=province, **values
    )


ROWS = [
    row("C2.H41", "H41", sent=4, overdue=1, median_to_03_s=5000.0, p90_to_03_s=9000.0),
    row("H41", "H41", received=7),
    row("G22", None, failed=3, median_to_03_s=None, p90_to_03_s=None),
    row("C1.H41", "H41", returned=2),
    row("H26", "H26", signature_refusals=1),
]


def report() -> Any:
    return build(ROWS, day=date(2026, 11, 25), generated_at=datetime.now(UTC), node_id="hub")


def test_sections_follow_the_registry_tree_province_agency_first() -> None:
    sections = report().sections
    assert [(s.province_id, [r.agency_id for r in s.rows]) for s in sections] == [
        ("H26", ["H26"]),
        ("H41", ["H41", "C1.H41", "C2.H41"]),
        (None, ["G22"]),
    ]
    assert sections[1].title == "UBND H41"
    assert sections[2].title == NO_PROVINCE


def test_totals_are_the_sums_of_the_rows() -> None:
    built = report()
    nation = built.nation
    assert nation.agencies == 5
    assert (nation.sent, nation.received, nation.returned) == (8, 15, 2)
    assert (nation.overdue, nation.failed, nation.signature_refusals) == (1, 3, 1)
    nghe_an = built.sections[1].subtotal
    assert (nghe_an.sent, nghe_an.received, nghe_an.overdue) == (6, 11, 1)
    # Times: the middle of the agencies' medians, the greatest p90; agencies without one skipped.
    assert nghe_an.median_to_03_s == 600.0
    assert nation.median_to_03_s == 600.0
    assert nation.p90_to_03_s == 9000.0
    assert sum(s.subtotal.sent for s in built.sections) == nation.sent


def test_an_agency_with_an_overdue_delivery_is_slow() -> None:
    built = report()
    assert [r.agency_id for r in built.rows if is_slow(r)] == ["C2.H41"]
    assert [r.agency_id for r in built.sections[1].slow] == ["C2.H41"]


def test_no_rows_make_a_report_of_zeros() -> None:
    empty = build([], day=date(2026, 11, 25), generated_at=datetime.now(UTC), node_id="hub")
    assert empty.sections == ()
    assert empty.nation == Totals.of([])
    assert empty.nation.sent == 0
    assert empty.nation.median_to_01_s is None


def test_durations_read_in_vietnamese() -> None:
    assert duration(None) == "—"
    assert duration(42.4) == "42 giây"
    assert duration(250) == "4 phút 10 giây"
    assert duration(3900) == "1 giờ 05 phút"
