"""Documents: intake (blob first, then one transaction), and what each party may see of them."""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from docex.agencies.service import Recipient, published_keys, resolve_recipients
from docex.audit import events
from docex.audit.models import AuditEvent
from docex.auth.policy import Action, Actor, Kind, Parties, acting_agency, allowed, authorize
from docex.config import Classification
from docex.documents.access import parties_of
from docex.documents.envelope import URGENCY_PRIORITY, Envelope, parse_envelope
from docex.documents.models import Document, DocumentFile, FileKeyWrap
from docex.documents.pdf import check_pdf
from docex.documents.protection import (
    SealedFile,
    StoredFileCorrupt,
    data_key,
    protect,
    require_party_keys,
    reveal,
)
from docex.documents.ranges import ByteRange, requested_range, sliced
from docex.documents.schemas import (
    DocumentOut,
    DocumentRef,
    FileOut,
    InboxItem,
    InboxPage,
    OutboxItem,
    OutboxPage,
    RecipientOut,
    SignatureOut,
    TraceItem,
)
from docex.documents.upload import Upload
from docex.errors import (
    Conflict,
    DocumentNotFound,
    MessageIdConflict,
    NotFound,
    SignatureRejected,
    Unprocessable,
)
from docex.kit.clock import VIETNAM_TZ, as_utc, rfc3339
from docex.kit.faults import INTAKE_AFTER_BLOBS, crash_point
from docex.kit.ids import uuid7
from docex.kit.pagination import InvalidCursor, decode_cursor, encode_cursor
from docex.routing.deliveries import DELIVERED, queue_deliveries
from docex.routing.models import Delivery
from docex.signing.jws import canonical_json
from docex.storage.base import BlobNotFound, BlobStore

if TYPE_CHECKING:
    from docex.node import Node


@dataclass(frozen=True)
class Submitted:
    document: Document
    deliveries: list[Delivery]
    created: bool


def _fingerprint(envelope: Envelope, upload: Upload) -> str:
    import hashlib

    body = {
        "envelope": envelope.model_dump(mode="json", exclude={"message_id"}),
        "files": [[f.role, f.name, f.sha256, f.size] for f in upload.files],
    }
    return hashlib.sha256(canonical_json(body)).hexdigest()


def _business_id(sender_id: str, envelope: Envelope, document_id: str, now: datetime) -> str:
    day = envelope.promulgation.date if envelope.promulgation else now.astimezone(VIETNAM_TZ).date()
    ref = (
        f"{envelope.code.number}/{envelope.code.notation}".rstrip("/")
        if envelope.code
        else document_id
    )
    return f"{sender_id},{day:%Y/%m/%d},{ref}"


def _check_references(session: Session, actor: Actor, envelope: Envelope) -> None:
    business = envelope.business
    if business and business.type != "new":
        if not business.refers_to:
            raise Unprocessable(
                f"a {business.type} document must name the document it refers to",
                code="reference_required",
            )
        original = session.get(Document, business.refers_to)
        if original is None or original.sender_id != actor.agency_id:
            raise Unprocessable(
                "refers_to must be a document your agency sent", code="unknown_reference"
            )
    if envelope.in_reply_to:
        visible = session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(
                Delivery.document_id == envelope.in_reply_to,
                Delivery.recipient_id == actor.agency_id,
                Delivery.transport == DELIVERED,
            )
        )
        if not visible:
            raise Unprocessable(
                "in_reply_to must be a document your agency received", code="unknown_reference"
            )


def _existing(session: Session, sender_id: str, message_id: str) -> Document | None:
    return session.scalar(
        select(Document).where(Document.sender_id == sender_id, Document.message_id == message_id)
    )


def _replay(session: Session, document: Document, fingerprint: str) -> Submitted:
    if document.fingerprint != fingerprint:
        raise MessageIdConflict(
            f"message_id {document.message_id!r} was already used for other content"
        )
    deliveries = _deliveries(session, document.id)
    return Submitted(document, deliveries, created=False)


