"""edXML at the node: packages from the software already in service go through docex's own
paths, and documents and receipts leave as edXML.

- :func:`accept` takes one package the caller's agency sent (read from a spool file): a
  *document* goes through the same intake as ``POST /api/v1/documents``
  (:func:`docex.documents.intake.submit`: signatures validated, classification gate,
  idempotency, signed receipts as deliveries arrive), a *status* through the same path as
  ``POST /api/v1/documents/{id}/statuses`` (:func:`docex.routing.receipts.report_status`).
  What the package says about who sent it is a claim: its ``From`` must be the caller's agency
  (else 403 ``edxml_sender_mismatch``); nothing else in it is believed either (the XMLDSig
  block is recorded and ignored, the PDF's PAdES signatures are validated as for any send).
- :func:`export_document` and :func:`export_status` write a document or one of its receipts
  as edXML, for whoever the access policy lets read it (a third agency: 404).

Where a package's recipients live is the routing engine's business, not this module's: a
document accepted here is queued exactly as one sent as JSON, to local and remote recipients
alike.

Identity across the two worlds: a document imported from edXML keeps its ``DocumentId`` as its
business id (that is what statuses and later revisions name), and its ``message_id`` is derived
from that id, its business type and what it refers to (:func:`message_id_of`), so that a
package sent twice is one document (the second answered 200) and the same id with other content
is ``409 message_id_conflict``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select

from docex.auth.policy import Action, Actor, acting_agency, authorize, reach
from docex.documents import files as stored_files
from docex.documents import intake
from docex.documents.access import load_visible, parties_of, readable
from docex.documents.envelope import Envelope
from docex.documents.media_types import accepted_type
from docex.documents.models import Document
from docex.documents.upload import SpooledFile, Upload
from docex.errors import Forbidden, NotFound
from docex.interop.errors import EdxmlInvalid
from docex.interop.exporter import new_document_package, status_to_edxml, write_document
from docex.interop.importer import Resolve, parse_package
from docex.interop.packages import (
    DocumentPackage,
    EdxmlLimits,
    PackageFile,
    ResponseFor,
    StatusPackage,
)
from docex.kit.clock import VIETNAM_TZ
from docex.routing import receipts
from docex.routing.models import Receipt
from docex.routing.receipts import StatusRequest
from docex.routing.schemas import StatusOut
from docex.signing.jws import NodeSigner
from docex.vocabulary.codes import is_valid_code
from docex.vocabulary.levels import Classification

if TYPE_CHECKING:
    from docex.documents.ports import Node as DocumentsNode

    class Node(DocumentsNode, Protocol):
        """The node as this module sees it: the documents service's view, and the signer of
        receipts."""

        @property
        def signer(self) -> NodeSigner: ...


log = logging.getLogger(__name__)

MESSAGE_ID_PREFIX = "edxml."
RECEIVED = "01"
EXPORT_PREFIX = "edxml-export-"


class EdxmlSenderMismatch(Forbidden):
    """The package says it comes from another agency than the caller's."""

    default_code = "edxml_sender_mismatch"


class EdxmlUnknownDocument(NotFound):
    """A status package names a document the caller has not received (or sent)."""

    default_code = "edxml_unknown_document"


@dataclass(frozen=True)
class AcceptedDocument:
    submitted: intake.Submitted
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class AcceptedStatus:
    status: StatusOut
    created: bool
    warnings: tuple[str, ...]


Accepted = AcceptedDocument | AcceptedStatus


def message_id_of(package: DocumentPackage) -> str:
    """docex's ``message_id`` for an imported package: edXML has none, and re-sends a document
    under its own ``DocumentId`` to revoke or update it, so the id, the business type and (for
    a revision) the reference together name one send."""
    kind = package.envelope.business.type if package.envelope.business else "new"
    # A new document's reference is a remark (docex keeps it only when it names a document
    # known here), so it is not part of what names the send.
    reference = package.reference if kind != "new" else None
    basis = "\n".join((package.document_id, kind, reference or ""))
    return MESSAGE_ID_PREFIX + hashlib.sha256(basis.encode()).hexdigest()[:40]


def _resolver(node: Node, actor: Actor, *, latest: bool = False) -> Resolve:
    """edXML ``DocumentId`` → the docex document the caller may read that has it as business
    id: the first one (the original a revision re-uses the id of), or the ``latest``."""
    findable = readable(reach(actor, Action.READ_DOCUMENT))

    def resolve(edxml_id: str) -> str | None:
        order = Document.id.desc() if latest else Document.id
        with node.db.read() as session:
            return session.scalar(
                select(Document.id)
                .where(Document.business_id == edxml_id, findable)
                .order_by(order)
                .limit(1)
            )

    return resolve


