"""The network as the supervision dashboard shows it (``federation.health.network``), on both
backends: each node's state from what this node knows of it (successes: a transfer it
acknowledged, a transfer from it, a witnessed checkpoint; failures: transfers tried and not
sent since), the outbound queue and the directory."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from docex.db import Database
from docex.federation.health import network
from docex.federation.models import FederationNode, InboundTransfer, Transfer, WitnessState
from docex.federation.transfers import FAILED, QUEUED, SENT

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
DOWN_AFTER = 900.0


@pytest.fixture
def db(database: tuple[str, dict[str, Any]]) -> Iterator[Database]:
    found = Database(database[0])
    yield found
    found.dispose()


def _node(node_id: str) -> FederationNode:
    return FederationNode(
        id=node_id,
        base_url=f"https://{node_id}.example",
        upstream=None,
        signing_key="-",
        certificates=None,
        audit_key=None,
        directory_version=1,
        updated_at=NOW,
    )


def _transfer(
    peer: str, state: str, *, created: datetime, sent: datetime | None = None, attempts: int = 1
) -> Transfer:
    return Transfer(
        id=str(uuid.uuid4()),
        kind="document",
        peer=peer,
        document_id=None,
        manifest="{}",
        digest=None,
        state=state,
        attempts=attempts,
        last_error="connect timeout" if state != SENT else None,
        receipt=None,
        created_at=created,
        sent_at=sent,
    )


def test_each_node_is_up_down_or_idle_from_its_last_success_and_failures_since(
    db: Database,
) -> None:
    long_ago, lately = NOW - timedelta(hours=2), NOW - timedelta(minutes=5)
    with db.write() as session:
        for node_id in ("hub", "ok", "down", "wobbly", "silent", "heard", "witnessed", "never"):
            session.add(_node(node_id))
        session.add_all(
            [
                # ok: a transfer acknowledged lately
                _transfer("ok", SENT, created=lately, sent=lately),
                # down: acknowledged two hours ago, failing since
                _transfer("down", SENT, created=long_ago, sent=long_ago),
                _transfer("down", QUEUED, created=long_ago + timedelta(minutes=1), attempts=3),
                _transfer("down", FAILED, created=long_ago + timedelta(minutes=2), attempts=9),
                # wobbly: acknowledged lately, one failing for less than the limit
                _transfer("wobbly", SENT, created=lately, sent=lately),
                _transfer("wobbly", QUEUED, created=lately + timedelta(minutes=1)),
                # silent: queued and never tried: no traffic has failed
                _transfer("silent", QUEUED, created=long_ago, attempts=0),
                # never: tried for two hours, never a success
                _transfer("never", QUEUED, created=long_ago, attempts=5),
                InboundTransfer(
                    id="in-1",
                    kind="document",
                    from_node="heard",
                    digest="d",
                    document_id=None,
                    receipt="r",
                    received_at=lately,
                ),
                WitnessState(
                    peer="witnessed",
                    origin="witnessed/audit",
                    log_key="k",
                    tree_size=3,
                    root_hash="h",
                    checkpoint="c",
                    signed=None,
                    timestamp=0,
                    updated_at=lately,
                    fork_at=None,
                    fork_reason=None,
                ),
            ]
        )
    with db.read() as session:
        health = network(
            session, here="hub", now=NOW, down_after_seconds=DOWN_AFTER, max_age_seconds=86400
        )
    states = {n.node_id: n.state for n in health.nodes}
    assert states == {
        "hub": "self",
        "ok": "up",
        "down": "down",
        "wobbly": "up",
        "silent": "idle",
        "heard": "up",
        "witnessed": "up",
        "never": "down",
    }
    by_id = {n.node_id: n for n in health.nodes}
    assert by_id["down"].failing == 2
    assert by_id["down"].last_error == "connect timeout"
    assert by_id["down"].last_success == long_ago
    assert by_id["ok"].failing == 0
    assert by_id["heard"].last_success == lately
    assert health.directory is None  # none published or fetched in this database