def _deliveries(session: Session, document_id: str) -> list[Delivery]:
    return list(
        session.scalars(
            select(Delivery).where(Delivery.document_id == document_id).order_by(Delivery.id)
        )
    )


def submit(node: Node, actor: Actor, upload: Upload, *, now: datetime) -> Submitted:
    """Validate everything, then store the blobs (encrypted), then commit every row at once.

    Bad input is refused before any blob is written; a crash between the blob writes and the
    commit leaves orphan blobs (swept later), never a row without its bytes.
    """
    db, store, settings = node.db, node.store, node.settings
    authorize(actor, Action.SEND)
    sender_id = acting_agency(actor)
    if upload.envelope is None:
        raise Unprocessable("the envelope part is missing", code="missing_envelope")
    envelope = parse_envelope(upload.envelope, sender_id=sender_id)
    main = upload.main
    if main is None:
        raise Unprocessable("the main part (the PDF) is missing", code="missing_main")
    if envelope.classification.rank > settings.max_classification.rank:
        raise Unprocessable(
            f"this node is accredited up to {settings.max_classification.value}",
            code="classification_not_accredited",
        )
    authorize(
        actor,
        Action.SEND,
        Parties(sender_id, frozenset(), envelope.classification),
    )
    check_pdf(main.path)  # header and tail bytes only: nothing is parsed in this process
    # One bounded job in a worker: the structure (well-formed, not encrypted, pages) and the
    # signatures; a hostile PDF costs that worker its limits, never this process.
    report = node.signatures.validate(main.path, sender_agency=sender_id, now=now)
    if not report.passed:
        raise SignatureRejected(str(report.indication), f"{report.detail} / {report.detail_vi}")
    fingerprint = _fingerprint(envelope, upload)
    message_id = envelope.message_id or uuid7()

    with db.read() as session:
        if envelope.message_id and (found := _existing(session, sender_id, message_id)):
            return _replay(session, found, fingerprint)
        recipients = resolve_recipients(session, envelope.recipients, sender_id)
        _check_references(session, actor, envelope)
        parties = [sender_id, *(r.agency_id for r in recipients)]
        party_keys = require_party_keys(
            envelope.classification, parties, published_keys(session, parties)
        )

    document_id = uuid7()
    stored: list[str] = []
    files: list[DocumentFile] = []
    try:
        for position, spooled in enumerate(upload.files):
            file_id = uuid7()
            key = f"f{file_id.replace('-', '')}"
            stored.append(key)
            protected = protect(
                store,
                node.keks,
                key=key,
                source=spooled.path,
                document_id=document_id,
                file_id=file_id,
                classification=envelope.classification,
                party_keys=party_keys,
            )
            row = DocumentFile(
                id=file_id,
                document_id=document_id,
                role=spooled.role,
                position=position,
                name=spooled.name,
                content_type="application/pdf" if spooled.role == "main" else spooled.content_type,
                size=spooled.size,
                sha256=spooled.sha256,
                blob_key=key,
                stored_size=protected.stored_size,
                kek_version=protected.kek_version,
                wrapped_key=protected.wrapped_key,
            )
            row.key_wraps = [
                FileKeyWrap(file_id=file_id, agency_id=agency, wrapped=wrapped)
                for agency, wrapped in protected.agency_wraps.items()
            ]
            files.append(row)
        crash_point(INTAKE_AFTER_BLOBS)
        document, deliveries = node.committer.run(
            lambda session: _insert(
                session,
                actor,
                sender_id,
                report.to_dict(),
                envelope,
                recipients,
                files,
                document_id,
                message_id,
                fingerprint,
                now,
            )
        )
        return Submitted(document, deliveries, created=True)
    except IntegrityError:
        _delete(store, stored)
        # Lost a race with the same message_id: answer as the winner's replay would.
        with db.read() as session:
            found = _existing(session, sender_id, message_id)
            if found is None:
                raise
            return _replay(session, found, fingerprint)
    except BaseException:
        _delete(store, stored)
        raise


def _delete(store: BlobStore, keys: Sequence[str]) -> None:
    for key in keys:
        with contextlib.suppress(Exception):  # the orphan sweeper gets what this misses
            store.delete(key)


