"""Drafts: a document an agency prepares before sending it (the web's compose screen).

The PDF waits between people: a clerk uploads it (``create_draft``), a leader signs it with his
own key (``sign_draft``, role ``signer``), a clerk seals it with the agency's seal (role
``seal``), and it is sent (``send_draft``) through ``intake.submit``, the path of
``POST /api/v1/documents``: the same validations, the same signature checks, and the draft's id
as the ``message_id``, so a second send of the same draft is the first one's replay.

Guarantees: a draft's files are encrypted in the blob store exactly as a document's are
(``documents.protection``): a normal draft's data keys wrapped by the node's KEK, a classified
one's for its own agency's key only, the draft id and file id bound as associated data. A
draft is its agency's: only its members who may send (``Action.SEND``, clearance included)
see it; to everyone else it does not exist (404 ``draft_not_found``). Creating, saving,
signing, sealing, sending and deleting a draft are audit events written in the same
transaction as the change. Once sent, its blobs are deleted; the row remains, naming the
document, so a repeated send leads to the same document.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from docex.agencies.service import published_keys, resolve_recipients
from docex.audit import events
from docex.auth.policy import Action, Actor, Parties, acting_agency, allowed, authorize
from docex.documents import intake
from docex.documents.envelope import Envelope, parse_envelope
from docex.documents.models import Draft, DraftFile
from docex.documents.pdf import check_pdf
from docex.documents.protection import data_key, protect, require_party_keys, reveal
from docex.documents.upload import FormShape, SpooledFile, Upload, _spool_file
from docex.errors import Conflict, NotFound, Unprocessable
from docex.kit.ids import uuid7
from docex.storage.base import BlobNotFound
from docex.vocabulary.levels import Classification

if TYPE_CHECKING:
    from docex.config import LimitSettings
    from docex.documents.ports import Node

UPLOADED: Final = "uploaded"
SIGNED: Final = "signed"
SEALED: Final = "sealed"
SENT: Final = "sent"
ROLES: Final = {"signer": Action.SIGN_AS_SIGNER, "seal": Action.SEAL}


def draft_form(limits: LimitSettings) -> FormShape:
    """A draft's upload: its classification, one main PDF, attachments (the intake's limits)."""
    return FormShape(
        fields={"classification": 32},
        files={"main": 1, "attachment": limits.max_files},
        max_files=limits.max_files,
        max_body_bytes=limits.max_body_bytes,
        max_file_name_chars=limits.max_file_name_chars,
    )


def _parties(draft: Draft) -> Parties:
    return Parties(draft.agency_id, frozenset(), Classification(draft.classification))


def may_see(actor: Actor, draft: Draft) -> bool:
    """A draft is seen by the members of its agency who may send it, and by nobody else."""
    return actor.agency_id == draft.agency_id and allowed(actor, Action.SEND, _parties(draft))


def get_draft(session: Session, actor: Actor, draft_id: str) -> Draft:
    """The draft if ``actor`` may see it; 404 ``draft_not_found`` otherwise, as for none."""
    draft = session.get(Draft, draft_id) if len(draft_id) <= 36 else None
    if draft is None or not may_see(actor, draft):
        raise NotFound("no such draft", code="draft_not_found")
    return draft


def list_drafts(session: Session, actor: Actor) -> list[Draft]:
    """The drafts of the actor's agency not yet sent that the actor may see, newest first."""
    authorize(actor, Action.SEND)
    found = session.scalars(
        select(Draft)
        .where(Draft.agency_id == acting_agency(actor), Draft.state != SENT)
        .order_by(Draft.created_at.desc(), Draft.id.desc())
        .limit(200)
    )
    return [d for d in found if may_see(actor, d)]


# -- creating ---------------------------------------------------------------------------------


def _classification(upload: Upload) -> Classification:
    raw = upload.fields.get("classification", b"normal").decode("utf-8", "replace")
    try:
        return Classification(raw)
    except ValueError:
        raise Unprocessable(
            "classification: normal, confidential, secret or top_secret",
            code="invalid_envelope",
        ) from None


