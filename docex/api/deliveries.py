"""The dead-letter view of the node's operator: deliveries failed or still waiting, and the
re-queue of a failed one (``docex.routing.dead_letters``); and the sender's own re-send of a
failed delivery of its document (``sender_router``, ``Action.RESEND``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from docex.api.bodies import LimitedRoute
from docex.api.deps import ActorDep, CursorDep, LimitDep, NodeDep, ReadSession
from docex.api.errors import error_responses
from docex.auth.policy import Action, authorize
from docex.routing import dead_letters
from docex.routing.schemas import DeliveryRetryIn, QueuedDelivery, QueuedDeliveryPage
from docex.vocabulary.transport import JOB_DELIVERY

router = APIRouter(prefix="/admin/deliveries", tags=["admin"], route_class=LimitedRoute)
sender_router = APIRouter(tags=["documents"], route_class=LimitedRoute)

DeliveryId = Annotated[str, Path(max_length=64)]
AgencyId = Annotated[str, Path(max_length=64)]


@router.get("", response_model=QueuedDeliveryPage, responses=error_responses(400, 401, 403, 422))
def list_deliveries(
    actor: ActorDep,
    session: ReadSession,
    limit: LimitDep,
    cursor: CursorDep,
    transport: Annotated[Literal["failed", "queued"] | None, Query()] = None,
) -> QueuedDeliveryPage:
    """Deliveries failed or waiting, oldest first, with attempts, last error, next attempt."""
    authorize(actor, Action.ADMIN_ROUTING)
    return dead_letters.list_deliveries(session, transport=transport, limit=limit, cursor=cursor)


@router.post(
    "/{delivery_id}/retry",
    response_model=QueuedDelivery,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def retry_delivery(
    delivery_id: DeliveryId, body: DeliveryRetryIn, actor: ActorDep, node: NodeDep
) -> QueuedDelivery:
    """Send a failed delivery round again: queued, with fresh attempts (admin)."""
    authorize(actor, Action.ADMIN_ROUTING)
    with node.db.write() as session:
        out = dead_letters.requeue_delivery(
            session,
            delivery_id,
            actor_id=actor.id,
            now=node.clock.now(),
            note=body.note,
        )
    node.worker.wake(JOB_DELIVERY)  # a worker in this process takes it now, not at its poll
    return out


@sender_router.post(
    "/documents/{document_id}/deliveries/{recipient_id}/retry",
    response_model=QueuedDelivery,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def resend_delivery(
    document_id: DeliveryId,
    recipient_id: AgencyId,
    body: DeliveryRetryIn,
    actor: ActorDep,
    node: NodeDep,
) -> QueuedDelivery:
    """Send a failed delivery of your agency's document round again (its clerks, systems)."""
    with node.db.write() as session:
        out = dead_letters.resend(
            session, actor, document_id, recipient_id, now=node.clock.now(), note=body.note
        )
    node.worker.wake(JOB_DELIVERY)
    return out
