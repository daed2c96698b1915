from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


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


# The rules on these values (code and node-id grammar, visible names, no parent cycles,
# retirement) live in agencies/service.py, shared with the CLI; the models only shape the JSON.
_NODE_ID = "lowercase letters, digits, '.' and '-'; 1-64 characters (default: this node)"
_NAME = "1-300 characters, no control or invisible characters"


class AgencyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(description="agency code, e.g. 000.00.00.G22")
    name: str = Field(description=_NAME)
    kind: Literal["party", "state", "front", "social", "other"]
    parent_id: str | None = None
    node_id: str | None = Field(default=None, description=_NODE_ID)


class AgencyPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str | None = Field(default=None, description=_NAME)
    parent_id: str | None = None
    node_id: str | None = Field(default=None, description=_NODE_ID)
    status: Literal["active", "retired"] | None = Field(
        default=None,
        description="retired without a successor only when no mail reaches it any more: "
        "no queued delivery, no group, no retired agency it succeeds",
    )
    successor_id: str | None = None


_GROUP_NAME = "lowercase ASCII letters, digits, '_' and '-'; 1-64 characters"
_CODES = "agency codes of active agencies of the directory (at most 10,000)"
_MAX_MEMBERS = 10_000


class GroupOut(BaseModel):
    name: str
    title: str
    description: str
    members: list[str]


class GroupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(description=_GROUP_NAME)
    title: str = Field(description=_NAME)
    description: str = Field(default="", description="optional; " + _NAME)
    members: list[str] = Field(max_length=_MAX_MEMBERS, description=_CODES)


class GroupPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    title: str | None = Field(default=None, description=_NAME)
    description: str | None = None
    members: list[str] | None = Field(
        default=None, max_length=_MAX_MEMBERS, description="the whole new list: " + _CODES
    )
    add: list[str] | None = Field(
        default=None, max_length=_MAX_MEMBERS, description="members to add (not with members)"
    )
    remove: list[str] | None = Field(
        default=None,
        max_length=_MAX_MEMBERS,
        description="members to remove (not with members)",
    )


class GroupList(BaseModel):
    items: list[GroupOut]
