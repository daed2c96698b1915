"""Outgoing numbers (số văn bản đi): Decree 30/2020, Article 15, numbers an agency's documents
in one sequence per year, from 01 on 1 January to 31 December (Vietnam time).

The number is the sender's to write (the envelope's ``code.number``); docex only suggests the
next one: one more than the documents the agency sent this year, so the suggestion restarts at 1
on 1 January.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docex.documents.models import Document
from docex.kit.clock import VIETNAM_TZ, as_utc


def year_bounds(now: datetime) -> tuple[datetime, datetime]:
    """1 January 00:00 of ``now``'s year and of the next, Vietnam time, as aware datetimes."""
    local = as_utc(now).astimezone(VIETNAM_TZ)
    start = local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, start.replace(year=start.year + 1)


def suggest_outgoing_number(session: Session, agency_id: str, now: datetime) -> int:
    """The next outgoing number of ``agency_id`` in ``now``'s year (Vietnam time)."""
    start, end = year_bounds(now)
    sent = session.scalar(
        select(func.count())
        .select_from(Document)
        .where(
            Document.sender_id == agency_id,
            Document.sender_principal_id.is_not(None),  # sent here, not received from a peer
            Document.created_at >= start,
            Document.created_at < end,
        )
    )
    return int(sent or 0) + 1
