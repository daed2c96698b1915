"""``agency_rows`` and ``daily_series`` against a hand-counted exchange (tests/stats/scenario.py),
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from docex.stats.query import agency_rows, daily_series, median, p90
from docex.stats.rows import AgencyRow, DayPoint
from tests.helpers import G22, H26, H41, node_of
from tests.stats.scenario import DAY, MovableClock, clock, node, play

__all__ = ["clock", "node"]  # fixtures


def rows(c: TestClient, days: int = 1, **filters: Any) -> dict[str, AgencyRow]:
    with node_of(c).db.read() as session:
        found = agency_rows(session, start=DAY, end=DAY + timedelta(days=days - 1), **filters)
    return {row.agency_id: row for row in found}


def test_the_day_s_rows_are_the_hand_counted_figures(
    node: TestClient, clock: MovableClock, credentials: dict[str, Any]
) -> None:
    play(node, clock, credentials)
    found = rows(node)
    sender, recipient, nowhere = found[G22], found[H41], found[H26]
    assert (sender.sent, sender.failed, sender.signature_refusals) == (4, 1, 1)
    assert (sender.received, sender.accepted, sender.returned, sender.overdue) == (0, 0, 0, 0)
    assert (sender.median_to_01_s, sender.p90_to_01_s) == (180.0, 240.0)
    assert (sender.median_to_03_s, sender.p90_to_03_s) == (None, None)
    assert (recipient.sent, recipient.received, recipient.accepted) == (0, 3, 1)
    assert (recipient.returned, recipient.overdue, recipient.failed) == (1, 1, 0)
    assert (recipient.median_to_03_s, recipient.p90_to_03_s) == (600.0, 600.0)
    assert recipient.median_to_01_s is None
    assert (nowhere.received, nowhere.sent) == (0, 0)  # the failed delivery never reached it
    assert recipient.province == H41
    assert sender.province is None
    assert sender.as_json()["agency_id"] == G22


def test_a_period_pools_the_raw_latencies(
    node: TestClient, clock: MovableClock, credentials: dict[str, Any]
) -> None:
    play(node, clock, credentials)
    found = rows(node, days=2)
    sender, recipient = found[G22], found[H41]
    assert sender.sent == 5
    # to 01: 240, 180, 120, 10 → median 150 (not the median of the daily medians, 95)
    assert (sender.median_to_01_s, sender.p90_to_01_s) == (150.0, 240.0)
    assert (recipient.received, recipient.accepted) == (4, 2)
    assert (recipient.median_to_03_s, recipient.p90_to_03_s) == (305.0, 600.0)
    # The day after alone
    with node_of(node).db.read() as session:
        [after] = agency_rows(
            session, start=DAY + timedelta(days=1), end=DAY + timedelta(days=1), agency_id=H41
        )
    assert (after.received, after.accepted, after.overdue, after.median_to_03_s) == (1, 1, 0, 10.0)


def test_filters_by_agency_group_and_province(
    node: TestClient, clock: MovableClock, credentials: dict[str, Any]
) -> None:
    play(node, clock, credentials)
    assert list(rows(node, agency_id=H41)) == [H41]
    provinces = rows(node, group="provinces")
    assert H41 in provinces
    assert G22 not in provinces
    in_nghe_an = rows(node, province=H41)
    assert H41 in in_nghe_an
    assert all(row.province == H41 for row in in_nghe_an.values())
    assert G22 not in in_nghe_an


def test_the_daily_series_has_every_day_and_the_day_s_median(
    node: TestClient, clock: MovableClock, credentials: dict[str, Any]
) -> None:
    play(node, clock, credentials)
    with node_of(node).db.read() as session:
        series = daily_series(session, start=DAY - timedelta(days=1), end=DAY + timedelta(days=1))
        own = daily_series(session, start=DAY, end=DAY, agency_id=G22)
    assert series == [
        DayPoint(DAY - timedelta(days=1), 0, 0, 0, None),
        DayPoint(DAY, sent=4, received=3, overdue=1, median_to_03_s=600.0),
        DayPoint(DAY + timedelta(days=1), sent=1, received=1, overdue=0, median_to_03_s=10.0),
    ]
    assert own == [DayPoint(DAY, sent=4, received=0, overdue=0, median_to_03_s=None)]


@pytest.mark.parametrize(
    ("values", "mid", "ninetieth"),
    [
        ([], None, None),
        ([5.0], 5.0, 5.0),
        ([1.0, 2.0], 1.5, 2.0),
        ([float(n) for n in range(1, 11)], 5.5, 9.0),
        ([float(n) for n in range(1, 12)], 6.0, 10.0),
    ],
)
def test_median_and_nearest_rank_p90(
    values: list[float], mid: float | None, ninetieth: float | None
) -> None:
    assert (median(values), p90(values)) == (mid, ninetieth)
