"""The outbox (Văn bản đi): what the agency sent, newest first, each document with its recipient
matrix (``routing.outbox``), kept current by htmx polling; a document's own outbox page; and the
sender's actions on it: re-send a failed delivery (``routing.dead_letters.resend``), recall (13,
``routing.receipts.report_status``), and the links that open the compose page to update or
replace it. Every decision is the domain's and the policy's; this module only renders."""

from __future__ import annotations

import hashlib
from typing import Annotated, Final
from urllib.parse import urlencode

from fastapi import Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from docex.auth.policy import Actor
from docex.errors import Unauthenticated, Unprocessable
from docex.kit.clock import VIETNAM_TZ
from docex.routing import dead_letters, outbox, receipts
from docex.vocabulary import statuses
from docex.vocabulary.transport import JOB_DELIVERY
from docex.web.context import Person, WebContext, node_of
from docex.web.i18n import gettext_noop as N_
from docex.web.pages import render
from docex.web.routing import web_router

router = web_router()

PAGE_SIZE: Final = 20
MAX_PAGE_SIZE: Final = 100
DocumentId = Annotated[str, Path(max_length=64)]

TRANSPORT_NAMES: Final = {
    "queued": N_("Queued"),
    "delivered": N_("Delivered"),
    "failed": N_("Failed"),
    "forwarded": N_("Forwarded"),
}
STATE_NAMES: Final = {
    "recalled": N_("Recalled"),
    "updated": N_("Update sent"),
    "replaced": N_("Replaced"),
}
BUSINESS_NAMES: Final = {
    "new": N_("New document"),
    "revoke": N_("Revokes an earlier document"),
    "update": N_("Updates an earlier document"),
    "replace": N_("Replaces an earlier document"),
}
# What the page says after an action (``?done=``); anything else says nothing.
DONE: Final = {
    "resent": N_("The delivery is queued again: the node sends it now."),
    "recalled": N_("The recall request was sent to the recipients."),
}


def _actor(web: WebContext) -> Actor:
    if web.actor is None:  # Person has one; a type's promise, kept by the dependency
        raise Unauthenticated("sign in first", code="not_signed_in")
    return web.actor


def _query(cursor: str | None, limit: int) -> str:
    """The list's query string for a page: its cursor, and the page size if not the usual."""
    params = {"cursor": cursor} if cursor else {}
    if limit != PAGE_SIZE:
        params["limit"] = str(limit)
    return f"?{urlencode(params)}" if params else ""


def _version(shown: object) -> str:
    """What a poll compares to skip a refresh that would change nothing (docex.js): a screen
    reader then hears the table again only when it did change."""
    return hashlib.sha256(repr(shown).encode()).hexdigest()[:16]


def _names() -> dict[str, object]:
    return {
        "transport_names": TRANSPORT_NAMES,
        "state_names": STATE_NAMES,
        "business_names": BUSINESS_NAMES,
    }


@router.get("/ui/outbox", response_class=HTMLResponse)
def outbox_list(
    request: Request,
    web: Person,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = PAGE_SIZE,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    """The agency's sent documents, newest first, a page at a time; htmx polls the list."""
    node = node_of(request)
    with node.db.read() as session:
        page = outbox.sent_page(session, _actor(web), limit=limit, cursor=cursor)
    partial = bool(request.headers.get("hx-request"))
    return render(
        request,
        "outbox/_items.html" if partial else "outbox/list.html",
        {
            "page": page,
            "version": _version(page),
            "cursor": cursor,
            "query": _query(cursor, limit),
            "next_query": _query(page.next_cursor, limit) if page.next_cursor else None,
            "first_query": _query(None, limit),
            "poll": node.settings.web.poll_seconds,
            "done": DONE.get(done or ""),
            **_names(),
        },
    )


@router.get("/ui/outbox/{document_id}", response_class=HTMLResponse)
def outbox_document(
    request: Request,
    web: Person,
    document_id: DocumentId,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    """One sent document: every recipient's line, the re-send and recall forms."""
    node = node_of(request)
    with node.db.read() as session:
        document = outbox.sent_document(session, _actor(web), document_id)
    partial = bool(request.headers.get("hx-request"))
    return render(
        request,
        "outbox/_matrix.html" if partial else "outbox/document.html",
        {
            "doc": document,
            "version": _version(document),
            "poll": node.settings.web.poll_seconds,
            "done": DONE.get(done or ""),
            "back": f"/ui/outbox/{document.id}",
            **_names(),
        },
    )


@router.post("/ui/outbox/{document_id}/resend")
def resend(
    request: Request,
    web: Person,
    document_id: DocumentId,
    recipient: Annotated[str, Form(max_length=64)],
    back: Annotated[str, Form(max_length=20)] = "document",
) -> RedirectResponse:
    """Send the failed delivery to ``recipient`` round again."""
    node = node_of(request)
    with node.db.write() as session:
        dead_letters.resend(session, _actor(web), document_id, recipient, now=node.clock.now())
    node.worker.wake(JOB_DELIVERY)  # a worker in this process takes it now, not at its poll
    target = "/ui/outbox" if back == "list" else f"/ui/outbox/{document_id}"
    return RedirectResponse(f"{target}?done=resent", status_code=303)


@router.post("/ui/outbox/{document_id}/recall")
def recall(
    request: Request,
    web: Person,
    document_id: DocumentId,
    reason: Annotated[str, Form(max_length=2000)] = "",
    recipient: Annotated[list[str] | None, Form(max_length=500)] = None,
) -> RedirectResponse:
    """Ask the chosen recipients to recall the document (13), with the reason."""
    if not recipient:
        # The API reads "no recipients" as "all of them"; a form left unticked means none.
        raise Unprocessable("choose the recipients to recall it from", code="recipients_required")
    node = node_of(request)
    with node.db.write() as session:
        now = node.clock.now()
        receipts.report_status(
            session,
            node.signer,
            _actor(web),
            document_id,
            receipts.StatusRequest(
                statuses.RECALL_REQUESTED, reason.strip() or None, recipients=recipient
            ),
            now=now,
            local_year=now.astimezone(VIETNAM_TZ).year,
        )
    return RedirectResponse(f"/ui/outbox/{document_id}?done=recalled", status_code=303)
