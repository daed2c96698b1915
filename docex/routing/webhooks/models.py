from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from docex.db import Base, UTCDateTime


class WebhookEndpoint(Base):
    """A URL an agency's software registered to be told of events. The signing secret is kept
    wrapped by the node's KEK (``docex.routing.webhooks.secrets``): the node must read it back
    to sign, so it cannot be hashed like a token, and a copy of the database alone does not
    give it away. A deleted endpoint stays (its messages refer to it) with ``deleted_at``."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    principal_id: Mapped[str] = mapped_column(ForeignKey("principals.id"))  # who registered it
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str] | None] = mapped_column(JSON)  # None: every event type
    secret_kek_version: Mapped[int] = mapped_column(Integer)
    secret_wrapped: Mapped[bytes] = mapped_column(LargeBinary(64))
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookMessage(Base):
    """One event for one endpoint: ``id`` is its ``webhook-id`` (the same on every retry) and
    ``payload`` the exact body sent each time. Its job (kind ``webhook``, ref = this id) is
    created in the same transaction."""

    __tablename__ = "webhook_messages"
    __table_args__ = (Index("ix_webhook_messages_endpoint", "endpoint_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"))
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(16))  # queued | delivered | failed | dropped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
