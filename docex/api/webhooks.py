from __future__ import annotations

from fastapi import APIRouter, Response, status

from docex.api.bodies import LimitedRoute
from docex.api.deps import ActorDep, CursorDep, LimitDep, NodeDep, ReadSession
from docex.api.errors import error_responses
from docex.kit.pagination import decode_cursor, encode_cursor
from docex.routing.webhooks import service
from docex.routing.webhooks.schemas import (
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookPage,
    WebhookPatch,
)

router = APIRouter(tags=["webhooks"], route_class=LimitedRoute)


@router.post(
    "/webhooks",
    response_model=WebhookCreated,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 422),
)
def create_webhook(body: WebhookCreate, actor: ActorDep, node: NodeDep) -> WebhookCreated:
    """Register an endpoint of your agency (system clients); its secret is shown only here."""
    registration = service.vet(
        actor,
        url=body.url,
        event_types=body.events,
        allow_private=node.settings.webhooks.allow_private_targets,
    )
    with node.db.write() as session:
        return service.register(session, node.keks, actor, registration, now=node.clock.now())


@router.get("/webhooks", response_model=WebhookPage, responses=error_responses(400, 401, 403))
def list_webhooks(
    actor: ActorDep, session: ReadSession, limit: LimitDep, cursor: CursorDep
) -> WebhookPage:
    """Your agency's endpoints (every agency's for admins), without their secrets."""
    after = decode_cursor(cursor, str)[0] if cursor else None
    rows = service.list_endpoints(session, actor, after=after, limit=limit + 1)
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return WebhookPage(items=[service.out(e) for e in rows[:limit]], next_cursor=next_cursor)


@router.patch(
    "/webhooks/{webhook_id}",
    response_model=WebhookOut,
    responses=error_responses(400, 401, 403, 404, 422),
)
def patch_webhook(
    webhook_id: str, body: WebhookPatch, actor: ActorDep, node: NodeDep
) -> WebhookOut:
    """Disable or enable an endpoint; a disabled endpoint's events are dropped."""
    with node.db.write() as session:
        return service.set_enabled(
            session, actor, webhook_id, enabled=body.enabled, now=node.clock.now()
        )


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404),
)
def delete_webhook(webhook_id: str, actor: ActorDep, node: NodeDep) -> Response:
    """Delete an endpoint; events still queued for it are dropped."""
    with node.db.write() as session:
        service.delete(session, actor, webhook_id, now=node.clock.now())
    return Response(status_code=status.HTTP_204_NO_CONTENT)
