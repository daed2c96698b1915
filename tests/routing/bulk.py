"""Many queued deliveries at once, written straight into the database (one statement per table):
copies of a document the node accepted, each to every hosted agency but its sender, with their
jobs. What the API would take minutes to build, for tests of the queue at scale."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from docex.agencies.models import Agency
from docex.db import Database
from docex.documents.models import Delivery, Document, DocumentFile
from docex.kit.ids import uuid7
from docex.queue import jobs
from docex.vocabulary.transport import JOB_DELIVERY, QUEUED


def _row(model: Any, obj: Any) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in model.__table__.columns}


def queue_copies(
    db: Database,
    template_id: str,
    deliveries: int,
    *,
    now: datetime,
    priority: int = 0,
    urgency: str = "normal",
    tag: str = "bulk",
) -> list[str]:
    """Queues ``deliveries`` deliveries (and jobs) of copies of document ``template_id``;
    returns the delivery ids, in the order they were queued."""
    with db.write() as session:
        template = session.get_one(Document, template_id)
        main = session.scalars(
            select(DocumentFile).where(
                DocumentFile.document_id == template_id, DocumentFile.role == "main"
            )
        ).one()
        node_id = session.scalars(
            select(Agency.node_id).where(Agency.id == template.sender_id)
        ).one()
        recipients = list(
            session.scalars(
                select(Agency.id)
                .where(Agency.node_id == node_id, Agency.id != template.sender_id)
                .order_by(Agency.id)
            )
        )
        documents: list[dict[str, Any]] = []
        files: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        copy = 0
        while len(rows) < deliveries:
            document_id = uuid7()
            documents.append(
                {
                    **_row(Document, template),
                    "id": document_id,
                    "message_id": f"{tag}-{copy}",
                    "urgency": urgency,
                    "created_at": now,
                }
            )
            files.append(
                {
                    **_row(DocumentFile, main),
                    "id": uuid7(),
                    "document_id": document_id,
                    "blob_key": f"{tag}/{document_id}",
                }
            )
            for recipient in recipients[: deliveries - len(rows)]:
                rows.append(
                    {
                        "id": uuid7(),
                        "document_id": document_id,
                        "recipient_id": recipient,
                        "addressed_as": recipient,
                        "transport": QUEUED,
                        "status": None,
                        "priority": priority,
                        "attempts": 0,
                        "last_error": None,
                        "flag": None,
                        "incoming_number": None,
                        "created_at": now,
                        "delivered_at": None,
                        "updated_at": now,
                    }
                )
            copy += 1
        session.execute(insert(Document), documents)
        session.execute(insert(DocumentFile), files)
        session.execute(insert(Delivery), rows)
        ids = [row["id"] for row in rows]
        jobs.enqueue(session, JOB_DELIVERY, ids, now=now, priority=priority)
    return ids
