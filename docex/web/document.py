"""The document page, ``/ui/documents/{id}``: a document as the person may see it — its
envelope, files (download and an inline PDF view), the signature report in plain words, the
receipts, the trace as a timeline, the business chain — for its sender, its recipients and the
node's auditors; the 404 page for anyone else, as for a document that does not exist.

Every read is the API's: ``documents.views`` (``GET /api/v1/documents/{id}`` and ``/trace``),
``routing.receipts.list_receipts`` (``/receipts``), ``documents.files.open_file`` (a file) and
``evidence.bundle.build`` (``/evidence``). What the page shows of each is
``auth.policy.visibility``'s answer, rendered, never decided here.

The inline view serves a file ``Content-Disposition: inline``, as ``application/pdf`` only when
it is a PDF (anything else goes out as an octet stream, which no browser renders), with its own
CSP: nothing runs in it, and only a page of this node may frame it (``frame-ancestors 'self'``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final
from urllib.parse import quote

from cryptography import x509
from cryptography.x509.oid import NameOID
from fastapi import Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from docex.agencies.service import get_agency
from docex.audit import events
from docex.auth.policy import WITHHELD, Action, Actor, allowed
from docex.documents import files, views
from docex.documents.access import load_visible
from docex.documents.envelope import Envelope
from docex.documents.media_types import OCTET_STREAM, served_type
from docex.documents.models import DocumentFile
from docex.documents.schemas import DocumentOut, SignatureOut
from docex.errors import NotFound, Unauthenticated
from docex.evidence import bundle
from docex.routing.receipts import list_receipts
from docex.signing.validation.report import Indication, explanation, first_failure
from docex.web.context import Person, WebContext, node_of
from docex.web.i18n import gettext_noop as N_
from docex.web.inbox import document_opened
from docex.web.pages import PAGE_HEADERS, render
from docex.web.routing import web_router

router = web_router()

PDF: Final = "application/pdf"
# The inline view: a file, not a page. Nothing in it runs; a page of the node may frame it.
INLINE_CSP: Final = "default-src 'none'; frame-ancestors 'self'"
FILE_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "same-origin",
}

# The trace in words; an event not named here shows as its code.
EVENT_NAMES: Final = {
    events.DOCUMENT_ACCEPTED: N_("Sent: the node accepted the document"),
    events.RECIPIENT_RESOLVED: N_("Recipient resolved"),
    events.FEDERATION_DOCUMENT_FORWARDED: N_("Forwarded to another node"),
    events.FEDERATION_DOCUMENT_RECEIVED: N_("Received from another node"),
    events.FEDERATION_STATUS_RELAYED: N_("Status relayed to another node"),
    events.DELIVERY_QUEUED: N_("Waiting to be delivered"),
    events.DELIVERY_DELIVERED: N_("Delivered to the recipient"),
    events.DELIVERY_RETRY: N_("Delivery will be tried again"),
    events.DELIVERY_FAILED: N_("Delivery failed"),
    events.DELIVERY_OVERDUE: N_("Not answered in time"),
    events.DELIVERY_REQUEUED: N_("Sent again by the operator"),
    events.STATUS_RECORDED: N_("Status reported"),
    events.DELIVERY_RECALLED: N_("Recalled for the recipient"),
    events.DELIVERY_UPDATED: N_("Updated for the recipient"),
    events.DELIVERY_REPLACED: N_("Replaced for the recipient"),
    events.FILE_DOWNLOADED: N_("File opened"),
    events.FILE_CORRUPT: N_("A stored file failed its check"),
}
SIGNATURE_ROLES: Final = {
    "signer": N_("Signature of the competent signer"),
    "seal": N_("Digital signature of the agency (seal)"),
    "timestamp": N_("Document timestamp"),
    "unknown": N_("Other signature"),
}
REVOCATION_NAMES: Final = {
    "good": N_("not revoked"),
    "revoked": N_("revoked"),
    "unknown": N_("could not be checked"),
    "not_checked": N_("not checked"),
}
BUSINESS_TYPES: Final = {
    "new": N_("New document"),
    "revoke": N_("Revokes"),
    "update": N_("Updates"),
    "replace": N_("Replaces"),
}
BUSINESS_STATES: Final = {
    "recalled": N_("Recalled"),
    "updated": N_("Updated by"),
    "replaced": N_("Replaced by"),
}
NAMED: Final = 50
TRANSPORT_NAMES: Final = {
    "queued": N_("waiting"),
    "delivered": N_("delivered"),
    "failed": N_("failed"),
}
# Certificate subjects as ``signing.validation.certificates`` writes them (RFC 4514 with the
# short names it adds).
_SUBJECT_NAMES: Final = {
    "GN": NameOID.GIVEN_NAME,
    "SN": NameOID.SURNAME,
    "serialNumber": NameOID.SERIAL_NUMBER,
    "organizationIdentifier": NameOID.ORGANIZATION_IDENTIFIER,
    "pseudonym": NameOID.PSEUDONYM,
}


def actor_of(web: WebContext) -> Actor:
    if web.actor is None:
        raise Unauthenticated("sign in first", code="not_signed_in")
    return web.actor


def moment(value: str | None) -> datetime | None:
    """An RFC 3339 time of a view, for ``vn_time``."""
    return datetime.fromisoformat(value) if value else None


def withheld(value: Any) -> bool:
    return isinstance(value, str) and value == WITHHELD


@dataclass(frozen=True)
class Holder:
    """Who a signing certificate names: a person or an agency, and the organisation."""

    name: str
    organisation: str


def holder(subject: str) -> Holder:
    """``CN=Nguyễn Văn A,O=Văn phòng Chính phủ,...`` → its common name and organisation; the
    subject itself when it cannot be read."""
    try:
        name = x509.Name.from_rfc4514_string(subject, _SUBJECT_NAMES)
    except ValueError:
        return Holder(subject, "")

    def first(oid: x509.ObjectIdentifier) -> str:
        found = name.get_attributes_for_oid(oid)
        return str(found[0].value) if found else ""

    return Holder(first(NameOID.COMMON_NAME) or subject, first(NameOID.ORGANIZATION_NAME))


def day(value: str | None) -> str:
    """An envelope's ISO date (``2026-07-01``) as people in Vietnam write it (``01/07/2026``)."""
    if not value or withheld(value):
        return ""
    try:
        return date.fromisoformat(value).strftime("%d/%m/%Y")
    except ValueError:
        return value


