"""The admin console (Quản trị), the node operator's view: agencies, people, system tokens,
webhooks, peers and the directory, failed deliveries and the queue, keys and certificates.

Each sub-page is a list and its forms, on the services the API and the CLI use
(``agencies.service``, ``auth.accounts``, ``routing.webhooks.service``,
``routing.dead_letters``, ``queue.jobs``, ``federation``, ``keys.inventory``); the policy
decides who may (``ADMIN_REGISTRY``, ``ADMIN_PRINCIPALS``, ``ADMIN_ROUTING``,
``MANAGE_WEBHOOKS``): anyone else gets the 403 page. Every change is a form posted with its
CSRF token, then a redirect to its list (post/redirect/get) saying what was done; a refusal
propagates to the node's one handler, which audits it and shows the error page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from docex.agencies import service as agencies
from docex.auth import accounts
from docex.auth.policy import Action, Actor, Kind, allowed, authorize
from docex.errors import Unauthenticated
from docex.federation import directory, peers
from docex.federation.witnessing import witnessed
from docex.keys import inventory
from docex.keys.paths import KeyPaths
from docex.kit.clock import as_utc
from docex.kit.pagination import decode_cursor, encode_cursor
from docex.queue import jobs
from docex.routing import dead_letters
from docex.routing.deliveries import queued_to
from docex.routing.webhooks import service as webhooks
from docex.vocabulary.levels import Classification
from docex.vocabulary.transport import FAILED, JOB_DELIVERY
from docex.web.context import Person, WebContext, node_of
from docex.web.i18n import gettext_noop as N_
from docex.web.pages import render
from docex.web.routing import web_router

router = web_router()

PAGE: Final = 50
# The people who act for the node, not an agency, in the order the console offers them.
NODE_KINDS: Final = (Kind.AUDITOR, Kind.SUPERVISOR, Kind.ADMIN)
PREFIX: Final = "/ui/admin"

SECTIONS: Final = (
    ("agencies", N_("Agencies"), Action.ADMIN_REGISTRY),
    ("users", N_("Users"), Action.ADMIN_PRINCIPALS),
    ("tokens", N_("System tokens"), Action.ADMIN_PRINCIPALS),
    ("webhooks", N_("Webhooks"), Action.MANAGE_WEBHOOKS),
    ("peers", N_("Peers and directory"), Action.ADMIN_REGISTRY),
    ("deliveries", N_("Failed deliveries"), Action.ADMIN_ROUTING),
    ("keys", N_("Keys and certificates"), Action.ADMIN_REGISTRY),
)

# What the list says after a change (``?done=``): fixed words, never text from the request.
DONE: Final = {
    "agency_added": N_("The agency was added."),
    "agency_retired": N_("The agency was retired."),
    "person_added": N_("The person was added."),
    "person_changed": N_("The role and clearance were saved."),
    "password_set": N_("The new password was saved."),
    "password_removed": N_(
        "The local password was removed: the person signs in through single sign-on only."
    ),
    "person_disabled": N_("The person was disabled: their sessions and tokens no longer work."),
    "person_enabled": N_("The person was enabled again."),
    "token_revoked": N_("The token was revoked."),
    "webhook_disabled": N_("The endpoint was switched off."),
    "webhook_enabled": N_("The endpoint was switched on."),
    "webhook_deleted": N_("The endpoint was deleted."),
    "delivery_requeued": N_("The delivery was queued again: the worker sends it now."),
}

EXPIRY_NAMES: Final = {
    inventory.Expiry.VALID: N_("in force"),
    inventory.Expiry.EXPIRING: N_("expiring soon"),
    inventory.Expiry.EXPIRED: N_("expired"),
    inventory.Expiry.NOT_YET_VALID: N_("not yet valid"),
}
AGENCY_KIND_NAMES: Final = {
    "party": N_("Party body"),
    "state": N_("State agency"),
    "front": N_("Front organisation"),
    "social": N_("Social organisation"),
    "other": N_("Other"),
}
AGENCY_STATUS_NAMES: Final = {"active": N_("Active"), "retired": N_("Retired")}
JOB_NAMES: Final = {
    "delivery": N_("Deliveries"),
    "webhook": N_("Webhook events"),
    "transfer": N_("Transfers to peers"),
}

Cursor = Annotated[str | None, Query(max_length=200)]
Done = Annotated[str | None, Query(max_length=40)]
Id = Annotated[str, Form(max_length=64)]


def _after(cursor: str | None) -> str | None:
    return str(decode_cursor(cursor, str)[0]) if cursor else None


def _next(rows: list[Any], key: str) -> str | None:
    return encode_cursor(getattr(rows[PAGE - 1], key)) if len(rows) > PAGE else None


def _page(
    request: Request,
    section: str,
    template: str,
    context: dict[str, Any],
    done: str | None = None,
) -> HTMLResponse:
    web = request.state.web
    return render(
        request,
        template,
        {
            "sections": [(s, label) for s, label, action in SECTIONS if _may(web, action)],
            "section": section,
            "done": DONE.get(done or ""),
            "job_names": JOB_NAMES,
            **context,
        },
    )


def _actor(web: WebContext, action: Action | None = None) -> Actor:
    """The signed-in person, allowed ``action`` by the policy when one is named (the services
    that take the actor ask the policy themselves)."""
    if web.actor is None:
        raise Unauthenticated("sign in first", code="not_signed_in")
    if action is not None:
        authorize(web.actor, action)
    return web.actor


def _may(web: WebContext, action: Action) -> bool:
    return web.actor is not None and allowed(web.actor, action)


def _back(section: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/{section}?done={done}", status_code=303)


# -- the start page ---------------------------------------------------------------------------


@router.get(PREFIX, response_class=HTMLResponse)
def console(request: Request, web: Person) -> HTMLResponse:
    """The console's start: its sub-pages, and the queue at a glance."""
    _actor(web, Action.ADMIN_REGISTRY)
    node = node_of(request)
    with node.db.read() as session:
        queue = _queue(session, node.clock.now())
        failed = dead_letters.list_deliveries(session, transport=FAILED, limit=PAGE, cursor=None)
    return _page(
        request,
        "",
        "admin/console.html",
        {"queue": queue, "failed": len(failed.items), "more_failed": failed.next_cursor},
    )


