from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from docex.db import Base, UTCDateTime


class Principal(Base):
    __tablename__ = "principals"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # clerk | leader | system | auditor | admin
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    agency_id: Mapped[str | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    clearance: Mapped[str] = mapped_column(String(16), default="normal")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The identifier the OpenID provider vouches for (the claim DOCEX_OIDC__CLAIM), set by an
    # admin: single sign-on only ever opens an account linked here.
    oidc_subject: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Token(Base):
    """A bearer credential. Only the SHA-256 of the secret is kept: tokens are 256-bit random,
    so a fast hash is enough and lets every request be authenticated with one indexed lookup."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    principal_id: Mapped[str] = mapped_column(ForeignKey("principals.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # access (from a password) | api (long-lived)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SignInThrottle(Base):
    """Failed sign-ins of one account or one client address, and until when it must wait.

    ``key`` is the client address for ``scope="address"``, and the SHA-256 (hex) of the username
    as typed for ``scope="account"``: any string a client sends, known account or not, gets the
    same treatment (so a lock-out does not reveal which usernames exist), and a hash stores
    usernames PostgreSQL could not (a NUL) at a fixed width.
    """

    __tablename__ = "sign_in_throttles"

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)  # account | address
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebSession(Base):
    """A person signed in to the web UI (``docex.auth.sessions``). The cookie holds a 256-bit
    random secret; only its SHA-256 is kept, as for tokens."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    principal_id: Mapped[str] = mapped_column(ForeignKey("principals.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)  # absolute
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