def accept(node: Node, actor: Actor, source: Path, *, now: datetime) -> Accepted:
    """Read the package at ``source`` and send it (a document) or report it (a status) as the
    caller. Refusals are ``EdxmlError`` (the package), ``EdxmlSenderMismatch`` and whatever
    the intake or the status path refuses; nothing is stored then, and the attachments'
    spool files are removed however it ends."""
    agency = acting_agency(actor)
    settings = node.settings
    with source.open("rb") as fh:
        package = parse_package(
            fh,
            limits=EdxmlLimits.from_settings(settings.limits),
            spool_dir=settings.spool_dir,
            resolve=_resolver(node, actor),
        )
    for warning in package.warnings:  # what a field quirk made of the package, for operators
        log.info("edXML package from %s: %s", agency, warning)
    with package:
        if isinstance(package, StatusPackage):
            return _status(node, actor, agency, package, now=now)
        return _document(node, actor, agency, package, now=now)


def _mismatch(claimed: str, agency: str) -> EdxmlSenderMismatch:
    return EdxmlSenderMismatch(
        f"the package's From/OrganId is {claimed!r}, but you act for {agency!r}: an agency "
        "sends edXML only in its own name"
    )


def _document(
    node: Node, actor: Actor, agency: str, package: DocumentPackage, *, now: datetime
) -> AcceptedDocument:
    if package.sender_id != agency:
        raise _mismatch(package.sender_id, agency)
    envelope = package.envelope.model_copy(update={"message_id": message_id_of(package)})
    ordered = sorted(package.files, key=lambda f: f.role != "main")  # the PDF first, as sent
    upload = Upload(
        fields={"envelope": envelope.model_dump_json(exclude_none=True).encode()},
        files=[_spooled(f) for f in ordered],
    )
    submitted = intake.submit(node, actor, upload, now=now, business_id=package.document_id)
    return AcceptedDocument(submitted, package.warnings)


def _spooled(file: PackageFile) -> SpooledFile:
    # The same allow-list as a multipart attachment (the main file is checked as a PDF).
    if file.role != "main":
        accepted_type(file.content_type, role="attachment")
    return file.as_spooled()


def _status(
    node: Node, actor: Actor, agency: str, package: StatusPackage, *, now: datetime
) -> AcceptedStatus:
    if package.from_id != agency:
        raise _mismatch(package.from_id, agency)
    document_id = _resolver(node, actor, latest=True)(package.document_id)
    if document_id is None:
        raise EdxmlUnknownDocument(
            f"ResponseFor/DocumentId {package.document_id!r} names no document your agency "
            "received or sent"
        )
    if package.code == RECEIVED:
        return AcceptedStatus(_arrival(node, actor, agency, document_id), False, package.warnings)
    request = StatusRequest(
        code=package.code,
        note=package.note,
        idempotency_key=_status_key(package, document_id),
    )
    with node.db.write() as session:
        out, created = receipts.report_status(
            session,
            node.signer,
            actor,
            document_id,
            request,
            now=now,
            local_year=now.astimezone(VIETNAM_TZ).year,
        )
    return AcceptedStatus(out, created, package.warnings)


def _arrival(node: Node, actor: Actor, agency: str, document_id: str) -> StatusOut:
    """A legacy system's 01 ("arrived") is the receipt this node signed when it delivered the
    document to the agency: answered with that one (200), never a second 01."""
    with node.db.read() as session:
        _, _, seen = load_visible(session, actor, document_id)
        receipt = session.scalar(
            select(Receipt)
            .where(
                Receipt.document_id == document_id,
                Receipt.from_agency_id == agency,
                Receipt.code == RECEIVED,
            )
            .order_by(Receipt.id)
            .limit(1)
        )
        if receipt is None:
            raise EdxmlUnknownDocument(
                "the document has not reached your agency's inbox: it has no 01 yet"
            )
        out = receipts.receipt_view(seen, receipt)
    return StatusOut(**out.model_dump(), receipts=[out])


def _status_key(package: StatusPackage, document_id: str) -> str:
    """The status post's Idempotency-Key: a package sent again (same document, code and
    timestamp) is one status; the same with another note is ``idempotency_key_conflict``."""
    basis = f"{document_id}\n{package.code}\n{package.timestamp.isoformat()}"
    return MESSAGE_ID_PREFIX + hashlib.sha256(basis.encode()).hexdigest()[:40]


# --- export -----------------------------------------------------------------------------------


def _refuse_classified(document: Document) -> None:
    if document.classification != Classification.NORMAL.value:
        raise EdxmlInvalid(
            f"a {document.classification} document cannot leave as edXML: the format has no "
            "classification marking",
            code="edxml_classified",
        )


