"""Reading a document's files: decrypted for a cleared party (whole or a byte range), or the
sealed form for an agency that keeps its own key; a file that fails its own authentication is
flagged corrupt, a key that is missing or locked is ``key_unavailable`` and flags nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.orm import Session

from docex.audit import events
from docex.auth.policy import (
    Action,
    Actor,
    authorize,
)
from docex.documents.access import (
    deliveries_of,
    get_document,
    parties_of,
)
from docex.documents.models import Delivery, Document, DocumentFile, FileKeyWrap
from docex.documents.protection import (
    SealedFile,
    StoredFileCorrupt,
    data_key,
    reveal,
)
from docex.documents.ranges import ByteRange, requested_range, sliced
from docex.errors import (
    Conflict,
    NotFound,
)
from docex.storage.base import BlobNotFound
from docex.vocabulary.levels import Classification

if TYPE_CHECKING:
    from docex.documents.ports import Node


def _readable_file(
    session: Session, actor: Actor, document_id: str, file_id: str
) -> tuple[Document, DocumentFile]:
    """The document and file if the actor may read the file's content (policy READ_FILE)."""
    document = get_document(session, document_id)
    authorize(actor, Action.READ_FILE, parties_of(document, deliveries_of(session, document_id)))
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
    way the document's deliveries are flagged and an audit event is written. A key that is
    missing or locked is ``KeyUnavailable`` (503): nothing is flagged, the file reads again
    once the key is back.
    """
    with node.db.read() as session:
        document, file = _readable_file(session, actor, document_id, file_id)
        wrap = None
        if file.wrapped_key is None and actor.agency_id is not None:
            wrap = session.get(FileKeyWrap, (file.id, actor.agency_id))
    wanted = requested_range(range_header, if_range, size=file.size, etag=f'"{file.sha256}"')
    if file.wrapped_key is None and node.agency_keys.released(actor.agency_id or ""):
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
