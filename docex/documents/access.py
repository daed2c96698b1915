"""What the access policy needs to know about a document: who sent it, to whom, how classified."""

from __future__ import annotations

from collections.abc import Iterable

from docex.auth.policy import Parties
from docex.config import Classification
from docex.documents.models import Document
from docex.routing.models import Delivery


def parties_of(document: Document, deliveries: Iterable[Delivery]) -> Parties:
    return Parties(
        sender_id=document.sender_id,
        recipient_ids=frozenset(d.recipient_id for d in deliveries),
        classification=Classification(document.classification),
    )
