from __future__ import annotations

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
    signed: str


class StatusOut(ReceiptOut):
    receipts: list[ReceiptOut] = Field(
        description="every receipt created (a recall to several recipients creates one each)"
    )


class ReceiptList(BaseModel):
    items: list[ReceiptOut]