def _protect_file(
    node: Node,
    spooled_path: Path,
    *,
    draft_id: str,
    file_id: str,
    classification: Classification,
    party_keys: dict[str, str],
) -> tuple[str, int, int | None, bytes | None, bytes | None]:
    key = f"d{uuid7().replace('-', '')}"  # a new blob for each version of the file
    protected = protect(
        node.store,
        node.keks,
        key=key,
        source=spooled_path,
        document_id=draft_id,
        file_id=file_id,
        classification=classification,
        party_keys=party_keys,
    )
    wrap = next(iter(protected.agency_wraps.values()), None)
    return key, protected.stored_size, protected.kek_version, protected.wrapped_key, wrap


def _party_keys(node: Node, agency_id: str, classification: Classification) -> dict[str, str]:
    with node.db.read() as session:
        return require_party_keys(classification, [agency_id], published_keys(session, [agency_id]))


def create_draft(node: Node, actor: Actor, upload: Upload, *, now: datetime) -> Draft:
    """A new draft of the actor's agency from an upload (its classification, main PDF and
    attachments); its files encrypted into the blob store, then one transaction."""
    agency_id = acting_agency(actor)
    authorize(actor, Action.SEND)
    classification = _classification(upload)
    if classification.rank > node.settings.max_classification.rank:
        raise Unprocessable(
            f"this node is accredited up to {node.settings.max_classification.value}",
            code="classification_not_accredited",
        )
    authorize(actor, Action.SEND, Parties(agency_id, frozenset(), classification))
    main = upload.main
    if main is None:
        raise Unprocessable("the main part (the PDF) is missing", code="missing_main")
    check_pdf(main.path)
    party_keys = _party_keys(node, agency_id, classification)
    draft_id = uuid7()
    rows: list[DraftFile] = []
    try:
        for position, spooled in enumerate(upload.files):
            file_id = uuid7()
            key, stored, version, wrapped, wrap = _protect_file(
                node,
                spooled.path,
                draft_id=draft_id,
                file_id=file_id,
                classification=classification,
                party_keys=party_keys,
            )
            rows.append(
                DraftFile(
                    id=file_id,
                    draft_id=draft_id,
                    role=spooled.role,
                    position=position,
                    name=spooled.name,
                    content_type="application/pdf"
                    if spooled.role == "main"
                    else spooled.content_type,
                    size=spooled.size,
                    sha256=spooled.sha256,
                    blob_key=key,
                    stored_size=stored,
                    kek_version=version,
                    wrapped_key=wrapped,
                    agency_wrap=wrap,
                )
            )

        def insert(session: Session) -> Draft:
            draft = Draft(
                id=draft_id,
                agency_id=agency_id,
                created_by=actor.id,
                classification=classification.value,
                state=UPLOADED,
                envelope={},
                signatures={},
                created_at=now,
                updated_at=now,
            )
            draft.files = rows
            session.add(draft)
            events.record(
                session,
                events.DRAFT_CREATED,
                at=now,
                actor_id=actor.id,
                agency_id=agency_id,
                draft_id=draft_id,
                classification=classification.value,
                files=[
                    {"id": f.id, "role": f.role, "sha256": f.sha256, "size": f.size} for f in rows
                ],
            )
            return draft

        return node.committer.run(insert)
    except BaseException:
        _delete_blobs(node, [r.blob_key for r in rows])
        raise


# -- the envelope -----------------------------------------------------------------------------


def check_envelope(session: Session, fields: dict[str, Any], *, agency_id: str) -> Envelope:
    """The envelope ``fields`` make, by the intake's own rules: ``parse_envelope`` (422
    ``invalid_envelope`` and the others it raises, naming the field), and recipients that
    ``resolve_recipients`` finds in the directory (``unknown_recipient``, ...)."""
    envelope = parse_envelope(json.dumps(fields, ensure_ascii=False).encode(), sender_id=agency_id)
    resolve_recipients(session, list(envelope.recipients), agency_id)
    return envelope


