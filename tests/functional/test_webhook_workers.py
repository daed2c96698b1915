"""Four ``docex worker`` processes share 2,000 webhook messages through the one queue: every
message reaches its receiver, each exactly once (no crash, so no resend), and no worker meets
"database is locked" or any other error; on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from docex.auth.models import Principal
from docex.auth.policy import Actor, Kind
from docex.config import Settings
from docex.db import Database
from docex.keys.node import kek_ring
from docex.kit.clock import SystemClock
from docex.routing.webhooks import events, service
from docex.routing.webhooks.models import WebhookMessage
from docex.vocabulary.levels import Classification
from tests.functional.conftest import DOCEX, NodeProcess
from tests.routing.receiver import receiving

pytestmark = pytest.mark.functional

WORKERS = 4
EVENTS = 500  # each to 4 endpoints: 2,000 messages
CLOCK = SystemClock()


def test_four_workers_deliver_two_thousand_events_each_once(
    node_process: NodeProcess, database_url: str | None
) -> None:
    node = node_process
    node.database_url = database_url
    node.cli("init", "--demo")
    settings = Settings(data_dir=node.data_dir, database_url=database_url)
    db = Database(settings.resolved_database_url)
    env = node.env(DOCEX_WEBHOOKS__ALLOW_PRIVATE_TARGETS="true")
    try:
        with receiving() as receiver:
            with db.write() as session:
                systems = session.scalars(
                    select(Principal).where(Principal.kind == "system").order_by(Principal.id)
                ).all()[:4]
                agencies = [str(p.agency_id) for p in systems]
                for principal in systems:
                    actor = Actor(
                        principal.id,
                        Kind.SYSTEM,
                        principal.agency_id,
                        Classification.NORMAL,
                        None,
                    )
                    registration = service.vet(
                        actor, url=receiver.url, event_types=None, allow_private=True
                    )
                    service.register(
                        session, kek_ring(settings), actor, registration, now=CLOCK.now()
                    )
            workers = [
                subprocess.Popen(
                    [DOCEX, "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
                )
                for _ in range(WORKERS)
            ]
            try:
                for start in range(0, EVENTS, 50):  # committed in pieces while workers run
                    with db.write() as session:
                        for n in range(start, start + 50):
                            events.emit(
                                session,
                                events.DELIVERY_OVERDUE,
                                agency_ids=agencies,
                                data={"document_id": f"d{n}", "delivery_id": f"x{n}"},
                                now=CLOCK.now(),
                            )
                expected = EVENTS * len(agencies)
                deadline = time.monotonic() + 180
                delivered = 0
                while time.monotonic() < deadline:
                    with db.read() as session:
                        delivered = int(
                            session.scalar(
                                select(func.count())
                                .select_from(WebhookMessage)
                                .where(WebhookMessage.state == "delivered")
                            )
                            or 0
                        )
                    if delivered == expected:
                        break
                    time.sleep(0.2)
                assert delivered == expected
            finally:
                outputs: list[str] = []
                for worker in workers:
                    worker.terminate()
                for worker in workers:
                    stdout, _ = worker.communicate(timeout=60)
                    outputs.append(stdout.decode(errors="replace"))
            got = receiver.accepted()
    finally:
        db.dispose()
    per_message = Counter(r.message_id for r in got)
    assert len(per_message) == expected
    assert set(per_message.values()) == {1}  # each once
    assert len(receiver.all()) == expected  # and nothing refused or sent twice
    for output in outputs:
        assert "database is locked" not in output
        assert "Traceback" not in output
