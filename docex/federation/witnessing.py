"""Cross-node audit: every node witnesses the audit logs of the peers the directory lists.

Each node is a witness (c2sp.org/tlog-cosignature, :mod:`docex.audit.witness`) of every other
node's log. The routing worker runs :meth:`PeerWitnessing.step` every
``DOCEX_FEDERATION__WITNESS_INTERVAL_SECONDS``: for each peer it fetches the latest checkpoint
(``GET /federation/v1/audit/checkpoint``, public: it is signed), checks it against the log key
the directory publishes for that peer and, with a consistency proof, against the last
checkpoint this node cosigned for it (kept in ``federation_witness``, one row a peer), then
posts its cosignature (``POST /federation/v1/audit/cosignatures``). The peer accepts it only
from a witness key the directory publishes for a node, stores it, and serves it with its
checkpoint, so an auditor of any node sees its log cosigned by the others.

A peer whose log was rewritten (events replaced or cut, and the checkpoint re-signed, with the
log key or another) shows a view inconsistent with one we cosigned: a **fork**. Then this node
cosigns nothing, records ``audit:peer_fork:detected`` in its own log, marks the peer's row
(``fork_at``, ``fork_reason``: the gauge ``docex_federation_witness_fork{peer}`` is 1, and the
peer is not witnessed again until an operator clears it, ``docex audit peers --clear-fork``),
and tells the peer (``POST /federation/v1/audit/forks``, with the checkpoint we cosigned as a
whole signed note: evidence the peer, or anyone, can check).

What the directory publishes for a node (``audit_key``): its log's verifier key (type 0x02) and
its witness key (type 0x04), one vkey a line (:func:`published_audit_key`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from docex.audit import checkpoints, events, notes
from docex.audit.witness import ForkDetected, State, Transport, Witness, WitnessError
from docex.config import FederationSettings
from docex.db import Database
from docex.errors import Forbidden, Unprocessable
from docex.federation.models import WitnessState
from docex.federation.peers import Peer, peer_client, peers
from docex.kit.clock import Clock

log = logging.getLogger(__name__)

API = "/federation/v1/audit"
WITNESS_TIMEOUT_SECONDS = 30.0
WITNESS_NAME = "{node}/witness"  # the key name of a node's witness key

Connect = Callable[[Peer], AbstractContextManager[Transport]]


# -- the keys the directory publishes -----------------------------------------------------------


@dataclass(frozen=True)
class AuditKeys:
    """A node's audit keys as the directory publishes them (``audit_key``)."""

    log: notes.EcdsaVerifier | None
    witnesses: tuple[notes.CosignatureVerifier, ...]


def published_audit_key(log_key: notes.EcdsaVerifier, witness: notes.CosignatureVerifier) -> str:
    """The ``audit_key`` text of a node entry: the log's vkey, then the witness's, a line each."""
    return f"{log_key.vkey()}\n{witness.vkey()}\n"


def audit_keys(text: str | None) -> AuditKeys:
    """Parse an ``audit_key`` text: vkeys, one a line, of type 0x02 (the log's, at most one)
    and 0x04 (witness keys); NoteError if a line is neither."""
    log_key: notes.EcdsaVerifier | None = None
    witnesses: list[notes.CosignatureVerifier] = []
    for line in (text or "").split():
        kind = notes.parse_vkey(line)[2][0]
        if kind == notes.ECDSA_TYPE and log_key is None:
            log_key = notes.log_verifier_from_vkey(line)
        elif kind == notes.COSIGNATURE_TYPE:
            witnesses.append(notes.CosignatureVerifier.from_vkey(line))
        else:
            raise notes.NoteError("an audit key is one log vkey (0x02) and witness vkeys (0x04)")
    return AuditKeys(log_key, tuple(witnesses))


