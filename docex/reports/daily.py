"""The centre's daily data report: one Vietnam day's figures, for the nation and per province.

Built from THE rows (``docex.stats.query.agency_rows``, one :class:`AgencyRow` per agency), the
same rows the stats API and the dashboard show, so the three cannot disagree. Nothing here is
counted afresh: the nation's and each province's counts are sums of the rows; their times are
the middle of the agencies' medians and the greatest of their p90s (a median of the underlying
deliveries cannot be rebuilt from per-agency medians, and the report says which it shows).

A province's section holds the province-level agency and every agency of its registry tree
(``AgencyRow.province``); agencies under no province (central bodies) have a section of
their own. An agency is *slow* when it let a delivery pass its due time (the same-day rule):
``overdue > 0``.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from docex.stats.rows import AgencyRow

NO_PROVINCE = "Cơ quan trung ương và đơn vị không thuộc tỉnh"


@dataclass(frozen=True)
class Totals:
    """Sums of rows' counts; the middle of their medians, the greatest of their p90s."""

    agencies: int
    sent: int
    received: int
    accepted: int
    returned: int
    overdue: int
    failed: int
    signature_refusals: int
    median_to_01_s: float | None
    p90_to_01_s: float | None
    median_to_03_s: float | None
    p90_to_03_s: float | None

    @classmethod
    def of(cls, rows: Sequence[AgencyRow]) -> Totals:
        return cls(
            agencies=len(rows),
            sent=sum(r.sent for r in rows),
            received=sum(r.received for r in rows),
            accepted=sum(r.accepted for r in rows),
            returned=sum(r.returned for r in rows),
            overdue=sum(r.overdue for r in rows),
            failed=sum(r.failed for r in rows),
            signature_refusals=sum(r.signature_refusals for r in rows),
            median_to_01_s=_middle(r.median_to_01_s for r in rows),
            p90_to_01_s=_greatest(r.p90_to_01_s for r in rows),
            median_to_03_s=_middle(r.median_to_03_s for r in rows),
            p90_to_03_s=_greatest(r.p90_to_03_s for r in rows),
        )


@dataclass(frozen=True)
class Section:
    """One province: its own agency first, then the agencies of its tree, and their subtotal."""

    province_id: str | None  # None: the agencies under no province
    title: str
    rows: tuple[AgencyRow, ...]
    subtotal: Totals

    @property
    def slow(self) -> tuple[AgencyRow, ...]:
        return tuple(r for r in self.rows if is_slow(r))


@dataclass(frozen=True)
class DailyReport:
    day: date  # the Vietnam day reported on
    generated_at: datetime  # UTC
    node_id: str
    nation: Totals
    sections: tuple[Section, ...]

    @property
    def rows(self) -> tuple[AgencyRow, ...]:
        return tuple(r for s in self.sections for r in s.rows)


def is_slow(row: AgencyRow) -> bool:
    return row.overdue > 0


def build(
    rows: Iterable[AgencyRow], *, day: date, generated_at: datetime, node_id: str
) -> DailyReport:
    """The report of ``day`` from its rows: sections by province (by the province agency's name;
    the agencies under no province last), each agency once."""
    everyone = list(rows)
    names = {r.agency_id: r.name for r in everyone}
    by_province: dict[str | None, list[AgencyRow]] = {}
    for row in everyone:
        by_province.setdefault(row.province, []).append(row)
    sections = [
        Section(
            province_id=province,
            title=_title(province, names),
            rows=tuple(sorted(members, key=lambda r: (r.agency_id != province, r.agency_id))),
            subtotal=Totals.of(members),
        )
        for province, members in by_province.items()
    ]
    sections.sort(key=lambda s: (s.province_id is None, s.title, s.province_id or ""))
    return DailyReport(
        day=day,
        generated_at=generated_at,
        node_id=node_id,
        nation=Totals.of(everyone),
        sections=tuple(sections),
    )


def duration(seconds: float | None) -> str:
    """A time as a person reads it: ``1 giờ 05 phút``, ``4 phút 10 giây``; ``—`` when none."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} giờ {minutes:02d} phút"
    if minutes:
        return f"{minutes} phút {secs:02d} giây"
    return f"{secs} giây"


def _title(province: str | None, names: dict[str, str]) -> str:
    if province is None:
        return NO_PROVINCE
    return names.get(province, province)


def _middle(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _greatest(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None
