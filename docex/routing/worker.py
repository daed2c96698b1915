"""The routing worker: the one machinery that moves anything out of the node's queue.

A transport is a small handler for one kind of job (a delivery to a hosted agency, a webhook
event, later a transfer to a peer node). The worker runs one loop per transport, so a slow kind
never holds up another: each loop claims a batch of its kind under a short lease
(``docex.queue.jobs.claim``) and hands it to the transport, which completes, retries or fails
each job by compare-and-set on the lease token, in the transaction of its effect. A heartbeat
loop renews the leases this worker holds, so a slow receiver keeps its job, and what a process
that died was holding is free again one lease later (a few seconds), not after a long timeout.

Adding a kind is adding a transport: the queue and this worker do not change.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from docex.config import DispatcherSettings
from docex.db import Database
from docex.kit.clock import Clock
from docex.kit.faults import DISPATCHER_AFTER_CLAIM, crash_point
from docex.kit.ids import uuid7
from docex.kit.loops import Loop
from docex.queue import jobs
from docex.queue.jobs import Claimed

log = logging.getLogger(__name__)


class Transport(Protocol):
    """Moves the jobs of one kind. ``move`` is given a claimed batch and, for each job, either
    completes it (``jobs.complete``) together with its effect, or retries or fails it
    (``jobs.retry``/``jobs.fail``); a job it leaves alone is claimed again after its lease."""

    @property
    def kind(self) -> str: ...
    @property
    def batch_size(self) -> int: ...
    def move(self, batch: Sequence[Claimed], now: datetime) -> int:
        """Returns how many jobs were completed."""
        ...


class Worker:
    def __init__(
        self,
        db: Database,
        transports: Sequence[Transport],
        settings: DispatcherSettings,
        *,
        clock: Clock,
        owner: str | None = None,
        housekeeping: Callable[[], object] | None = None,
        chores: Sequence[Loop] = (),
    ) -> None:
        """``chores``: more loops that run wherever this worker runs (the directory fetch of a
        federated node, witnessing the peers' audit logs), started and stopped with it."""
        self.db = db
        self.settings = settings
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid7()[-8:]}"
        self.transports = {t.kind: t for t in transports}
        self.lease = timedelta(seconds=settings.lease_seconds)
        # A failed pass is retried safely: leases make a claim that did not complete expire.
        self._loops = {
            kind: Loop(
                f"docex-{kind}", self._pass_of(kind), interval=settings.poll_interval_seconds
            )
            for kind in self.transports
        }
        self._chores = [
            Loop("docex-leases", self._beat, interval=settings.heartbeat_seconds),
        ]
        if housekeeping is not None:

            def tidy() -> bool:
                housekeeping()
                return False

            interval = settings.housekeeping_interval_seconds
            self._chores.append(Loop("docex-housekeeping", tidy, interval=interval))
        self._chores.extend(chores)
        self._stopped = threading.Event()

    def _loop_of(self, kind: str) -> Loop:
        interval = self.settings.poll_interval_seconds
        return Loop(f"docex-{kind}", self._pass_of(kind), interval=interval)

    # -- one pass ------------------------------------------------------------------------------

    def claim(
        self, kind: str, now: datetime | None = None, limit: int | None = None
    ) -> list[Claimed]:
        transport = self.transports[kind]
        return jobs.claim(
            self.db,
            kind,
            owner=self.owner,
            limit=limit or transport.batch_size,
            lease=self.lease,
            now=now or self.clock.now(),
        )

    def move(self, kind: str, batch: Sequence[Claimed], now: datetime | None = None) -> int:
        if not batch:
            return 0
        try:
            return self.transports[kind].move(batch, now or self.clock.now())
        except Exception:
            # Not moved: claimable again at once, not kept alive by this worker's heartbeat.
            try:
                jobs.give_back(self.db, batch)
            except Exception:
                log.exception("could not give back a batch; its leases expire by themselves")
            raise

    def run_once(self, kind: str | None = None) -> int:
        """Moves every due job (of ``kind``, or of every kind); returns how many completed."""
        total = 0
        for each in [kind] if kind else list(self.transports):
            more = True
            while more:
                batch = self.claim(each)
                crash_point(DISPATCHER_AFTER_CLAIM)
                total += self.move(each, batch)
                more = len(batch) >= self.transports[each].batch_size
        return total

    def _pass_of(self, kind: str) -> Callable[[], bool]:
        def step() -> bool:
            batch = self.claim(kind)
            if batch:
                crash_point(DISPATCHER_AFTER_CLAIM)
                if self.move(kind, batch):
                    # A move may queue jobs of other kinds (a delivery to another node becomes
                    # a transfer, a receipt a webhook): their loops look now, not at their poll.
                    self.wake()
            return len(batch) >= self.transports[kind].batch_size

        return step

    def _beat(self) -> bool:
        # Every job this worker holds, including those a transport still works on after its
        # move returned (a webhook send carrying on alone).
        jobs.heartbeat(self.db, self.owner, lease=self.lease, now=self.clock.now())
        return False

    # -- background loops (``docex serve`` and ``docex worker``) ---------------------------------

    def wake(self, kind: str | None = None) -> None:
        for each, loop in self._loops.items():
            if kind is None or each == kind:
                loop.wake()

    def wake_chore(self, name: str) -> None:
        """Run the chore loop ``name`` now (e.g. ``docex-witness`` after an exchange)."""
        for loop in self._chores:
            if loop.name == name:
                loop.wake()

    def start(self) -> None:
        self._stopped.clear()
        for loop in [*self._chores, *self._loops.values()]:
            loop.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ends the loops, and once they have ended, gives back the leases this worker holds
        (a loop still moving after ``timeout``: its leases expire by themselves)."""
        self._stopped.set()
        deadline = time.monotonic() + timeout
        ended = [loop.stop(max(0.0, deadline - time.monotonic())) for loop in self._loops.values()]
        for chore in self._chores:
            chore.stop(max(0.0, deadline - time.monotonic()))
        if ended and all(ended):
            self.release()

    def request_stop(self) -> None:
        """Asks :meth:`run_forever` to stop (safe from a signal handler)."""
        self._stopped.set()

    def run_forever(self) -> None:
        """``docex worker``: the loops on their threads until :meth:`request_stop`, then a
        clean stop that gives the leases back."""
        self.start()
        while not self._stopped.wait(1.0):
            pass
        self.stop()

    def release(self) -> int:
        """Gives back the leases this worker holds, so another takes its jobs at once."""
        try:
            released = jobs.release(self.db, self.owner)
        except Exception:
            log.exception("could not release the worker's leases; they expire by themselves")
            return 0
        if released:
            log.info("released %d job leases", released)
        return released
