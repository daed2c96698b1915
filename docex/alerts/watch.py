"""``AlertWatch``: the rules evaluated every ``interval_seconds`` by a chore loop of the routing
worker (``docex serve`` and ``docex worker``). A pass reads and writes in one transaction; a
pass that fails (a database hiccup, or another worker raising the same alert first: the live
key's unique index) changes nothing and the next one starts afresh."""

from __future__ import annotations

from docex.alerts import rules, service
from docex.config import AlertSettings
from docex.db import Database
from docex.kit.clock import Clock
from docex.kit.loops import Loop

WATCH_NAME = "docex-alerts"


class AlertWatch:
    def __init__(
        self,
        db: Database,
        settings: AlertSettings,
        *,
        clock: Clock,
        node_id: str,
        certificates: rules.Certificates,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.node_id = node_id
        self.certificates = certificates

    def run_once(self) -> tuple[list[str], list[str]]:
        """One evaluation: the keys of the alerts it raised and of those it resolved."""
        now = self.clock.now()
        with self.db.write() as session:
            found = rules.findings(
                session,
                now,
                self.settings,
                node_id=self.node_id,
                certificates=self.certificates,
            )
            raised, resolved = service.evaluate(session, found, now=now, settings=self.settings)
            return [a.key for a in raised], [a.key for a in resolved]

    def step(self) -> bool:
        self.run_once()
        return False

    def loop(self) -> Loop:
        return Loop(WATCH_NAME, self.step, interval=self.settings.interval_seconds)
