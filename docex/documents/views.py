"""What a party sees of a document: its view, a lookup by short or business id, its trace. Who
sees what is ``docex.auth.policy``'s answer; this module only renders it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from docex.audit import events
from docex.audit.models import AuditEvent
from docex.auth.policy import (
    ENVELOPE_FIELDS_NOT_CONTENT,
    WITHHELD,
    Action,
    Actor,
    Visibility,
    reach,
    visibility,
    visible,
)
from docex.documents.access import (
    deliveries_of,
    load_visible,
    parties_of,
    readable,
)
from docex.documents.models import Delivery, Document
from docex.documents.schemas import (
    DocumentOut,
    DocumentRef,
    FileOut,
    RecipientOut,
    SignatureOut,
    TraceItem,
)
from docex.errors import (
    Unprocessable,
)
from docex.kit.clock import rfc3339
from docex.vocabulary.transport import DELIVERED

SHORT_ID_MIN = 8
_SHORT_ID = re.compile(r"[0-9a-f][0-9a-f-]{7,35}", re.ASCII)
LOOKUP_LIMIT = 10


def lookup(session: Session, actor: Actor, ref: str) -> list[DocumentRef]:
    """The documents ``ref`` names that the actor may see: ids starting with ``ref`` (a short
    id, at least 8 characters), or the document whose business id is ``ref``
    (``000.00.00.G22,2026/11/25,12/VPCP-TTĐT``). At most ``LOOKUP_LIMIT``, oldest first."""
    ref = ref.strip()
    if "," in ref:
        match = Document.business_id == ref
    elif _SHORT_ID.fullmatch(ref.lower()):
        match = Document.id.startswith(ref.lower(), autoescape=True)
    else:
        raise Unprocessable(
            f"a reference is a document id, at least its first {SHORT_ID_MIN} characters, "
            "or a business id (sender,yyyy/mm/dd,number/notation)",
            code="invalid_reference",
        )
    query = select(Document).where(match, readable(reach(actor, Action.READ_DOCUMENT)))
    found: list[DocumentRef] = []
    for document in session.scalars(query.order_by(Document.id).limit(LOOKUP_LIMIT)):
        seen = visibility(actor, parties_of(document, deliveries_of(session, document.id)))
        if seen.document:
            found.append(
                DocumentRef(
                    id=document.id,
                    business_id=document.business_id,
                    sender_id=document.sender_id,
                    subject=document.subject if seen.content else withheld_subject(document),
                    created_at=rfc3339(document.created_at),
                )
            )
    return found


def read_document(session: Session, actor: Actor, document_id: str) -> DocumentOut:
    """The document as the actor may see it, or DocumentNotFound."""
    document, deliveries, seen = load_visible(session, actor, document_id)
    return _document_out(seen, document, deliveries)


def withheld_subject(document: Document) -> str:
    """What stands for the subject of a document the reader is not cleared for: its marking
    and its identifiers (the business id holds the number and notation)."""
    return f"[{document.classification} document, subject withheld] {document.business_id}"


def _withheld_envelope(document: Document) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for name, value in document.envelope.items():
        kept = ENVELOPE_FIELDS_NOT_CONTENT.get(name, frozenset())
        if kept is None:
            shown[name] = value
        elif isinstance(value, dict):
            shown[name] = {k: v if k in kept else WITHHELD for k, v in value.items()}
        else:
            shown[name] = WITHHELD
    shown["subject"] = withheld_subject(document)
    return shown


def document_view(actor: Actor, document: Document, deliveries: Sequence[Delivery]) -> DocumentOut:
    """The document as the actor may see it (``auth.policy.visible``), or DocumentNotFound."""
    return _document_out(visible(actor, parties_of(document, deliveries)), document, deliveries)


def _document_out(
    seen: Visibility, document: Document, deliveries: Sequence[Delivery]
) -> DocumentOut:
    content = seen.content
    return DocumentOut(
        id=document.id,
        message_id=document.message_id,
        business_id=document.business_id,
        sender_id=document.sender_id,
        envelope=document.envelope if content else _withheld_envelope(document),
        content_withheld=not content,
        files=[
            FileOut(
                id=f.id,
                role=f.role,
                name=f.name if content else WITHHELD,
                content_type=f.content_type,
                size=f.size,
                sha256=f.sha256,
            )
            for f in document.files
        ],
        signatures=[
            SignatureOut(
                role=sig["role"],
                subject=(sig["signer_subject"] or "") if content else WITHHELD,
                agency_code=sig["agency_code"],
                valid=sig["valid"],
                trusted=sig["trusted"],
                revocation=sig["revocation"],
                signed_at=sig["signing_time"],
                timestamp=sig["timestamp_time"],
                indication=sig["indication"],
            )
            for sig in (document.signatures or {}).get("signatures", [])
        ],
        recipients=[
            RecipientOut(
                agency_id=d.recipient_id,
                addressed_as=d.addressed_as,
                transport=d.transport,
                status=d.status,
                incoming_number=d.incoming_number,
                flag=d.flag,
                overdue=d.overdue_at is not None,
                reason=d.last_error if d.transport != DELIVERED else None,
                updated_at=rfc3339(d.updated_at),
                business_state=d.business_state,
                superseded_by=d.superseded_by,
                node=d.node_id,
                waiting_for=d.waiting_for,
            )
            for d in deliveries
            if seen.shows_recipient(d.recipient_id)
        ],
        created_at=rfc3339(document.created_at),
    )


def trace(session: Session, actor: Actor, document_id: str, *, node_id: str) -> list[TraceItem]:
    """What happened to the document, in log order, as far as the actor sees it
    (``Visibility.shows_event``)."""
    _, _, seen = load_visible(session, actor, document_id)
    rows = session.scalars(
        select(AuditEvent).where(AuditEvent.document_id == document_id).order_by(AuditEvent.index)
    )
    return [
        TraceItem(
            at=rfc3339(e.at),
            event=e.event,
            agency_id=e.agency_id,
            node_id=node_id,
            detail=e.detail,
            audit_index=e.index,
        )
        for e in rows
        if seen.shows_event(
            whole_document=e.event in events.DOCUMENT_WIDE,
            agency_id=e.agency_id,
            to_agency_id=e.detail.get("to"),
        )
    ]
