"""Compose (Soạn văn bản): a clerk uploads a document's files and fills its envelope, the
leader signs it, the clerk seals it, the signature check is shown, and the clerk sends it.

Every rule is the documents domain's (``documents.drafts``, ``documents.upload``,
``documents.envelope`` through ``drafts.check_envelope``, ``documents.numbering``) and the
access policy's; this module reads forms and renders pages.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from docex.agencies.service import groups_with_members, search_agencies
from docex.auth.policy import Action, Actor, Parties, acting_agency, allowed, authorize
from docex.documents import drafts
from docex.documents.numbering import suggest_outgoing_number, year_bounds
from docex.documents.upload import receive_form
from docex.errors import DocexError, Unauthenticated
from docex.kit.clock import VIETNAM_TZ
from docex.vocabulary.levels import Classification
from docex.web.context import Person, WebContext, node_of
from docex.web.i18n import gettext_noop as N_
from docex.web.pages import URGENCY_NAMES, render
from docex.web.routing import web_router

router = web_router()
_CN = re.compile(r"(?:^|,)CN=((?:[^,\\]|\\.)+)")

MAX_FIELD = 2000
SEARCH_LIMIT = 50

# The envelope's fields as the page names them, and the words a refusal naming one shows.
FIELD_LABELS: dict[str, str] = {
    "recipients": N_("Recipients"),
    "code.number": N_("Number"),
    "code.notation": N_("Notation"),
    "code": N_("Number"),
    "subject": N_("Subject"),
    "summary": N_("Summary"),
    "promulgation.place": N_("Place"),
    "promulgation.date": N_("Date"),
    "signer.full_name": N_("Signed by"),
    "signer.position": N_("Position"),
    "urgency": N_("Urgency"),
    "due_date": N_("Due date"),
}
STATES: dict[str, str] = {
    drafts.UPLOADED: N_("Uploaded, awaiting signature"),
    drafts.SIGNED: N_("Signed, awaiting the seal"),
    drafts.SEALED: N_("Signed and sealed, ready to send"),
    drafts.SENT: N_("Sent"),
}
ROLE_WORDS: dict[str, str] = {"signer": N_("Signature"), "seal": N_("Seal")}


def _actor(web: WebContext) -> Actor:
    actor = web.actor
    if actor is None:  # a Person is signed in: never
        raise Unauthenticated("sign in first", code="not_signed_in")
    return actor


def envelope_fields(form: FormData) -> dict[str, Any]:
    """The envelope a compose form describes (empty fields left out), for the intake's rules."""

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip()[:MAX_FIELD] if isinstance(value, str) else ""

    fields: dict[str, Any] = {
        "recipients": [r for r in form.getlist("recipients") if isinstance(r, str) and r][:1000],
        "subject": text("subject"),
        "urgency": text("urgency") or "normal",
    }
    if text("number") or text("notation"):
        fields["code"] = {"number": text("number"), "notation": text("notation")}
    if text("summary"):
        fields["summary"] = text("summary")
    if text("date"):
        fields["promulgation"] = {"place": text("place"), "date": text("date")}
    if text("signer_name") or text("signer_position"):
        fields["signer"] = {"full_name": text("signer_name"), "position": text("signer_position")}
    if text("due_date"):
        fields["due_date"] = text("due_date")
    if text("business_type") not in ("", "new"):
        fields["business"] = {
            "type": text("business_type"),
            "refers_to": text("refers_to") or None,
            "reason": text("business_reason") or None,
        }
    return fields


BUSINESS_TYPES: dict[str, str] = {
    "new": N_("A new document"),
    "update": N_("Updates an earlier document"),
    "replace": N_("Replaces an earlier document"),
    "revoke": N_("Revokes an earlier document"),
}


def business_asked(request: Request) -> dict[str, str]:
    """``?business=update&of=ID`` (the outbox's "update"/"replace" links): carried from the
    upload to the draft, whose envelope form starts with them; the intake checks them."""
    kind = request.query_params.get("business", "")
    of = request.query_params.get("of", "")
    if kind not in BUSINESS_TYPES or kind == "new" or not of or len(of) > 64:
        return {}
    return {"business": kind, "of": of}


def problems_of(error: DocexError) -> list[str]:
    """The fields a refusal of the envelope names (their labels), or none it names."""
    named = [label for field, label in FIELD_LABELS.items() if f"{field}:" in error.detail]
    if error.code in ("empty_recipients", "unknown_recipient", "unknown_group"):
        named.append(FIELD_LABELS["recipients"])
    if error.code == "recipient_is_sender":
        named.append(FIELD_LABELS["recipients"])
    return list(dict.fromkeys(named))


