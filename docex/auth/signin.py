"""Password sign-in, slowed down for whoever guesses: the one path by which a person proves a
password, for the API token endpoint and the web sign-in alike.

Guarantees, against an attacker who guesses passwords from one address or many:

- Attempts are counted per account (the username as typed, existing or not) and per client
  address (``docex.kit.proxies.client_address``), in the database (``sign_in_throttles``), so
  every replica of a node sees the same counts and a restart forgets nothing.
- After ``free`` failures in a row (``DOCEX_AUTH__SIGN_IN_FREE_ATTEMPTS`` per account,
  ``…_ADDRESS_FREE_ATTEMPTS`` per address), each further failure blocks the account (or address)
  for ``backoff · 2^(n-1)`` seconds, the n-th time, up to ``backoff_max``: exponential back-off.
  Failures are forgotten after ``forget`` seconds without one.
- While an account or an address is blocked, every attempt is refused with 429
  ``too_many_attempts`` and ``Retry-After``, whatever the password, the right one included, and
  without checking it (a blocked guesser costs the node no Argon2 work).
- An attempt is counted as a failure *before* its password is checked (in a transaction that
  holds the account's and the address's rows), and forgiven when the password proves right.
  Concurrent guesses therefore cannot slip between a check and a count: the attempt after the
  last free one is blocked as soon as it is admitted.
- A success resets the account's count. The address only gets its attempt back: signing in to
  one's own account must not wash away the guesses one made at others.
- Every lock (a failure that blocks an account or address) is an audit event,
  ``auth:account:locked`` or ``auth:address:locked``, recorded in the transaction that confirms
  it, and is counted in the ``docex_sign_in_locks`` metric. The 429s themselves are refusals,
  audited like any other (``docex.audit.refusals``).

Unlike other services, this one commits: a failed attempt must be counted although the request
it belongs to fails. Each transaction is short; the password is checked outside any.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, delete, or_, select, tuple_
from sqlalchemy.orm import Session

from docex.audit import events
from docex.auth.models import Principal, SignInThrottle
from docex.auth.service import check_password
from docex.config import AuthSettings
from docex.db import Database, insert_if_missing
from docex.errors import Forbidden, TooManyRequests, Unauthenticated
from docex.kit.clock import Clock, rfc3339
from docex.kit.text import has_control_chars

T = TypeVar("T")

ACCOUNT = "account"
ADDRESS = "address"
_LOCK_EVENTS = {ACCOUNT: events.ACCOUNT_LOCKED, ADDRESS: events.ADDRESS_LOCKED}


@dataclass(frozen=True)
class ThrottlePolicy:
    free_attempts: int = 5
    address_free_attempts: int = 30
    backoff_seconds: float = 1.0
    backoff_max_seconds: float = 900.0
    forget_seconds: float = 3600.0

    @classmethod
    def from_settings(cls, auth: AuthSettings) -> ThrottlePolicy:
        return cls(
            free_attempts=auth.sign_in_free_attempts,
            address_free_attempts=auth.sign_in_address_free_attempts,
            backoff_seconds=auth.sign_in_backoff_seconds,
            backoff_max_seconds=auth.sign_in_backoff_max_seconds,
            forget_seconds=auth.sign_in_forget_seconds,
        )

    def delay(self, scope: str, failures: int) -> float:
        """Seconds a key must wait after its ``failures``-th failure in a row (0: none)."""
        over = failures - (self.free_attempts if scope == ACCOUNT else self.address_free_attempts)
        if over <= 0:
            return 0.0
        return min(self.backoff_max_seconds, self.backoff_seconds * 2.0 ** min(over - 1, 62))


def account_key(username: str) -> str:
    return hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class _Lock:
    """A block set by an admitted attempt, to be confirmed if the password proves wrong."""

    scope: str
    key: str
    failures: int
    until: datetime


class PasswordSignIn:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        policy: ThrottlePolicy,
        *,
        on_lock: Callable[[str], None] | None = None,
        passwords: bool = True,
    ) -> None:
        self.passwords = passwords
        self.db = db
        self.clock = clock
        self.policy = policy
        self.on_lock = on_lock

    def attempt(
        self,
        username: str,
        password: str,
        *,
        address: str,
        then: Callable[[Session, Principal, datetime], T],
    ) -> T:
        """Check ``username``/``password`` for a client at ``address``; on success, return
        ``then(session, principal, now)`` run in the transaction that resets the count (it
        issues the token, or opens the web session). Raises ``TooManyRequests`` while blocked,
        ``Unauthenticated`` (``invalid_credentials``) for any wrong pair, ``Forbidden``
        (``passwords_disabled``) on a node whose people sign in only by single sign-on
        (``DOCEX_AUTH__PASSWORDS=false``), without counting or checking anything."""
        if not self.passwords:
            raise Forbidden(
                "passwords are disabled on this node: sign in through the identity provider",
                code="passwords_disabled",
            )
        keys = [(ADDRESS, address[:64]), (ACCOUNT, account_key(username))]
        now = self.clock.now()
        with self.db.write() as session:
            locks = self._admit(session, keys, now)
        with self.db.read() as session:
            principal = check_password(session, username, password)
        if principal is None:
            if locks:
                self._confirm(locks, username, address)
            raise Unauthenticated("wrong username or password", code="invalid_credentials")
        now = self.clock.now()
        with self.db.write() as session:
            self._forgive(session, keys, now)
            return then(session, principal, now)

    def purge(self, batch: int = 1000) -> int:
        """Delete the rows of keys that neither wait nor remember a failure any more; rows an
        attempt holds are skipped (never waited for: no deadlock with a sign-in)."""
        now = self.clock.now()
        forgotten = now - timedelta(seconds=self.policy.forget_seconds)
        stale = (
            select(SignInThrottle.scope, SignInThrottle.key)
            .where(
                SignInThrottle.last_failure_at < forgotten,
                or_(SignInThrottle.blocked_until.is_(None), SignInThrottle.blocked_until < now),
            )
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        purged = 0
        while True:
            with self.db.write() as session:
                keys = [tuple(row) for row in session.execute(stale)]
                if keys:
                    session.execute(
                        delete(SignInThrottle).where(
                            tuple_(SignInThrottle.scope, SignInThrottle.key).in_(keys)
                        )
                    )
            purged += len(keys)
            if len(keys) < batch:
                return purged

    def _admit(self, session: Session, keys: list[tuple[str, str]], now: datetime) -> list[_Lock]:
        rows = [self._row(session, scope, key, now) for scope, key in keys]
        forgotten = now - timedelta(seconds=self.policy.forget_seconds)
        for row in rows:
            if row.last_failure_at < forgotten and not _blocks(row, now):
                row.failures, row.blocked_until = 0, None
        wait = max(_wait(row, now) for row in rows)
        if wait > 0:
            raise TooManyRequests(
                f"too many failed sign-ins: try again in {math.ceil(wait)} s",
                retry_after=math.ceil(wait),
            )
        locks = []
        for row in rows:
            row.failures += 1
            row.last_failure_at = now
            delay = self.policy.delay(row.scope, row.failures)
            row.blocked_until = now + timedelta(seconds=delay) if delay else None
            if row.blocked_until is not None:
                locks.append(_Lock(row.scope, row.key, row.failures, row.blocked_until))
        return locks

    def _confirm(self, locks: list[_Lock], username: str, address: str) -> None:
        now = self.clock.now()
        confirmed = []
        with self.db.write() as session:
            for lock in locks:
                row = session.get(SignInThrottle, (lock.scope, lock.key), with_for_update=True)
                if row is None or not _blocks(row, now):
                    continue  # a success in the meantime reset it
                detail: dict[str, Any] = {
                    "client": address,
                    "failures": lock.failures,
                    "blocked_until": rfc3339(lock.until),
                }
                agency_id = None
                if lock.scope == ACCOUNT and not has_control_chars(username):
                    detail["username"] = username[:64]
                    principal = session.execute(
                        select(Principal.id, Principal.agency_id).where(
                            Principal.username == username
                        )
                    ).first()
                    if principal is not None:
                        detail["principal_id"], agency_id = principal.id, principal.agency_id
                events.record(
                    session, _LOCK_EVENTS[lock.scope], at=now, agency_id=agency_id, **detail
                )
                confirmed.append(lock.scope)
        for scope in confirmed:
            if self.on_lock is not None:
                self.on_lock(scope)

    def _forgive(self, session: Session, keys: list[tuple[str, str]], now: datetime) -> None:
        for scope, key in keys:
            row = self._row(session, scope, key, now)
            row.failures = 0 if scope == ACCOUNT else max(0, row.failures - 1)
            if not self.policy.delay(scope, row.failures):
                row.blocked_until = None

    @staticmethod
    def _row(session: Session, scope: str, key: str, now: datetime) -> SignInThrottle:
        """The key's row, created if missing, locked until the transaction ends (a row lock on
        PostgreSQL; SQLite's write transactions are serial already)."""
        for _ in range(5):
            insert_if_missing(
                session,
                SignInThrottle,
                ["scope", "key"],
                scope=scope,
                key=key,
                failures=0,
                last_failure_at=now,
                blocked_until=None,
            )
            row = session.scalars(
                select(SignInThrottle)
                .where(and_(SignInThrottle.scope == scope, SignInThrottle.key == key))
                .with_for_update()
                .execution_options(populate_existing=True)
            ).one_or_none()
            if row is not None:
                return row
            # Seen by the INSERT, then deleted by ``purge`` before our lock: create it again.
        raise RuntimeError(f"sign-in throttle row {scope} kept vanishing")


def _blocks(row: SignInThrottle, now: datetime) -> bool:
    return _wait(row, now) > 0


def _wait(row: SignInThrottle, now: datetime) -> float:
    """Seconds the key must still wait (0 when it may try)."""
    if row.blocked_until is None:
        return 0.0
    return max(0.0, (row.blocked_until - now).total_seconds())