def _insert(
    session: Session,
    actor: Actor,
    sender_id: str,
    signatures: dict[str, Any],
    envelope: Envelope,
    recipients: Sequence[Recipient],
    files: list[DocumentFile],
    document_id: str,
    message_id: str,
    fingerprint: str,
    now: datetime,
) -> tuple[Document, list[Delivery]]:
    stored_envelope = envelope.model_dump(mode="json", exclude_none=True)
    stored_envelope["message_id"] = message_id
    document = Document(
        id=document_id,
        message_id=message_id,
        business_id=_business_id(sender_id, envelope, document_id, now),
        sender_id=sender_id,
        sender_principal_id=actor.id,
        envelope=stored_envelope,
        signatures=signatures,
        fingerprint=fingerprint,
        subject=envelope.subject,
        urgency=envelope.urgency,
        classification=envelope.classification.value,
        created_at=now,
    )
    document.files = files
    session.add(document)
    events.record(
        session,
        events.DOCUMENT_ACCEPTED,
        at=now,
        actor_id=actor.id,
        agency_id=sender_id,
        document_id=document_id,
        message_id=message_id,
        files=[{"id": f.id, "role": f.role, "sha256": f.sha256, "size": f.size} for f in files],
        recipients=envelope.recipients,
        classification=envelope.classification.value,
        urgency=envelope.urgency,
    )
    deliveries = queue_deliveries(
        session,
        document,
        recipients,
        priority=URGENCY_PRIORITY[envelope.urgency],
        now=now,
        actor_id=actor.id,
    )
    return document, deliveries


# -- reading -----------------------------------------------------------------------------------


_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)


def _get_document(session: Session, document_id: str) -> Document:
    """By id, or DocumentNotFound; a malformed id (a NUL byte, a path trick) never reaches SQL."""
    document = session.get(Document, document_id) if _ID.fullmatch(document_id) else None
    if document is None:
        raise DocumentNotFound()
    return document


SHORT_ID_MIN = 8
_SHORT_ID = re.compile(r"[0-9a-f][0-9a-f-]{7,35}", re.ASCII)
LOOKUP_LIMIT = 10


def lookup(session: Session, actor: Actor, ref: str) -> list[DocumentRef]:
    """The documents ``ref`` names that the actor may see: ids starting with ``ref`` (a short
    id, at least 8 characters), or the document whose business id is ``ref``
    (``000.00.00.G22,2026/11/25,12/VPCP-TTĐT``). At most ``LOOKUP_LIMIT``, oldest first.

    The query only narrows the candidates to the actor's agency's documents; ``allowed``
    decides, document by document, as for ``load_visible``."""
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
    query = select(Document).where(match)
    if actor.kind is not Kind.AUDITOR:
        received = (
            select(Delivery.id)
            .where(
                Delivery.document_id == Document.id,
                Delivery.recipient_id == actor.agency_id,
                Delivery.transport == DELIVERED,
            )
            .exists()
        )
        query = query.where(or_(Document.sender_id == actor.agency_id, received))
    found: list[DocumentRef] = []
    for document in session.scalars(query.order_by(Document.id).limit(LOOKUP_LIMIT * 2)):
        parties = parties_of(document, _deliveries(session, document.id))
        if allowed(actor, Action.READ_DOCUMENT, parties):
            found.append(
                DocumentRef(
                    id=document.id,
                    business_id=document.business_id,
                    sender_id=document.sender_id,
                    subject=document.subject,
                    created_at=rfc3339(document.created_at),
                )
            )
    return found[:LOOKUP_LIMIT]


def load_visible(
    session: Session, actor: Actor, document_id: str
) -> tuple[Document, list[Delivery]]:
    """The document and its deliveries, or DocumentNotFound if the actor may not see it."""
    document = _get_document(session, document_id)
    deliveries = _deliveries(session, document_id)
    authorize(actor, Action.READ_DOCUMENT, parties_of(document, deliveries))
    return document, deliveries