@router.get("/ui/compose", response_class=HTMLResponse)
def compose(request: Request, web: Person) -> HTMLResponse:
    """The upload form and the agency's drafts."""
    node = node_of(request)
    actor = _actor(web)
    with node.db.read() as session:
        found = drafts.list_drafts(session, actor)
    levels = [c.value for c in Classification if allowed_level(web, c)]
    asked = business_asked(request)
    return render(
        request,
        "compose/new.html",
        {
            "drafts": found,
            "states": STATES,
            "levels": levels,
            "carry": f"?{urlencode(asked)}" if asked else "",
        },
    )


def allowed_level(web: WebContext, level: Classification) -> bool:
    """Whether the person may send a document of ``level`` (the policy's clearance rule)."""
    actor = _actor(web)
    return actor.agency_id is not None and allowed(
        actor, Action.SEND, Parties(actor.agency_id, frozenset(), level)
    )


@router.get("/ui/compose/drafts", response_class=HTMLResponse)
def draft_list(request: Request, web: Person) -> HTMLResponse:
    """The agency's drafts: what awaits a signature, a seal, or sending."""
    node = node_of(request)
    with node.db.read() as session:
        found = drafts.list_drafts(session, _actor(web))
    return render(request, "compose/drafts.html", {"drafts": found, "states": STATES})


@router.post("/ui/compose/upload")
async def upload(request: Request, web: Person) -> Response:
    """A new draft from the files (multipart, streamed under the intake's limits)."""
    node = node_of(request)
    actor = _actor(web)
    authorize(actor, Action.SEND)
    limits = node.settings.limits
    form = await receive_form(
        request.headers.get("content-type"),
        request.headers.get("content-length"),
        request.stream(),
        shape=drafts.draft_form(limits),
        spool_dir=node.settings.spool_dir,
    )
    try:
        draft = await run_in_threadpool(
            drafts.create_draft, node, actor, form, now=node.clock.now()
        )
    finally:
        form.discard()
    asked = business_asked(request)
    target = f"/ui/compose/drafts/{draft.id}" + (f"?{urlencode(asked)}" if asked else "")
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


@router.get("/ui/compose/drafts/{draft_id}", response_class=HTMLResponse)
def draft_page(request: Request, web: Person, draft_id: str) -> Response:
    """A draft: its files, its envelope form, signing and sealing, the signature check."""
    node = node_of(request)
    actor = _actor(web)
    now = node.clock.now()
    with node.db.read() as session:
        draft = drafts.get_draft(session, actor, draft_id)
        if draft.state == drafts.SENT and draft.document_id:
            return RedirectResponse(f"/ui/documents/{draft.document_id}", status_code=303)
        number = suggest_outgoing_number(session, draft.agency_id, now)
        recipients = _recipient_choices(session, actor.agency_id, None)
        groups = [(g.name, g.title or g.name) for g, _members in groups_with_members(session)]
    year = year_bounds(now)[0].year
    asked = business_asked(request)
    return render(
        request,
        "compose/draft.html",
        {
            "draft": draft,
            "env": draft.envelope,
            "states": STATES,
            "role_words": ROLE_WORDS,
            "suggested": number,
            "year": year,
            "today": now.astimezone(VIETNAM_TZ).date().isoformat(),
            "agencies": recipients,
            "groups": groups,
            "chosen": set(draft.envelope.get("recipients", [])),
            "urgencies": list(URGENCY_NAMES),
            "may_sign": allowed(actor, Action.SIGN_AS_SIGNER),
            "may_seal": allowed(actor, Action.SEAL),
            "report": draft.signatures,
            "checks": signature_rows(draft.signatures),
            "extra": [],
            "business_types": BUSINESS_TYPES,
            "business": draft.envelope.get("business")
            or ({"type": asked["business"], "refers_to": asked["of"]} if asked else {}),
        },
    )


def _recipient_choices(session: Any, own: str | None, q: str | None) -> list[tuple[str, str, int]]:
    """(code, name, depth in the agency tree) of the agencies matching ``q``, the tree's
    order: each parent before its children."""
    found = search_agencies(session, q=q or None, limit=500)
    found = [a for a in found if a.id != own and a.status == "active"]
    by_id = {a.id: a for a in found}
    children: dict[str | None, list[Any]] = {}
    for agency in found:
        parent = agency.parent_id if agency.parent_id in by_id else None
        children.setdefault(parent, []).append(agency)
    ordered: list[tuple[str, str, int]] = []

    def walk(parent: str | None, depth: int) -> None:
        for agency in children.get(parent, []):
            ordered.append((agency.id, agency.name, depth))
            walk(agency.id, depth + 1)

    walk(None, 0)
    return ordered[:SEARCH_LIMIT]