def size(octets: int) -> str:
    if octets < 1024:
        return f"{octets} B"
    if octets < 1024 * 1024:
        return f"{octets / 1024:.0f} KB"
    return f"{octets / 1024 / 1024:.1f} MB"


def overall(signatures: list[SignatureOut]) -> str:
    """The most fundamental failure among the signatures' own, or ``ok``."""
    found = []
    for signature in signatures:
        with suppress(ValueError):
            found.append(Indication(signature.indication))
    return first_failure(found).value


def chain(view: DocumentOut) -> list[tuple[str, str]]:
    """The business chain: what this document revokes, updates, replaces or answers, and the
    documents that replaced, updated or revoked it for a recipient the reader sees."""
    links: list[tuple[str, str]] = []
    business = view.envelope.get("business")
    if isinstance(business, dict):
        kind, target = business.get("type"), business.get("refers_to")
        if kind in BUSINESS_TYPES and kind != "new" and isinstance(target, str):
            links.append((BUSINESS_TYPES[kind], target))
    answered = view.envelope.get("in_reply_to")
    if isinstance(answered, str):
        links.append((N_("In reply to"), answered))
    for row in view.recipients:
        if row.superseded_by and row.business_state in BUSINESS_STATES:
            link = (BUSINESS_STATES[row.business_state], row.superseded_by)
            if link not in links:
                links.append(link)
    return links


def agency_names(session: Session, codes: set[str]) -> dict[str, str]:
    """The registry's names of up to ``NAMED`` agencies (the rest show as codes)."""
    names = {}
    for code in sorted(codes)[:NAMED]:
        with suppress(NotFound):
            names[code] = get_agency(session, code).name
    return names


def verdict(indication: str, locale: str) -> str:
    """Why a signature is not valid, in the reader's language (the validation's own words)."""
    try:
        english, vietnamese = explanation(Indication(indication))
    except ValueError:
        return indication
    return vietnamese if locale == "vi" else english


