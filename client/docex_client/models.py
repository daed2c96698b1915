"""What the node answers, as frozen dataclasses (docs/api.md describes every field).

Each result is built from the JSON object the node sent by ``from_json``, which checks the
fields the contract promises (a missing or mistyped one is a ``ResponseError``) and turns
RFC 3339 instants into aware ``datetime`` objects. ``raw`` keeps that object exactly as sent,
so fields a newer node adds are not lost (the CLI's ``--json`` prints it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, Self, TypeVar

from docex_client.errors import ResponseError

__all__ = [
    "Agency",
    "Document",
    "DocumentRef",
    "Download",
    "FailedRecipient",
    "FileInfo",
    "Group",
    "InboxItem",
    "Me",
    "OutboxItem",
    "Page",
    "QueuedDelivery",
    "Receipt",
    "Recipient",
    "Sent",
    "Signature",
    "Token",
    "TraceItem",
    "WaitingRecipient",
]

JSON = Mapping[str, Any]
T = TypeVar("T")


class _Fields:
    """Typed access to a JSON object's fields; anything off-contract is a ResponseError."""

    def __init__(self, data: Any, what: str) -> None:
        if not isinstance(data, Mapping):
            raise ResponseError(f"expected a JSON object for {what}, got {type(data).__name__}")
        self.data: JSON = data
        self.what = what

    def _get(self, key: str, kinds: type | tuple[type, ...], optional: bool) -> Any:
        value = self.data.get(key)
        if value is None and optional:
            return None
        # bool is an int in Python, never in JSON: true is not a size.
        if not isinstance(value, kinds) or (kinds is not bool and isinstance(value, bool)):
            raise ResponseError(f"{self.what}.{key}: unexpected value {value!r}")
        return value

    def text(self, key: str) -> str:
        value: str = self._get(key, str, optional=False)
        return value

    def opt_text(self, key: str) -> str | None:
        value: str | None = self._get(key, str, optional=True)
        return value

    def integer(self, key: str) -> int:
        value: int = self._get(key, int, optional=False)
        return value

    def opt_number(self, key: str) -> float | None:
        value = self._get(key, (int, float), optional=True)
        return None if value is None else float(value)

    def boolean(self, key: str) -> bool:
        value: bool = self._get(key, bool, optional=False)
        return value

    def flag(self, key: str) -> bool:
        """A boolean a node of an older version does not send: absent reads false."""
        return bool(self._get(key, bool, optional=True))

    def time(self, key: str) -> datetime:
        value = self.opt_time(key)
        if value is None:
            raise ResponseError(f"{self.what}.{key}: missing")
        return value

    def opt_time(self, key: str) -> datetime | None:
        text = self.opt_text(key)
        if text is None:
            return None
        try:
            instant = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ResponseError(f"{self.what}.{key}: not an RFC 3339 instant: {text!r}") from exc
        # The contract always sends an offset; read a bare one as UTC rather than local time.
        return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)

    def object(self, key: str) -> dict[str, Any]:
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ResponseError(f"{self.what}.{key}: expected an object")
        return dict(value)

    def items(self, key: str, parse: Callable[[Any], T]) -> list[T]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ResponseError(f"{self.what}.{key}: expected a list")
        return [parse(item) for item in value]

    def counts(self, key: str) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.object(key).items() if isinstance(v, int)}


@dataclass(frozen=True)
class Token:
    """A bearer token a person got for their password (``POST /api/v1/auth/token``)."""

    access_token: str
    expires_in: int | None
    """Seconds it stays valid, counted from when it was issued."""
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        f = _Fields(data, "token")
        expires = f.data.get("expires_in")
        return cls(f.text("access_token"), expires if isinstance(expires, int) else None, f.data)


@dataclass(frozen=True)
class Me:
    """The principal a token belongs to."""

    id: str
    kind: str
    """clerk, leader, system, auditor or admin."""
    agency_id: str | None
    """The agency it acts for; None for auditors and admins (they act for the node)."""
    clearance: str
    """Highest classification it may read: normal, confidential, secret, top_secret."""
    username: str | None
    """A person's login name; None for a system client."""
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        f = _Fields(data, "me")
        return cls(
            id=f.text("id"),
            kind=f.text("kind"),
            agency_id=f.opt_text("agency_id"),
            clearance=f.text("clearance"),
            username=f.opt_text("username"),
            raw=f.data,
        )


