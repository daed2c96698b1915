from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from docex.kit.text import Line, Paragraph


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    code: str = Field(pattern=r"^[0-9]{2}$")
    note: Paragraph | None = Field(default=None, max_length=2000)
    incoming_number: Line | None = Field(default=None, min_length=1, max_length=50)
    recipients: list[str] | None = Field(
        default=None, description="for a recall (13): which recipients; default all"
    )


class ReceiptOut(BaseModel):
    id: str
    code: str
    from_agency_id: str
    to_agency_id: str
    note: str | None
    incoming_number: str | None
    created_at: str
    signed: str | None = Field(
        description="the receipt as a compact JWS, verifiable with the node's key; null when "
        "it carries a note the caller is not cleared for"
    )
    content_withheld: bool = Field(
        default=False,
        description="true when the caller is not cleared for the document's classification "
        "and the receipt has a note: the note then reads [withheld] and signed is null",
    )


class StatusOut(ReceiptOut):
    receipts: list[ReceiptOut] = Field(
        description="every receipt created (a recall to several recipients creates one each)"
    )


class ReceiptList(BaseModel):
    items: list[ReceiptOut]


class OverdueItem(BaseModel):
    document_id: str
    business_id: str
    sender_id: str
    recipient_id: str
    side: Literal["recipient", "sender"] | None
    subject: str
    content_withheld: bool = False
    urgency: str
    classification: str
    status: str | None
    answered: bool
    delivered_at: str | None
    due_at: str | None
    overdue_at: str | None


class OverduePage(BaseModel):
    items: list[OverdueItem]
    next_cursor: str | None


class DeliveryRetryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    note: Line | None = Field(
        default=None, min_length=1, max_length=500, description="why, for the audit log"
    )


class QueuedDelivery(BaseModel):
    """One delivery not (yet) made, as an operator sees it: who to whom, where it stands in the
    queue, why it failed. No subject: an operator is not a party to the document."""

    id: str
    document_id: str
    sender_id: str
    recipient_id: str
    addressed_as: str
    urgency: str
    transport: str
    attempts: int
    last_error: str | None
    next_attempt_at: str | None
    leased_by: str | None
    created_at: str
    updated_at: str


class QueuedDeliveryPage(BaseModel):
    items: list[QueuedDelivery]
    next_cursor: str | None
