"""Request and response shapes of the audit API (``/api/v1/audit``). Hashes and leaves are
standard base64 (RFC 4648 §4), as in checkpoints. Inputs forbid unknown fields: a witness that
sends something this node does not understand is told so instead of being half-heard."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CosignatureOut(BaseModel):
    name: str
    key_id: str = Field(description="hex, as in the witness's vkey")
    timestamp: int = Field(description="POSIX seconds the witness signed at")
    signature: str = Field(description="the note signature line, as the witness wrote it")


class CheckpointOut(BaseModel):
    origin: str
    tree_size: int
    root_hash: str
    signed: str = Field(
        description="the whole signed note (c2sp.org/tlog-checkpoint): the log's signature "
        "line, then one line per cosignature"
    )
    cosignatures: list[CosignatureOut]
    log_key: str = Field(description="the log's verifier key (vkey), signature type 0x02")
    created_at: str


class EventOut(BaseModel):
    id: int = Field(description="the event's own id (not its log position)")
    at: str
    event: str = Field(description="source:subject:action")
    actor_id: str | None
    agency_id: str | None
    document_id: str | None
    detail: dict[str, Any]


class EntryOut(BaseModel):
    index: int = Field(description="position in the log: the leaf index of its proofs")
    leaf_hash: str = Field(description="SHA-256(0x00 || leaf), as stored in the log")
    leaf: str = Field(description="the canonical leaf bytes (docs/audit-log.md)")
    event: EventOut


class EntryPage(BaseModel):
    tree_size: int = Field(description="the log's size when the page was read")
    items: list[EntryOut]
    next: int | None = Field(description="start of the next page, or null at the end")


class InclusionOut(BaseModel):
    leaf_index: int
    tree_size: int
    leaf_hash: str
    proof: list[str]


class ConsistencyOut(BaseModel):
    first: int
    second: int
    proof: list[str]


class SearchItem(BaseModel):
    index: int | None = Field(description="log position, null while not yet integrated")
    leaf_hash: str | None
    event: EventOut


class SearchPage(BaseModel):
    items: list[SearchItem]
    next_cursor: str | None


class CosignatureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tree_size: int = Field(ge=0, description="size of the checkpoint cosigned")
    signature: str = Field(
        max_length=1000, description="the cosignature line: '— <name> base64(...)'"
    )
    vkey: str = Field(max_length=1000, description="the witness's vkey, type 0x04")


class ForkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000)
    seen: str = Field(max_length=20000, description="the checkpoint the node served")
    cosigned: str | None = Field(
        default=None, max_length=20000, description="the last one the witness cosigned"
    )


class ForkOut(BaseModel):
    recorded: bool
    event_id: int


class PeerForkIn(BaseModel):
    """A peer witnessing this log reports a fork (``/federation/v1/audit/forks``)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000)
    seen: str = Field(max_length=20000, description="the checkpoint the node served")
    cosigned: str = Field(
        max_length=40000,
        description="the checkpoint the witness last cosigned, as a whole note: this log's "
        "signature and the witness's cosignature",
    )
    vkey: str = Field(max_length=1000, description="the witness's vkey, as the directory lists it")
