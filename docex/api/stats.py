"""``GET /api/v1/stats/agencies``: per agency figures over a period (issue 15)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from docex.api.deps import ActorDep, NodeDep, ReadSession
from docex.api.errors import error_responses
from docex.stats import service
from docex.stats.schemas import AgencyStats, AgencyStatsPage

router = APIRouter(tags=["supervision"])

_Text = Annotated[str | None, Query(max_length=64)]


@router.get(
    "/stats/agencies", response_model=AgencyStatsPage, responses=error_responses(401, 403, 422)
)
def get_agency_stats(
    actor: ActorDep,
    session: ReadSession,
    node: NodeDep,
    start: Annotated[
        str | None,
        Query(
            alias="from",
            max_length=10,
            description="first Vietnam day of the period, YYYY-MM-DD (default: `to`)",
            examples=["2026-11-01"],
        ),
    ] = None,
    end: Annotated[
        str | None,
        Query(
            alias="to",
            max_length=10,
            description="last Vietnam day of the period, YYYY-MM-DD (default: today)",
            examples=["2026-11-26"],
        ),
    ] = None,
    group: _Text = None,
    province: _Text = None,
    agency: Annotated[
        str | None, Query(max_length=64, description="only this agency (its code)")
    ] = None,
) -> AgencyStatsPage:
    """Each agency's figures over Vietnam days from..to (an agency's own people: its row)."""
    when = service.period(start, end, now=node.clock.now())
    rows = service.agency_stats(
        session,
        actor,
        when,
        group=group,
        province=province,
        agency_id=agency,
        here=node.settings.node_id,
    )
    return AgencyStatsPage(items=[AgencyStats.of(row) for row in rows])