def export_document(node: Node, actor: Actor, document_id: str, *, now: datetime) -> Path:
    """The document as an edXML package, written to a spool file the caller streams and then
    removes. Readable by whoever may read its files (``Action.READ_FILE``); 404 otherwise."""
    with node.db.read() as session:
        document, deliveries, seen = load_visible(session, actor, document_id)
        authorize(actor, Action.READ_FILE, parties_of(document, deliveries))
        _refuse_classified(document)
        stored = dict(document.envelope)
        stored.pop("message_id", None)
        recipients: list[str] = []
        for address in stored.get("recipients", []):
            if is_valid_code(address):
                recipients.append(address)
            else:  # a group: the agencies it reached that the caller may see
                recipients += [
                    d.recipient_id
                    for d in deliveries
                    if d.addressed_as == address and seen.shows_recipient(d.recipient_id)
                ]
        stored["recipients"] = list(dict.fromkeys(recipients))
        envelope = Envelope.model_validate(stored)
        findable = readable(reach(actor, Action.READ_DOCUMENT))

        def cited(docex_id: str | None) -> Document | None:
            if docex_id is None:
                return None
            return session.scalar(select(Document).where(Document.id == docex_id, findable))

        referred = cited(envelope.business.refers_to if envelope.business else None)
        answered = cited(envelope.in_reply_to)
        refers_to = referred.business_id if referred is not None else None
        response_for = (
            [ResponseFor(document_id=answered.business_id, organ_id=answered.sender_id)]
            if answered is not None
            else []
        )
        rows = sorted(document.files, key=lambda f: f.position)
        business_id, sender_id, sent_at = (
            document.business_id,
            document.sender_id,
            document.created_at,
        )
    spool_dir = node.settings.spool_dir
    plain: list[PackageFile] = []
    try:
        for row in rows:
            _, chunks, _ = stored_files.open_file(node, actor, document_id, row.id, now=now)
            path = _spool(spool_dir)
            with path.open("wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            plain.append(
                PackageFile.from_path(
                    path,
                    role="main" if row.role == "main" else "attachment",
                    content_id=row.id,
                    content_type=row.content_type,
                    name=row.name,
                )
            )
        package = new_document_package(
            envelope,
            sender_id=sender_id,
            document_id=business_id,
            files=plain,
            sent_at=sent_at,
            refers_to=refers_to,
            response_for=response_for,
        )
        target = _spool(spool_dir, prefix=EXPORT_PREFIX)
        try:
            with target.open("wb") as out:
                write_document(package, out)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return target
    finally:
        for file in plain:
            file.path.unlink(missing_ok=True)


def _spool(directory: Path, prefix: str = "edxml-") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix=prefix)
    os.close(fd)
    return Path(name)


def status_package(node: Node, actor: Actor, document_id: str, receipt_id: str) -> StatusPackage:
    """One receipt of the document as an edXML status, for whoever sees that receipt in
    ``GET /documents/{id}/receipts``; 404 otherwise."""
    with node.db.read() as session:
        document, _, seen = load_visible(session, actor, document_id)
        receipt = session.get(Receipt, receipt_id)
        if (
            receipt is None
            or receipt.document_id != document.id
            or not seen.shows_receipt(receipt.from_agency_id, receipt.to_agency_id)
        ):
            raise NotFound("no such receipt of this document", code="receipt_not_found")
        _refuse_classified(document)
        view = receipts.receipt_view(seen, receipt)
        envelope = document.envelope
        code = envelope.get("code")
        promulgation = envelope.get("promulgation")
        return StatusPackage(
            code=receipt.code,
            from_id=receipt.from_agency_id,
            response_for=ResponseFor(
                document_id=document.business_id,
                organ_id=document.sender_id,
                code=(
                    f"{code['number']}/{code['notation']}".rstrip("/")
                    if isinstance(code, dict)
                    else None
                ),
                promulgation_date=(
                    datetime.fromisoformat(promulgation["date"]).date()
                    if isinstance(promulgation, dict)
                    else None
                ),
            ),
            timestamp=receipt.created_at.astimezone(UTC).replace(microsecond=0),
            note=None if view.content_withheld else receipt.note,
        )


def export_status(node: Node, actor: Actor, document_id: str, receipt_id: str) -> bytes:
    """:func:`status_package` as edXML bytes."""
    return status_to_edxml(status_package(node, actor, document_id, receipt_id))


def discard(path: Path) -> None:
    """Remove an export's spool file once it has been sent."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


__all__ = [
    "Accepted",
    "AcceptedDocument",
    "AcceptedStatus",
    "EdxmlSenderMismatch",
    "EdxmlUnknownDocument",
    "accept",
    "discard",
    "export_document",
    "export_status",
    "message_id_of",
    "status_package",
]