def witness_of(session: Session, vkey: str, *, here: str) -> tuple[Peer, notes.CosignatureVerifier]:
    """The peer (not this node) whose published witness keys include ``vkey``; Forbidden
    ``unknown_witness`` if none does."""
    for peer in peers(session):
        if peer.id == here:
            continue
        try:
            keys = audit_keys(peer.audit_key)
        except notes.NoteError:
            log.warning("the directory's audit key of %s does not parse", peer.id)
            continue
        for witness in keys.witnesses:
            if witness.vkey() == vkey.strip():
                return peer, witness
    raise Forbidden(
        "that key is not the witness key of any node in the directory", code="unknown_witness"
    )


# -- receiving: peers' cosignatures and fork reports ---------------------------------------------


def check_fork_report(
    cosigned: str | None, log_key: notes.EcdsaVerifier, witness: notes.CosignatureVerifier
) -> checkpoints.TreeHead:
    """A peer's fork report must carry, as ``cosigned``, a checkpoint of this log signed by its
    log key and cosigned by that peer: evidence, whoever relays it. Unprocessable
    ``bad_fork_report`` otherwise."""
    if not cosigned:
        raise Unprocessable("a fork report carries the checkpoint cosigned", code="bad_fork_report")
    try:
        head, note = checkpoints.open_checkpoint(cosigned, log_key)
        if not checkpoints.cosignatures(note, [witness]):
            raise notes.NoteError("not cosigned by the reporting witness")
    except notes.NoteError as exc:
        raise Unprocessable(f"the cosigned checkpoint: {exc}", code="bad_fork_report") from exc
    return head


# -- witnessing the peers ------------------------------------------------------------------------


