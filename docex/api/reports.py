"""``GET /api/v1/reports/daily``: the centre's daily data report, as XLSX or PDF."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from docex.api.deps import ActorDep, NodeDep
from docex.api.errors import error_responses
from docex.reports import service
from docex.reports.service import MEDIA_TYPES, Format
from docex.stats.service import parse_day

router = APIRouter(tags=["supervision"])


@router.get(
    "/reports/daily",
    response_class=Response,
    responses={
        200: {
            "content": {media: {} for media in MEDIA_TYPES.values()},
            "description": "The report file (Content-Disposition names it)",
        },
        **error_responses(401, 403, 422),
    },
)
async def get_daily_report(
    actor: ActorDep,
    node: NodeDep,
    day: Annotated[
        str | None,
        Query(
            alias="date",
            max_length=10,
            description="The Vietnam day, YYYY-MM-DD (default, or empty: yesterday)",
        ),
    ] = None,
    fmt: Annotated[Format, Query(alias="format", description="xlsx or pdf")] = "xlsx",
) -> Response:
    """The daily data report of one Vietnam day: the nation, then each province (watchers)."""
    reported, data = await run_in_threadpool(
        service.daily_file,
        node.db,
        actor,
        day=parse_day(day, "date") if day else None,
        fmt=fmt,
        node_id=node.settings.node_id,
        now=node.clock.now(),
    )
    name = service.file_name(reported, fmt)
    return Response(
        data,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