def _sees_all_recipients(actor: Actor, document: Document) -> bool:
    return actor.kind is Kind.AUDITOR or actor.agency_id == document.sender_id


WITHHELD = "[withheld]"
# What of an envelope stays visible when its free text is withheld: identifiers, addressing and
# handling. Anything not named here (subject, summary, signer, reasons, place, and any field
# added later) is withheld: a list of what to show cannot forget a new secret.
_SHOWN_FIELDS: dict[str, frozenset[str] | None] = {
    "message_id": None,
    "recipients": None,
    "code": None,
    "document_type": None,
    "urgency": None,
    "classification": None,
    "due_date": None,
    "steering": None,
    "in_reply_to": None,
    "promulgation": frozenset({"date"}),
    "business": frozenset({"type", "refers_to"}),
}


def reads_content(actor: Actor, parties: Parties) -> bool:
    """Whether ``actor`` reads the subject and free text (policy READ_CONTENT)."""
    return allowed(actor, Action.READ_CONTENT, parties)


def withheld_subject(document: Document) -> str:
    """What stands for the subject of a document the reader is not cleared for: its marking
    and its identifiers (the business id holds the number and notation)."""
    return f"[{document.classification} document, subject withheld] {document.business_id}"


def _withheld_envelope(document: Document) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for name, value in document.envelope.items():
        visible = _SHOWN_FIELDS.get(name, frozenset())
        if visible is None:
            shown[name] = value
        elif isinstance(value, dict):
            shown[name] = {k: v if k in visible else WITHHELD for k, v in value.items()}
        else:
            shown[name] = WITHHELD
    shown["subject"] = withheld_subject(document)
    return shown


def document_view(actor: Actor, document: Document, deliveries: Sequence[Delivery]) -> DocumentOut:
    """Sender and auditors see every recipient; a recipient sees its own row only. The subject
    and free text of the envelope are withheld from readers not cleared for them."""
    shown = (
        deliveries
        if _sees_all_recipients(actor, document)
        else [d for d in deliveries if d.recipient_id == actor.agency_id]
    )
    content = reads_content(actor, parties_of(document, deliveries))
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
                name=f.name,
                content_type=f.content_type,
                size=f.size,
                sha256=f.sha256,
            )
            for f in document.files
        ],
        signatures=[
            SignatureOut(
                role=sig["role"],
                subject=sig["signer_subject"] or "",
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
                updated_at=rfc3339(d.updated_at),
            )
            for d in shown
        ],
        created_at=rfc3339(document.created_at),
    )


def _readable_file(
    session: Session, actor: Actor, document_id: str, file_id: str
) -> tuple[Document, DocumentFile]:
    """The document and file if the actor may read the file's content (policy READ_FILE)."""
    document = _get_document(session, document_id)
    authorize(actor, Action.READ_FILE, parties_of(document, _deliveries(session, document_id)))
    file = next((f for f in document.files if f.id == file_id), None)
    if file is None:
        raise NotFound("no such file in this document", code="file_not_found")
    return document, file


def _record_read(
    node: Node, actor: Actor, document_id: str, file_id: str, now: datetime, **detail: str
) -> None:
    node.committer.run(
        lambda session: events.record(
            session,
            events.FILE_DOWNLOADED,
            at=now,
            actor_id=actor.id,
            agency_id=actor.agency_id,
            document_id=document_id,
            file_id=file_id,
            **detail,
        )
    )