@router.get("/ui/documents/{document_id}", response_class=HTMLResponse)
def document_page(document_id: str, request: Request, web: Person) -> HTMLResponse:
    """A document as the person may see it; the 404 page if it does not exist for them."""
    node = node_of(request)
    actor = actor_of(web)
    with node.db.read() as session:
        document, deliveries, seen = load_visible(session, actor, document_id)
        view = views.document_view(actor, document, deliveries)
        trace = views.trace(session, actor, document_id, node_id=node.settings.node_id)
        receipts = list_receipts(session, actor, document_id).items
        codes = {view.sender_id, *(r.agency_id for r in view.recipients)}
        codes |= {c for r in receipts for c in (r.from_agency_id, r.to_agency_id)}
        names = agency_names(session, codes)
    code = view.envelope.get("code")
    number = None
    if isinstance(code, dict) and code.get("number"):
        number = "/".join(str(p) for p in (code["number"], code.get("notation")) if p)
    document_opened(node, actor, document_id)  # the inbox shows it read for this person
    own = next((r for r in view.recipients if r.agency_id == actor.agency_id), None)
    return render(
        request,
        "documents/page.html",
        {
            "doc": view,
            "env": dict.fromkeys(Envelope.model_fields) | view.envelope,
            "seen": seen,
            "own": own,
            "trace": trace,
            "receipts": receipts,
            "evidence": allowed(actor, Action.READ_AUDIT),
            "names": names,
            "number": number,
            "overall": overall(view.signatures),
            "chain": chain(view),
            "moment": moment,
            "day": day,
            "size": size,
            "withheld": withheld,
            "holder": holder,
            "verdict": lambda indication: verdict(indication, web.locale),
            "event_names": EVENT_NAMES,
            "signature_roles": SIGNATURE_ROLES,
            "revocation_names": REVOCATION_NAMES,
            "business_types": BUSINESS_TYPES,
            "business_states": BUSINESS_STATES,
            "transport_names": TRANSPORT_NAMES,
            "pdf": PDF,
        },
    )


def _disposition(kind: str, file: DocumentFile) -> str:
    ascii_name = file.name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file.name)}"


def _file(
    request: Request, web: WebContext, document_id: str, file_id: str
) -> tuple[DocumentFile, Iterator[bytes]]:
    node = node_of(request)
    file, chunks, _ = files.open_file(
        node, actor_of(web), document_id, file_id, now=node.clock.now()
    )
    return file, chunks


@router.get("/ui/documents/{document_id}/files/{file_id}")
def download_file(document_id: str, file_id: str, request: Request, web: Person) -> Response:
    """A file to save: as the API's download (decrypted, checked, audited)."""
    file, chunks = _file(request, web, document_id, file_id)
    return StreamingResponse(
        chunks,
        media_type=served_type(file.content_type),
        headers={
            **FILE_HEADERS,
            "Content-Length": str(file.size),
            "Content-Disposition": _disposition("attachment", file),
            "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
        },
    )


@router.get("/ui/documents/{document_id}/files/{file_id}/view")
def view_file(document_id: str, file_id: str, request: Request, web: Person) -> Response:
    """A file shown in the browser (the PDF viewer), framed only by the node's own pages."""
    file, chunks = _file(request, web, document_id, file_id)
    return StreamingResponse(
        chunks,
        media_type=PDF if file.content_type == PDF else OCTET_STREAM,
        headers={
            **FILE_HEADERS,
            "Content-Length": str(file.size),
            "Content-Disposition": _disposition("inline", file),
            "Content-Security-Policy": INLINE_CSP,
            "X-Frame-Options": "SAMEORIGIN",
        },
    )


@router.get("/ui/documents/{document_id}/evidence")
def evidence_bundle(document_id: str, request: Request, web: Person) -> Response:
    """The evidence bundle, as ``GET /api/v1/documents/{id}/evidence``."""
    node = node_of(request)
    actor = actor_of(web)
    with node.db.read() as session:
        data = bundle.build(
            session, actor, document_id, signer=node.signer, audit=node.audit, now=node.clock.now()
        )
    return Response(
        data,
        media_type="application/zip",
        headers={
            **FILE_HEADERS,
            "Content-Disposition": f'attachment; filename="evidence-{document_id}.zip"',
            "Content-Security-Policy": PAGE_HEADERS["Content-Security-Policy"],
        },
    )
