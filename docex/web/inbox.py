"""The inbox (Văn bản đến) and a recipient's actions on a document, for the clerks and leaders
of the recipient agency.

- ``GET /ui/inbox``: ``documents.mailbox.desk``, the API's inbox (``GET /api/v1/inbox``) as a
  clerk works it: flash documents not yet answered on top, then newest first, by the domain's
  cursor; filters and search are the domain query's (``InboxFilter``), dates read in Vietnam
  time. The person's unread lines are bold ("Mới").
- ``GET /ui/inbox/arrivals?after=``: what the open inbox polls every
  ``DOCEX_WEB__POLL_SECONDS``: 204 when nothing arrived after the newest line shown (one query
  on the inbox index), else the new lines, which htmx prepends and announces.
- ``GET /ui/documents/{id}/actions``: the actions the policy and the status rules leave open
  (``routing.receipts.answers``), as a fragment for htmx (the inbox line, the document page) or
  a page of its own; ``POST /ui/documents/{id}/status`` reports one through
  ``routing.receipts.report_status``, as ``POST /api/v1/documents/{id}/statuses`` does, and
  marks the document read for the person.
- ``document_opened``: the document page's hook, marking a document read for whoever opens it.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Final

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from docex.auth.policy import Actor
from docex.documents import mailbox
from docex.documents.mailbox import InboxFilter
from docex.documents.reads import mark_read
from docex.documents.schemas import InboxItem
from docex.errors import Unauthenticated, Unprocessable
from docex.kit.clock import VIETNAM_TZ
from docex.kit.text import Line, Paragraph
from docex.node import Node
from docex.routing import receipts
from docex.routing.receipts import StatusRequest
from docex.vocabulary import statuses
from docex.vocabulary.statuses import LABELS
from docex.web.context import Person, WebContext, node_of
from docex.web.i18n import gettext_noop as N_
from docex.web.pages import URGENCY_NAMES, render, vn_time
from docex.web.routing import web_router
from docex.web.signin import local_path

router = web_router()

PAGE_SIZE: Final = 50
ARRIVALS_LIMIT: Final = 50

Text = Annotated[str, Query(max_length=200)]


BUSINESS_STATES: Final = {
    "recalled": N_("Recalled"),
    "updated": N_("Superseded by an update"),
    "replaced": N_("Replaced"),
}
BUSINESS_TYPES: Final = {
    "revoke": N_("This document revokes an earlier one"),
    "update": N_("This document updates an earlier one"),
    "replace": N_("This document replaces an earlier one"),
}


def arrived(item: InboxItem) -> str:
    """When a line arrived, in Vietnam time."""
    return vn_time(datetime.fromisoformat(item.delivered_at)) if item.delivered_at else ""


WORDS: Final = {
    "business_states": BUSINESS_STATES,
    "business_types": BUSINESS_TYPES,
    "arrived": arrived,
}


def _actor(web: WebContext) -> Actor:
    if web.actor is None:  # Person has signed someone in
        raise Unauthenticated("sign in first", code="not_signed_in")
    return web.actor


def _day(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise Unprocessable(f"{name}: not a date (yyyy-mm-dd)", code="invalid_filter") from exc


def _start_of(day: date) -> datetime:
    """Midnight of ``day`` in Vietnam: the people's day, not UTC's."""
    return datetime.combine(day, time(0), VIETNAM_TZ)


def inbox_filter(
    status: str, urgency: str, sender: str, since: str, until: str, q: str
) -> InboxFilter:
    """The form's fields as the domain's filter; a value no form offers: ``invalid_filter``."""
    if status and status not in LABELS:
        raise Unprocessable(f"status: unknown code {status!r}", code="invalid_filter")
    if urgency and urgency not in URGENCY_NAMES:
        raise Unprocessable(f"urgency: unknown {urgency!r}", code="invalid_filter")
    first, last = _day(since, "since"), _day(until, "until")
    return InboxFilter(
        status=status or None,
        urgency=urgency or None,
        sender=sender.strip() or None,
        since=_start_of(first) if first else None,
        until=_start_of(last + timedelta(days=1)) if last else None,
        q=q.strip() or None,
    )


@router.get("/ui/inbox", response_class=HTMLResponse)
def inbox(
    request: Request,
    web: Person,
    status: Text = "",
    urgency: Text = "",
    sender: Text = "",
    since: Text = "",
    until: Text = "",
    q: Text = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    """Văn bản đến: the agency's inbox."""
    node = node_of(request)
    where = inbox_filter(status, urgency, sender, since, until, q)
    with node.db.read() as session:
        desk = mailbox.desk(session, _actor(web), where, limit=PAGE_SIZE, cursor=cursor)
    fields = {
        "status": status,
        "urgency": urgency,
        "sender": sender,
        "since": since,
        "until": until,
        "q": q,
    }
    return render(
        request,
        "inbox/list.html",
        {
            "desk": desk,
            "fields": fields,
            "filtered": any(fields.values()),
            "first_page": not cursor,
            "poll_seconds": node.settings.web.poll_seconds,
            "statuses": LABELS,
            "query": {k: v for k, v in fields.items() if v},
            **WORDS,
            "here": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        },
    )


