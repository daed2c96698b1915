from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from docex.db import Base, UTCDateTime


class Agency(Base):
    __tablename__ = "agencies"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the official code
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    node_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    successor_id: Mapped[str | None] = mapped_column(ForeignKey("agencies.id"))
    # Published encryption key (X25519, PEM): confidential items are wrapped for it.
    encryption_key: Mapped[str | None] = mapped_column(Text)
    search_key: Mapped[str] = mapped_column(String(400), default="")  # fold(code + name)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Group(Base):
    __tablename__ = "groups"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(300), default="")  # what the group is called
    description: Mapped[str] = mapped_column(String(300), default="")


class GroupMember(Base):
    __tablename__ = "group_members"

    group_name: Mapped[str] = mapped_column(
        ForeignKey("groups.name", ondelete="CASCADE"), primary_key=True
    )
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), primary_key=True)
