"""The auditor's screens (Kiểm toán), for whoever the policy lets read the audit log
(``Action.READ_AUDIT``): everyone else gets the services' refusal, audited, as a page.

- ``/ui/audit``: events searched by document, agency, person, event name and time range
  (entered and shown in Vietnam time), newest first (``evidence.service.search``);
- ``/ui/audit/documents/{id}``: a document's trace, each event with its log position and
  whether it is proven in the latest signed checkpoint (``evidence.proofs.proven_trace``), and
  its evidence bundle (``.../evidence``, ``evidence.bundle.build``, as the API's);
- ``/ui/audit/checkpoints``: the latest checkpoints, their cosignatures, and any fork
  (``evidence.history.checkpoint_history``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response

from docex.audit import events
from docex.auth.policy import Actor
from docex.documents.views import read_document
from docex.errors import Unauthenticated, Unprocessable
from docex.evidence import history, proofs, service
from docex.kit.clock import VIETNAM_TZ
from docex.web.context import Person, WebContext, node_of
from docex.web.pages import render
from docex.web.routing import web_router

router = web_router()

PAGE_SIZE: Final = 50
CHECKPOINTS_PAGE: Final = 10
TRACE_PAGE: Final = 200
DETAIL_CHARS: Final = 140
# Detail fields that are whole signed notes or blobs: evidence, not something to read in a row.
LONG_FIELDS: Final = frozenset({"seen", "cosigned", "signed", "note"})

Field = Annotated[str | None, Query(max_length=64)]
Moment = Annotated[str | None, Query(max_length=32)]
Cursor = Annotated[str | None, Query(max_length=200)]


def from_vietnam_time(text: str | None, field: str) -> datetime | None:
    """A moment typed in Vietnam time (``2026-03-02T08:30``, a datetime-local field), as UTC;
    422 ``invalid_time`` if it is not one."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise Unprocessable(f"{field}: not a date and time", code="invalid_time") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=VIETNAM_TZ)
    return value


def summary(detail: dict[str, Any]) -> str:
    """An event's detail in one short line: ``key: value`` of its plain fields."""
    parts = []
    for key, value in detail.items():
        if key in LONG_FIELDS or value is None or isinstance(value, dict | list):
            continue
        parts.append(f"{key}: {value}")
    text = "; ".join(parts)
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"


def who(web: WebContext) -> Actor:
    if web.actor is None:  # a Person always has one
        raise Unauthenticated("sign in first", code="not_signed_in")
    return web.actor


def _blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


@router.get("/ui/audit", response_class=HTMLResponse)
def search_page(
    request: Request,
    web: Person,
    document: Field = None,
    agency: Field = None,
    person: Field = None,
    event: Field = None,
    since: Annotated[str | None, Query(alias="from", max_length=32)] = None,
    until: Annotated[str | None, Query(alias="to", max_length=32)] = None,
    cursor: Cursor = None,
) -> HTMLResponse:
    """Search the audit log's events; newest first, by pages."""
    node = node_of(request)
    where = service.SearchFilter(
        document=_blank(document),
        agency=_blank(agency),
        principal=_blank(person),
        event=_blank(event),
        since=from_vietnam_time(_blank(since), "from"),
        until=from_vietnam_time(_blank(until), "to"),
    )
    with node.db.read() as session:
        page = service.search(
            session, who(web), where, limit=PAGE_SIZE, cursor=cursor or None, newest_first=True
        )
        names = service.usernames(
            session, {i.event.actor_id for i in page.items if i.event.actor_id}
        )
    form = {
        "document": where.document or "",
        "agency": where.agency or "",
        "person": where.principal or "",
        "event": where.event or "",
        "from": _blank(since) or "",
        "to": _blank(until) or "",
    }
    rows = [
        {
            "item": item,
            "at": datetime.fromisoformat(item.event.at),
            "who": names.get(item.event.actor_id or "", item.event.actor_id or ""),
            "summary": summary(item.event.detail),
        }
        for item in page.items
    ]
    filtered = any(form.values())
    return render(
        request,
        "audit/search.html",
        {
            "form": form,
            "filtered": filtered,
            "rows": rows,
            "next_cursor": page.next_cursor,
            "paged": bool(cursor),
            "event_names": sorted(events.vocabulary()),
            "query": {k: v for k, v in form.items() if v},
        },
    )


@router.get("/ui/audit/documents/{document_id}", response_class=HTMLResponse)
def trace_page(
    request: Request,
    web: Person,
    document_id: str,
    start: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> HTMLResponse:
    """A document's trace, each event with its proof status in the latest checkpoint."""
    node = node_of(request)
    with node.db.read() as session:
        proven = proofs.proven_trace(
            session,
            who(web),
            document_id,
            audit=node.audit,
            node_id=node.settings.node_id,
            start=start,
            limit=TRACE_PAGE,
        )
        document = read_document(session, who(web), document_id)
    rows = [
        {
            "event": e,
            "at": datetime.fromisoformat(e.item.at),
            "summary": summary(e.item.detail),
        }
        for e in proven.events
    ]
    return render(
        request,
        "audit/trace.html",
        {
            "document": document,
            "sent_at": datetime.fromisoformat(document.created_at),
            "trace": proven,
            "rows": rows,
            "next_start": proven.start + TRACE_PAGE
            if proven.start + TRACE_PAGE < proven.total
            else None,
        },
    )


@router.get("/ui/audit/documents/{document_id}/evidence")
def evidence(request: Request, web: Person, document_id: str) -> Response:
    """The document's evidence bundle (a zip), as ``GET /api/v1/documents/{id}/evidence``."""
    node = node_of(request)
    with node.db.read() as session:
        data = proofs.auditor_bundle(
            session,
            who(web),
            document_id,
            signer=node.signer,
            audit=node.audit,
            now=node.clock.now(),
        )
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="evidence-{document_id}.zip"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/ui/audit/checkpoints", response_class=HTMLResponse)
def checkpoints_page(request: Request, web: Person, cursor: Cursor = None) -> HTMLResponse:
    """The latest signed checkpoints with their cosignatures, and any fork reported."""
    node = node_of(request)
    with node.db.read() as session:
        found = history.checkpoint_history(
            session, who(web), node.audit, limit=CHECKPOINTS_PAGE, cursor=cursor or None
        )
    return render(
        request,
        "audit/checkpoints.html",
        {
            "history": found,
            "paged": bool(cursor),
            "node_id": node.settings.node_id,
        },
    )
