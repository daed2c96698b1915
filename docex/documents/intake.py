"""Intake: a document in, blob first and then one transaction (``submit``); a retried send
with the same ``message_id`` is answered with the first one (idempotency).

The ``(sender, message_id)`` check comes before the PDF is looked at (only what the envelope
alone settles comes first: the node's accreditation and the sender's clearance): a retry of an
accepted send costs no signature validation, and the same id with any other content (another
envelope, another file, another number of files, even a PDF that would not validate) is
``409 message_id_conflict``."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from docex.agencies.service import Recipient, published_keys, resolve_recipients
from docex.audit import events
from docex.auth.policy import (
    Action,
    Actor,
    Parties,
    acting_agency,
    authorize,
    reach,
)
from docex.documents.access import (
    deliveries_of,
    readable,
)
from docex.documents.deliveries import queue_deliveries
from docex.documents.envelope import Envelope, parse_envelope
from docex.documents.models import Delivery, Document, DocumentFile, FileKeyWrap
from docex.documents.pdf import check_pdf
from docex.documents.protection import (
    protect,
    require_party_keys,
)
from docex.documents.upload import Upload
from docex.errors import (
    MessageIdConflict,
    SignatureRejected,
    Unprocessable,
)
from docex.kit.clock import VIETNAM_TZ
from docex.kit.faults import INTAKE_AFTER_BLOBS, crash_point
from docex.kit.ids import uuid7
from docex.signing.jws import canonical_json
from docex.storage.base import BlobStore
from docex.vocabulary.levels import URGENCY_PRIORITY

if TYPE_CHECKING:
    from docex.documents.ports import Node


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
    """A new document cites only documents its sender may read: what it replaces, updates or
    revokes among those its agency sent, what it answers among those its agency received."""
    business = envelope.business
    findable = reach(actor, Action.READ_DOCUMENT)
    if business and business.type != "new":
        if not business.refers_to:
            raise Unprocessable(
                f"a {business.type} document must name the document it refers to",
                code="reference_required",
            )
        if not _cited(session, business.refers_to, readable(findable, by_recipient=False)):
            raise Unprocessable(
                "refers_to must be a document your agency sent, at a classification your "
                "clearance covers",
                code="unknown_reference",
            )
    if envelope.in_reply_to and not _cited(
        session, envelope.in_reply_to, readable(findable, by_sender=False)
    ):
        raise Unprocessable(
            "in_reply_to must be a document your agency received, at a classification your "
            "clearance covers",
            code="unknown_reference",
        )


def _cited(session: Session, document_id: str, within: ColumnElement[bool]) -> bool:
    return session.scalar(select(Document.id).where(Document.id == document_id, within)) is not None


def _existing(session: Session, sender_id: str, message_id: str) -> Document | None:
    return session.scalar(
        select(Document).where(Document.sender_id == sender_id, Document.message_id == message_id)
    )


def _replay(session: Session, document: Document, fingerprint: str) -> Submitted:
    if document.fingerprint != fingerprint:
        raise MessageIdConflict(
            f"message_id {document.message_id!r} was already used for other content"
        )
    deliveries = deliveries_of(session, document.id)
    return Submitted(document, deliveries, created=False)


def submit(
    node: Node, actor: Actor, upload: Upload, *, now: datetime, business_id: str | None = None
) -> Submitted:
    """Answer a retry (same ``message_id``) from what is stored; otherwise validate everything,
    then store the blobs (encrypted), then commit every row at once. ``business_id`` is the id
    the document already has elsewhere (an edXML ``DocumentId``); by default it is made from the
    envelope.

    Bad input is refused before any blob is written; a crash between the blob writes and the
    commit leaves orphan blobs (swept later), never a row without its bytes.
    """
    db, store, settings = node.db, node.store, node.settings
    authorize(actor, Action.SEND)
    sender_id = acting_agency(actor)
    if upload.envelope is None:
        raise Unprocessable("the envelope part is missing", code="missing_envelope")
    envelope = parse_envelope(upload.envelope, sender_id=sender_id)
    # What this node and this principal may send is settled first (the envelope alone says
    # it): a replay answers with the document, which only a cleared principal may see.
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
    # Idempotency before work: the fingerprint needs only the envelope and the digests taken
    # while spooling, so a retry is answered (or refused as a conflict) before any PDF is
    # opened or validated, whatever the new content is.
    fingerprint = _fingerprint(envelope, upload)
    if envelope.message_id:
        with db.read() as session:
            if found := _existing(session, sender_id, envelope.message_id):
                return _replay(session, found, fingerprint)
    main = upload.main
    if main is None:
        raise Unprocessable("the main part (the PDF) is missing", code="missing_main")
    check_pdf(main.path)  # header and tail bytes only: nothing is parsed in this process
    # One bounded job in a worker: the structure (well-formed, not encrypted, pages) and the
    # signatures; a hostile PDF costs that worker its limits, never this process.
    report = node.signatures.validate(main.path, sender_agency=sender_id, now=now)
    if not report.passed:
        raise SignatureRejected(str(report.indication), f"{report.detail} / {report.detail_vi}")
    message_id = envelope.message_id or uuid7()

    with db.read() as session:
        # A same-id send that committed while this one was validating: a replay too.
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
                business_id,
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
    business_id: str | None = None,
) -> tuple[Document, list[Delivery]]:
    stored_envelope = envelope.model_dump(mode="json", exclude_none=True)
    stored_envelope["message_id"] = message_id
    document = Document(
        id=document_id,
        message_id=message_id,
        business_id=business_id or _business_id(sender_id, envelope, document_id, now),
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
