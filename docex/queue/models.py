from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from docex.db import Base, UTCDateTime


class Job(Base):
    """One piece of outbound work: ``kind`` says which transport moves it, ``ref`` what it moves
    (a delivery id, a webhook message id...). A job that succeeds is deleted in the same
    transaction as its effect; one that gives up stays, ``failed``, for an operator to re-queue."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("kind", "ref"),
        Index("ix_jobs_due", "kind", "state", "priority", "due_at"),
        Index("ix_jobs_owner", "lease_owner"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    ref: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # queued | failed
    priority: Mapped[int] = mapped_column(Integer)  # higher goes first
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())  # not claimed before
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_token: Mapped[str | None] = mapped_column(String(36))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))
    # When this round of attempts began (enqueued, or re-queued by an operator): the kind's
    # time-to-live counts from here.
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
