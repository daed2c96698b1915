"""What the faces (API, CLI) ask of statistics: a period read from the request, checked, and
the rows the asker may see (``Action.READ_STATS``: watchers every agency's, an agency's
members their own agency's row only)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from docex.auth.policy import Action, Actor, authorize, stats_agency
from docex.errors import Unprocessable
from docex.stats.query import agency_rows, vietnam_day
from docex.stats.rows import AgencyRow

MAX_DAYS = 366  # a year, leap day included
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Period:
    start: date
    end: date


def parse_day(text: str, name: str) -> date:
    """``YYYY-MM-DD`` (a Vietnam day), else 422 ``invalid_date``."""
    if not _DATE.fullmatch(text):
        raise Unprocessable(f"{name} must be a date, YYYY-MM-DD", code="invalid_date")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Unprocessable(f"{name} is not a real date", code="invalid_date") from None


def period(start: str | None, end: str | None, *, now: datetime) -> Period:
    """The period ``start``..``end``, both included (``end`` defaults to today in Vietnam,
    ``start`` to ``end``; an empty value, as a form sends it, is no value); 422
    ``invalid_period`` when it ends before it starts, ``period_too_long`` over ``MAX_DAYS``
    days."""
    last = parse_day(end, "to") if end else vietnam_day(now)
    first = parse_day(start, "from") if start else last
    if last < first:
        raise Unprocessable("from is after to", code="invalid_period")
    if last - first >= timedelta(days=MAX_DAYS):
        raise Unprocessable(f"a period is at most {MAX_DAYS} days", code="period_too_long")
    return Period(first, last)


def agency_stats(
    session: Session,
    actor: Actor,
    when: Period,
    *,
    group: str | None = None,
    province: str | None = None,
    agency_id: str | None = None,
    here: str | None = None,
) -> list[AgencyRow]:
    """The rows ``actor`` may read over ``when``, filtered; an agency's member gets its own
    agency's row only (none when it asks for another agency)."""
    authorize(actor, Action.READ_STATS)
    # An empty filter, as a form sends it (?group=), is no filter.
    group, province, agency_id = group or None, province or None, agency_id or None
    own = stats_agency(actor)
    if own is not None:
        if agency_id not in (None, own):
            return []
        agency_id = own
    return agency_rows(
        session,
        start=when.start,
        end=when.end,
        group=group,
        agency_id=agency_id,
        province=province,
        here=here,
    )
