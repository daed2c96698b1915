"""Who has read what: the inbox's unread state, per person.

A document is read by a person once they opened its page or acted on it (a status reported from
the inbox); until then their inbox shows it as new. Only a document the person may see can be
marked (``load_visible``): a guessed id marks nothing and is the same 404 as anywhere else.
Reading is not a business event: it is not audited (the trace records what was done with a
document, not who looked at it) and no one but the reader sees it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from docex.auth.policy import Actor
from docex.db import insert_if_missing
from docex.documents.access import load_visible
from docex.documents.models import DocumentRead


def mark_read(session: Session, actor: Actor, document_id: str, now: datetime) -> None:
    """``actor`` has read ``document_id`` (the first time counts; again changes nothing).
    DocumentNotFound if the document does not exist for them."""
    load_visible(session, actor, document_id)
    insert_if_missing(
        session,
        DocumentRead,
        ["principal_id", "document_id"],
        principal_id=actor.id,
        document_id=document_id,
        read_at=now,
    )


def read_among(session: Session, actor: Actor, document_ids: Collection[str]) -> set[str]:
    """Which of ``document_ids`` ``actor`` has read (one lookup by primary key)."""
    if not document_ids:
        return set()
    return set(
        session.scalars(
            select(DocumentRead.document_id).where(
                DocumentRead.principal_id == actor.id,
                DocumentRead.document_id.in_(list(document_ids)),
            )
        )
    )
