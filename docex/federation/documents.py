"""Documents crossing nodes: the ``document`` kind of transfer (:mod:`docex.federation.kinds`).

A document transfer's manifest (JSON; every attempt sends the same bytes)::

    {"version": 1,
     "document": {...},            the origin node's claims, exactly as it signed them
     "signature": "<JWS>",         typ docex-document+jws, ES256, by the origin node's key
     "recipients": [{"agency_id", "addressed_as"}],   the recipients this transfer carries
     "trace": [{"node", "at"}]}    one entry per node the document went through (edXML
                                   TraceHeader), the origin first

``document`` holds ``iss`` (the origin node), ``document_id``, ``message_id``, ``business_id``,
``sender_id``, ``envelope``, ``signatures`` (the PAdES report of intake), ``subject``,
``urgency``, ``classification``, ``created_at``, ``recipients`` (every agency the sender
addressed) and ``files``: per file ``id``, ``role``, ``position``, ``name``, ``content_type``,
``size`` and ``sha256`` of the plaintext, and ``encoding``:

- ``plain`` (a normal document): the file part is the plaintext, decrypted from the sending
  node's store (the transfer itself runs over TLS); the receiving node checks its size and
  SHA-256 and encrypts it under its own KEK as intake does (``documents.protection.protect``).
- ``sealed`` (a classified document): the file part is the stored ciphertext (DXB1) and the
  entry also carries ``stored_size`` and ``wraps`` (agency → base64 HPKE wrap of the data
  key, one per party agency). The receiving node stores exactly that: a relay holds no key that
  opens it (no KEK wrap exists; the agency wraps open only with the custodial keys of the
  agencies' home nodes), and the blob's associated data binds the document and file ids, which
  is why they are the same on every node.

Guarantees, against a relay or any peer: the receiving node accepts a document only if the
origin signature verifies under the key the directory lists for ``iss``, ``iss`` hosts the
sender agency (``Agency.node_id``), the manifest's ``document`` is exactly what was signed, the
carried recipients are among those the sender addressed, and each file part has the size and
digest the signed claims state; otherwise a precise refusal (``docex.errors``), nothing stored.
The same document arriving again (another path, a retry under another transfer id) stores
nothing new; only recipients it did not yet have get their deliveries.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from docex.agencies.models import Agency
from docex.agencies.service import Recipient
from docex.audit import events
from docex.db import Database
from docex.documents.deliveries import queue_deliveries
from docex.documents.models import Delivery, Document, DocumentFile, FileKeyWrap
from docex.documents.protection import data_key, protect, reveal
from docex.errors import (
    ManifestInvalid,
    MessageIdConflict,
    OriginNotHost,
    OriginSignatureInvalid,
    RecipientNotAddressed,
    TransferFileMismatch,
)
from docex.federation import peers, transfers
from docex.federation.kinds import KIND_DOCUMENT, Accepted, Inbound, Part
from docex.federation.models import FederationDocument, Transfer
from docex.federation.statements import unverified_claims, verify_statement
from docex.federation.statuses import FailDelivery, queue_notice, waiting_reason
from docex.kit.clock import as_utc, rfc3339
from docex.kit.ids import uuid7
from docex.signing.agency_keys import AgencyKeyStore
from docex.signing.jws import NodeSigner, canonical_json
from docex.signing.keks import KekRing
from docex.storage.base import CHUNK_SIZE, BlobStore
from docex.vocabulary.levels import URGENCY_PRIORITY, Classification
from docex.vocabulary.transport import FORWARDED, QUEUED

DOCUMENT_TYPE = "docex-document+jws"
MANIFEST_VERSION = 1
PLAIN = "plain"
SEALED = "sealed"


def file_part(file_id: str) -> str:
    return f"file:{file_id}"


# -- sending side --------------------------------------------------------------------------------


def _claims(
    document: Document,
    recipients: Sequence[str],
    wraps: Mapping[str, dict[str, bytes]],
    *,
    origin: str,
) -> dict[str, Any]:
    encoding = PLAIN if document.classification == Classification.NORMAL.value else SEALED
    files: list[dict[str, Any]] = []
    for f in document.files:
        entry: dict[str, Any] = {
            "id": f.id,
            "role": f.role,
            "position": f.position,
            "name": f.name,
            "content_type": f.content_type,
            "size": f.size,
            "sha256": f.sha256,
            "encoding": encoding,
        }
        if encoding == SEALED:
            entry["stored_size"] = f.stored_size
            entry["wraps"] = {
                agency: base64.b64encode(blob).decode()
                for agency, blob in sorted(wraps.get(f.id, {}).items())
            }
        files.append(entry)
    return {
        "iss": origin,
        "document_id": document.id,
        "message_id": document.message_id,
        "business_id": document.business_id,
        "sender_id": document.sender_id,
        "envelope": document.envelope,
        "signatures": document.signatures or {},
        "subject": document.subject,
        "urgency": document.urgency,
        "classification": document.classification,
        "created_at": rfc3339(document.created_at),
        "recipients": sorted(recipients),
        "files": files,
    }


def _journey(session: Session, signer: NodeSigner, document: Document) -> FederationDocument:
    """The document's origin signature and trace: made (and kept) the first time the document
    leaves its origin node; received with it on every other node."""
    journey = session.get(FederationDocument, document.id)
    if journey is not None:
        return journey
    recipients = session.scalars(
        select(Delivery.recipient_id).where(Delivery.document_id == document.id)
    ).all()
    wraps: dict[str, dict[str, bytes]] = {}
    for wrap in session.scalars(
        select(FileKeyWrap).where(FileKeyWrap.file_id.in_([f.id for f in document.files]))
    ):
        wraps.setdefault(wrap.file_id, {})[wrap.agency_id] = wrap.wrapped
    claims = _claims(document, recipients, wraps, origin=signer.node_id)
    journey = FederationDocument(
        document_id=document.id,
        origin_node=signer.node_id,
        origin_signature=signer.sign(claims, typ=DOCUMENT_TYPE),
        trace=[{"node": signer.node_id, "at": claims["created_at"]}],
        received_from=None,
        created_at=document.created_at,
    )
    session.add(journey)
    session.flush()
    return journey


def queue_document(
    session: Session,
    signer: NodeSigner,
    document: Document,
    deliveries: Sequence[Delivery],
    *,
    peer: str,
    now: datetime,
) -> Transfer:
    """One transfer of ``document`` to ``peer`` (the next hop) carrying ``deliveries``' recipients,
    in the caller's transaction, with its audit event. On the origin node the origin signature
    is made the first time; a relay forwards the one it received, and the trace so far."""
    journey = _journey(session, signer, document)
    manifest = {
        "version": MANIFEST_VERSION,
        "document": unverified_claims(journey.origin_signature),
        "signature": journey.origin_signature,
        "recipients": [
            {"agency_id": d.recipient_id, "addressed_as": d.addressed_as} for d in deliveries
        ],
        "trace": journey.trace,
    }
    transfer = transfers.queue(
        session,
        kind=KIND_DOCUMENT,
        peer=peer,
        manifest=manifest,
        now=now,
        document_id=document.id,
        priority=max(d.priority for d in deliveries),
    )
    events.record(
        session,
        events.FEDERATION_DOCUMENT_FORWARDED,
        at=now,
        agency_id=document.sender_id,
        document_id=document.id,
        transfer_id=transfer.id,
        peer=peer,
        deliveries=[{"delivery_id": d.id, "agency_id": d.recipient_id} for d in deliveries],
    )
    return transfer


# -- receiving side ------------------------------------------------------------------------------


@dataclass
class Prepared:
    """What ``prepare`` settled: the verified claims and the files it stored (none when the
    document is here already)."""

    claims: dict[str, Any]
    recipients: list[Recipient]
    files: list[DocumentFile] = field(default_factory=list)
    present: bool = False


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ManifestInvalid(f"the manifest's {name} must be a non-empty string")
    return value


def _manifest(
    manifest: Mapping[str, Any],
) -> tuple[dict[str, Any], str, list[Recipient], list[Any]]:
    if manifest.get("version") != MANIFEST_VERSION:
        raise ManifestInvalid(f"a document manifest is version {MANIFEST_VERSION}")
    claims, signature = manifest.get("document"), manifest.get("signature")
    carried, trace = manifest.get("recipients"), manifest.get("trace")
    if not isinstance(claims, dict) or not isinstance(signature, str):
        raise ManifestInvalid("a document manifest has a document and its signature")
    if not isinstance(carried, list) or not carried or not isinstance(trace, list):
        raise ManifestInvalid("a document manifest lists the recipients it carries and a trace")
    recipients: list[Recipient] = []
    for entry in carried:
        if not isinstance(entry, dict):
            raise ManifestInvalid("each carried recipient is an object")
        recipients.append(
            Recipient(
                agency_id=_text(entry.get("agency_id"), "recipient agency_id"),
                addressed_as=_text(entry.get("addressed_as"), "recipient addressed_as"),
            )
        )
    if len({r.agency_id for r in recipients}) != len(recipients):
        raise ManifestInvalid("a recipient is carried twice")
    for hop in trace:
        if not isinstance(hop, dict) or not isinstance(hop.get("node"), str):
            raise ManifestInvalid("each trace entry names a node")
    return claims, signature, recipients, trace


def _files(claims: Mapping[str, Any]) -> list[dict[str, Any]]:
    files = claims.get("files")
    if not isinstance(files, list) or not files:
        raise ManifestInvalid("a document has files")
    for f in files:
        if not isinstance(f, dict) or not isinstance(f.get("size"), int):
            raise ManifestInvalid("each file has an id, a size and a digest")
        _text(f.get("id"), "file id")
        _text(f.get("sha256"), "file sha256")
        if f.get("encoding") not in (PLAIN, SEALED):
            raise ManifestInvalid("a file's encoding is plain or sealed")
        if f["encoding"] == SEALED and (
            not isinstance(f.get("stored_size"), int) or not isinstance(f.get("wraps"), dict)
        ):
            raise ManifestInvalid("a sealed file has its stored size and its key wraps")
    return files


def _instant(value: object, name: str) -> datetime:
    try:
        return as_utc(datetime.fromisoformat(_text(value, name)))
    except ValueError as exc:
        raise ManifestInvalid(f"the manifest's {name} is not an RFC 3339 time") from exc


def _digest(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _read(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            yield chunk


@dataclass(frozen=True)
class _Stored:
    """What streaming a stored file needs, copied off its row: the wire streams it after the
    session that read the row is gone (and again on each attempt)."""

    document_id: str
    file_id: str
    blob_key: str
    kek_version: int | None
    wrapped_key: bytes | None
    sha256: str
    size: int
    classification: Classification

    @classmethod
    def of(cls, file: DocumentFile, classification: Classification) -> _Stored:
        return cls(
            file.document_id,
            file.id,
            file.blob_key,
            file.kek_version,
            file.wrapped_key,
            file.sha256,
            file.size,
            classification,
        )


def _plaintext(
    store: BlobStore, keks: KekRing, agency_keys: AgencyKeyStore, file: _Stored
) -> Iterator[bytes]:
    dek = data_key(
        keks,
        agency_keys,
        document_id=file.document_id,
        file_id=file.file_id,
        classification=file.classification,
        kek_version=file.kek_version,
        wrapped_key=file.wrapped_key,
        agency_wrap=None,
        reader_agency="",
    )
    return reveal(
        store.open(file.blob_key),
        dek,
        document_id=file.document_id,
        file_id=file.file_id,
        classification=file.classification,
        sha256=file.sha256,
        size=file.size,
    )


class DocumentKind:
    """The ``document`` kind: what a document transfer sends (:meth:`parts`), what its outcome
    does to the deliveries it carries (:meth:`sent`, :meth:`failed`), and how a received one is
    stored (:meth:`prepare`, :meth:`commit`) and delivered or relayed from there (its deliveries
    go through the routing worker like any other).

    ``fail`` is :func:`docex.routing.deliveries.record_failure`; ``signer`` the node's (it
    signs a relay's transport notices to the sender's node)."""

    kind = KIND_DOCUMENT

    def __init__(
        self,
        db: Database,
        store: BlobStore,
        keks: KekRing,
        agency_keys: AgencyKeyStore,
        signer: NodeSigner,
        *,
        fail: FailDelivery,
        detour_after: int = 0,
    ) -> None:
        self.db = db
        self.store = store
        self.keks = keks
        self.agency_keys = agency_keys
        self.signer = signer
        self.node_id = signer.node_id
        self.fail = fail
        # After this many failed attempts to a relay, also send straight to the recipients'
        # nodes (0: never); the copy that arrives second is a duplicate there, stored once.
        self.detour_after = detour_after

    # Sending side.

    def parts(self, session: Session, transfer: Transfer) -> list[Part]:
        manifest = transfers.manifest_of(transfer)
        document = session.get(Document, transfer.document_id or "")
        if document is None:
            raise ManifestInvalid(f"transfer {transfer.id} carries no document of this node")
        stored = {f.id: f for f in document.files}
        classification = Classification(document.classification)
        parts: list[Part] = []
        for entry in manifest["document"]["files"]:
            file = stored[entry["id"]]
            if entry["encoding"] == PLAIN:
                chunks = functools.partial(
                    _plaintext,
                    self.store,
                    self.keks,
                    self.agency_keys,
                    _Stored.of(file, classification),
                )
                parts.append(Part(file_part(file.id), file.content_type, file.size, chunks))
            else:
                sealed = functools.partial(self.store.open, file.blob_key)
                parts.append(
                    Part(file_part(file.id), "application/octet-stream", file.stored_size, sealed)
                )
        return parts

    def _carried(self, session: Session, transfer: Transfer) -> list[Delivery]:
        manifest = transfers.manifest_of(transfer)
        wanted = [r["agency_id"] for r in manifest["recipients"]]
        return list(
            session.scalars(
                select(Delivery)
                .where(
                    Delivery.document_id == transfer.document_id,
                    Delivery.recipient_id.in_(wanted),
                    Delivery.transport == QUEUED,
                )
                .order_by(Delivery.id)
            )
        )

    def _relayed(self, session: Session, transfer: Transfer) -> Document | None:
        """The document, if this node only relays it (it came from another node)."""
        journey = session.get(FederationDocument, transfer.document_id or "")
        if journey is None or journey.received_from is None:
            return None
        return session.get(Document, journey.document_id)

    def sent(self, session: Session, transfer: Transfer, receipt: Mapping[str, Any]) -> None:
        """The next hop has them: no longer waiting. On the sender's node they stay ``queued``
        until the recipient's node says 01; on a relay they are ``forwarded``, its part done
        (and its people never a party: a recipient is one once the document is in its inbox),
        and the sender's node is told they got through if it was told they waited."""
        relayed = self._relayed(session, transfer)
        carried = self._carried(session, transfer)
        waited = [d.recipient_id for d in carried if d.waiting_for is not None]
        now = transfer.sent_at
        for delivery in carried:
            delivery.waiting_for = None
            delivery.last_error = None
            if relayed is not None:
                delivery.transport = FORWARDED
                delivery.updated_at = now or delivery.updated_at
        if relayed is not None and waited:
            queue_notice(
                session,
                self.signer,
                document=relayed,
                recipients=waited,
                waiting_for=None,
                failed=None,
                now=now or max(d.updated_at for d in carried),
            )

    def failed(
        self, session: Session, transfer: Transfer, reason: str, *, now: datetime, final: bool
    ) -> None:
        """An attempt failed: the sender reads "waiting for node X"; when the queue gave up,
        each delivery fails as any other (``fail``: reason kept, sender told). A relay tells
        the sender's node, once per change, with a signed notice."""
        relayed = self._relayed(session, transfer)
        told: list[str] = []
        for delivery in self._carried(session, transfer):
            if final:
                delivery.waiting_for = None
                self.fail(
                    session,
                    delivery,
                    transfer.attempts,
                    f"node {transfer.peer} could not be reached: {reason}",
                    now=now,
                    final=True,
                )
                told.append(delivery.recipient_id)
            else:
                if delivery.waiting_for != transfer.peer:
                    told.append(delivery.recipient_id)
                delivery.waiting_for = transfer.peer
                delivery.last_error = waiting_reason(transfer.peer)
                delivery.updated_at = now
        if relayed is not None and told:
            queue_notice(
                session,
                self.signer,
                document=relayed,
                recipients=told,
                waiting_for=None if final else transfer.peer,
                failed=f"node {transfer.peer} could not be reached: {reason}" if final else None,
                now=now,
            )
        if not final and self.detour_after and transfer.attempts == self.detour_after:
            self._detour(session, transfer, now=now)

    def _detour(self, session: Session, transfer: Transfer, *, now: datetime) -> None:
        """The next hop is a relay that cannot be reached (the hub down): send the document
        straight to each recipient's own node too, once. Whichever copy arrives second is a
        duplicate there (same sender and message id) and stores nothing."""
        document = session.get(Document, transfer.document_id or "")
        if document is None:
            return
        by_node: dict[str, list[Delivery]] = {}
        for delivery in self._carried(session, transfer):
            node = delivery.node_id
            if node is not None and node not in (transfer.peer, self.node_id):
                by_node.setdefault(node, []).append(delivery)
        for node, group in sorted(by_node.items()):
            if peers.peer(session, node) is not None:
                queue_document(session, self.signer, document, group, peer=node, now=now)

    # Receiving side.

    def prepare(self, inbound: Inbound) -> Prepared:
        """Check the origin's signature and the addressing, then store the files (each checked
        against its signed size and digest first); nothing when the document is here already."""
        claims, signature, recipients, _ = _manifest(inbound.manifest)
        files = _files(claims)
        with self.db.read() as session:
            origin = peers.peer(session, _text(claims.get("iss"), "origin node"))
            if origin is None:
                raise OriginNotHost(f"the origin node {claims['iss']!r} is not in the directory")
            try:
                signed = verify_statement(signature, origin.signing_key, typ=DOCUMENT_TYPE)
            except ValueError as exc:
                raise OriginSignatureInvalid(
                    f"the document's origin signature does not verify with the key of node "
                    f"{origin.id}: {exc}"
                ) from exc
            if canonical_json(signed) != canonical_json(claims):
                raise OriginSignatureInvalid(
                    "the manifest's document is not what its origin node signed"
                )
            sender = session.get(Agency, _text(claims.get("sender_id"), "sender_id"))
            if sender is None or sender.node_id != origin.id:
                raise OriginNotHost(
                    f"node {origin.id} does not host the sender agency {claims['sender_id']}"
                )
            addressed = set(claims.get("recipients") or [])
            stray = sorted(r.agency_id for r in recipients if r.agency_id not in addressed)
            if stray:
                raise RecipientNotAddressed(
                    "the transfer carries recipients the sender did not address: "
                    + ", ".join(stray)
                )
            present = self._present(session, claims)
        prepared = Prepared(claims=claims, recipients=recipients, present=present)
        if present:
            return prepared
        written: list[str] = []
        try:
            for entry in files:
                prepared.files.append(self._store(inbound, claims, entry, written))
        except BaseException:
            for key in written:
                with contextlib.suppress(Exception):  # the orphan sweeper gets what this misses
                    self.store.delete(key)
            raise
        return prepared

    def _present(self, session: Session, claims: Mapping[str, Any]) -> bool:
        """Whether the document is here already (by its id, or its sender and message id)."""
        found = session.get(Document, _text(claims.get("document_id"), "document_id"))
        if found is None:
            found = session.scalar(
                select(Document).where(
                    Document.sender_id == claims["sender_id"],
                    Document.message_id == _text(claims.get("message_id"), "message_id"),
                )
            )
        if found is None:
            return False
        if found.id != claims["document_id"] or found.message_id != claims["message_id"]:
            raise MessageIdConflict(
                f"message_id {claims['message_id']!r} of {claims['sender_id']} is here with "
                "another document"
            )
        return True

    def _store(
        self,
        inbound: Inbound,
        claims: Mapping[str, Any],
        entry: Mapping[str, Any],
        written: list[str],
    ) -> DocumentFile:
        file_id, document_id = entry["id"], claims["document_id"]
        source = inbound.files.get(file_part(file_id))
        if source is None:
            raise TransferFileMismatch(
                f"file {file_id} is missing from the transfer", code="missing_file_part"
            )
        size, sha256 = _digest(source)
        # A fresh key per write: two paths bringing the same document at once never overwrite
        # each other's blob; the one whose commit loses leaves orphans for the sweeper.
        key = f"f{uuid7().replace('-', '')}"
        try:
            classification = Classification(_text(claims.get("classification"), "classification"))
        except ValueError as exc:
            raise ManifestInvalid("the document's classification is not one docex knows") from exc
        row = DocumentFile(
            id=file_id,
            document_id=document_id,
            role=entry.get("role", "attachment"),
            position=int(entry.get("position", 0)),
            name=str(entry.get("name", "file")),
            content_type=str(entry.get("content_type", "application/octet-stream")),
            size=entry["size"],
            sha256=entry["sha256"],
            blob_key=key,
        )
        if entry["encoding"] == PLAIN:
            if classification is not Classification.NORMAL:
                raise ManifestInvalid("a classified document's files travel sealed")
            if (size, sha256) != (entry["size"], entry["sha256"]):
                raise TransferFileMismatch(
                    f"file {file_id} is not the file the origin signed (size or SHA-256)"
                )
            written.append(key)
            protected = protect(
                self.store,
                self.keks,
                key=key,
                source=source,
                document_id=document_id,
                file_id=file_id,
                classification=classification,
                party_keys={},
            )
            row.stored_size = protected.stored_size
            row.kek_version = protected.kek_version
            row.wrapped_key = protected.wrapped_key
            row.key_wraps = []
            return row
        if classification is Classification.NORMAL:
            raise ManifestInvalid("a normal document's files travel plain")
        if size != entry["stored_size"]:
            raise TransferFileMismatch(f"sealed file {file_id} is not the size the origin signed")
        try:
            wraps = {
                str(agency): base64.b64decode(str(blob), validate=True)
                for agency, blob in entry["wraps"].items()
            }
        except ValueError as exc:
            raise ManifestInvalid(f"the key wraps of file {file_id} are not base64") from exc
        written.append(key)
        info = self.store.put_stream(key, _read(source))
        row.stored_size = info.size
        row.kek_version = None
        row.wrapped_key = None
        row.key_wraps = [
            FileKeyWrap(file_id=file_id, agency_id=agency, wrapped=blob)
            for agency, blob in wraps.items()
        ]
        return row

    def commit(self, session: Session, inbound: Inbound, prepared: object) -> Accepted:
        """The document, its files and wraps, its journey with this hop, and a queued delivery
        (with its job) per carried recipient it does not have yet, with the audit events."""
        if not isinstance(prepared, Prepared):
            raise TypeError("commit takes what prepare returned")
        claims, now = prepared.claims, inbound.received_at
        document_id = claims["document_id"]
        document = session.get(Document, document_id)
        if document is None and not prepared.present:
            try:
                with session.begin_nested():  # the same document by another path, at once
                    document = self._insert(session, inbound, prepared)
            except IntegrityError:
                document = session.get(Document, document_id)  # theirs won: ours are orphans
        if document is None:  # gone between prepare and commit: cannot be (no deletes)
            raise ManifestInvalid(f"document {document_id} vanished while it was received")
        have = set(
            session.scalars(
                select(Delivery.recipient_id).where(Delivery.document_id == document_id)
            )
        )
        new = [r for r in prepared.recipients if r.agency_id not in have]
        if new:
            queue_deliveries(
                session,
                document,
                new,
                priority=URGENCY_PRIORITY.get(document.urgency, 0),
                now=now,
                actor_id=None,
            )
        journey = session.get(FederationDocument, document_id)
        events.record(
            session,
            events.FEDERATION_DOCUMENT_RECEIVED,
            at=now,
            agency_id=document.sender_id,
            document_id=document_id,
            transfer_id=inbound.id,
            from_node=inbound.from_node,
            origin=claims["iss"],
            hop={"node": self.node_id, "at": rfc3339(now)},
            trace=journey.trace if journey is not None else [],
            recipients=[r.agency_id for r in new],
            duplicate=prepared.present or not new,
        )
        return Accepted(
            document_id=document_id,
            detail={"recipients": [r.agency_id for r in new], "duplicate": not new},
        )

    def _insert(self, session: Session, inbound: Inbound, prepared: Prepared) -> Document:
        claims, now = prepared.claims, inbound.received_at
        _, _, _, trace = _manifest(inbound.manifest)
        document = Document(
            id=claims["document_id"],
            message_id=claims["message_id"],
            business_id=_text(claims.get("business_id"), "business_id"),
            sender_id=claims["sender_id"],
            sender_principal_id=None,
            envelope=dict(claims.get("envelope") or {}),
            signatures=dict(claims.get("signatures") or {}),
            fingerprint=hashlib.sha256(canonical_json(claims)).hexdigest(),
            subject=str(claims.get("subject", "")),
            urgency=str(claims.get("urgency", "normal")),
            classification=claims["classification"],
            created_at=_instant(claims.get("created_at"), "created_at"),
        )
        document.files = prepared.files
        session.add(document)
        session.flush()
        session.add(
            FederationDocument(
                document_id=document.id,
                origin_node=claims["iss"],
                origin_signature=inbound.manifest["signature"],
                trace=[*trace, {"node": self.node_id, "at": rfc3339(now)}],
                received_from=inbound.from_node,
                created_at=now,
            )
        )
        return document