@router.get("/ui/inbox/arrivals", response_model=None)
def arrivals(
    request: Request,
    web: Person,
    after: Annotated[str, Query(max_length=500)],
    status: Text = "",
    urgency: Text = "",
    sender: Text = "",
    since: Text = "",
    until: Text = "",
    q: Text = "",
) -> Response:
    """What arrived since the newest line the open inbox shows: 204 when nothing did."""
    node = node_of(request)
    where = inbox_filter(status, urgency, sender, since, until, q)
    with node.db.read() as session:
        found = mailbox.arrivals(session, _actor(web), where, after=after, limit=ARRIVALS_LIMIT)
    if not found.items:
        return Response(status_code=204, headers={"Cache-Control": "no-store"})
    query = {"status": status, "urgency": urgency, "sender": sender, "since": since}
    query |= {"until": until, "q": q}
    return render(
        request,
        "inbox/arrivals.html",
        {
            "found": found,
            "flash": [i for i in found.items if mailbox.waiting_flash(i)],
            "others": [i for i in found.items if not mailbox.waiting_flash(i)],
            "query": {k: v for k, v in query.items() if v},
            "poll_seconds": node.settings.web.poll_seconds,
            "here": "/ui/inbox",
            **WORDS,
        },
    )


@router.get("/ui/documents/{document_id}/actions", response_class=HTMLResponse)
def actions(
    request: Request,
    web: Person,
    document_id: str,
    next: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    """The actions open to the person on a document: a fragment for htmx, else a page."""
    node = node_of(request)
    now = node.clock.now()
    with node.db.read() as session:
        open_ = receipts.answers(
            session, _actor(web), document_id, local_year=now.astimezone(VIETNAM_TZ).year
        )
    context = {
        "answers": open_,
        "next": local_path(next, f"/ui/documents/{document_id}/actions"),
        **WORDS,
    }
    if request.headers.get("hx-request"):
        return render(request, "inbox/actions.html", context)
    return render(request, "inbox/actions_page.html", context)


@router.post("/ui/documents/{document_id}/status")
def report(
    request: Request,
    web: Person,
    document_id: str,
    code: Annotated[str, Form(pattern=r"^[0-9]{2}$")],
    note: Annotated[Paragraph, Form(max_length=2000)] = "",
    incoming_number: Annotated[Line, Form(max_length=50)] = "",
    suggested: Annotated[str, Form(max_length=50)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> RedirectResponse:
    """Report a status from the inbox or the document page, then back there (303)."""
    node = node_of(request)
    actor = _actor(web)
    number = incoming_number.strip()
    # The suggestion left as it is: the sequence gives the number at commit (someone may have
    # taken the suggested one meanwhile). A number typed in is the clerk's, as in the API.
    wanted = number if code == statuses.ACCEPTED and number and number != suggested else None
    with node.db.write() as session:
        now = node.clock.now()
        receipts.report_status(
            session,
            node.signer,
            actor,
            document_id,
            StatusRequest(code, note.strip() or None, wanted),
            now=now,
            local_year=now.astimezone(VIETNAM_TZ).year,
        )
        mark_read(session, actor, document_id, now)
    return RedirectResponse(local_path(next, "/ui/inbox"), status_code=303)


def document_opened(node: Node, actor: Actor, document_id: str) -> None:
    """The document page's hook: ``actor`` opened ``document_id``; the inbox shows it read.
    Call it from a sync route (a write transaction of its own); DocumentNotFound if the
    document does not exist for ``actor``."""
    with node.db.write() as session:
        mark_read(session, actor, document_id, node.clock.now())
