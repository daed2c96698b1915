"""One agency's figures over a period: the row every face shows (the API's
``GET /api/v1/stats/agencies`` items, the dashboard's league table, the daily report), so that
they cannot disagree."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True)
class AgencyRow:
    agency_id: str
    name: str
    node_id: str | None  # the node hosting the agency (the directory's), None if unknown
    province: str | None  # the province-level agency it belongs to (the registry tree)
    sent: int  # documents the agency sent in the period
    received: int  # deliveries to it made in the period (01)
    accepted: int  # 03 given by it
    returned: int  # 02 given by it
    overdue: int  # deliveries to it not answered (02/03) by their due time (the same-day rule)
    failed: int  # deliveries from it that failed
    signature_refusals: int  # its sends refused for their signatures
    median_to_01_s: float | None  # from its send to each recipient's 01
    p90_to_01_s: float | None
    median_to_03_s: float | None  # from delivery to it to its 03
    p90_to_03_s: float | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DayPoint:
    """One Vietnam day of a chart: the sums over the agencies shown."""

    day: date
    sent: int
    received: int
    overdue: int
    median_to_03_s: float | None

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "day": self.day.isoformat()}
