"""``GET /api/v1/overdue``: deliveries not answered by their legal due time."""

from __future__ import annotations

from fastapi import APIRouter

from docex.api.deps import ActorDep, CursorDep, LimitDep, ReadSession
from docex.api.errors import error_responses
from docex.routing import deadlines
from docex.routing.schemas import OverduePage

router = APIRouter(tags=["documents"])


@router.get("/overdue", response_model=OverduePage, responses=error_responses(400, 401, 403))
def get_overdue(
    actor: ActorDep,
    session: ReadSession,
    limit: LimitDep,
    cursor: CursorDep,
    answered: bool | None = None,
) -> OverduePage:
    """Overdue deliveries of the caller's agency (node-wide for admins, auditors, supervisors)."""
    return deadlines.overdue_page(session, actor, answered=answered, limit=limit, cursor=cursor)
