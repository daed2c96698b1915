from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WebhookCreate(BaseModel):
    # Unknown fields are refused: a misspelt "event" must not silently mean "every event".
    model_config = ConfigDict(extra="forbid", strict=True)
    url: str = Field(min_length=1, max_length=2000)
    events: list[str] | None = Field(default=None, max_length=20)


class WebhookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    enabled: bool


class WebhookOut(BaseModel):
    id: str
    agency_id: str
    url: str
    events: list[str] | None
    enabled: bool
    created_at: str


class WebhookCreated(WebhookOut):
    secret: str


class WebhookPage(BaseModel):
    items: list[WebhookOut]
    next_cursor: str | None
