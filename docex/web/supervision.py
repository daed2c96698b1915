"""The supervision centre's dashboard (Giám sát), for whoever the policy lets supervise
(``Action.SUPERVISE``: supervisors and admins); everyone else gets the policy's refusal,
audited, as a page.

- ``/ui/supervision``: the network live (``/ui/supervision/network``, polled by htmx), the
  alerts (``/ui/supervision/alerts``, the alerts' own fragment), the league table of agencies by
  timeliness over a period of Vietnam days (``stats.service.period``: the API's rule), the rows
  of ``stats.query.agency_rows`` (the API's and the daily report's), by province when asked,
  and the period's chart (``daily_series``);
- ``/ui/supervision/agencies/{code}``: one agency's figures and chart over the period, and its
  overdue deliveries (``routing.deadlines.overdue_page``: the delivery facts; the subject only
  where the policy's ``visibility`` grants it, which it never does a supervisor).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Final

from fastapi import Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from docex.agencies.service import get_agency
from docex.auth.policy import Action, Actor, authorize
from docex.errors import Unauthenticated
from docex.federation.health import NetworkHealth, network
from docex.routing.deadlines import overdue_page
from docex.stats.query import agency_rows, daily_series
from docex.stats.rows import AgencyRow
from docex.stats.service import period
from docex.web.charts import day_chart, duration
from docex.web.context import Person, WebContext, node_of
from docex.web.pages import render
from docex.web.routing import web_router

router = web_router()

OVERDUE_PAGE: Final = 50

Group = Annotated[str | None, Query(max_length=64)]


def who(web: WebContext) -> Actor:
    if web.actor is None:  # a Person always has one
        raise Unauthenticated("sign in first", code="not_signed_in")
    authorize(web.actor, Action.SUPERVISE)
    return web.actor


@dataclass(frozen=True)
class Shown:
    """The period shown (``stats.service.period``: the API's rule and refusals, 422
    ``invalid_date``, ``invalid_period``, ``period_too_long``)."""

    start: date
    end: date  # included

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def query(self) -> str:
        return f"from={self.start.isoformat()}&to={self.end.isoformat()}"


def period_of(request: Request, start: str | None, end: str | None) -> Shown:
    """The period asked for (Vietnam days, both included), today by default."""
    found = period(start, end, now=node_of(request).clock.now())
    return Shown(found.start, found.end)


def is_slow(row: AgencyRow) -> bool:
    """Flagged in the league table: it let deliveries to it pass their due time."""
    return row.overdue > 0


def league(rows: list[AgencyRow]) -> list[AgencyRow]:
    """Worst first: most overdue, then the longest p90 to receipt (03), then by code."""
    return sorted(
        rows,
        key=lambda r: (
            -r.overdue,
            -(r.p90_to_03_s if r.p90_to_03_s is not None else -1.0),
            r.agency_id,
        ),
    )


@dataclass
class Province:
    """The agencies of one province in the league table, and their sums."""

    code: str | None
    name: str
    rows: list[AgencyRow] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(r.sent for r in self.rows)

    @property
    def received(self) -> int:
        return sum(r.received for r in self.rows)

    @property
    def overdue(self) -> int:
        return sum(r.overdue for r in self.rows)

    @property
    def failed(self) -> int:
        return sum(r.failed for r in self.rows)

    @property
    def slow(self) -> list[AgencyRow]:
        return [r for r in self.rows if is_slow(r)]


def provinces(rows: list[AgencyRow], names: dict[str, str]) -> list[Province]:
    """``rows`` (in league order) by province, the provinces with the most overdue first."""
    found: dict[str | None, Province] = {}
    for row in rows:
        code = row.province
        if code not in found:
            found[code] = Province(code, names.get(code or "", code or ""))
        found[code].rows.append(row)
    return sorted(found.values(), key=lambda p: (-p.overdue, -len(p.slow), p.code or "~"))


def _blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


@router.get("/ui/supervision", response_class=HTMLResponse)
def dashboard(
    request: Request,
    web: Person,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    group: Group = None,
    by: Annotated[str | None, Query(max_length=16)] = None,
) -> HTMLResponse:
    """The supervision dashboard: network, alerts, league table and chart over a period."""
    node = node_of(request)
    who(web)
    period = period_of(request, _blank(start), _blank(end))
    group = _blank(group)
    with node.db.read() as session:
        rows = league(agency_rows(session, start=period.start, end=period.end, group=group))
        series = daily_series(session, start=period.start, end=period.end)
        health = _network(request, session)
        province_codes = {r.province for r in rows if r.province}
        names = {r.agency_id: r.name for r in rows}
        for code in province_codes - names.keys():
            names[code] = get_agency(session, code).name
    by_province = by == "province"
    return render(
        request,
        "supervision/dashboard.html",
        {
            "period": period,
            "group": group or "",
            "by_province": by_province,
            "rows": rows,
            "provinces": provinces(rows, names),
            "is_slow": is_slow,
            "duration": duration,
            "chart": day_chart(list(series)),
            "health": health,
        },
    )


def _network(request: Request, session: Session) -> NetworkHealth:
    node = node_of(request)
    federation = node.settings.federation
    return network(
        session,
        here=node.settings.node_id,
        now=node.clock.now(),
        down_after_seconds=federation.peer_down_after_seconds,
        max_age_seconds=federation.max_age_seconds,
    )


@router.get("/ui/supervision/network", response_class=HTMLResponse)
def network_fragment(request: Request, web: Person) -> HTMLResponse:
    """The network live: each node up or down, the queue, the directory (htmx polls it)."""
    who(web)
    with node_of(request).db.read() as session:
        health = _network(request, session)
    return render(request, "supervision/_network.html", {"health": health})


@router.get("/ui/supervision/agencies/{code}", response_class=HTMLResponse)
def agency_page(
    request: Request,
    web: Person,
    code: str,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
) -> HTMLResponse:
    """One agency's figures and chart over the period, and its overdue deliveries."""
    node = node_of(request)
    actor = who(web)
    period = period_of(request, _blank(start), _blank(end))
    with node.db.read() as session:
        agency = get_agency(session, code)
        rows = agency_rows(session, start=period.start, end=period.end, agency_id=agency.id)
        series = daily_series(session, start=period.start, end=period.end, agency_id=agency.id)
        overdue = overdue_page(
            session,
            actor,
            answered=None,
            limit=OVERDUE_PAGE,
            cursor=None,
            recipient_id=agency.id,
        )
    now = node.clock.now()
    return render(
        request,
        "supervision/agency.html",
        {
            "agency": agency,
            "period": period,
            "row": rows[0] if rows else None,
            "is_slow": is_slow,
            "duration": duration,
            "chart": day_chart(list(series)),
            "overdue": overdue.items,
            "more": overdue.next_cursor is not None,
            "now": now,
            "late_by": lambda due: _late_by(due, now),
            "moment": lambda text: datetime.fromisoformat(text) if text else None,
        },
    )


def _late_by(due: str | None, now: datetime) -> str:
    """How long past its due time (an RFC 3339 instant) a delivery is at ``now``."""
    if due is None:
        return ""
    return duration(max(0.0, (now - datetime.fromisoformat(due)).total_seconds()))
