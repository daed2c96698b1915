"""The way from a node to any other follows the directory's tree: up to the hub, down to the
province that hosts the recipient."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from docex.config import FederationSettings
from docex.federation import peers
from docex.federation.peers import Peer

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


def _node(node_id: str, upstream: str | None) -> Peer:
    return Peer(node_id, f"https://{node_id}.example/", upstream, "PEM", None, None)


TREE = [
    _node("hub", None),
    _node("hanoi", "hub"),
    _node("hanoi-east", "hanoi"),
    _node("hue", "hub"),
]


def test_next_hop_walks_the_tree(database: tuple[str, dict[str, Any]]) -> None:
    engine = create_engine(database[0])
    with Session(engine) as session:
        peers.upsert(session, TREE, version=3, now=NOW)
        session.commit()
        hop = lambda here, to: peers.next_hop(session, here, to)  # noqa: E731
        assert hop("hanoi", "hue") == "hub"  # up
        assert hop("hub", "hue") == "hue"  # down
        assert hop("hub", "hanoi-east") == "hanoi"  # down, through the province
        assert hop("hanoi-east", "hue") == "hanoi"
        assert hop("hue", "hanoi-east") == "hub"
        assert hop("hanoi", "hub") == "hub"
        assert hop("hub", "hub") is None
        assert hop("hub", "nowhere") is None  # not in the directory
        assert peers.peer(session, "hue") == Peer(
            "hue", "https://hue.example", "hub", "PEM", None, None
        )
        assert [p.id for p in peers.peers(session)] == ["hanoi", "hanoi-east", "hub", "hue"]

        # A later version without a node drops it when asked to.
        peers.upsert(session, TREE[:2], version=4, now=NOW, prune=True)
        session.commit()
        assert [p.id for p in peers.peers(session)] == ["hanoi", "hub"]
        assert hop("hub", "hue") is None
    engine.dispose()


def test_peer_client_uses_the_configured_timeouts() -> None:
    settings = FederationSettings(timeout_seconds=7, connect_timeout_seconds=2)
    with peers.peer_client(settings) as client:
        assert client.timeout.read == 7
        assert client.timeout.connect == 2
        assert client.follow_redirects is False
