"""The queue's operations. A job's life:

    enqueue ──► queued ──claim (lease + token)──► worked on ──complete (CAS on the token)──► gone
                  ▲  ▲                                 │
                  │  └──────── retry (backoff) ◄───────┤
                  │                                     └── attempts or TTL used up ──► failed
                  └─────────────── requeue (an operator) ◄──────────────────────────────┘

- **claim** stamps a batch with the claimer's name, a fresh token and a short lease, in its own
  transaction; on PostgreSQL ``FOR UPDATE SKIP LOCKED`` gives concurrent claimers disjoint
  batches, on SQLite the ``BEGIN IMMEDIATE`` write lock serialises them.
- **heartbeat** extends every lease a live worker holds, so a slow receiver keeps its job while
  what a dead process held is free again within one lease.
- **complete**, **retry** and **fail** act only while the token still matches (compare-and-set),
  inside the caller's transaction: a worker whose lease expired and whose job was re-claimed
  elsewhere changes nothing, so the effect that goes with completion happens once.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from docex.db import Database
from docex.kit.ids import uuid7
from docex.queue.models import Job

QUEUED = "queued"
FAILED = "failed"


@dataclass(frozen=True)
class RetryPolicy:
    """How a kind of job is retried: exponential backoff from ``base`` doubling to ``cap``, with
    jitter (a delay drawn between half and all of it), until ``max_attempts`` or ``ttl``."""

    base: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(hours=1)
    max_attempts: int | None = 10
    ttl: timedelta | None = None

    def delay(self, attempts: int, rng: random.Random | None = None) -> timedelta:
        exponent = min(max(attempts - 1, 0), 32)
        full = min(self.cap.total_seconds(), self.base.total_seconds() * 2**exponent)
        return timedelta(seconds=full * (rng or random).uniform(0.5, 1.0))

    def gives_up(self, attempts: int, queued_at: datetime, retry_at: datetime) -> bool:
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return True
        return self.ttl is not None and retry_at >= queued_at + self.ttl


@dataclass(frozen=True)
class Claimed:
    """A job as its claimer holds it: what to move, and the token that proves the lease."""

    id: str
    kind: str
    ref: str
    attempts: int  # including this one
    token: str
    queued_at: datetime


def enqueue(
    session: Session,
    kind: str,
    refs: Sequence[str],
    *,
    now: datetime,
    priority: int = 0,
) -> None:
    """Queue one job per ref, in one statement, inside the caller's transaction (so a job exists
    exactly when what it moves does)."""
    if not refs:
        return
    session.execute(
        insert(Job),
        [
            {
                "id": uuid7(),
                "kind": kind,
                "ref": ref,
                "state": QUEUED,
                "priority": priority,
                "attempts": 0,
                "due_at": now,
                "queued_at": now,
                "updated_at": now,
            }
            for ref in refs
        ],
    )


def claim(
    db: Database, kind: str, *, owner: str, limit: int, lease: timedelta, now: datetime
) -> list[Claimed]:
    """Take up to ``limit`` due jobs of ``kind``, highest priority first, then oldest."""
    token = uuid7()
    with db.write() as session:
        query = (
            select(Job.id)
            .where(
                Job.kind == kind,
                Job.state == QUEUED,
                Job.due_at <= now,
                or_(Job.lease_until.is_(None), Job.lease_until < now),
            )
            .order_by(Job.priority.desc(), Job.due_at, Job.id)
            .limit(limit)
        )
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(session.scalars(query))
        if not ids:
            return []
        session.execute(
            update(Job)
            .where(Job.id.in_(ids))
            .values(
                lease_owner=owner,
                lease_token=token,
                lease_until=now + lease,
                attempts=Job.attempts + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        rows = session.execute(
            select(Job.id, Job.kind, Job.ref, Job.attempts, Job.queued_at)
            .where(Job.id.in_(ids))
            .order_by(Job.priority.desc(), Job.due_at, Job.id)
        ).all()
    return [Claimed(r.id, r.kind, r.ref, r.attempts, token, r.queued_at) for r in rows]


def heartbeat(db: Database, owner: str, *, lease: timedelta, now: datetime) -> int:
    """Extends the lease of every job ``owner`` still holds; returns how many. A worker holding
    nothing (the common case) only reads: no write lock taken every few seconds per process."""
    with db.read() as session:
        held = session.scalar(
            select(Job.id).where(Job.lease_owner == owner, Job.state == QUEUED).limit(1)
        )
    if held is None:
        return 0
    with db.write() as session:
        result = session.execute(
            update(Job)
            .where(Job.lease_owner == owner, Job.state == QUEUED)
            .values(lease_until=now + lease)
            .execution_options(synchronize_session=False)
        )
    return int(getattr(result, "rowcount", 0) or 0)


def _held(job: Claimed) -> ColumnElement[bool]:
    """The job, only while its lease is still the one ``job`` was claimed under."""
    return and_(Job.id == job.id, Job.lease_token == job.token)


def complete(session: Session, jobs: Sequence[Claimed]) -> set[str]:
    """Deletes the jobs whose lease is still ours; returns their ids. Everything the caller does
    for a job must happen in this transaction and only for a returned id."""
    done: set[str] = set()
    by_token: dict[str, list[str]] = {}
    for job in jobs:
        by_token.setdefault(job.token, []).append(job.id)
    for token, ids in by_token.items():
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            done |= set(
                session.scalars(
                    delete(Job)
                    .where(Job.id.in_(chunk), Job.lease_token == token, Job.state == QUEUED)
                    .returning(Job.id)
                )
            )
    return done


def take_along(
    session: Session, kind: str, refs: Sequence[str], *, now: datetime
) -> dict[str, int]:
    """Takes (deletes), in the caller's transaction, the due jobs of ``kind`` among ``refs`` that
    no worker holds: a transport doing a claimed batch's work can do theirs in the same move (a
    broadcast's recipients behind the same next hop travel in one transfer). Returns each taken
    job's ref with its attempts, this one counted; the caller does their work in this
    transaction, as for ``complete``. A job leased by another worker, or not yet due, is left."""
    taken: dict[str, int] = {}
    for start in range(0, len(refs), 500):
        chunk = list(refs[start : start + 500])
        taken |= {
            ref: attempts + 1
            for ref, attempts in session.execute(
                delete(Job)
                .where(
                    Job.kind == kind,
                    Job.ref.in_(chunk),
                    Job.state == QUEUED,
                    Job.due_at <= now,
                    or_(Job.lease_until.is_(None), Job.lease_until < now),
                )
                .returning(Job.ref, Job.attempts)
            )
        }
    return taken


def retry(
    session: Session, job: Claimed, error: str, *, now: datetime, policy: RetryPolicy
) -> str | None:
    """The attempt failed: queue the job again after a backoff, or give up (``failed``) when
    the policy says so. Returns the new state, or None when the lease was no longer ours."""
    retry_at = now + policy.delay(job.attempts)
    state = FAILED if policy.gives_up(job.attempts, job.queued_at, retry_at) else QUEUED
    result = session.execute(
        update(Job)
        .where(_held(job), Job.state == QUEUED)
        .values(
            state=state,
            due_at=retry_at if state == QUEUED else now,
            lease_owner=None,
            lease_token=None,
            lease_until=None,
            last_error=error[:500],
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return state if getattr(result, "rowcount", 0) else None


def fail(session: Session, job: Claimed, error: str, *, now: datetime) -> bool:
    """Give up on the job at once (the work cannot succeed, whatever the retries)."""
    result = session.execute(
        update(Job)
        .where(_held(job), Job.state == QUEUED)
        .values(
            state=FAILED,
            lease_owner=None,
            lease_token=None,
            lease_until=None,
            last_error=error[:500],
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def release(db: Database, owner: str) -> int:
    """Gives back every lease ``owner`` holds (a worker stopping): another worker takes those
    jobs at once instead of after the lease. Returns how many."""
    with db.write() as session:
        result = session.execute(
            update(Job)
            .where(Job.lease_owner == owner, Job.state == QUEUED)
            .values(lease_owner=None, lease_token=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )
    return int(getattr(result, "rowcount", 0) or 0)


def give_back(db: Database, batch: Sequence[Claimed]) -> int:
    """Ends the leases of a batch its claimer could not move (the transport raised): the jobs
    are claimable again at once, and the claimer's heartbeat no longer keeps them."""
    if not batch:
        return 0
    ids, tokens = [job.id for job in batch], list({job.token for job in batch})
    with db.write() as session:
        result = session.execute(
            update(Job)
            .where(Job.id.in_(ids), Job.lease_token.in_(tokens), Job.state == QUEUED)
            .values(lease_owner=None, lease_token=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )
    return int(getattr(result, "rowcount", 0) or 0)


def requeue(session: Session, kind: str, ref: str, *, now: datetime) -> bool:
    """An operator sends a failed job round again, with fresh attempts and a fresh TTL."""
    result = session.execute(
        update(Job)
        .where(Job.kind == kind, Job.ref == ref, Job.state == FAILED)
        .values(
            state=QUEUED,
            attempts=0,
            due_at=now,
            queued_at=now,
            last_error=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def pending(session: Session) -> dict[str, tuple[int, datetime | None]]:
    """Per kind: jobs still queued, and when the oldest of them was queued (for metrics)."""
    rows = session.execute(
        select(Job.kind, func.count(), func.min(Job.queued_at))
        .where(Job.state == QUEUED)
        .group_by(Job.kind)
    ).all()
    return {kind: (int(count), oldest) for kind, count, oldest in rows}