def open_file(
    node: Node,
    actor: Actor,
    document_id: str,
    file_id: str,
    *,
    now: datetime,
    range_header: str | None = None,
    if_range: str | None = None,
) -> tuple[DocumentFile, Iterator[bytes], ByteRange | None]:
    """The file's plaintext for a reader the policy lets through, checked as it streams; only
    the byte range asked for, if one is (``documents.ranges``: the rest of a cut download).

    The first segment is decrypted and authenticated before this returns, so a wrong key or a
    swapped blob is an error response, not a broken download; later corruption aborts the
    stream before the bad bytes (the final bytes are held until the SHA-256 matches). Either
    way the document's deliveries are flagged and an audit event is written.
    """
    with node.db.read() as session:
        document, file = _readable_file(session, actor, document_id, file_id)
        wrap = None
        if file.wrapped_key is None and actor.agency_id is not None:
            wrap = session.get(FileKeyWrap, (file.id, actor.agency_id))
    wanted = requested_range(range_header, if_range, size=file.size, etag=f'"{file.sha256}"')
    if file.wrapped_key is None and not node.agency_keys.has(actor.agency_id or ""):
        raise Conflict(
            "your agency keeps its private key itself: fetch the file sealed and decrypt it "
            "with that key (docex decrypt)",
            code="agency_holds_key",
        )
    classification = Classification(document.classification)
    try:
        dek = data_key(
            node.keks,
            node.agency_keys,
            document_id=document.id,
            file_id=file.id,
            classification=classification,
            kek_version=file.kek_version,
            wrapped_key=file.wrapped_key,
            agency_wrap=wrap.wrapped if wrap else None,
            reader_agency=actor.agency_id or "",
        )
        plaintext = reveal(
            node.store.open(file.blob_key),
            dek,
            document_id=document.id,
            file_id=file.id,
            classification=classification,
            sha256=file.sha256,
            size=file.size,
        )
        first = next(plaintext, b"")
    except StoredFileCorrupt as exc:
        _report_corruption(node, actor, document.id, file.id, exc, now)
        raise
    except BlobNotFound as exc:
        corrupt = StoredFileCorrupt(f"the blob of file {file.id} is missing")
        _report_corruption(node, actor, document.id, file.id, corrupt, now)
        raise corrupt from exc
    if wanted is None:
        _record_read(node, actor, document_id, file_id, now)
        return file, _guarded(node, actor, document.id, file.id, first, plaintext, now), None
    _record_read(node, actor, document_id, file_id, now, range=wanted.content_range)
    whole = _guarded(node, actor, document.id, file.id, first, plaintext, now)
    return file, sliced(whole, wanted), wanted


def open_sealed_file(
    node: Node, actor: Actor, document_id: str, file_id: str, *, now: datetime
) -> tuple[DocumentFile, SealedFile]:
    """A classified file as stored, with its data key wrapped for the caller's agency, for an
    agency that keeps its private key in its own system. Same access rule as a download."""
    with node.db.read() as session:
        document, file = _readable_file(session, actor, document_id, file_id)
        wrap = session.get(FileKeyWrap, (file.id, actor.agency_id or ""))
    if wrap is None:
        raise Conflict(
            "this file is not sealed for your agency (only classified files are); download it",
            code="not_sealed",
        )
    _record_read(node, actor, document_id, file_id, now, form="sealed")
    sealed = SealedFile(
        classification=Classification(document.classification),
        agency_wrap=wrap.wrapped,
        chunks=node.store.open(file.blob_key),
    )
    return file, sealed


def _guarded(
    node: Node,
    actor: Actor,
    document_id: str,
    file_id: str,
    first: bytes,
    rest: Iterator[bytes],
    now: datetime,
) -> Iterator[bytes]:
    yield first
    try:
        yield from rest
    except StoredFileCorrupt as exc:
        _report_corruption(node, actor, document_id, file_id, exc, now)
        raise


def _report_corruption(
    node: Node,
    actor: Actor,
    document_id: str,
    file_id: str,
    exc: StoredFileCorrupt,
    now: datetime,
) -> None:
    def record(session: Session) -> None:
        session.execute(
            update(Delivery)
            .where(Delivery.document_id == document_id)
            .values(flag="stored_file_corrupt", updated_at=now)
        )
        events.record(
            session,
            events.FILE_CORRUPT,
            at=now,
            actor_id=actor.id,
            agency_id=actor.agency_id,
            document_id=document_id,
            file_id=file_id,
            reason=exc.detail,
        )

    node.committer.run(record)