def save_envelope(
    node: Node, actor: Actor, draft_id: str, fields: dict[str, Any], *, now: datetime
) -> Draft:
    """Validate ``fields`` as the intake will and keep them on the draft. The classification
    is the draft's (its files are protected for it); a message_id cannot be set (the draft's
    id is the one)."""

    def work(session: Session) -> Draft:
        draft = _open_draft(session, actor, draft_id)
        values = {k: v for k, v in fields.items() if k != "message_id"}
        values["classification"] = draft.classification
        envelope = check_envelope(session, values, agency_id=draft.agency_id)
        draft.envelope = envelope.model_dump(mode="json", exclude_none=True)
        draft.updated_at = now
        events.record(
            session,
            events.DRAFT_UPDATED,
            at=now,
            actor_id=actor.id,
            agency_id=draft.agency_id,
            draft_id=draft.id,
            recipients=list(envelope.recipients),
        )
        return draft

    return node.committer.run(work)


def _open_draft(session: Session, actor: Actor, draft_id: str) -> Draft:
    draft = get_draft(session, actor, draft_id)
    if draft.state == SENT:
        raise Conflict("this draft was sent already", code="draft_sent")
    return draft


# -- the files ----------------------------------------------------------------------------------


def _plaintext(node: Node, draft: Draft, file: DraftFile) -> Iterator[bytes]:
    classification = Classification(draft.classification)
    dek = data_key(
        node.keks,
        node.agency_keys,
        document_id=draft.id,
        file_id=file.id,
        classification=classification,
        kek_version=file.kek_version,
        wrapped_key=file.wrapped_key,
        agency_wrap=file.agency_wrap,
        reader_agency=draft.agency_id,
    )
    return reveal(
        node.store.open(file.blob_key),
        dek,
        document_id=draft.id,
        file_id=file.id,
        classification=classification,
        sha256=file.sha256,
        size=file.size,
    )


def _spooled(node: Node, draft: Draft, file: DraftFile) -> SpooledFile:
    """The file decrypted into the node's spool directory (removed by ``Upload.discard``)."""
    handle, path = _spool_file(node.settings.spool_dir)
    spooled = SpooledFile(
        role=file.role,
        name=file.name,
        content_type=file.content_type,
        path=path,
        size=file.size,
        sha256=file.sha256,
        handle=handle,
    )
    try:
        for chunk in _plaintext(node, draft, file):
            handle.write(chunk)
        handle.flush()
    except BaseException:
        Upload(files=[spooled]).discard()
        raise
    return spooled


def _main(draft: Draft) -> DraftFile:
    main = next((f for f in draft.files if f.role == "main"), None)
    if main is None:  # create_draft refuses a draft without one
        raise Conflict("this draft has no main file", code="draft_incomplete")
    return main


def open_main(node: Node, actor: Actor, draft_id: str) -> tuple[DraftFile, Iterator[bytes]]:
    """The draft's main PDF, decrypted and checked as it streams, for one who may see it."""
    with node.db.read() as session:
        draft = _open_draft(session, actor, draft_id)
        main = _main(draft)
    return main, _plaintext(node, draft, main)


@dataclass(frozen=True)
class Signed:
    draft: Draft
    report: dict[str, Any]


