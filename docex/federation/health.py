"""The network as this node sees it, for the supervision dashboard: every node of the
directory up or down, the outbound queue, the directory in force.

Nothing here probes a peer: a node's state is read from what this node already knows of it.

- A success with a peer is the latest of: a transfer to it that it acknowledged
  (``Transfer.sent_at``), a transfer from it that this node accepted
  (``InboundTransfer.received_at``), a checkpoint of its audit log this node witnessed
  (``WitnessState.updated_at``).
- A failure is a transfer to it that was tried and is not sent (queued again after a failed
  attempt, or given up) and was queued after the last success.
- ``down``: failures stand and there was no success for ``down_after`` (the
  ``federation.peer_down_after_seconds`` setting); ``up``: a success and no standing failure
  older than that; ``idle``: nothing either way (no traffic, nothing to say); ``self``: this node.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docex.documents.models import Delivery
from docex.federation.directory import DirectoryState, state
from docex.federation.models import InboundTransfer, Transfer, WitnessState
from docex.federation.peers import hosted_counts, peers
from docex.federation.transfers import SENT
from docex.kit.clock import as_utc
from docex.queue.jobs import pending
from docex.vocabulary.transport import QUEUED

NodeState = Literal["self", "up", "down", "idle"]


@dataclass(frozen=True)
class NodeHealth:
    node_id: str
    base_url: str
    state: NodeState
    last_success: datetime | None  # the latest success with it (see the module docstring)
    failing: int  # transfers to it tried and not sent since that success
    last_error: str | None  # the latest of their errors
    hosted: int  # agencies of the directory it hosts


@dataclass(frozen=True)
class QueueHealth:
    depth: int  # outbound jobs waiting, every kind
    oldest_job_at: datetime | None  # when the oldest of them was queued
    by_kind: dict[str, int]
    undelivered: int  # deliveries still queued for transport
    oldest_undelivered_at: datetime | None


@dataclass(frozen=True)
class NetworkHealth:
    nodes: list[NodeHealth]
    queue: QueueHealth
    directory: DirectoryState | None  # None: this node works without a directory


def _latest(*moments: datetime | None) -> datetime | None:
    known = [as_utc(m) for m in moments if m is not None]
    return max(known) if known else None


def _successes(session: Session) -> dict[str, datetime]:
    found: dict[str, datetime | None] = {}
    queries = (
        select(Transfer.peer, func.max(Transfer.sent_at))
        .where(Transfer.sent_at.is_not(None))
        .group_by(Transfer.peer),
        select(InboundTransfer.from_node, func.max(InboundTransfer.received_at)).group_by(
            InboundTransfer.from_node
        ),
        select(WitnessState.peer, WitnessState.updated_at).where(WitnessState.fork_at.is_(None)),
    )
    for query in queries:
        for peer, at in session.execute(query).all():
            found[peer] = _latest(found.get(peer), at)
    return {peer: at for peer, at in found.items() if at is not None}


def _node_state(
    *,
    here: bool,
    last: datetime | None,
    failing: int,
    first_failure: datetime | None,
    now: datetime,
    down_after: timedelta,
) -> NodeState:
    if here:
        return "self"
    if failing:
        since = last if last is not None else first_failure
        if since is None or now - since >= down_after:
            return "down"
        return "up" if last is not None else "idle"
    return "up" if last is not None else "idle"


def network(
    session: Session, *, here: str, now: datetime, down_after_seconds: float, max_age_seconds: float
) -> NetworkHealth:
    """The network live as this node (``here``) knows it at ``now``."""
    down_after = timedelta(seconds=down_after_seconds)
    successes = _successes(session)
    hosted = hosted_counts(session)
    nodes = []
    for peer in peers(session):
        last = successes.get(peer.id)
        failures = select(Transfer).where(
            Transfer.peer == peer.id, Transfer.state != SENT, Transfer.attempts > 0
        )
        if last is not None:
            failures = failures.where(Transfer.created_at > last)
        rows = list(session.scalars(failures.order_by(Transfer.created_at)))
        first = as_utc(rows[0].created_at) if rows else None
        nodes.append(
            NodeHealth(
                node_id=peer.id,
                base_url=peer.base_url,
                state=_node_state(
                    here=peer.id == here,
                    last=last,
                    failing=len(rows),
                    first_failure=first,
                    now=now,
                    down_after=down_after,
                ),
                last_success=last,
                failing=len(rows),
                last_error=rows[-1].last_error if rows else None,
                hosted=hosted.get(peer.id, 0),
            )
        )
    waiting = pending(session)
    undelivered, oldest_delivery = session.execute(
        select(func.count(), func.min(Delivery.created_at)).where(Delivery.transport == QUEUED)
    ).one()
    starts = [as_utc(since) for _, since in waiting.values() if since is not None]
    queue = QueueHealth(
        depth=sum(count for count, _ in waiting.values()),
        oldest_job_at=min(starts) if starts else None,
        by_kind={kind: count for kind, (count, _) in sorted(waiting.items())},
        undelivered=int(undelivered),
        oldest_undelivered_at=as_utc(oldest_delivery) if oldest_delivery is not None else None,
    )
    return NetworkHealth(
        nodes=nodes,
        queue=queue,
        directory=state(session, now=now, max_age_seconds=max_age_seconds),
    )