def inbox(
    session: Session,
    actor: Actor,
    *,
    status: str | None,
    urgency: str | None,
    limit: int,
    cursor: str | None,
) -> InboxPage:
    authorize(actor, Action.READ_MAILBOX)
    query = (
        select(Delivery, Document)
        .join(Document, Document.id == Delivery.document_id)
        .where(Delivery.recipient_id == actor.agency_id, Delivery.transport == DELIVERED)
    )
    if status:
        query = query.where(Delivery.status == status)
    if urgency:
        query = query.where(Document.urgency == urgency)
    if cursor:
        at_raw, delivery_id = decode_cursor(cursor, str, str)
        try:
            at = as_utc(datetime.fromisoformat(at_raw))
        except (ValueError, OverflowError) as exc:
            raise InvalidCursor() from exc
        query = query.where(
            or_(
                Delivery.delivered_at < at,
                and_(Delivery.delivered_at == at, Delivery.id < delivery_id),
            )
        )
    rows = session.execute(
        query.order_by(Delivery.delivered_at.desc(), Delivery.id.desc()).limit(limit + 1)
    ).all()
    items = []
    for delivery, doc in rows[:limit]:
        content = reads_content(actor, parties_of(doc, [delivery]))
        items.append(
            InboxItem(
                document_id=doc.id,
                business_id=doc.business_id,
                sender_id=doc.sender_id,
                subject=doc.subject if content else withheld_subject(doc),
                content_withheld=not content,
                urgency=doc.urgency,
                classification=doc.classification,
                status=delivery.status,
                incoming_number=delivery.incoming_number,
                delivered_at=rfc3339(delivery.delivered_at) if delivery.delivered_at else None,
            )
        )
    next_cursor = None
    if len(rows) > limit and (last_at := rows[limit - 1][0].delivered_at) is not None:
        next_cursor = encode_cursor(last_at.isoformat(), rows[limit - 1][0].id)
    return InboxPage(items=items, next_cursor=next_cursor)


def outbox(session: Session, actor: Actor, *, limit: int, cursor: str | None) -> OutboxPage:
    authorize(actor, Action.READ_MAILBOX)
    query = select(Document).where(Document.sender_id == actor.agency_id)
    if cursor:
        (after,) = decode_cursor(cursor, str)
        query = query.where(Document.id < after)
    docs = list(session.scalars(query.order_by(Document.id.desc()).limit(limit + 1)))
    page = docs[:limit]
    counts: dict[str, tuple[Counter[str], Counter[str]]] = {
        d.id: (Counter(), Counter()) for d in page
    }
    if page:
        for document_id, transport, status, n in session.execute(
            select(Delivery.document_id, Delivery.transport, Delivery.status, func.count())
            .where(Delivery.document_id.in_(list(counts)))
            .group_by(Delivery.document_id, Delivery.transport, Delivery.status)
        ).all():
            counts[document_id][0][transport] += n
            counts[document_id][1][status or "none"] += n
    items = []
    for d in page:
        content = reads_content(actor, parties_of(d, []))
        items.append(
            OutboxItem(
                document_id=d.id,
                business_id=d.business_id,
                subject=d.subject if content else withheld_subject(d),
                content_withheld=not content,
                urgency=d.urgency,
                classification=d.classification,
                created_at=rfc3339(d.created_at),
                recipients=sum(counts[d.id][0].values()),
                transport=dict(counts[d.id][0]),
                status=dict(counts[d.id][1]),
            )
        )
    next_cursor = encode_cursor(page[-1].id) if len(docs) > limit else None
    return OutboxPage(items=items, next_cursor=next_cursor)


def trace(session: Session, actor: Actor, document_id: str, *, node_id: str) -> list[TraceItem]:
    """What happened to the document, in log order. A recipient sees the document-level events
    and those about its own delivery; the sender and auditors see everything."""
    document, _ = load_visible(session, actor, document_id)
    rows = session.scalars(
        select(AuditEvent).where(AuditEvent.document_id == document_id).order_by(AuditEvent.index)
    )
    everything = _sees_all_recipients(actor, document)
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
        if everything
        or e.event == events.DOCUMENT_ACCEPTED
        or e.agency_id == actor.agency_id
        or e.detail.get("to") == actor.agency_id
    ]
