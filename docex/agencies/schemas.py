from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from docex.kit.text import Line


class AgencyOut(BaseModel):
    id: str
    name: str
    kind: str
    parent_id: str | None
    node_id: str
    status: str
    successor_id: str | None
    encryption_key: str | None = (
        None  # X25519 public key (PEM): classified items are wrapped for it
    )


class AgencyPage(BaseModel):
    items: list[AgencyOut]
    next_cursor: str | None


class AgencyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(max_length=32)
    name: Line = Field(min_length=1, max_length=300)
    kind: Literal["party", "state", "front", "social", "other"]
    parent_id: str | None = None
    node_id: str | None = None


class AgencyPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Line | None = Field(default=None, min_length=1, max_length=300)
    parent_id: str | None = None
    node_id: str | None = None
    status: Literal["active", "retired"] | None = None
    successor_id: str | None = None


class GroupOut(BaseModel):
    name: str
    description: str
    members: list[str]


class GroupList(BaseModel):
    items: list[GroupOut]