@router.get("/ui/compose/recipients", response_class=HTMLResponse)
def recipients(
    request: Request,
    web: Person,
    q: Annotated[str, Query(max_length=100)] = "",
    chosen: Annotated[list[str] | None, Query(alias="recipients", max_length=1000)] = None,
) -> HTMLResponse:
    """The agency tree filtered by ``q`` (code or name, accents ignored): checkboxes."""
    node = node_of(request)
    actor = _actor(web)
    authorize(actor, Action.SEND)
    with node.db.read() as session:
        found = _recipient_choices(session, actor.agency_id, q.strip())
    listed = {code for code, _name, _depth in found}
    picked = [c for c in dict.fromkeys(chosen or []) if not c.startswith("group:")]
    return render(
        request,
        "compose/recipients.html",
        {"agencies": found, "chosen": set(picked), "extra": [c for c in picked if c not in listed]},
    )


@router.post("/ui/compose/validate", response_class=HTMLResponse)
async def validate(request: Request, web: Person) -> HTMLResponse:
    """The envelope checked as typed, by the intake's rules: what is wrong, or that it is fine."""
    node = node_of(request)
    actor = _actor(web)
    agency_id = acting_agency(actor)
    form = await request.form()
    fields = envelope_fields(form)

    def check() -> DocexError | None:
        with node.db.read() as session:
            try:
                drafts.check_envelope(session, fields, agency_id=agency_id)
            except DocexError as error:  # shown, not refused: nothing is done
                return error
        return None

    error = await run_in_threadpool(check)
    return render(
        request,
        "compose/check.html",
        {"error": error, "fields": problems_of(error) if error else []},
    )


@router.post("/ui/compose/drafts/{draft_id}/envelope")
async def save(request: Request, web: Person, draft_id: str) -> RedirectResponse:
    """Keep the envelope on the draft (refused, and audited, when the intake would refuse it)."""
    node = node_of(request)
    form = await request.form()
    fields = envelope_fields(form)
    await run_in_threadpool(
        drafts.save_envelope, node, _actor(web), draft_id, fields, now=node.clock.now()
    )
    return RedirectResponse(f"/ui/compose/drafts/{draft_id}#signing", status_code=303)


@router.post("/ui/compose/drafts/{draft_id}/sign")
def sign(
    request: Request,
    web: Person,
    draft_id: str,
    role: Annotated[Literal["signer", "seal"], Form(alias="as")],
) -> RedirectResponse:
    """Ký số (the leader's own key) or Đóng dấu (the agency's seal), by the signing service."""
    node = node_of(request)
    drafts.sign_draft(node, _actor(web), draft_id, role, now=node.clock.now())
    return RedirectResponse(f"/ui/compose/drafts/{draft_id}#check", status_code=303)


@router.post("/ui/compose/drafts/{draft_id}/send")
def send(request: Request, web: Person, draft_id: str) -> RedirectResponse:
    """Send the draft through the intake; a second click leads to the same document."""
    node = node_of(request)
    result = drafts.send_draft(node, _actor(web), draft_id, now=node.clock.now())
    if isinstance(result, str):
        return RedirectResponse(f"/ui/documents/{result}", status_code=303)
    if result.created:
        node.worker.wake()
    return RedirectResponse(f"/ui/documents/{result.document.id}", status_code=303)


@router.post("/ui/compose/drafts/{draft_id}/delete")
def delete(request: Request, web: Person, draft_id: str) -> RedirectResponse:
    node = node_of(request)
    drafts.delete_draft(node, _actor(web), draft_id, now=node.clock.now())
    return RedirectResponse("/ui/compose", status_code=303)


@router.get("/ui/compose/drafts/{draft_id}/main.pdf")
def main_pdf(request: Request, web: Person, draft_id: str) -> StreamingResponse:
    """The draft's main PDF, to read before signing."""
    node = node_of(request)
    file, chunks = drafts.open_main(node, _actor(web), draft_id)
    return StreamingResponse(
        chunks,
        media_type="application/pdf",
        headers={
            "Content-Length": str(file.size),
            "Content-Disposition": 'inline; filename="draft.pdf"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


def signature_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each signature of a check, as the page shows it: kind, who, when, valid or why not."""
    rows = []
    for sig in report.get("signatures", []):
        subject = str(sig.get("signer_subject") or "")
        found = _CN.search(subject)
        when = sig.get("timestamp_time") or sig.get("signing_time")
        rows.append(
            {
                "role": sig.get("role", ""),
                "who": found.group(1) if found else subject,
                "when": datetime.fromisoformat(when) if isinstance(when, str) else None,
                "ok": sig.get("indication") == "ok",
                "detail": sig.get("detail", ""),
            }
        )
    return rows
