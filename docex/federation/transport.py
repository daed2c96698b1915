"""The ``transfer`` transport of the routing worker: each claimed transfer is sent, signed, to
its peer (the next hop), and completed once the peer's signed transport receipt verifies.

- **Same bytes on every attempt.** The body is the transfer's manifest (fixed when it was
  queued) and its kind's parts; its ``Content-Digest`` is computed once, by streaming the body
  on the first attempt, and stored on the transfer. Every attempt sends that digest and the
  same body, cut before its end if a part's source no longer gives the same bytes. The RFC 9421
  signature is made afresh per attempt (its ``created`` is the attempt's time, so a peer's
  freshness check holds however long the retries go on): the signature differs between
  attempts, the signed content does not.
- **Outcomes.** 200/201 with a receipt that verifies with the peer's key from the directory and
  binds our transfer id, kind, both nodes, the digest and every part's SHA-256: in one
  transaction the transfer is ``sent`` (receipt stored, ``sent_at``), ``Kind.sent``, the job
  completed, ``federation:transfer:sent``. A peer that does not answer, answers 5xx, 3xx, 408,
  425 or 429, or whose receipt does not verify (its key may have changed before our
  directory): retried with the federation backoff until the TTL, the kind told "waiting for
  node X"; when the queue gives up, the transfer is ``failed``, ``Kind.failed(final=True)``,
  ``federation:transfer:failed``. 401 and 403 ``federation_unknown_node`` (the peer's directory
  may not know this node or its key yet, or the clocks disagree) are retried the same way. Any
  other 4xx is the peer's considered refusal of this transfer (malformed, digest mismatch,
  unknown kind, conflict, too large, the kind's own refusal): final at once.
- **Never blocking.** Sends run on a thread pool, one *lane* per peer: a lane sends its peer's
  transfers in order and, at the first failure that says the peer is unreachable, retries the
  rest unsent. ``move`` waits for its batch at most ``batch_wait_seconds``; a slow peer's lane
  goes on alone while the loop claims more, so it holds up no other peer. No transaction is
  open during HTTP; the worker's heartbeat keeps the leases of slow sends.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from docex.audit import events
from docex.config import FederationSettings
from docex.db import Database
from docex.federation import peers, wire
from docex.federation.kinds import Kind
from docex.federation.models import Transfer
from docex.federation.registry import KindRegistry
from docex.federation.transfers import FAILED, QUEUED, SENT
from docex.kit.clock import Clock
from docex.kit.faults import TRANSFER_AFTER_SEND, crash_point
from docex.kit.lanes import Lanes
from docex.queue import jobs
from docex.queue.jobs import Claimed, RetryPolicy
from docex.signing.jws import EcdsaKey
from docex.vocabulary.transport import JOB_TRANSFER

log = logging.getLogger(__name__)
MAX_ANSWER_BYTES = 256 * 1024
# 4xx answers that are not a refusal of the transfer itself: retried like a peer that is down.
_RETRIED_STATUSES = frozenset({401, 404, 408, 425, 429})
_RETRIED_CODES = frozenset({"federation_unknown_node"})


@dataclass(frozen=True)
class _Send:
    job: Claimed
    transfer_id: str
    claimed: datetime


@dataclass(frozen=True)
class Outcome:
    """What became of one attempt: ``receipt`` (sent), else ``error`` and whether it is
    ``final`` (the peer refused this transfer for good) or the peer is ``down`` (the rest of
    its lane waits too)."""

    receipt: str | None = None
    claims: dict[str, Any] | None = None
    error: str | None = None
    final: bool = False
    down: bool = False


def policy_of(settings: FederationSettings) -> RetryPolicy:
    return RetryPolicy(
        base=timedelta(seconds=settings.backoff_base_seconds),
        cap=timedelta(seconds=settings.backoff_cap_seconds),
        max_attempts=None,
        ttl=timedelta(seconds=settings.ttl_seconds),
    )


def waiting_for(peer: str) -> str:
    return f"waiting for node {peer}"


class TransferTransport:
    kind = JOB_TRANSFER

    def __init__(
        self,
        db: Database,
        key: EcdsaKey,
        kinds: KindRegistry,
        settings: FederationSettings,
        *,
        node_id: str,
        clock: Clock,
        client: httpx.Client | None = None,
    ) -> None:
        self.db = db
        self.key = key
        self.kinds = kinds
        self.settings = settings
        self.node_id = node_id
        self.clock = clock
        self.batch_size = settings.batch_size
        self.policy = policy_of(settings)
        self._busy = RetryPolicy(
            base=timedelta(seconds=1), cap=timedelta(seconds=1), max_attempts=None, ttl=None
        )
        self._http = client or peers.peer_client(settings)
        # One lane per peer: a slow peer holds up only the transfers to it.
        self._lanes: Lanes[_Send] = Lanes(
            self._run, workers=settings.concurrency, cap=self.batch_size, name="docex-transfer"
        )

    def close(self) -> None:
        self._lanes.close()
        self._http.close()

    def drain(self, timeout: float = 60.0) -> bool:
        """Waits until no send is in flight (tests, benchmarks); False if some still are."""
        return self._lanes.drain(timeout)

    # -- one batch -----------------------------------------------------------------------------

    def move(self, batch: Sequence[Claimed], now: datetime) -> int:
        with self.db.read() as session:
            rows = {
                t.id: (t.peer, t.state)
                for t in session.scalars(
                    select(Transfer).where(Transfer.id.in_([j.ref for j in batch]))
                )
            }
        # A failed transfer whose job is queued again was re-queued by an operator: it goes.
        gone = [j for j in batch if j.ref not in rows or rows[j.ref][1] == SENT]
        completed = 0
        if gone:  # sent meanwhile, or removed: nothing to move
            with self.db.write() as session:
                completed += len(jobs.complete(session, gone))
        sends: dict[str, list[_Send]] = {}
        for job in batch:
            if job.ref in rows and rows[job.ref][1] != SENT:
                sends.setdefault(rows[job.ref][0], []).append(_Send(job, job.ref, now))
        sent, overflow = self._lanes.offer(sends, wait_seconds=self.settings.batch_wait_seconds)
        if overflow:
            with self.db.write() as session:
                for item in overflow:
                    jobs.retry(session, item.job, "peer busy", now=now, policy=self._busy)
        return completed + sent

    def _run(self, peer: str, items: list[_Send]) -> int:
        """Sends a lane's transfers in order; once the peer is found down, the rest are
        recorded as waiting without trying. Returns how many were sent."""
        sent = 0
        down: Outcome | None = None
        for item in items:
            try:
                outcome = down or self._attempt(peer, item)
                if outcome.down:
                    down = outcome
                sent += self._record(peer, item, outcome)
            except Exception:
                log.exception("transfer %s to %s failed", item.transfer_id, peer)
                self._give_back(item)
        return sent

    def _give_back(self, item: _Send) -> None:
        try:
            with self.db.write() as session:
                jobs.retry(
                    session,
                    item.job,
                    "the attempt could not be made or recorded",
                    now=max(self.clock.now(), item.claimed),
                    policy=self.policy,
                )
        except Exception:
            log.exception("could not give transfer %s back to the queue", item.transfer_id)

    # -- one attempt ---------------------------------------------------------------------------

    def _attempt(self, peer_id: str, item: _Send) -> Outcome:
        with self.db.read() as session:
            transfer = session.get(Transfer, item.transfer_id)
            peer = peers.peer(session, peer_id)
            if transfer is None:
                return Outcome(error="the transfer is gone", final=True)
            kind = self.kinds.get(transfer.kind)
            if kind is None:
                return Outcome(error=f"this node has no transfer kind {transfer.kind!r}")
            parts = kind.parts(session, transfer)
            digest, kind_name = transfer.digest, transfer.kind
            manifest = transfer.manifest.encode()
        if peer is None:
            return Outcome(error=f"node {peer_id} is not in the directory", down=True)
        body = wire.Body(item.transfer_id, manifest, parts)
        if digest is None:  # the first attempt: fixed now, for this and every later one
            digest = wire.content_digest(body.chunks())
            with self.db.write() as session:
                session.execute(
                    update(Transfer)
                    .where(Transfer.id == item.transfer_id, Transfer.digest.is_(None))
                    .values(digest=digest)
                    .execution_options(synchronize_session=False)
                )
                fixed = session.scalar(
                    select(Transfer.digest).where(Transfer.id == item.transfer_id)
                )
            digest = fixed or digest
        url = f"{peer.base_url}{wire.PATH}"
        headers = wire.sign(
            self.key,
            self.node_id,
            url,
            wire.headers_for(item.transfer_id, kind_name, body, digest),
            created=self.clock.now(),
        )
        try:
            with self._http.stream(
                "POST", url, headers=headers, content=body.chunks(expect=digest)
            ) as response:
                answer = _read_capped(response)
        except wire.BodyChanged as exc:
            return Outcome(error=str(exc), final=True)
        except httpx.TimeoutException:
            return Outcome(error=f"node {peer_id} timed out", down=True)
        except httpx.HTTPError as exc:
            return Outcome(error=f"node {peer_id}: {type(exc).__name__}: {exc}"[:300], down=True)
        status = response.status_code
        if status in (200, 201):
            try:
                token = json.loads(answer)["receipt"]
                claims = wire.verify_receipt(
                    token,
                    peer_key_pem=peer.signing_key,
                    transfer_id=item.transfer_id,
                    kind=kind_name,
                    from_node=self.node_id,
                    to_node=peer.id,
                    digest=digest,
                    parts=body.hashes,
                )
            except (ValueError, KeyError, TypeError, wire.ReceiptInvalid) as exc:
                return Outcome(error=f"node {peer_id}'s receipt is refused: {exc}"[:300])
            return Outcome(receipt=token, claims=claims)
        code = _error_code(answer)
        error = f"node {peer_id} answered HTTP {status}" + (f" {code}" if code else "")
        if 400 <= status < 500 and status not in _RETRIED_STATUSES and code not in _RETRIED_CODES:
            return Outcome(error=error, final=True)
        return Outcome(error=error, down=status >= 500 or status in (408, 429))

    # -- its outcome, in one transaction -----------------------------------------------------------

    def _record(self, peer: str, item: _Send, outcome: Outcome) -> int:
        if outcome.receipt is not None:
            crash_point(TRANSFER_AFTER_SEND)  # the peer has it; this node has not noted it
        now = max(self.clock.now(), item.claimed)
        with self.db.write() as session:
            transfer = session.get(Transfer, item.transfer_id)
            kind = self.kinds.get(transfer.kind) if transfer is not None else None
            if outcome.receipt is not None and outcome.claims is not None:
                if not jobs.complete(session, [item.job]) or transfer is None:
                    return 0  # the lease was lost: whoever holds it now decides
                transfer.state = SENT
                transfer.receipt = outcome.receipt
                transfer.sent_at = now
                transfer.attempts = item.job.attempts
                transfer.last_error = None
                if kind is not None:
                    kind.sent(session, transfer, outcome.claims)
                events.record(
                    session,
                    events.TRANSFER_SENT,
                    at=now,
                    document_id=transfer.document_id,
                    transfer_id=transfer.id,
                    kind=transfer.kind,
                    peer=peer,
                    digest=transfer.digest,
                    attempts=item.job.attempts,
                )
                return 1
            error = (outcome.error or "failed")[:500]
            if outcome.final:
                failed = jobs.fail(session, item.job, error, now=now)
                state: str | None = jobs.FAILED if failed else None
            else:
                state = jobs.retry(session, item.job, error, now=now, policy=self.policy)
            if state is None or transfer is None:
                return 0
            transfer.attempts = item.job.attempts
            transfer.last_error = error
            if state == jobs.FAILED:
                transfer.state = FAILED
                reason = (
                    f"node {peer} refused the transfer: {error}"
                    if outcome.final
                    else (f"gave up waiting for node {peer}: {error}")
                )
                _tell(kind, session, transfer, reason[:500], now=now, final=True)
                events.record(
                    session,
                    events.TRANSFER_FAILED,
                    at=now,
                    document_id=transfer.document_id,
                    transfer_id=transfer.id,
                    kind=transfer.kind,
                    peer=peer,
                    attempts=item.job.attempts,
                    reason=error,
                )
            else:
                transfer.state = QUEUED  # (again, if an operator re-queued a failed one)
                _tell(kind, session, transfer, waiting_for(peer), now=now, final=False)
            return 0


def _tell(
    kind: Kind | None, session: Any, transfer: Transfer, reason: str, *, now: datetime, final: bool
) -> None:
    if kind is not None:
        kind.failed(session, transfer, reason, now=now, final=final)


def _read_capped(response: httpx.Response) -> bytes:
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) > MAX_ANSWER_BYTES:
            break
    return bytes(data[:MAX_ANSWER_BYTES])


def _error_code(answer: bytes) -> str | None:
    parsed = wire.parse_json_object(answer)
    code = parsed.get("error") if parsed else None
    return code if isinstance(code, str) else None
