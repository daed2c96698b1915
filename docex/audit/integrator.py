"""The node's audit log at work: the integrator loop, checkpoints on demand, the log's keys.

``AuditLog`` is built once by ``create_app`` (like the routing worker). Its background thread runs
integration passes (``docex.audit.sequencer.run_pass``) every ``integrate_interval_seconds``, and
straight again while passes come back full; any number of processes may run one, the log lock
makes them take turns. ``integrate()`` and ``checkpoint()`` do the same on demand (CLI, tests).
"""

from __future__ import annotations

import logging

from sqlalchemy import exists, select

from docex.audit import checkpoints, notes, sequencer, tree
from docex.audit.models import AuditPending
from docex.config import AuditSettings
from docex.db import Database
from docex.kit.clock import Clock
from docex.kit.loops import Loop

log = logging.getLogger(__name__)


class AuditLog:
    def __init__(
        self,
        db: Database,
        signer: notes.EcdsaSigner,
        settings: AuditSettings,
        *,
        clock: Clock,
    ) -> None:
        self.db = db
        self.signer = signer
        self.settings = settings
        self.clock = clock
        self.policy = sequencer.CheckpointPolicy(
            every_events=settings.checkpoint_events,
            every_seconds=settings.checkpoint_interval_seconds,
        )
        # A failed pass changed nothing (one transaction), so the next one simply retries.
        self._loop = Loop(
            "docex-audit-log", self._pass, interval=settings.integrate_interval_seconds
        )

    @property
    def origin(self) -> str:
        return self.signer.name

    @property
    def verifier(self) -> notes.EcdsaVerifier:
        """The log's public key, to check its checkpoints (``vkey()`` for outsiders)."""
        return self.signer.verifier

    def run_pass(self, *, force_checkpoint: bool = False) -> sequencer.Pass:
        with self.db.write() as session:
            return sequencer.run_pass(
                session,
                self.signer,
                self.policy,
                now=self.clock.now(),
                limit=self.settings.batch_size,
                force_checkpoint=force_checkpoint,
            )

    def integrate(self) -> int:
        """Integrate every event pending now; returns the log's size."""
        while True:
            done = self.run_pass()
            if done.appended < self.settings.batch_size:
                return done.size

    def checkpoint(self) -> checkpoints.TreeHead:
        """Integrate everything pending, sign a checkpoint of the result unless the latest
        already has that size, and return it."""
        self.integrate()
        self.run_pass(force_checkpoint=True)
        with self.db.read() as session:
            latest = checkpoints.latest(session)
            if latest is None:  # an empty log signs its empty head on the forced pass
                raise RuntimeError("no checkpoint after a forced pass")
            return checkpoints.TreeHead(self.origin, latest.tree_size, latest.root_hash)

    def _has_work(self) -> bool:
        """Cheap read-only look, so an idle node does not take the write lock every tick."""
        with self.db.read() as session:
            if session.scalar(select(exists().select_from(AuditPending))):
                return True
            latest = checkpoints.latest(session)
            size = tree.size(session)
            return self.policy.due(
                latest.tree_size if latest else None,
                latest.created_at if latest else None,
                size,
                self.clock.now(),
            )

    # -- background loop ------------------------------------------------------------------

    def wake(self) -> None:
        self._loop.wake()

    def start(self) -> None:
        self._loop.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._loop.stop(timeout)

    def _pass(self) -> bool:
        """One integration pass; True when it filled a batch (more is waiting)."""
        return self._has_work() and self.run_pass().appended >= self.settings.batch_size