@dataclass(frozen=True)
class Agency:
    """An agency of the directory (mã định danh, Decision 20/2020/QĐ-TTg)."""

    id: str
    name: str
    kind: str
    parent_id: str | None
    node_id: str
    status: str
    """active or retired; mail to a retired agency goes to ``successor_id``."""
    successor_id: str | None
    encryption_key: str | None
    """Its X25519 public key (PEM): classified files are wrapped for it."""
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        f = _Fields(data, "agency")
        return cls(
            id=f.text("id"),
            name=f.text("name"),
            kind=f.text("kind"),
            parent_id=f.opt_text("parent_id"),
            node_id=f.text("node_id"),
            status=f.text("status"),
            successor_id=f.opt_text("successor_id"),
            encryption_key=f.opt_text("encryption_key"),
            raw=f.data,
        )


@dataclass(frozen=True)
class Group:
    """A named set of agencies, addressed as ``group:<name>``."""

    name: str
    description: str
    members: list[str]
    raw: JSON = field(repr=False, compare=False)
    title: str = ""  # what the group is called (nodes before groups were managed: none)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        f = _Fields(data, "group")
        members = f.items("members", lambda m: str(m))
        return cls(
            f.text("name"),
            f.opt_text("description") or "",
            members,
            f.data,
            title=f.opt_text("title") or "",
        )


@dataclass(frozen=True)
class FileInfo:
    """One file of a document: the main PDF or an attachment."""

    id: str
    role: str
    """main or attachment."""
    name: str
    """The name the sender gave it; never use it as a path as it is."""
    content_type: str
    size: int
    sha256: str
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        f = _Fields(data, "file")
        return cls(
            id=f.text("id"),
            role=f.text("role"),
            name=f.text("name"),
            content_type=f.text("content_type"),
            size=f.integer("size"),
            sha256=f.text("sha256"),
            raw=f.data,
        )

    @property
    def safe_name(self) -> str:
        """The name's last component only: a sender never chooses where a file is written."""
        candidate = self.name.replace("\\", "/").rsplit("/", 1)[-1].strip()
        return candidate if candidate not in ("", ".", "..") else self.id


@dataclass(frozen=True)
class Signature:
    """A PAdES signature of the main PDF, as the node validated it on intake."""

    role: str
    """signer (a person), seal (the agency) or timestamp."""
    subject: str
    agency_code: str | None
    valid: bool
    trusted: bool
    revocation: str | None
    signed_at: datetime | None
    timestamp: datetime | None
    indication: str
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        f = _Fields(data, "signature")
        return cls(
            role=f.text("role"),
            subject=f.opt_text("subject") or "",
            agency_code=f.opt_text("agency_code"),
            valid=f.boolean("valid"),
            trusted=f.boolean("trusted"),
            revocation=f.opt_text("revocation"),
            signed_at=f.opt_time("signed_at"),
            timestamp=f.opt_time("timestamp"),
            indication=f.text("indication"),
            raw=f.data,
        )


@dataclass(frozen=True)
class Recipient:
    """One recipient's delivery of a document (a recipient sees only its own)."""

    agency_id: str
    addressed_as: str
    """What the sender wrote: the code itself, ``group:<name>``, or a retired code."""
    transport: str
    """queued, delivered, failed..."""
    status: str | None
    """The last business status (01, 03...)."""
    incoming_number: str | None
    """Số đến: the number the recipient gave it when it accepted it (03)."""
    flag: str | None
    overdue: bool
    """Not answered (02/03) by its legal due time; stays true once answered late."""
    updated_at: datetime
    business_state: str | None
    """recalled, updated or replaced once this recipient accepted a recall, an update or a
    replacement (docs/api.md, "Recall, update, replace"); None otherwise."""
    superseded_by: str | None
    """The id of the revoke, update or replace document that did it."""
    raw: JSON = field(repr=False, compare=False)
    reason: str | None = None
    """Why the delivery failed (``transport`` failed), or why its last attempt did."""
    node: str | None = None
    """The recipient's node once routed (the sender's own node for a local recipient)."""
    waiting_for: str | None = None
    """The peer node a transfer carrying it waits for while that node cannot be reached."""

    @classmethod
    def from_json(cls, data: Any) -> Self:
        f = _Fields(data, "recipient")
        return cls(
            agency_id=f.text("agency_id"),
            addressed_as=f.opt_text("addressed_as") or f.text("agency_id"),
            transport=f.text("transport"),
            status=f.opt_text("status"),
            incoming_number=f.opt_text("incoming_number"),
            flag=f.opt_text("flag"),
            overdue=f.flag("overdue"),
            updated_at=f.time("updated_at"),
            business_state=f.opt_text("business_state"),
            superseded_by=f.opt_text("superseded_by"),
            raw=f.data,
            reason=f.opt_text("reason"),
            node=f.opt_text("node"),
            waiting_for=f.opt_text("waiting_for"),
        )


