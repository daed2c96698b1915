"""Outbound transfers: :func:`queue` writes one (its manifest fixed, its job queued) inside the
caller's transaction, so a transfer exists exactly when what it carries does. The transfer
transport (:mod:`docex.federation.protocol`) moves it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from docex.federation.models import Transfer
from docex.kit.ids import uuid7
from docex.queue import jobs
from docex.vocabulary.transport import JOB_TRANSFER

QUEUED = "queued"
SENT = "sent"
FAILED = "failed"


def queue(
    session: Session,
    *,
    kind: str,
    peer: str,
    manifest: Mapping[str, Any],
    now: datetime,
    document_id: str | None = None,
    priority: int = 0,
) -> Transfer:
    """A new transfer of ``kind`` to ``peer`` (the next hop) carrying ``manifest`` (stored as
    the exact JSON bytes every attempt sends), and its job."""
    transfer = Transfer(
        id=uuid7(),
        kind=kind,
        peer=peer,
        document_id=document_id,
        manifest=json.dumps(manifest, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
        state=QUEUED,
        attempts=0,
        created_at=now,
    )
    session.add(transfer)
    session.flush()
    jobs.enqueue(session, JOB_TRANSFER, [transfer.id], now=now, priority=priority)
    return transfer


def manifest_of(transfer: Transfer) -> dict[str, Any]:
    """The manifest a transfer carries, parsed (its stored text is the exact bytes sent)."""
    value = json.loads(transfer.manifest)
    if not isinstance(value, dict):
        raise ValueError(f"transfer {transfer.id} has no manifest object")
    return value
