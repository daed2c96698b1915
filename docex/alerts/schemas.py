from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AlertAcknowledge(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    note: str | None = Field(default=None, max_length=2000)


class AlertOut(BaseModel):
    id: str
    key: str
    rule: str
    subject: str
    severity: str
    state: str
    title: str  # Vietnamese
    title_en: str
    detail: dict[str, Any]
    raised_at: str
    resolved_at: str | None
    acknowledged_at: str | None
    acknowledged_by: str | None
    note: str | None


class AlertPage(BaseModel):
    items: list[AlertOut]