def sign_draft(
    node: Node,
    actor: Actor,
    draft_id: str,
    role: Literal["signer", "seal"],
    *,
    now: datetime,
) -> Signed:
    """One more signature on the draft's main PDF: the actor's own (``signer``, a leader) or
    the agency's seal (``seal``, a clerk), by the node's signing service, then the signature
    check the intake will make. The signed PDF replaces the draft's; the old blob goes."""
    with node.db.read() as session:
        draft = _open_draft(session, actor, draft_id)
        authorize(actor, ROLES[role])
        main = _main(draft)
        version = draft.updated_at
    upload = Upload(files=[_spooled(node, draft, main)])
    new_key = ""
    try:
        source = upload.files[0]
        with source.path.open("rb") as pdf:
            signed = node.signatures.sign(
                pdf,
                role=role,
                agency_id=draft.agency_id,
                username=actor.username,
                now=now,
                actor_id=actor.id,
            )
        source.path.write_bytes(signed.data)
        report = node.signatures.validate(source.path, sender_agency=draft.agency_id, now=now)
        new_key, stored, kek_version, wrapped, wrap = _protect_file(
            node,
            source.path,
            draft_id=draft.id,
            file_id=main.id,
            classification=Classification(draft.classification),
            party_keys=_party_keys(node, draft.agency_id, Classification(draft.classification)),
        )

        def work(session: Session) -> Draft:
            fresh = _open_draft(session, actor, draft_id)
            if fresh.updated_at != version:
                raise Conflict(
                    "the draft changed while it was being signed: open it again",
                    code="draft_changed",
                )
            row = _main(fresh)
            row.blob_key, row.stored_size = new_key, stored
            row.kek_version, row.wrapped_key, row.agency_wrap = kek_version, wrapped, wrap
            row.size, row.sha256 = len(signed.data), signed.sha256
            fresh.state = SIGNED if role == "signer" else SEALED
            fresh.signatures = report.to_dict()
            fresh.updated_at = now
            event = events.DRAFT_SIGNED if role == "signer" else events.DRAFT_SEALED
            events.record(
                session,
                event,
                at=now,
                actor_id=actor.id,
                agency_id=fresh.agency_id,
                draft_id=fresh.id,
                sha256=signed.sha256,
                signer=signed.signer_name,
                indication=str(report.indication),
            )
            return fresh

        updated = node.committer.run(work)
    except BaseException:
        if new_key:
            _delete_blobs(node, [new_key])
        raise
    finally:
        upload.discard()
    _delete_blobs(node, [main.blob_key])
    return Signed(updated, report.to_dict())


# -- sending and deleting -----------------------------------------------------------------------


def send_draft(node: Node, actor: Actor, draft_id: str, *, now: datetime) -> intake.Submitted | str:
    """Submit the draft through ``intake.submit`` with its id as the ``message_id``; then its
    blobs go and it names its document. Returns the submission, or the id of the document a
    draft already sent became (a repeated send)."""
    with node.db.read() as session:
        draft = get_draft(session, actor, draft_id)
        if draft.state == SENT and draft.document_id:
            return draft.document_id
        if not draft.envelope:
            raise Unprocessable(
                "save the envelope (recipients, subject...) before sending",
                code="envelope_missing",
            )
        files = list(draft.files)
    body = {**draft.envelope, "message_id": draft.id, "classification": draft.classification}
    upload = Upload(fields={"envelope": json.dumps(body, ensure_ascii=False).encode()})
    try:
        for file in files:
            upload.files.append(_spooled(node, draft, file))
        submitted = intake.submit(node, actor, upload, now=now)
    except BlobNotFound:
        # A send of the same draft at the same moment finished first and removed the files:
        # this one leads to the document it made.
        with node.db.read() as session:
            again = get_draft(session, actor, draft_id)
        if again.state == SENT and again.document_id:
            return again.document_id
        raise
    finally:
        upload.discard()
    document_id = submitted.document.id

    def work(session: Session) -> None:
        fresh = session.get(Draft, draft_id)
        if fresh is None or fresh.state == SENT:
            return
        fresh.state, fresh.document_id, fresh.updated_at = SENT, document_id, now
        fresh.files = []
        events.record(
            session,
            events.DRAFT_SENT,
            at=now,
            actor_id=actor.id,
            agency_id=fresh.agency_id,
            document_id=document_id,
            draft_id=fresh.id,
        )

    node.committer.run(work)
    _delete_blobs(node, [f.blob_key for f in files])
    return submitted


def delete_draft(node: Node, actor: Actor, draft_id: str, *, now: datetime) -> None:
    """Delete a draft not yet sent, and its blobs."""

    def work(session: Session) -> list[str]:
        draft = _open_draft(session, actor, draft_id)
        keys = [f.blob_key for f in draft.files]
        events.record(
            session,
            events.DRAFT_DELETED,
            at=now,
            actor_id=actor.id,
            agency_id=draft.agency_id,
            draft_id=draft.id,
        )
        session.delete(draft)
        return keys

    _delete_blobs(node, node.committer.run(work))


def _delete_blobs(node: Node, keys: list[str]) -> None:
    for key in keys:
        with contextlib.suppress(Exception):  # the orphan sweeper gets what this misses
            node.store.delete(key)
