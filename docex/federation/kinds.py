"""What a kind of transfer is to the protocol: the contract between the wire
(:mod:`docex.federation.protocol`, which signs, streams, verifies, dedups and answers) and
what travels on it (documents and statuses, :mod:`docex.federation.documents` and
:mod:`docex.federation.statuses`).

Sending: the transfer transport asks the transfer's kind for its body :meth:`Kind.parts` (the
manifest first, then the files, streamed) and, when an attempt fails or the queue gives up,
tells the kind (:meth:`Kind.failed`) so the sender sees "waiting for node X" or the failure.
When the peer answers with its signed transport receipt, :meth:`Kind.sent` records what that
means (e.g. the deliveries it carried are now at the next hop).

Receiving: once the signature, the sending node, freshness and the body digest are checked
and the transfer is not a replay, the protocol calls :meth:`Kind.prepare` (outside any
transaction: blob writes, checks that need no lock), then :meth:`Kind.commit` inside the
transaction that also records the inbound transfer and its audit event. Either raises a
:class:`docex.errors.DocexError` (a precise 4xx refusal: nothing stored, the protocol audits
it); blobs written by ``prepare`` of a transfer that is then refused are the orphan sweeper's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session

from docex.federation.models import Transfer

KIND_DOCUMENT = "document"  # a document (envelope, signature report, files) for recipients
KIND_STATUS = "status"  # a signed status receipt travelling back to the sender's node
MANIFEST_PART = "manifest"  # the first part of every transfer body: the kind's JSON manifest


@dataclass(frozen=True)
class Part:
    """One part of a transfer body after the manifest: a file, streamed."""

    name: str  # "file:<file id>"
    content_type: str
    size: int  # bytes that ``chunks`` yields
    chunks: Callable[[], Iterator[bytes]]  # opens the stream; called again on each attempt


@dataclass(frozen=True)
class Inbound:
    """A transfer as the receiving node verified it."""

    id: str  # the transfer id
    kind: str
    from_node: str  # the peer that sent it: its RFC 9421 signature checked
    manifest: Mapping[str, Any]  # parsed JSON, bounded
    files: Mapping[str, Path]  # part name -> spooled file (removed after the request)
    digest: str  # the Content-Digest the body matched
    received_at: datetime


@dataclass
class Accepted:
    """What the receiving node tells the sending node in its signed transport receipt (beyond
    the transfer id and digests, which the protocol adds), and what the protocol records."""

    document_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # e.g. {"recipients": [...]}


class Kind(Protocol):
    kind: str

    # Sending side.
    def parts(self, session: Session, transfer: Transfer) -> list[Part]: ...

    def sent(self, session: Session, transfer: Transfer, receipt: Mapping[str, Any]) -> None: ...

    def failed(
        self, session: Session, transfer: Transfer, reason: str, *, now: datetime, final: bool
    ) -> None: ...

    # Receiving side.
    def prepare(self, inbound: Inbound) -> object: ...

    def commit(self, session: Session, inbound: Inbound, prepared: object) -> Accepted: ...
