"""Response shapes of the document API (API.md "Documents")."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

_WITHHELD = (
    "true when the caller is not cleared for the document's classification: the subject is "
    "then a placeholder naming the document, and the envelope's free text reads [withheld]"
)


class FileOut(BaseModel):
    id: str
    role: str
    name: str
    content_type: str
    size: int
    sha256: str


class SignatureOut(BaseModel):
    role: str  # signer | seal | timestamp
    subject: str
    agency_code: str | None = None
    valid: bool
    trusted: bool
    revocation: str | None = None
    signed_at: str | None
    timestamp: str | None = None
    indication: str


class RecipientOut(BaseModel):
    agency_id: str
    addressed_as: str
    transport: str
    status: str | None
    incoming_number: str | None
    flag: str | None = None  # e.g. stored_file_corrupt: its stored file failed a check
    overdue: bool = False  # not answered by its due time (routing/deadlines.py)
    reason: str | None = None  # why it failed (or its last attempt did); null once delivered
    updated_at: str
    business_state: str | None = None  # recalled | updated | replaced (vocabulary.business)
    superseded_by: str | None = None  # the document that updated, replaced or revoked it
    # The recipient's node once routed (this node's id for a local recipient), and the peer a
    # transfer carrying it waits for while that node cannot be reached (docs/federation.md).
    node: str | None = None
    waiting_for: str | None = None


class DocumentOut(BaseModel):
    id: str
    message_id: str
    business_id: str
    sender_id: str
    envelope: dict[str, Any]
    content_withheld: bool = Field(default=False, description=_WITHHELD)
    files: list[FileOut]
    signatures: list[SignatureOut]
    recipients: list[RecipientOut]
    created_at: str


class InboxItem(BaseModel):
    document_id: str
    business_id: str
    sender_id: str
    subject: str
    content_withheld: bool = Field(default=False, description=_WITHHELD)
    urgency: str
    classification: str
    status: str | None
    incoming_number: str | None = None  # số đến, given with status 03
    delivered_at: str | None
    overdue: bool = False  # not answered by its due time (routing/deadlines.py)
    business_state: str | None = None  # recalled | updated | replaced (vocabulary.business)
    superseded_by: str | None = None  # the document that updated, replaced or revoked it


class InboxPage(BaseModel):
    items: list[InboxItem]
    next_cursor: str | None


class FailedRecipient(BaseModel):
    agency_id: str
    reason: str | None
    attempts: int
    failed_at: str


class WaitingRecipient(BaseModel):
    """A recipient on another node whose transfer waits for a peer that cannot be reached."""

    agency_id: str
    node: str | None  # the recipient's node
    waiting_for: str  # the peer the transfer waits for (the next hop)


class OutboxItem(BaseModel):
    document_id: str
    business_id: str
    subject: str
    content_withheld: bool = Field(default=False, description=_WITHHELD)
    urgency: str
    classification: str
    created_at: str
    recipients: int
    transport: dict[str, int]
    status: dict[str, int]
    overdue: bool = False  # some recipient did not answer by its due time
    business_state: dict[str, int] = Field(default_factory=dict)  # recipients per state
    failed: list[FailedRecipient] = Field(default_factory=list)
    waiting: list[WaitingRecipient] = Field(default_factory=list)


class OutboxPage(BaseModel):
    items: list[OutboxItem]
    next_cursor: str | None


class TraceItem(BaseModel):
    at: str
    event: str
    agency_id: str | None
    node_id: str
    detail: dict[str, Any]
    audit_index: int


class TracePage(BaseModel):
    items: list[TraceItem]


class DocumentRef(BaseModel):
    """A document a short id or business id matched."""

    id: str
    business_id: str
    sender_id: str
    subject: str
    created_at: str


class DocumentRefList(BaseModel):
    items: list[DocumentRef]
