"""Registering and managing webhook endpoints. Who may: an agency's system clients, for their own
agency; admins (the operator) list, switch off and delete anyone's but register none (an
endpoint receives an agency's events: the agency's software asks for it). Clerks, leaders and
auditors may not. Another agency's endpoint is ``webhook_not_found``, as if it did not exist.
Every change is an audit event in its transaction; every refusal is audited by the one handler.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from docex.audit import events
from docex.auth.policy import Action, Actor, Kind, acting_agency, authorize
from docex.errors import Unprocessable, WebhookNotFound
from docex.kit.clock import rfc3339
from docex.kit.ids import uuid7
from docex.routing.webhooks import secrets, targets
from docex.routing.webhooks.events import EVENT_TYPES
from docex.routing.webhooks.models import WebhookEndpoint
from docex.routing.webhooks.schemas import WebhookCreated, WebhookOut
from docex.signing.keks import KekRing


def _subscribed(names: Sequence[str] | None) -> list[str] | None:
    if names is None:
        return None
    if not names:
        raise Unprocessable(
            "name at least one event, or leave 'events' out for all of them",
            code="no_webhook_events",
        )
    unknown = sorted({e for e in names if e not in EVENT_TYPES})
    if unknown:
        raise Unprocessable(
            f"unknown event {unknown[0]!r}; the events are {', '.join(EVENT_TYPES)}",
            code="unknown_webhook_event",
        )
    return [e for e in EVENT_TYPES if e in names]


def _where(url: str) -> str:
    """The URL as the audit log keeps it: without its query (which may carry a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"[:300]


def out(endpoint: WebhookEndpoint) -> WebhookOut:
    return WebhookOut(
        id=endpoint.id,
        agency_id=endpoint.agency_id,
        url=endpoint.url,
        events=endpoint.events,
        enabled=endpoint.enabled,
        created_at=rfc3339(endpoint.created_at),
    )


@dataclass(frozen=True)
class Registration:
    """A registration checked before any transaction opens: resolving the target's host may
    take a while, and must not hold the database's write lock meanwhile."""

    agency_id: str
    url: str
    events: list[str] | None


def vet(
    actor: Actor,
    *,
    url: str,
    event_types: Sequence[str] | None,
    allow_private: bool,
    resolve: targets.Resolver = targets.system_resolver,
) -> Registration:
    """Who may register, which events, and whether the target may be reached (SSRF)."""
    authorize(actor, Action.REGISTER_WEBHOOK)
    agency_id = acting_agency(actor)
    subscribed = _subscribed(event_types)
    targets.check(url, allow_private=allow_private, resolve=resolve)
    return Registration(agency_id=agency_id, url=url, events=subscribed)


def register(
    session: Session, keks: KekRing, actor: Actor, registration: Registration, *, now: datetime
) -> WebhookCreated:
    """A new endpoint of the actor's agency (``vet`` first); the answer is the only place its
    secret is shown."""
    endpoint_id = uuid7()
    secret = secrets.new_secret()
    wrapped = secrets.wrap(keks, endpoint_id, secret)
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        agency_id=registration.agency_id,
        principal_id=actor.id,
        url=registration.url,
        events=registration.events,
        secret_kek_version=wrapped.version,
        secret_wrapped=wrapped.blob,
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    events.record(
        session,
        events.WEBHOOK_REGISTERED,
        at=now,
        actor_id=actor.id,
        agency_id=registration.agency_id,
        endpoint_id=endpoint_id,
        url=_where(registration.url),
        events=registration.events,
    )
    return WebhookCreated(**out(endpoint).model_dump(), secret=secrets.secret_text(secret))


def _visible(actor: Actor) -> ColumnElement[bool]:
    """The one access filter: an admin's reach is every agency's endpoints, a system client's
    its own agency's."""
    if actor.kind is Kind.ADMIN:
        return true()
    return WebhookEndpoint.agency_id == acting_agency(actor)


def list_endpoints(
    session: Session, actor: Actor, *, after: str | None, limit: int
) -> list[WebhookEndpoint]:
    authorize(actor, Action.MANAGE_WEBHOOKS)
    query = select(WebhookEndpoint).where(_visible(actor), WebhookEndpoint.deleted_at.is_(None))
    if after is not None:
        query = query.where(WebhookEndpoint.id > after)
    return list(session.scalars(query.order_by(WebhookEndpoint.id).limit(limit)))


def _get(session: Session, actor: Actor, endpoint_id: str) -> WebhookEndpoint:
    authorize(actor, Action.MANAGE_WEBHOOKS)
    found = session.scalars(
        select(WebhookEndpoint)
        .where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.deleted_at.is_(None),
            _visible(actor),
        )
        .with_for_update()
    ).one_or_none()
    if found is None:
        raise WebhookNotFound()
    return found


def set_enabled(
    session: Session, actor: Actor, endpoint_id: str, *, enabled: bool, now: datetime
) -> WebhookOut:
    """Switch an endpoint on or off. Events of a disabled endpoint are dropped, not kept for
    later: its owner reads the inbox to catch up."""
    endpoint = _get(session, actor, endpoint_id)
    if endpoint.enabled != enabled:
        endpoint.enabled = enabled
        endpoint.updated_at = now
        event = events.WEBHOOK_ENABLED if enabled else events.WEBHOOK_DISABLED
        events.record(
            session,
            event,
            at=now,
            actor_id=actor.id,
            agency_id=endpoint.agency_id,
            endpoint_id=endpoint.id,
        )
    return out(endpoint)


def delete(session: Session, actor: Actor, endpoint_id: str, *, now: datetime) -> None:
    endpoint = _get(session, actor, endpoint_id)
    endpoint.deleted_at = now
    endpoint.enabled = False
    endpoint.updated_at = now
    events.record(
        session,
        events.WEBHOOK_DELETED,
        at=now,
        actor_id=actor.id,
        agency_id=endpoint.agency_id,
        endpoint_id=endpoint.id,
    )