class DatabaseState:
    """A witness's state for one peer in ``federation_witness``; saved by compare-and-set, so
    two workers witnessing the same peer at once never move it backwards."""

    def __init__(self, db: Database, peer: str, *, clock: Clock) -> None:
        self.db = db
        self.peer = peer
        self.clock = clock

    def load(self) -> State | None:
        with self.db.read() as session:
            row = session.get(WitnessState, self.peer)
            return _state(row) if row is not None else None

    def save(self, state: State, previous: State | None) -> None:
        values = {
            "origin": state.origin,
            "log_key": state.log_key,
            "tree_size": state.tree_size,
            "root_hash": state.root_hash,
            "checkpoint": state.checkpoint,
            "signed": state.signed,
            "timestamp": state.timestamp,
            "updated_at": self.clock.now(),
        }
        with self.db.write() as session:
            if previous is None:
                if session.get(WitnessState, self.peer) is not None:
                    raise WitnessError(f"{self.peer}: witnessed concurrently; next time")
                session.add(WitnessState(peer=self.peer, **values))
                return
            result = session.execute(
                update(WitnessState)
                .where(
                    WitnessState.peer == self.peer,
                    WitnessState.tree_size == previous.tree_size,
                    WitnessState.root_hash == previous.root_hash,
                    WitnessState.timestamp == previous.timestamp,
                    WitnessState.fork_at.is_(None),
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) != 1:
                raise WitnessError(f"{self.peer}: witnessed concurrently; next time")


def _state(row: WitnessState) -> State:
    return State(
        origin=row.origin,
        log_key=row.log_key,
        tree_size=row.tree_size,
        root_hash=row.root_hash,
        checkpoint=row.checkpoint,
        timestamp=row.timestamp,
        signed=row.signed,
    )


@dataclass(frozen=True)
class Outcome:
    peer: str
    result: str  # cosigned | unchanged | fork | forked | failed | no_key
    detail: str = ""
    tree_size: int | None = None


def peer_transports(settings: FederationSettings) -> Connect:
    """Connects to a peer with the peer client (timeouts, mutual TLS) at its base URL."""

    def connect(peer: Peer) -> AbstractContextManager[Transport]:
        client = peer_client(settings)
        client.base_url = peer.base_url
        # Checkpoints and proofs are small: a peer that hangs must not hold the round long.
        client.timeout = httpx.Timeout(
            min(settings.timeout_seconds, WITNESS_TIMEOUT_SECONDS),
            connect=settings.connect_timeout_seconds,
        )
        return client

    return connect


class PeerWitnessing:
    """This node witnessing every peer of the directory (a chore of the routing worker)."""

    def __init__(
        self,
        db: Database,
        cosigner: notes.Cosigner,
        *,
        node_id: str,
        clock: Clock,
        connect: Connect,
    ) -> None:
        self.db = db
        self.cosigner = cosigner
        self.node_id = node_id
        self.clock = clock
        self.connect = connect

    def step(self) -> bool:
        """One round over the peers (the worker's loop calls it); never raises for a peer."""
        self.run_once()
        return False

    def run_once(self) -> list[Outcome]:
        with self.db.read() as session:
            others = [p for p in peers(session) if p.id != self.node_id]
        return [self.witness(peer) for peer in others]

    def witness(self, peer: Peer) -> Outcome:
        """Witness ``peer`` once: cosign its latest checkpoint, or record a fork."""
        try:
            keys = audit_keys(peer.audit_key)
        except notes.NoteError as exc:
            log.warning("cannot witness %s: its audit key does not parse: %s", peer.id, exc)
            return Outcome(peer.id, "no_key", str(exc))
        if keys.log is None:
            return Outcome(peer.id, "no_key", "the directory publishes no log key for it")
        with self.db.read() as session:
            row = session.get(WitnessState, peer.id)
            if row is not None and row.fork_at is not None:
                return Outcome(peer.id, "forked", row.fork_reason or "")
        try:
            with self.connect(peer) as transport:
                done = Witness(
                    self.cosigner,
                    DatabaseState(self.db, peer.id, clock=self.clock),
                    transport,
                    clock=self.clock,
                    log_key=keys.log,
                    api=API,
                    evidence=True,
                ).run_once()
        except ForkDetected as fork:
            self._record_fork(peer.id, fork)
            return Outcome(peer.id, "fork", fork.reason)
        except WitnessError as exc:
            log.warning("witnessing %s failed, will retry: %s", peer.id, exc)
            return Outcome(peer.id, "failed", str(exc)[:500])
        except Exception as exc:  # one peer's trouble (its TLS files, our database) is not all's
            log.exception("witnessing %s failed, will retry", peer.id)
            return Outcome(peer.id, "failed", f"{type(exc).__name__}: {exc}"[:500])
        return Outcome(
            peer.id, "cosigned" if done.stored else "unchanged", tree_size=done.tree_size
        )

    def _record_fork(self, peer: str, fork: ForkDetected) -> None:
        log.error("FORK of the audit log of peer %s: %s", peer, fork.reason)
        now = self.clock.now()
        with self.db.write() as session:
            session.execute(
                update(WitnessState)
                .where(WitnessState.peer == peer)
                .values(fork_at=now, fork_reason=fork.reason[:1000])
                .execution_options(synchronize_session=False)
            )
            events.record(
                session,
                events.PEER_FORK_DETECTED,
                at=now,
                peer=peer,
                reason=fork.reason[:1000],
                seen=fork.seen[:20000],
                cosigned=fork.cosigned,
                first_bad_index=fork.first_bad_index,
            )


# -- the operator's view ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Witnessed:
    peer: str
    tree_size: int
    cosigned_at: int  # POSIX seconds of our last cosignature
    updated_at: datetime
    fork_at: datetime | None
    fork_reason: str | None


def witnessed(session: Session) -> list[Witnessed]:
    """What this node witnessed of each peer, forks included, by peer."""
    return [
        Witnessed(r.peer, r.tree_size, r.timestamp, r.updated_at, r.fork_at, r.fork_reason)
        for r in session.scalars(select(WitnessState).order_by(WitnessState.peer))
    ]


def clear_fork(session: Session, peer: str, *, forget: bool = False) -> bool:
    """An operator who investigated a fork lets witnessing of ``peer`` resume: from the state
    kept (the peer must extend what we cosigned), or, with ``forget``, from scratch (the next
    checkpoint is trusted as on first use). True if there was such a row."""
    row = session.get(WitnessState, peer)
    if row is None:
        return False
    if forget:
        session.delete(row)
    else:
        row.fork_at = None
        row.fork_reason = None
    return True
