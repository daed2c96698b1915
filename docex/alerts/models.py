from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from docex.db import Base, UTCDateTime

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
STATES = (OPEN, ACKNOWLEDGED, RESOLVED)


class Alert(Base):
    """One episode of a rule's condition holding for one subject. ``key`` (rule + subject) is
    stable; at most one alert per key is live (not resolved) at a time, which the partial
    unique index enforces even against two evaluators at once. When the condition clears the
    alert is resolved; if it comes back, a new alert (a new id) is raised."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index(
            "ux_alerts_live",
            "key",
            unique=True,
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
        Index("ix_alerts_state", "state", "raised_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key: Mapped[str] = mapped_column(String(200))  # "{rule}:{subject}"
    rule: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(160))
    severity: Mapped[str] = mapped_column(String(16))  # warning | critical
    state: Mapped[str] = mapped_column(String(16))  # open | acknowledged | resolved
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)  # what the rule saw when it raised
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(ForeignKey("principals.id"))
    note: Mapped[str | None] = mapped_column(String(2000))


class AlertSend(Base):
    """One raised alert to one channel (``webhook`` or ``mail``). ``id`` is the job's ref, the
    ``webhook-id`` and the mail's Message-ID, the same on every retry, so a receiver that gets
    a replay can tell. Its job is queued in the transaction that raised the alert."""

    __tablename__ = "alert_sends"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))  # queued | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    payload: Mapped[str] = mapped_column(Text)  # the exact JSON body, the same on every retry
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
