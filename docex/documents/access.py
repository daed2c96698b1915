"""The access policy's terms in the database's words: a document's ``Parties`` read from its
rows, and a ``Reach`` (``auth.policy.reach``) written as the one SQL filter that every query
listing or finding documents uses — inbox, outbox, lookup and the references of a new document.

Nothing here decides who sees what; ``auth/policy.py`` does. This module only has to agree with
it: ``tests/auth/test_visibility.py`` runs the filter on a real database for every role, agency,
clearance and classification.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.orm import Session

from docex.auth.policy import Actor, Parties, Reach, Visibility, visible
from docex.documents.models import Delivery, Document
from docex.errors import DocumentNotFound
from docex.vocabulary.business import RECALLED
from docex.vocabulary.levels import Classification
from docex.vocabulary.transport import DELIVERED


def parties_of(document: Document, deliveries: Iterable[Delivery]) -> Parties:
    """A recipient becomes a party when the document reaches its inbox, not before: until then
    it does not exist for that agency (as it would not on a remote recipient's node). A
    recipient that agreed to its recall stays a party, with the files gone (``recalled_for``).
    A document received from another node that no recipient here has is ``relayed``."""
    deliveries = list(deliveries)
    recipients = frozenset(d.recipient_id for d in deliveries if d.transport == DELIVERED)
    return Parties(
        sender_id=document.sender_id,
        recipient_ids=recipients,
        classification=Classification(document.classification),
        recalled_for=frozenset(d.recipient_id for d in deliveries if d.business_state == RECALLED),
        # Received from another node (its sender is no principal here) and in no inbox here.
        relayed=document.sender_principal_id is None and not recipients,
    )


def _levels(reach: Reach) -> ColumnElement[bool]:
    return Document.classification.in_(sorted(level.value for level in reach.levels))


def received(reach: Reach) -> ColumnElement[bool]:
    """Deliveries (joined with their document) that bring a document within ``reach`` to its
    agency's inbox: delivered to that agency, at a classification it reaches."""
    if reach.agency_id is None or not reach.levels:
        return false()
    return and_(
        Delivery.recipient_id == reach.agency_id,
        Delivery.transport == DELIVERED,
        Delivery.document_id == Document.id,
        _levels(reach),
    )


def sent(reach: Reach) -> ColumnElement[bool]:
    """Documents within ``reach`` that its agency sent."""
    if reach.agency_id is None or not reach.levels:
        return false()
    return and_(Document.sender_id == reach.agency_id, _levels(reach))


def readable(
    reach: Reach, *, by_sender: bool = True, by_recipient: bool = True
) -> ColumnElement[bool]:
    """Documents within ``reach`` (``Reach.covers`` as SQL): for an agency, those it sent
    (``by_sender``) or received (``by_recipient``); for an auditor, every document."""
    if not reach.levels:
        return false()
    if reach.every_agency:
        return _levels(reach)
    sides: list[ColumnElement[bool]] = []
    if by_sender:
        sides.append(sent(reach))
    if by_recipient:
        sides.append(select(Delivery.id).where(received(reach)).exists())
    return or_(*sides) if sides else false()


_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)


def get_document(session: Session, document_id: str) -> Document:
    """By id, or DocumentNotFound; a malformed id (a NUL byte, a path trick) never reaches SQL."""
    document = session.get(Document, document_id) if _ID.fullmatch(document_id) else None
    if document is None:
        raise DocumentNotFound()
    return document


def deliveries_of(session: Session, document_id: str) -> list[Delivery]:
    return list(
        session.scalars(
            select(Delivery).where(Delivery.document_id == document_id).order_by(Delivery.id)
        )
    )


def load_visible(
    session: Session, actor: Actor, document_id: str
) -> tuple[Document, list[Delivery], Visibility]:
    """The document, its deliveries and what the actor sees of them; DocumentNotFound if the
    document does not exist for the actor."""
    document = get_document(session, document_id)
    deliveries = deliveries_of(session, document_id)
    return document, deliveries, visible(actor, parties_of(document, deliveries))
