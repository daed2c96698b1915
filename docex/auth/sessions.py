"""Web sessions: a person signed in to the web UI (``docex/web``), by cookie.

Guarantees:

- The cookie carries a 256-bit random secret; the database keeps only its SHA-256
  (``web_sessions``), so a copy of the database signs no one in.
- A session ends ``idle`` seconds after its last request and ``absolute`` seconds after
  sign-in, whichever comes first, and at sign-out; an ended session is refused
  (``session_expired``) and its row closed, with an audit event, the first time it is seen.
- The CSRF token of a session is derived from its secret (HMAC-SHA-256): a form carries it, the
  cookie alone is not enough, and nothing more is stored.
- Whoever the session belongs to is re-read on every request: a person disabled or moved to
  another agency acts as what they are now, or not at all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from docex.audit import events
from docex.auth.models import Principal, WebSession
from docex.auth.policy import Actor
from docex.auth.service import actor_of
from docex.db import Database
from docex.errors import Unauthenticated
from docex.kit.ids import uuid7

# The session is touched at most this often: a page view does not always write.
_TOUCH_EVERY = timedelta(seconds=30)


@dataclass(frozen=True)
class SessionPolicy:
    idle_seconds: int
    absolute_seconds: int


@dataclass(frozen=True)
class OpenedSession:
    secret: str
    session_id: str
    expires_at: datetime


@dataclass(frozen=True)
class Resumed:
    actor: Actor
    session_id: str
    full_name: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def csrf_token(secret: str) -> str:
    """The CSRF token of the session whose cookie holds ``secret``."""
    return hmac.new(secret.encode("utf-8", "surrogatepass"), b"docex-csrf", "sha256").hexdigest()


def csrf_matches(secret: str, token: str) -> bool:
    return hmac.compare_digest(csrf_token(secret), token)


def open_session(
    session: Session,
    principal: Principal,
    now: datetime,
    policy: SessionPolicy,
    *,
    client: str,
    method: str = "password",
) -> OpenedSession:
    """Sign ``principal`` in (in the sign-in's transaction: ``PasswordSignIn.attempt``, or
    ``OidcSignIn.finish`` with ``method="oidc"``)."""
    secret = secrets.token_urlsafe(32)
    row = WebSession(
        id=uuid7(),
        secret_hash=_hash(secret),
        principal_id=principal.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=policy.absolute_seconds),
        closed_at=None,
    )
    session.add(row)
    events.record(
        session,
        events.SESSION_OPENED,
        at=now,
        actor_id=principal.id,
        agency_id=principal.agency_id,
        session_id=row.id,
        client=client,
        method=method,
    )
    return OpenedSession(secret=secret, session_id=row.id, expires_at=row.expires_at)


def resume(db: Database, secret: str, now: datetime, policy: SessionPolicy) -> Resumed:
    """Who the cookie ``secret`` signs in; raises ``Unauthenticated`` (``session_expired``) for
    an unknown, closed, idle or too old session, closing it. Reads only, but for a touch every
    half minute and the close."""
    with db.read() as session:
        row = session.execute(
            select(WebSession, Principal)
            .join(Principal, Principal.id == WebSession.principal_id)
            .where(WebSession.secret_hash == _hash(secret))
        ).first()
        if row is None or row[0].closed_at is not None:
            raise Unauthenticated("sign in again", code="session_expired")
        web, principal = row
        session.expunge_all()
    idle_end = web.last_seen_at + timedelta(seconds=policy.idle_seconds)
    if now >= web.expires_at or now >= idle_end or not principal.active:
        reason = "absolute" if now >= web.expires_at else "idle" if now >= idle_end else "disabled"
        with db.write() as session:
            _close(session, web, principal, now, reason)
        raise Unauthenticated("sign in again", code="session_expired")
    if now - web.last_seen_at >= _TOUCH_EVERY:
        with db.write() as session:
            session.execute(
                update(WebSession)
                .where(WebSession.id == web.id, WebSession.closed_at.is_(None))
                .values(last_seen_at=now)
            )
    return Resumed(actor=actor_of(principal), session_id=web.id, full_name=principal.full_name)


def close(session: Session, secret: str, now: datetime) -> bool:
    """Sign out: close the session ``secret`` opens; False when there was none open."""
    row = session.execute(
        select(WebSession, Principal)
        .join(Principal, Principal.id == WebSession.principal_id)
        .where(WebSession.secret_hash == _hash(secret), WebSession.closed_at.is_(None))
    ).first()
    if row is None:
        return False
    _close(session, row[0], row[1], now, "signed_out")
    return True


def _close(
    session: Session, web: WebSession, principal: Principal, now: datetime, reason: str
) -> None:
    result = session.execute(
        update(WebSession)
        .where(WebSession.id == web.id, WebSession.closed_at.is_(None))
        .values(closed_at=now)
    )
    if getattr(result, "rowcount", 0):  # once, whoever noticed first
        events.record(
            session,
            events.SESSION_CLOSED,
            at=now,
            actor_id=principal.id,
            agency_id=principal.agency_id,
            session_id=web.id,
            reason=reason,
        )