@dataclass(frozen=True)
class Document:
    """A document as the caller may see it."""

    id: str
    message_id: str
    """The sender's idempotency key: sending again with it never makes a second document."""
    business_id: str
    """``<sender>,<yyyy/mm/dd>,<number>/<notation>``, how people cite it."""
    sender_id: str
    envelope: dict[str, Any]
    files: list[FileInfo]
    signatures: list[Signature]
    recipients: list[Recipient]
    created_at: datetime
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        f = _Fields(data, "document")
        return cls(
            id=f.text("id"),
            message_id=f.text("message_id"),
            business_id=f.text("business_id"),
            sender_id=f.text("sender_id"),
            envelope=f.object("envelope"),
            files=f.items("files", FileInfo.from_json),
            signatures=f.items("signatures", Signature.from_json),
            recipients=f.items("recipients", Recipient.from_json),
            created_at=f.time("created_at"),
            raw=f.data,
        )

    @property
    def main_file(self) -> FileInfo | None:
        return next((file for file in self.files if file.role == "main"), None)

    def file(self, file_id: str) -> FileInfo | None:
        return next((file for file in self.files if file.id == file_id), None)


@dataclass(frozen=True)
class DocumentRef:
    """A document a short id or a business id matched (``GET /api/v1/documents/lookup``)."""

    id: str
    business_id: str
    sender_id: str
    subject: str
    """Empty when the caller's clearance does not cover the document."""
    created_at: datetime
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        f = _Fields(data, "document reference")
        return cls(
            id=f.text("id"),
            business_id=f.text("business_id"),
            sender_id=f.text("sender_id"),
            subject=f.opt_text("subject") or "",
            created_at=f.time("created_at"),
            raw=f.data,
        )


@dataclass(frozen=True)
class Sent:
    """The answer to a send: the document, and whether this send created it."""

    document: Document
    created: bool
    """False when the node had already accepted this ``message_id`` with the same content:
    the answer is the original document, nothing was sent twice."""

    @property
    def message_id(self) -> str:
        return self.document.message_id


@dataclass(frozen=True)
class InboxItem:
    """A document delivered to the caller's agency."""

    document_id: str
    business_id: str
    sender_id: str
    subject: str
    """Empty when the caller's clearance does not cover the document."""
    urgency: str
    classification: str
    status: str | None
    incoming_number: str | None
    delivered_at: datetime | None
    overdue: bool
    """Not answered (02/03) by its legal due time; stays true once answered late."""
    business_state: str | None
    """recalled, updated or replaced (see ``Recipient.business_state``); None otherwise."""
    superseded_by: str | None
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        f = _Fields(data, "inbox item")
        return cls(
            document_id=f.text("document_id"),
            business_id=f.text("business_id"),
            sender_id=f.text("sender_id"),
            subject=f.opt_text("subject") or "",
            urgency=f.text("urgency"),
            classification=f.text("classification"),
            status=f.opt_text("status"),
            incoming_number=f.opt_text("incoming_number"),
            delivered_at=f.opt_time("delivered_at"),
            overdue=f.flag("overdue"),
            business_state=f.opt_text("business_state"),
            superseded_by=f.opt_text("superseded_by"),
            raw=f.data,
        )


