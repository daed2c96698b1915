"""The canonical bytes of an audit event as a leaf of the log: ``docex-audit-leaf`` version 1.

Guarantee: the bytes are a function of the stored event and the position the integrator gave
it, and nothing else; re-reading the row gives the same bytes on SQLite and PostgreSQL. The
leaf commits to its own position, so moving an event to another position (reordering,
duplicating, inserting before it) changes its leaf hash and is located at the first position
it breaks. ``docs/audit-log.md`` describes the layout byte by byte for outside verifiers; this
module is the reference implementation. In the notation of RFC 8446 §3 (big-endian integers,
``opaque x<0..2^16-1>`` = a 2-byte length then the bytes)::

    struct {
        uint8  version = 1;
        uint64 position;          /* index of this leaf in the log */
        uint64 event_id;          /* the event's own id (audit_events.index) */
        int64  at;                /* microseconds since 1970-01-01T00:00:00Z */
        opaque event<1..2^16-1>;  /* "source:subject:action", UTF-8 */
        Optional actor_id;        /* principal who acted */
        Optional agency_id;       /* agency concerned */
        Optional document_id;     /* document concerned */
        opaque detail<0..2^32-1>; /* canonical JSON object, UTF-8 */
    } AuditLeafV1;

    struct { uint8 present; select (present) { case 0: ; case 1: opaque value<1..2^16-1>; } }
        Optional;

The leaf hash is RFC 6962's: SHA-256(0x00 || leaf). Canonical JSON: keys sorted by code point,
no insignificant whitespace, non-ASCII characters as themselves in UTF-8, no NaN or infinity.
A verifier never needs to reproduce it: it parses ``detail`` and compares values.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

LEAF_VERSION = 1
_HEADER = struct.Struct(">BQQq")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class LeafError(ValueError):
    """Bytes that are not a version-1 leaf, or an event that cannot become one."""


@dataclass(frozen=True)
class LeafEvent:
    """A decoded leaf: the position it claims and the event it carries."""

    position: int
    event_id: int
    at: datetime
    event: str
    actor_id: str | None
    agency_id: str | None
    document_id: str | None
    detail: dict[str, Any]


def canonical_detail(detail: Any) -> bytes:
    """The detail object as canonical JSON; LeafError if it is not a JSON object."""
    if not isinstance(detail, dict):
        raise LeafError("an event's detail is a JSON object")
    try:
        text = json.dumps(
            detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise LeafError(f"an event's detail is not canonical JSON: {exc}") from exc
    return text.encode("utf-8")


def microseconds(at: datetime) -> int:
    if at.tzinfo is None:
        raise LeafError("naive datetime")
    return (at - EPOCH) // _MICROSECOND


def _text(value: str) -> bytes:
    data = value.encode("utf-8")
    if not 0 < len(data) < 1 << 16:
        raise LeafError("a text field is empty or too long")
    return _U16.pack(len(data)) + data


def _optional(value: str | None) -> bytes:
    return b"\x00" if value is None else b"\x01" + _text(value)


def encode(
    position: int,
    event_id: int,
    at: datetime,
    event: str,
    actor_id: str | None,
    agency_id: str | None,
    document_id: str | None,
    detail: Any,
) -> bytes:
    body = canonical_detail(detail)
    try:
        header = _HEADER.pack(LEAF_VERSION, position, event_id, microseconds(at))
    except struct.error as exc:
        raise LeafError(f"a number is out of range: {exc}") from exc
    return b"".join(
        (
            header,
            _text(event),
            _optional(actor_id),
            _optional(agency_id),
            _optional(document_id),
            _U32.pack(len(body)),
            body,
        )
    )


class EventRow(Protocol):
    """A row of ``docex.audit.models.EVENT_COLUMNS``."""

    event_id: int
    at: datetime
    event: str
    actor_id: str | None
    agency_id: str | None
    document_id: str | None
    detail: Any


def encode_row(position: int, row: EventRow) -> bytes:
    """The leaf of a stored event (a row of ``EVENT_COLUMNS``) at ``position``."""
    return encode(
        position,
        row.event_id,
        row.at,
        row.event,
        row.actor_id,
        row.agency_id,
        row.document_id,
        row.detail,
    )


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise LeafError("leaf is truncated")
        chunk = self.data[self.at : self.at + n]
        self.at += n
        return chunk

    def text(self) -> str:
        (n,) = _U16.unpack(self.take(2))
        if n == 0:
            raise LeafError("empty text field")
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LeafError("text field is not UTF-8") from exc

    def optional(self) -> str | None:
        flag = self.take(1)
        if flag == b"\x00":
            return None
        if flag != b"\x01":
            raise LeafError("bad presence byte")
        return self.text()


def decode(data: bytes) -> LeafEvent:
    """Parse a version-1 leaf; LeafError on anything else (including trailing bytes)."""
    reader = _Reader(data)
    version, position, event_id, at_us = _HEADER.unpack(reader.take(_HEADER.size))
    if version != LEAF_VERSION:
        raise LeafError(f"unknown leaf version {version}")
    event = reader.text()
    actor_id, agency_id, document_id = reader.optional(), reader.optional(), reader.optional()
    (n,) = _U32.unpack(reader.take(4))
    try:
        detail = json.loads(reader.take(n).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise LeafError("detail is not JSON") from exc
    if not isinstance(detail, dict):
        raise LeafError("detail is not a JSON object")
    if reader.at != len(data):
        raise LeafError("trailing bytes after the leaf")
    return LeafEvent(
        position=position,
        event_id=event_id,
        at=EPOCH + at_us * _MICROSECOND,
        event=event,
        actor_id=actor_id,
        agency_id=agency_id,
        document_id=document_id,
        detail=detail,
    )