def _queue(session: Session, now: datetime) -> list[tuple[str, int, float]]:
    """(kind, jobs waiting, age in seconds of the oldest) per kind of outbound job."""
    out = []
    for kind, (count, oldest) in sorted(jobs.pending(session).items()):
        age = max(0.0, (now - as_utc(oldest)).total_seconds()) if oldest else 0.0
        out.append((kind, count, age))
    return out


# -- agencies ---------------------------------------------------------------------------------


@router.get(f"{PREFIX}/agencies", response_class=HTMLResponse)
def agency_list(
    request: Request,
    web: Person,
    q: Annotated[str | None, Query(max_length=100)] = None,
    cursor: Cursor = None,
    done: Done = None,
) -> HTMLResponse:
    _actor(web, Action.ADMIN_REGISTRY)
    node = node_of(request)
    with node.db.read() as session:
        rows = agencies.search_agencies(session, q=q or None, after=_after(cursor), limit=PAGE + 1)
    return _page(
        request,
        "agencies",
        "admin/agencies.html",
        {
            "agencies": rows[:PAGE],
            "next_cursor": _next(rows, "id"),
            "q": q or "",
            "kinds": agencies.KINDS,
            "kind_names": AGENCY_KIND_NAMES,
            "status_names": AGENCY_STATUS_NAMES,
            "this_node": node.settings.node_id,
        },
        done,
    )