@dataclass(frozen=True)
class OutboxItem:
    """A document the caller's agency sent, with per-recipient counts."""

    document_id: str
    business_id: str
    subject: str
    urgency: str
    classification: str
    created_at: datetime
    recipients: int
    transport: dict[str, int]
    """How many deliveries are in each transport state."""
    status: dict[str, int]
    """How many recipients reported each business status (``"none"``: nothing yet)."""
    overdue: bool
    """Some recipient did not answer by its legal due time."""
    business_state: dict[str, int]
    """How many recipients it is recalled, updated or replaced for (only states that occur)."""
    raw: JSON = field(repr=False, compare=False)
    failed: list[FailedRecipient] = field(default_factory=list)
    """The recipients the node gave up on, with the reason."""
    waiting: list[WaitingRecipient] = field(default_factory=list)
    """Recipients on other nodes whose transfer waits for a peer ("waiting for node X")."""

    @classmethod
    def from_json(cls, data: Any) -> Self:
        f = _Fields(data, "outbox item")
        return cls(
            document_id=f.text("document_id"),
            business_id=f.text("business_id"),
            subject=f.opt_text("subject") or "",
            urgency=f.text("urgency"),
            classification=f.text("classification"),
            created_at=f.time("created_at"),
            recipients=f.integer("recipients"),
            transport=f.counts("transport"),
            status=f.counts("status"),
            overdue=f.flag("overdue"),
            business_state=f.counts("business_state"),
            failed=f.items("failed", FailedRecipient.from_json),
            waiting=f.items("waiting", WaitingRecipient.from_json),
            raw=f.data,
        )


@dataclass(frozen=True)
class OverdueItem:
    """A delivery not answered (02 or 03) by its legal due time (``GET /api/v1/overdue``)."""

    document_id: str
    business_id: str
    sender_id: str
    recipient_id: str
    side: str | None
    """``recipient`` or ``sender``: the caller's agency's side; None for admins and auditors."""
    subject: str
    urgency: str
    classification: str
    status: str | None
    answered: bool
    """Answered since, late."""
    delivered_at: datetime | None
    due_at: datetime | None
    overdue_at: datetime | None
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        f = _Fields(data, "overdue item")
        return cls(
            document_id=f.text("document_id"),
            business_id=f.text("business_id"),
            sender_id=f.text("sender_id"),
            recipient_id=f.text("recipient_id"),
            side=f.opt_text("side"),
            subject=f.opt_text("subject") or "",
            urgency=f.text("urgency"),
            classification=f.text("classification"),
            status=f.opt_text("status"),
            answered=f.boolean("answered"),
            delivered_at=f.opt_time("delivered_at"),
            due_at=f.opt_time("due_at"),
            overdue_at=f.opt_time("overdue_at"),
            raw=f.data,
        )


@dataclass(frozen=True)
class FailedRecipient:
    """A recipient the node gave up delivering to (an operator may re-queue it)."""

    agency_id: str
    reason: str | None
    attempts: int
    failed_at: datetime
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        f = _Fields(data, "failed recipient")
        return cls(
            agency_id=f.text("agency_id"),
            reason=f.opt_text("reason"),
            attempts=f.integer("attempts"),
            failed_at=f.time("failed_at"),
            raw=f.data,
        )


@dataclass(frozen=True)
class WaitingRecipient:
    """A recipient on another node whose transfer waits for a peer that cannot be reached."""

    agency_id: str
    node: str | None
    """The recipient's node."""
    waiting_for: str
    """The peer (next hop) the transfer waits for."""
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        f = _Fields(data, "waiting recipient")
        return cls(
            agency_id=f.text("agency_id"),
            node=f.opt_text("node"),
            waiting_for=f.text("waiting_for"),
            raw=f.data,
        )


