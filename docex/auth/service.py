"""Principals and their credentials: creation, password login, bearer-token authentication."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from docex.agencies.models import Agency
from docex.audit import events
from docex.auth.models import Principal, Token
from docex.auth.passwords import hash_password, verify_password
from docex.auth.policy import AGENCY_KINDS, Actor, Kind
from docex.errors import Conflict, Unauthenticated, Unprocessable
from docex.kit.ids import token_secret, uuid7
from docex.kit.text import has_control_chars
from docex.vocabulary.levels import Classification

TOKEN_PREFIX = "dxt"  # noqa: S105 (a prefix, not a secret)
MIN_PASSWORD_CHARS = 10


def check_new_password(password: str) -> str:
    """A password a person may be given: at least ``MIN_PASSWORD_CHARS`` characters (422
    ``password_too_short``), whichever face sets it (``docex user add``, the API, the web UI)."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise Unprocessable(
            f"passwords have at least {MIN_PASSWORD_CHARS} characters",
            code="password_too_short",
        )
    return password


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def actor_of(principal: Principal) -> Actor:
    return Actor(
        id=principal.id,
        kind=Kind(principal.kind),
        agency_id=principal.agency_id,
        clearance=Classification(principal.clearance),
        username=principal.username,
    )


def create_principal(
    session: Session,
    *,
    kind: Kind,
    agency_id: str | None,
    now: datetime,
    username: str | None = None,
    password: str | None = None,
    full_name: str = "",
    clearance: Classification = Classification.NORMAL,
    actor_id: str | None = None,
) -> Principal:
    """A new principal; ``actor_id``: who created it (the operator, in the console), for the
    ``auth:principal:created`` event."""
    if kind in AGENCY_KINDS:
        if agency_id is None or session.get(Agency, agency_id) is None:
            raise Unprocessable(f"unknown agency {agency_id!r}", code="unknown_agency")
    elif agency_id is not None:
        raise Unprocessable(f"a {kind.value} acts for the node, not an agency")
    if password is not None:
        check_new_password(password)
    if username is not None and session.scalar(
        select(Principal.id).where(Principal.username == username)
    ):
        raise Conflict(f"username {username!r} is taken", code="username_taken")
    principal = Principal(
        id=uuid7(),
        kind=kind.value,
        username=username,
        full_name=full_name,
        password_hash=hash_password(password) if password else None,
        agency_id=agency_id,
        clearance=clearance.value,
        active=True,
        created_at=now,
    )
    session.add(principal)
    events.record(
        session,
        events.PRINCIPAL_CREATED,
        at=now,
        actor_id=actor_id,
        agency_id=agency_id,
        principal_id=principal.id,
        kind=kind.value,
        username=username,
    )
    return principal


@dataclass(frozen=True)
class IssuedToken:
    secret: str
    expires_at: datetime | None


def full_name_of(session: Session, principal_id: str) -> str:
    principal = session.get(Principal, principal_id)
    return principal.full_name if principal else ""


def create_api_token(
    session: Session, principal: Principal, *, name: str, now: datetime
) -> IssuedToken:
    """A long-lived token for a system client (or a demo person). Shown once, stored hashed."""
    secret = token_secret(TOKEN_PREFIX)
    session.add(
        Token(
            id=uuid7(),
            principal_id=principal.id,
            token_hash=hash_token(secret),
            kind="api",
            name=name,
            created_at=now,
            expires_at=None,
        )
    )
    events.record(
        session,
        events.TOKEN_CREATED,
        at=now,
        actor_id=principal.id,
        agency_id=principal.agency_id,
        name=name,
    )
    return IssuedToken(secret=secret, expires_at=None)


def check_password(session: Session, username: str, password: str) -> Principal | None:
    """The active principal with this username and password, or None; as slow for a name that
    does not exist (or that no principal can have, with control characters) as for one that
    does. Throttling is the caller's: ``docex.auth.signin``."""
    clean = not has_control_chars(username)
    principal = (
        session.scalar(select(Principal).where(Principal.username == username)) if clean else None
    )
    ok = verify_password(principal.password_hash if principal else None, password)
    if principal is None or not ok or not principal.active:
        return None
    return principal


def issue_access_token(
    session: Session, principal: Principal, now: datetime, *, ttl_seconds: int
) -> IssuedToken:
    """A bearer token for a person who has just signed in, expiring after ``ttl_seconds``."""
    secret = token_secret(TOKEN_PREFIX)
    expires_at = now + timedelta(seconds=ttl_seconds)
    session.add(
        Token(
            id=uuid7(),
            principal_id=principal.id,
            token_hash=hash_token(secret),
            kind="access",
            name="password login",
            created_at=now,
            expires_at=expires_at,
        )
    )
    events.record(
        session,
        events.TOKEN_ISSUED,
        at=now,
        actor_id=principal.id,
        agency_id=principal.agency_id,
    )
    return IssuedToken(secret=secret, expires_at=expires_at)


def authenticate(session: Session, secret: str, *, now: datetime) -> Actor:
    row = session.execute(
        select(Principal, Token)
        .join(Token, Token.principal_id == Principal.id)
        .where(Token.token_hash == hash_token(secret))
    ).first()
    if row is None:
        raise Unauthenticated("unknown token", code="invalid_token")
    principal, token = row
    if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
        raise Unauthenticated("token expired or revoked", code="invalid_token")
    if not principal.active:
        raise Unauthenticated("principal disabled", code="invalid_token")
    return actor_of(principal)