@router.post(f"{PREFIX}/agencies")
def agency_add(
    request: Request,
    web: Person,
    code: Annotated[str, Form(max_length=32)],
    name: Annotated[str, Form(max_length=400)],
    kind: Annotated[str, Form(max_length=16)],
    parent: Annotated[str, Form(max_length=32)] = "",
    home_node: Annotated[str, Form(max_length=64)] = "",
) -> RedirectResponse:
    """Add an agency, as ``POST /api/v1/agencies``: its keys made if it lives on this node."""
    actor = _actor(web, Action.ADMIN_REGISTRY)
    node = node_of(request)
    with node.db.write() as session:
        agencies.register_agency(
            session,
            node.agency_keys,
            code=code.strip(),
            name=name,
            kind=kind,
            parent_id=parent.strip() or None,
            node_id=home_node.strip() or node.settings.node_id,
            this_node=node.settings.node_id,
            now=node.clock.now(),
            actor_id=actor.id,
        )
    return _back("agencies", "agency_added")


@router.post(f"{PREFIX}/agencies/{{agency_id}}/retire")
def agency_retire(
    request: Request,
    web: Person,
    agency_id: str,
    successor: Annotated[str, Form(max_length=32)] = "",
) -> RedirectResponse:
    """Retire a code, with its successor: mail for it goes there (``successor_required`` when
    mail still reaches it and none is named)."""
    actor = _actor(web, Action.ADMIN_REGISTRY)
    node = node_of(request)
    with node.db.write() as session:
        agencies.update_agency(
            session,
            agency_id,
            now=node.clock.now(),
            actor_id=actor.id,
            queued_mail=queued_to,
            status="retired",
            successor_id=successor.strip() or None,
        )
    return _back("agencies", "agency_retired")


# -- people -----------------------------------------------------------------------------------


@router.get(f"{PREFIX}/users", response_class=HTMLResponse)
def user_list(
    request: Request, web: Person, cursor: Cursor = None, done: Done = None
) -> HTMLResponse:
    actor = _actor(web)
    node = node_of(request)
    with node.db.read() as session:
        rows = accounts.list_people(session, actor, after=_after(cursor), limit=PAGE + 1)
    return _page(
        request,
        "users",
        "admin/users.html",
        {
            "people": rows[:PAGE],
            "next_cursor": _next(rows, "id"),
            "kinds": [k.value for k in (Kind.CLERK, Kind.LEADER, *NODE_KINDS)],
            "clearances": [c.value for c in Classification],
            "agency_kinds": [Kind.CLERK.value, Kind.LEADER.value],
            "node_kinds": [k.value for k in NODE_KINDS],
        },
        done,
    )


@router.post(f"{PREFIX}/users")
def user_add(
    request: Request,
    web: Person,
    username: Annotated[str, Form(max_length=64)],
    full_name: Annotated[str, Form(max_length=200)],
    kind: Annotated[Kind, Form()],
    clearance: Annotated[Classification, Form()],
    password: Annotated[str, Form(max_length=256)],
    agency: Annotated[str, Form(max_length=32)] = "",
) -> RedirectResponse:
    actor = _actor(web)
    node = node_of(request)
    with node.db.write() as session:
        accounts.create_person(
            session,
            actor,
            username=username,
            full_name=full_name,
            kind=kind,
            agency_id=agency.strip() or None,
            clearance=clearance,
            password=password,
            now=node.clock.now(),
        )
    return _back("users", "person_added")


@router.post(f"{PREFIX}/users/{{principal_id}}/role")
def user_change(
    request: Request,
    web: Person,
    principal_id: str,
    kind: Annotated[Kind, Form()],
    clearance: Annotated[Classification, Form()],
) -> RedirectResponse:
    actor = _actor(web)
    node = node_of(request)
    with node.db.write() as session:
        accounts.change_person(
            session, actor, principal_id, kind=kind, clearance=clearance, now=node.clock.now()
        )
    return _back("users", "person_changed")


@router.post(f"{PREFIX}/users/{{principal_id}}/active")
def user_active(
    request: Request,
    web: Person,
    principal_id: str,
    active: Annotated[bool, Form()],
) -> RedirectResponse:
    actor = _actor(web)
    node = node_of(request)
    with node.db.write() as session:
        accounts.set_active(session, actor, principal_id, active=active, now=node.clock.now())
    return _back("users", "person_enabled" if active else "person_disabled")