@dataclass(frozen=True)
class QueuedDelivery:
    """A delivery not made, as the node's operator sees it (``docex deliveries list``)."""

    id: str
    document_id: str
    sender_id: str
    recipient_id: str
    addressed_as: str
    urgency: str
    transport: str
    """failed (given up) or queued (waiting)."""
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    leased_by: str | None
    """The worker holding it right now."""
    created_at: datetime
    updated_at: datetime
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        f = _Fields(data, "delivery")
        return cls(
            id=f.text("id"),
            document_id=f.text("document_id"),
            sender_id=f.text("sender_id"),
            recipient_id=f.text("recipient_id"),
            addressed_as=f.opt_text("addressed_as") or f.text("recipient_id"),
            urgency=f.text("urgency"),
            transport=f.text("transport"),
            attempts=f.integer("attempts"),
            last_error=f.opt_text("last_error"),
            next_attempt_at=f.opt_time("next_attempt_at"),
            leased_by=f.opt_text("leased_by"),
            created_at=f.time("created_at"),
            updated_at=f.time("updated_at"),
            raw=f.data,
        )


@dataclass(frozen=True)
class Receipt:
    """A business status carried back to the sender, signed by the node (JWS, ES256)."""

    id: str
    code: str
    from_agency_id: str
    to_agency_id: str
    note: str | None
    incoming_number: str | None
    created_at: datetime
    signed: str
    """The compact JWS anyone can verify with the node's key (/.well-known/jwks.json)."""
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        f = _Fields(data, "receipt")
        return cls(
            id=f.text("id"),
            code=f.text("code"),
            from_agency_id=f.text("from_agency_id"),
            to_agency_id=f.text("to_agency_id"),
            note=f.opt_text("note"),
            incoming_number=f.opt_text("incoming_number"),
            created_at=f.time("created_at"),
            signed=f.opt_text("signed") or "",
            raw=f.data,
        )


@dataclass(frozen=True)
class TraceItem:
    """One event in a document's life, from the node's audit log."""

    at: datetime
    event: str
    """``source:subject:action``, e.g. ``routing:delivery:delivered``."""
    agency_id: str | None
    node_id: str
    detail: dict[str, Any]
    audit_index: int
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        f = _Fields(data, "trace item")
        return cls(
            at=f.time("at"),
            event=f.text("event"),
            agency_id=f.opt_text("agency_id"),
            node_id=f.text("node_id"),
            detail=f.object("detail"),
            audit_index=f.integer("audit_index"),
            raw=f.data,
        )


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; pass ``next_cursor`` back for the next one (None: the last)."""

    items: list[T]
    next_cursor: str | None
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def parse(cls, data: Any, item: Callable[[Any], T], what: str) -> Page[T]:
        f = _Fields(data, what)
        return cls(f.items("items", item), f.opt_text("next_cursor"), f.data)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class Download:
    """A file written to disk, whole and checked."""

    path: Path | None
    """Where it was written; None for a file object the caller passed."""
    size: int
    sha256: str
    """The SHA-256 of the whole file, equal to the node's ETag."""
    resumed_from: int
    """Bytes that were already there from an earlier, interrupted download (0: none)."""


@dataclass(frozen=True)
class AgencyStats:
    """One agency's figures over a period (``GET /api/v1/stats/agencies``)."""

    agency_id: str
    name: str
    node_id: str | None
    province: str | None
    sent: int
    received: int
    accepted: int
    returned: int
    overdue: int
    failed: int
    signature_refusals: int
    median_to_01_s: float | None
    p90_to_01_s: float | None
    median_to_03_s: float | None
    p90_to_03_s: float | None
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        f = _Fields(data, "agency stats")
        return cls(
            agency_id=f.text("agency_id"),
            name=f.text("name"),
            node_id=f.opt_text("node_id"),
            province=f.opt_text("province"),
            sent=f.integer("sent"),
            received=f.integer("received"),
            accepted=f.integer("accepted"),
            returned=f.integer("returned"),
            overdue=f.integer("overdue"),
            failed=f.integer("failed"),
            signature_refusals=f.integer("signature_refusals"),
            median_to_01_s=f.opt_number("median_to_01_s"),
            p90_to_01_s=f.opt_number("p90_to_01_s"),
            median_to_03_s=f.opt_number("median_to_03_s"),
            p90_to_03_s=f.opt_number("p90_to_03_s"),
            raw=f.data,
        )


def items_of(data: Any, parse: Callable[[Any], T], what: str) -> list[T]:
    """The ``items`` of an ``{"items": [...]}`` answer (or of a bare list)."""
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        return [parse(item) for item in data]
    return _Fields(data, what).items("items", parse)
