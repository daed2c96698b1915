"""Statistics this node keeps: the day rows other nodes pushed to it (the hub collects them),
and what this node last had acknowledged of its own pushes."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from docex.db import Base, UTCDateTime


class CollectedDay(Base):
    """One agency's figures for one Vietnam day, as the node hosting it pushed them (upserted
    by (node, agency, day): a replay writes the same values)."""

    __tablename__ = "stats_collected_days"

    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    sent: Mapped[int] = mapped_column(Integer)
    received: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)
    returned: Mapped[int] = mapped_column(Integer)
    overdue: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    signature_refusals: Mapped[int] = mapped_column(Integer)
    # The day's raw latencies in seconds (not a histogram: medians and p90s over any period and
    # any set of nodes are then exactly those of the raw latencies).
    to_01: Mapped[list[float]] = mapped_column(JSON)
    to_03: Mapped[list[float]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PushedDay(Base):
    """The digest of one of this node's day rows as the hub last acknowledged it: a push sends
    only the days whose digest changed since."""

    __tablename__ = "stats_pushed_days"

    agency_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime] = mapped_column(UTCDateTime())