@router.post(f"{PREFIX}/users/{{principal_id}}/password")
def user_password(
    request: Request,
    web: Person,
    principal_id: str,
    password: Annotated[str, Form(max_length=256)] = "",
    remove: Annotated[bool, Form()] = False,
) -> RedirectResponse:
    """A new local password for the person, or (``remove``) none: single sign-on only."""
    actor = _actor(web)
    node = node_of(request)
    with node.db.write() as session:
        accounts.set_password(
            session, actor, principal_id, None if remove else password, now=node.clock.now()
        )
    return _back("users", "password_removed" if remove else "password_set")


@router.post(f"{PREFIX}/users/{{principal_id}}/identity")
def user_identity(
    request: Request,
    web: Person,
    principal_id: str,
    identity: Annotated[str, Form(max_length=200)] = "",
) -> RedirectResponse:
    """Link the person to the identifier the OpenID provider vouches for (empty: unlink)."""
    actor = _actor(web)
    node = node_of(request)
    with node.db.write() as session:
        accounts.link_identity(session, actor, principal_id, identity, now=node.clock.now())
    return _back("users", "person_changed")


# -- system tokens ----------------------------------------------------------------------------


def _tokens_page(
    request: Request,
    web: WebContext,
    *,
    cursor: str | None = None,
    done: str | None = None,
    issued: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    actor = _actor(web)
    node = node_of(request)
    with node.db.read() as session:
        rows = accounts.list_system_tokens(session, actor, after=_after(cursor), limit=PAGE + 1)
    response = _page(
        request,
        "tokens",
        "admin/tokens.html",
        {"tokens": rows[:PAGE], "next_cursor": _next(rows, "id"), "issued": issued},
        done,
    )
    response.status_code = status_code
    return response


@router.get(f"{PREFIX}/tokens", response_class=HTMLResponse)
def token_list(
    request: Request, web: Person, cursor: Cursor = None, done: Done = None
) -> HTMLResponse:
    return _tokens_page(request, web, cursor=cursor, done=done)


@router.post(f"{PREFIX}/tokens", response_class=HTMLResponse)
def token_create(
    request: Request,
    web: Person,
    agency: Annotated[str, Form(max_length=32)],
    name: Annotated[str, Form(max_length=200)],
) -> HTMLResponse:
    """A system client of the agency and its token, shown on this answer only (never again:
    the database keeps its hash), as ``docex token create`` does."""
    actor = _actor(web)
    node = node_of(request)
    with node.db.write() as session:
        token = accounts.issue_system_token(
            session, actor, agency_id=agency.strip(), name=name, now=node.clock.now()
        )
    issued = {"agency": agency.strip(), "name": name, "secret": token.secret}
    return _tokens_page(request, web, issued=issued, status_code=201)


@router.post(f"{PREFIX}/tokens/{{token_id}}/revoke")
def token_revoke(request: Request, web: Person, token_id: str) -> RedirectResponse:
    actor = _actor(web)
    node = node_of(request)
    with node.db.write() as session:
        accounts.revoke_system_token(session, actor, token_id, now=node.clock.now())
    return _back("tokens", "token_revoked")


# -- webhooks ---------------------------------------------------------------------------------


@router.get(f"{PREFIX}/webhooks", response_class=HTMLResponse)
def webhook_list(
    request: Request, web: Person, cursor: Cursor = None, done: Done = None
) -> HTMLResponse:
    actor = _actor(web, Action.ADMIN_REGISTRY)  # the console's: a system client has the API
    node = node_of(request)
    with node.db.read() as session:
        rows = webhooks.list_endpoints(session, actor, after=_after(cursor), limit=PAGE + 1)
    return _page(
        request,
        "webhooks",
        "admin/webhooks.html",
        {"endpoints": rows[:PAGE], "next_cursor": _next(rows, "id")},
        done,
    )


@router.post(f"{PREFIX}/webhooks/{{endpoint_id}}/enabled")
def webhook_switch(
    request: Request, web: Person, endpoint_id: str, enabled: Annotated[bool, Form()]
) -> RedirectResponse:
    actor = _actor(web, Action.ADMIN_REGISTRY)
    node = node_of(request)
    with node.db.write() as session:
        webhooks.set_enabled(session, actor, endpoint_id, enabled=enabled, now=node.clock.now())
    return _back("webhooks", "webhook_enabled" if enabled else "webhook_disabled")


@router.post(f"{PREFIX}/webhooks/{{endpoint_id}}/delete")
def webhook_delete(request: Request, web: Person, endpoint_id: str) -> RedirectResponse:
    actor = _actor(web, Action.ADMIN_REGISTRY)
    node = node_of(request)
    with node.db.write() as session:
        webhooks.delete(session, actor, endpoint_id, now=node.clock.now())
    return _back("webhooks", "webhook_deleted")


# -- peers and the directory ------------------------------------------------------------------


@router.get(f"{PREFIX}/peers", response_class=HTMLResponse)
def peer_list(request: Request, web: Person) -> HTMLResponse:
    """What ``docex federation show`` and ``docex audit peers`` show."""
    _actor(web, Action.ADMIN_REGISTRY)
    node = node_of(request)
    with node.db.read() as session:
        found = directory.state(
            session,
            now=node.clock.now(),
            max_age_seconds=node.settings.federation.max_age_seconds,
        )
        nodes = peers.peers(session)
        hosted = peers.hosted_counts(session)
        witness = {w.peer: w for w in witnessed(session)}
    return _page(
        request,
        "peers",
        "admin/peers.html",
        {
            "directory": found,
            "nodes": nodes,
            "hosted": hosted,
            "witness": witness,
            "unlisted": sorted(set(witness) - {n.id for n in nodes}),
            "this_node": node.settings.node_id,
        },
    )


# -- failed deliveries and the queue ----------------------------------------------------------


@router.get(f"{PREFIX}/deliveries", response_class=HTMLResponse)
def delivery_list(
    request: Request, web: Person, cursor: Cursor = None, done: Done = None
) -> HTMLResponse:
    """The dead-letter view of ``GET /api/v1/admin/deliveries?transport=failed``, and the
    queue's depth by kind with the age of its oldest job (the metrics' queue watcher)."""
    _actor(web, Action.ADMIN_ROUTING)
    node = node_of(request)
    with node.db.read() as session:
        failed = dead_letters.list_deliveries(session, transport=FAILED, limit=PAGE, cursor=cursor)
        queue = _queue(session, node.clock.now())
    return _page(
        request,
        "deliveries",
        "admin/deliveries.html",
        {
            "failed": [(d, datetime.fromisoformat(d.updated_at)) for d in failed.items],
            "next_cursor": failed.next_cursor,
            "queue": queue,
        },
        done,
    )


@router.post(f"{PREFIX}/deliveries/{{delivery_id}}/retry")
def delivery_retry(
    request: Request,
    web: Person,
    delivery_id: str,
    note: Annotated[str, Form(max_length=500)] = "",
) -> RedirectResponse:
    """Re-queue a failed delivery: the service of ``POST .../deliveries/{id}/retry``."""
    actor = _actor(web, Action.ADMIN_ROUTING)
    node = node_of(request)
    with node.db.write() as session:
        dead_letters.requeue_delivery(
            session,
            delivery_id,
            actor_id=actor.id,
            now=node.clock.now(),
            note=note.strip() or None,
        )
    node.worker.wake(JOB_DELIVERY)
    return _back("deliveries", "delivery_requeued")


# -- keys and certificates --------------------------------------------------------------------


@router.get(f"{PREFIX}/keys", response_class=HTMLResponse)
def key_list(request: Request, web: Person) -> HTMLResponse:
    _actor(web, Action.ADMIN_REGISTRY)
    node = node_of(request)
    certificates = inventory.certificates(
        node.signatures.pki, KeyPaths.of(node.settings).node_certificate, node.clock.now()
    )
    return _page(
        request,
        "keys",
        "admin/keys.html",
        {
            "certificates": certificates,
            "expiry_names": EXPIRY_NAMES,
            "receipt_kid": node.signer.kid,
            "kek_versions": node.keks.versions,
            "warning_days": inventory.EXPIRY_WARNING.days,
        },
    )
