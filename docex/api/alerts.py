from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query

from docex.alerts import service
from docex.alerts.schemas import AlertAcknowledge, AlertOut, AlertPage
from docex.api.bodies import LimitedRoute
from docex.api.deps import ActorDep, NodeDep, ReadSession
from docex.api.errors import error_responses

_NO_NOTE = AlertAcknowledge()  # the body may be left out

router = APIRouter(tags=["alerts"], route_class=LimitedRoute)


@router.get("/alerts", response_model=AlertPage, responses=error_responses(401, 403, 422))
def list_alerts(
    actor: ActorDep,
    session: ReadSession,
    state: Annotated[Literal["open", "acknowledged", "resolved"] | None, Query()] = None,
) -> AlertPage:
    """Early-warning alerts, newest first (supervisors, auditors, admins)."""
    rows = service.list_alerts(session, actor, state=state)
    return AlertPage(items=[service.out(a) for a in rows])


@router.post(
    "/alerts/{alert_id}/acknowledge",
    response_model=AlertOut,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def acknowledge_alert(
    alert_id: str,
    actor: ActorDep,
    node: NodeDep,
    body: Annotated[AlertAcknowledge, Body()] = _NO_NOTE,
) -> AlertOut:
    """Acknowledge an open alert, with an optional note (supervisors, admins)."""
    note = body.note
    with node.db.write() as session:
        return service.out(
            service.acknowledge(session, actor, alert_id, note=note, now=node.clock.now())
        )
