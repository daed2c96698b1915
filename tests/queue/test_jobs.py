"""The queue's rules, on both databases: backoff doubles with jitter and is capped; a job gives
up after ``max_attempts`` or its TTL; complete, retry and fail act only for the lease token's
holder (a stale token changes nothing); requeue starts a fresh round; heartbeat extends only
the owner's leases."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from docex.db import Database
from docex.queue import jobs
from docex.queue.jobs import Claimed, RetryPolicy
from docex.queue.models import Job

KIND = "test"
LEASE = timedelta(seconds=6)
T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


@pytest.fixture
def db(database: tuple[str, dict[str, Any]]) -> Iterator[Database]:
    url, _ = database
    db = Database(url)
    yield db
    db.dispose()


def _enqueue(db: Database, *refs: str, now: datetime = T0, priority: int = 0) -> None:
    with db.write() as session:
        jobs.enqueue(session, KIND, list(refs), now=now, priority=priority)


def _claim(db: Database, owner: str, now: datetime = T0, limit: int = 10) -> list[Claimed]:
    return jobs.claim(db, KIND, owner=owner, limit=limit, lease=LEASE, now=now)


def _job(db: Database, ref: str) -> Job | None:
    with db.read() as session:
        return session.scalars(select(Job).where(Job.kind == KIND, Job.ref == ref)).one_or_none()


# -- backoff and giving up (no database) ---------------------------------------------------------


def test_backoff_doubles_from_the_base_with_jitter_between_half_and_all_of_it() -> None:
    policy = RetryPolicy(base=timedelta(seconds=2), cap=timedelta(hours=1))
    rng = random.Random(11)  # noqa: S311 (jitter, not a secret)
    for attempts, full in [(1, 2), (2, 4), (3, 8), (4, 16), (10, 1024)]:
        delays = [policy.delay(attempts, rng).total_seconds() for _ in range(300)]
        assert all(full / 2 <= d <= full for d in delays), (attempts, min(delays), max(delays))
        # Jitter really spreads them: both halves of the range are used.
        assert min(delays) < full * 0.6
        assert max(delays) > full * 0.9


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(base=timedelta(seconds=2), cap=timedelta(seconds=60))
    rng = random.Random(7)  # noqa: S311 (jitter, not a secret)
    for attempts in (6, 7, 20, 1000):  # 2 * 2**5 = 64 > 60: capped from the sixth attempt
        delays = [policy.delay(attempts, rng).total_seconds() for _ in range(100)]
        assert all(30 <= d <= 60 for d in delays)
        assert max(delays) > 55


def test_max_attempts_and_ttl_decide_when_to_give_up() -> None:
    policy = RetryPolicy(max_attempts=3, ttl=timedelta(hours=1))
    assert not policy.gives_up(2, T0, T0 + timedelta(minutes=5))
    assert policy.gives_up(3, T0, T0 + timedelta(minutes=5))  # the third attempt was the last
    assert policy.gives_up(1, T0, T0 + timedelta(hours=1))  # the next try would be past the TTL
    assert not RetryPolicy(max_attempts=None, ttl=None).gives_up(10**6, T0, T0 + timedelta(days=9))


# -- on a real database --------------------------------------------------------------------------


def test_retry_backs_off_then_fails_after_max_attempts(db: Database) -> None:
    _enqueue(db, "a")
    policy = RetryPolicy(base=timedelta(seconds=2), cap=timedelta(hours=1), max_attempts=3)
    now = T0
    for attempt, full in [(1, 2), (2, 4)]:
        [job] = _claim(db, "w", now)
        assert job.attempts == attempt
        with db.write() as session:
            assert jobs.retry(session, job, "refused", now=now, policy=policy) == jobs.QUEUED
        row = _job(db, "a")
        assert row is not None
        assert (row.state, row.lease_owner, row.lease_token, row.last_error) == (
            "queued",
            None,
            None,
            "refused",
        )
        wait = row.due_at - now
        assert timedelta(seconds=full / 2) <= wait <= timedelta(seconds=full)
        assert _claim(db, "w", row.due_at - timedelta(milliseconds=1)) == []  # backing off
        now = row.due_at
    [job] = _claim(db, "w", now)
    with db.write() as session:
        assert jobs.retry(session, job, "refused again", now=now, policy=policy) == jobs.FAILED
    row = _job(db, "a")
    assert row is not None
    assert (row.state, row.attempts, row.last_error) == ("failed", 3, "refused again")
    assert _claim(db, "w", now + timedelta(days=1)) == []  # a failed job is never claimed


def test_ttl_gives_up_before_max_attempts(db: Database) -> None:
    _enqueue(db, "a")
    policy = RetryPolicy(
        base=timedelta(minutes=10), cap=timedelta(hours=1), max_attempts=100, ttl=timedelta(hours=1)
    )
    now = T0
    states: list[str | None] = []
    while not states or states[-1] == jobs.QUEUED:
        [job] = _claim(db, "w", now)
        with db.write() as session:
            states.append(jobs.retry(session, job, "down", now=now, policy=policy))
        row = _job(db, "a")
        assert row is not None
        now = row.due_at
        assert len(states) < 20
    assert states[-1] == jobs.FAILED
    assert 2 <= len(states) < 100  # the TTL, not the attempts, ended it
    assert now - T0 <= timedelta(hours=1)


def test_complete_retry_and_fail_with_a_stale_token_change_nothing(db: Database) -> None:
    _enqueue(db, "a", "b")
    stale = _claim(db, "first")
    assert len(stale) == 2
    later = T0 + LEASE + timedelta(seconds=1)  # the first claimer's lease ran out...
    fresh = _claim(db, "second", later)  # ... and another took the jobs
    assert {j.token for j in fresh} != {j.token for j in stale}
    before = {ref: _job(db, ref) for ref in ("a", "b")}
    with db.write() as session:
        assert jobs.complete(session, stale) == set()
        assert jobs.retry(session, stale[0], "x", now=later, policy=RetryPolicy()) is None
        assert jobs.fail(session, stale[1], "x", now=later) is False
    for ref, row in before.items():
        now_row = _job(db, ref)
        assert now_row is not None
        assert row is not None
        assert (now_row.state, now_row.lease_token, now_row.attempts, now_row.last_error) == (
            row.state,
            row.lease_token,
            row.attempts,
            row.last_error,
        )
    with db.write() as session:
        assert jobs.complete(session, fresh) == {j.id for j in fresh}
    assert _job(db, "a") is None
    assert _job(db, "b") is None


def test_fail_gives_up_at_once_and_only_with_the_token(db: Database) -> None:
    _enqueue(db, "a")
    [job] = _claim(db, "w")
    with db.write() as session:
        assert jobs.fail(session, job, "no such recipient", now=T0) is True
    row = _job(db, "a")
    assert row is not None
    assert (row.state, row.lease_owner, row.last_error) == ("failed", None, "no such recipient")
    with db.write() as session:  # the same token again: the job is no longer queued
        assert jobs.fail(session, job, "again", now=T0) is False
        assert jobs.complete(session, [job]) == set()


def test_requeue_resets_attempts_and_ttl(db: Database) -> None:
    _enqueue(db, "a")
    policy = RetryPolicy(base=timedelta(seconds=2), max_attempts=2, ttl=timedelta(hours=1))
    now = T0
    for expected in (jobs.QUEUED, jobs.FAILED):  # the first round: two attempts, then failed
        [job] = _claim(db, "w", now)
        with db.write() as session:
            assert jobs.retry(session, job, "down", now=now, policy=policy) == expected
        row = _job(db, "a")
        assert row is not None
        now = row.due_at
    with db.write() as session:
        assert jobs.requeue(session, KIND, "missing", now=now) is False
    later = T0 + timedelta(days=2)  # well past the first round's TTL
    with db.write() as session:
        assert jobs.requeue(session, KIND, "a", now=later) is True
        assert jobs.requeue(session, KIND, "a", now=later) is False  # queued, not failed
    row = _job(db, "a")
    assert row is not None
    assert (row.state, row.attempts, row.last_error) == ("queued", 0, None)
    assert (row.queued_at, row.due_at) == (later, later)
    [again] = _claim(db, "w", later)
    assert (again.attempts, again.queued_at) == (1, later)
    # A fresh round: with the old attempts (3 > 2) or the old TTL this retry would give up.
    with db.write() as session:
        assert jobs.retry(session, again, "down", now=later, policy=policy) == jobs.QUEUED


def test_heartbeat_extends_only_the_owners_leases(db: Database) -> None:
    _enqueue(db, "a", "b", "c")
    mine = _claim(db, "mine", limit=2)
    theirs = _claim(db, "theirs", limit=2)
    assert (len(mine), len(theirs)) == (2, 1)
    beat = T0 + timedelta(seconds=5)
    assert jobs.heartbeat(db, "mine", lease=LEASE, now=beat) == 2
    assert jobs.heartbeat(db, "nobody", lease=LEASE, now=beat) == 0
    with db.read() as session:
        leases = {r.ref: r.lease_until for r in session.execute(select(Job.ref, Job.lease_until))}
    assert leases[mine[0].ref] == leases[mine[1].ref] == beat + LEASE
    assert leases[theirs[0].ref] == T0 + LEASE  # untouched
    # Past the first lease, only the unrenewed job is free again.
    taken = _claim(db, "third", T0 + LEASE + timedelta(seconds=1))
    assert [j.ref for j in taken] == [theirs[0].ref]


def test_claim_takes_higher_priority_first_then_oldest(db: Database) -> None:
    _enqueue(db, "old-normal", now=T0)
    _enqueue(db, "new-normal", now=T0 + timedelta(seconds=1))
    _enqueue(db, "flash", now=T0 + timedelta(seconds=2), priority=3)
    claimed = _claim(db, "w", T0 + timedelta(seconds=3), limit=3)
    assert [j.ref for j in claimed] == ["flash", "old-normal", "new-normal"]
