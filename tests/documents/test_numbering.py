"""Decree 30's outgoing register runs by the calendar year in Vietnam (UTC+7)."""

from __future__ import annotations

from datetime import UTC, datetime

from docex.documents.numbering import year_bounds
from docex.kit.clock import VIETNAM_TZ


def test_the_register_year_is_vietnams_not_utcs() -> None:
    start, end = year_bounds(datetime(2026, 12, 31, 17, 0, tzinfo=UTC))  # 00:00 on 1 Jan 2027
    assert start == datetime(2027, 1, 1, tzinfo=VIETNAM_TZ)
    assert end == datetime(2028, 1, 1, tzinfo=VIETNAM_TZ)
    start, _ = year_bounds(datetime(2026, 12, 31, 16, 59, 59, tzinfo=UTC))
    assert start == datetime(2026, 1, 1, tzinfo=VIETNAM_TZ)
    assert start.astimezone(UTC) == datetime(2025, 12, 31, 17, 0, tzinfo=UTC)
