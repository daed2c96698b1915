"""The dispatcher: moves queued deliveries on, in urgency order, safely from many processes.

Two steps, each its own transaction:

1. **claim** — take up to ``batch_size`` due deliveries (highest priority first, then oldest) and
   stamp them with this dispatcher's lease (``lease_owner``, ``lease_until``). On PostgreSQL the
   rows are locked with ``FOR UPDATE SKIP LOCKED`` so concurrent dispatchers take disjoint
   batches; on SQLite the ``BEGIN IMMEDIATE`` write lock serialises claims.
2. **complete** — deliver each claimed row, but only while it is still ``queued`` and still ours;
   a row whose lease expired and was re-claimed elsewhere is left alone. So a delivery is
   completed at most once (one 01 receipt), and a dispatcher that crashes after claiming loses
   nothing: its leases expire and another dispatcher (or itself, restarted) claims them again.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update

from docex.agencies.models import Agency
from docex.config import DispatcherSettings
from docex.db import Database
from docex.documents.models import Delivery, Document
from docex.kit.clock import Clock
from docex.kit.faults import DISPATCHER_AFTER_CLAIM, crash_point
from docex.kit.ids import uuid7
from docex.kit.loops import Loop
from docex.routing.deliveries import defer_or_fail, deliver_locally
from docex.signing.jws import NodeSigner
from docex.vocabulary.transport import QUEUED

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self,
        db: Database,
        signer: NodeSigner,
        settings: DispatcherSettings,
        *,
        node_id: str,
        clock: Clock,
        owner: str | None = None,
        housekeeping: Callable[[], object] | None = None,
        on_failure: Callable[[str], object] | None = None,
    ) -> None:
        self.db = db
        self.signer = signer
        self.settings = settings
        self.node_id = node_id
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid7()[-8:]}"
        # A failed pass is retried safely: leases make a claim that did not complete expire.
        self._loop = Loop("docex-dispatcher", self._pass, interval=settings.poll_interval_seconds)
        # Periodic chores (the orphan-blob sweep) ride on the dispatcher's loop.
        self.housekeeping = housekeeping
        self._next_housekeeping = 0.0
        # Told "retry" or "failed" for each delivery attempt that failed (the metrics).
        self.on_failure = on_failure

    def claim(self, now: datetime | None = None) -> list[str]:
        now = now or self.clock.now()
        lease_until = now + timedelta(seconds=self.settings.lease_seconds)
        with self.db.write() as session:
            query = (
                select(Delivery.id)
                .where(
                    Delivery.transport == QUEUED,
                    Delivery.next_attempt_at <= now,
                    or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
                )
                .order_by(Delivery.priority.desc(), Delivery.next_attempt_at, Delivery.id)
                .limit(self.settings.batch_size)
            )
            if self.db.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = list(session.scalars(query))
            if ids:
                session.execute(
                    update(Delivery)
                    .where(Delivery.id.in_(ids))
                    .values(
                        lease_owner=self.owner,
                        lease_until=lease_until,
                        attempts=Delivery.attempts + 1,
                    )
                )
        return ids

    def complete(self, ids: list[str], now: datetime | None = None) -> int:
        """Deliver claimed rows still ours; returns how many were delivered."""
        if not ids:
            return 0
        now = now or self.clock.now()
        delivered = 0
        failures: list[str] = []
        with self.db.write() as session:
            rows = session.scalars(
                select(Delivery).where(
                    Delivery.id.in_(ids),
                    and_(Delivery.lease_owner == self.owner, Delivery.transport == QUEUED),
                )
            ).all()
            documents = {
                d.id: d
                for d in session.scalars(
                    select(Document).where(Document.id.in_(list({r.document_id for r in rows})))
                )
            }
            homes = dict(
                session.execute(
                    select(Agency.id, Agency.node_id).where(
                        Agency.id.in_(list({r.recipient_id for r in rows}))
                    )
                ).all()
            )
            for delivery in rows:
                if homes.get(delivery.recipient_id) == self.node_id:
                    deliver_locally(
                        session, self.signer, documents[delivery.document_id], delivery, now=now
                    )
                    delivered += 1
                else:
                    defer_or_fail(
                        session,
                        delivery,
                        f"no route to node {homes.get(delivery.recipient_id)!r}",
                        now=now,
                        max_attempts=self.settings.max_attempts,
                    )
                    failures.append("retry" if delivery.transport == QUEUED else "failed")
        if self.on_failure is not None:
            for outcome in failures:
                self.on_failure(outcome)
        return delivered

    def run_once(self) -> int:
        total = 0
        while ids := self.claim():
            crash_point(DISPATCHER_AFTER_CLAIM)
            total += self.complete(ids)
            if len(ids) < self.settings.batch_size:
                break
        return total

    # -- background loop (``docex serve`` and ``docex worker``) ---------------------------

    def wake(self) -> None:
        self._loop.wake()

    def start(self) -> None:
        self._loop.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ends the loop, and once its thread has ended, releases this dispatcher's leases
        (still delivering after ``timeout``: its leases expire by themselves)."""
        if self._loop.stop(timeout):
            self.release()

    def release(self) -> int:
        """Gives back the leases this dispatcher holds on deliveries still queued, so another
        dispatcher takes them at once instead of after ``lease_seconds``; returns how many.
        Only when no pass of this dispatcher runs (a pass would complete none of them)."""
        try:
            with self.db.write() as session:
                result = session.execute(
                    update(Delivery)
                    .where(Delivery.lease_owner == self.owner, Delivery.transport == QUEUED)
                    .values(lease_owner=None, lease_until=None)
                    .execution_options(synchronize_session=False)
                )
                released = getattr(result, "rowcount", 0)
        except Exception:
            log.exception("could not release the dispatcher's leases; they expire by themselves")
            return 0
        if released:
            log.info("released %d delivery leases", released)
        return int(released or 0)

    def _housekeep(self) -> None:
        if self.housekeeping is None or time.monotonic() < self._next_housekeeping:
            return
        self._next_housekeeping = time.monotonic() + self.settings.housekeeping_interval_seconds
        try:
            self.housekeeping()
        except Exception:
            log.exception("housekeeping failed; next time, then")

    def run_forever(self) -> None:
        self._loop.run_forever()

    def _pass(self) -> bool:
        try:
            self.run_once()
        finally:
            self._housekeep()
        return False
