"""What the access policy needs to know about a document: who sent it, to whom, how classified."""

from __future__ import annotations

from collections.abc import Iterable

from docex.auth.policy import Parties
from docex.documents.models import Delivery, Document
from docex.vocabulary.levels import Classification
from docex.vocabulary.transport import DELIVERED


def parties_of(document: Document, deliveries: Iterable[Delivery]) -> Parties:
    """A recipient becomes a party when the document reaches its inbox, not before: until then
    it does not exist for that agency (as it would not on a remote recipient's node)."""
    return Parties(
        sender_id=document.sender_id,
        recipient_ids=frozenset(d.recipient_id for d in deliveries if d.transport == DELIVERED),
        classification=Classification(document.classification),
    )
