"""The ``webhook`` transport of the routing worker: each claimed message is POSTed, signed, to
its endpoint; a 2xx completes its job (compare-and-set on the lease token) and marks it
delivered, anything else (another status, a timeout, a refused connection, a target that now
resolves to a forbidden address) retries it with backoff until its time-to-live is spent.

- **At least once**: a message is marked delivered only after its receiver said 2xx, so a crash
  in between sends it again, with the same ``webhook-id`` (receivers deduplicate on it).
- **Never blocking**: the sends run on a small thread pool, one *lane* per endpoint with sends
  in flight. A lane sends its endpoint's messages in order and stops at the first failure (the
  rest of its queue is retried with it, unsent), so a receiver that hangs costs one timeout,
  not one per event. ``move`` waits for its batch only ``batch_wait_seconds``: a lane still
  sending then goes on by itself while the loop claims the next batch; messages claimed for
  an endpoint whose lane is busy queue behind it (up to a batch; past that they go back to the
  queue for a second). So a receiver that hangs holds up neither other endpoints nor anything
  else. Each lane records its outcomes as they come, in a short transaction of its own; no
  transaction is open during HTTP; the worker's heartbeat keeps the leases of slow sends.
- A message of a disabled or deleted endpoint completes its job without being sent.
- Redirects are never followed, and the connection goes to the address that was checked
  (``targets``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, update

from docex.audit import events
from docex.config import WebhookSettings
from docex.db import Database
from docex.errors import DocexError
from docex.kit.clock import Clock
from docex.kit.faults import WEBHOOK_AFTER_SEND, crash_point
from docex.kit.lanes import Lanes
from docex.queue import jobs
from docex.queue.jobs import Claimed, RetryPolicy
from docex.routing.webhooks import secrets, targets
from docex.routing.webhooks.events import DELIVERED, DROPPED, FAILED
from docex.routing.webhooks.models import WebhookEndpoint, WebhookMessage
from docex.signing.keks import KekError, KekRing
from docex.vocabulary.transport import JOB_WEBHOOK

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Send:
    endpoint: _Endpoint
    job: Claimed
    message_id: str
    body: bytes
    claimed: datetime  # the ``now`` of the pass that claimed it


@dataclass(frozen=True)
class _Endpoint:
    id: str
    agency_id: str
    url: str
    secret: bytes | None  # None: the secret does not unwrap (a KEK missing): every send fails
    error: str | None


def policy_of(settings: WebhookSettings) -> RetryPolicy:
    return RetryPolicy(
        base=timedelta(seconds=settings.backoff_base_seconds),
        cap=timedelta(seconds=settings.backoff_cap_seconds),
        max_attempts=None,
        ttl=timedelta(seconds=settings.ttl_seconds),
    )


class WebhookTransport:
    kind = JOB_WEBHOOK

    def __init__(
        self,
        db: Database,
        keks: KekRing,
        settings: WebhookSettings,
        *,
        clock: Clock,
        resolve: targets.Resolver = targets.system_resolver,
        on_outcome: Callable[[str], object] | None = None,
    ) -> None:
        self.db = db
        self.keks = keks
        self.settings = settings
        self.clock = clock
        self.resolve = resolve
        self.batch_size = settings.batch_size
        self.policy = policy_of(settings)
        # Told "delivered", "retry", "failed" or "dropped" for each message (the metrics).
        self.on_outcome = on_outcome
        self._busy = RetryPolicy(
            base=timedelta(seconds=1),
            cap=timedelta(seconds=1),
            max_attempts=None,
            ttl=self.policy.ttl,
        )
        # One lane per endpoint: a hanging receiver holds up only its own messages.
        self._lanes: Lanes[_Send] = Lanes(
            self._run,
            workers=settings.concurrency,
            cap=settings.batch_size,
            name="docex-webhook",
        )
        self._http = httpx.Client(
            follow_redirects=False,
            trust_env=False,  # never through a proxy from the environment: the check is ours
            limits=httpx.Limits(max_connections=settings.concurrency * 2),
        )

    def close(self) -> None:
        self._lanes.close()
        self._http.close()

    def drain(self, timeout: float = 60.0) -> bool:
        """Waits until no send is in flight (tests, benchmarks); False if some still are."""
        return self._lanes.drain(timeout)

    # -- one batch ---------------------------------------------------------------------------

    def move(self, batch: Sequence[Claimed], now: datetime) -> int:
        with self.db.read() as session:
            rows = {
                m.id: m
                for m in session.scalars(
                    select(WebhookMessage).where(WebhookMessage.id.in_([j.ref for j in batch]))
                )
            }
            wanted = list({m.endpoint_id for m in rows.values()})
            found = {
                e.id: e
                for e in session.scalars(
                    select(WebhookEndpoint).where(WebhookEndpoint.id.in_(wanted))
                )
            }
        live = {
            eid: self._endpoint(e) for eid, e in found.items() if e.enabled and not e.deleted_at
        }
        dropped: list[Claimed] = []
        sends: dict[str, list[_Send]] = {}
        for job in batch:
            message = rows.get(job.ref)
            if message is None or message.state == DELIVERED or message.endpoint_id not in live:
                dropped.append(job)
                continue
            sends.setdefault(message.endpoint_id, []).append(
                _Send(live[message.endpoint_id], job, message.id, message.payload.encode(), now)
            )
        completed = self._drop(dropped) if dropped else 0
        sent, overflow = self._lanes.offer(sends, wait_seconds=self.settings.batch_wait_seconds)
        if overflow:
            self._defer(overflow, now)
        return completed + sent

    def _endpoint(self, row: WebhookEndpoint) -> _Endpoint:
        try:
            secret: bytes | None = secrets.unwrap(
                self.keks, row.id, row.secret_kek_version, row.secret_wrapped
            )
            error = None
        except KekError as exc:
            secret, error = None, f"the endpoint's secret is unavailable: {type(exc).__name__}"
            log.error("webhook endpoint %s: %s", row.id, error)
        return _Endpoint(row.id, row.agency_id, row.url, secret, error)

    def _drop(self, dropped: Sequence[Claimed]) -> int:
        with self.db.write() as session:
            done = jobs.complete(session, dropped)
            refs = [j.ref for j in dropped if j.id in done]
            if refs:
                session.execute(
                    update(WebhookMessage)
                    .where(WebhookMessage.id.in_(refs), WebhookMessage.state != DELIVERED)
                    .values(state=DROPPED)
                    .execution_options(synchronize_session=False)
                )
        self._tell("dropped", len(done))
        return len(done)

    def _run(self, endpoint_id: str, items: list[_Send]) -> int:
        """Sends a lane's messages in order; at the first failure the rest is retried with it,
        unsent. Returns how many were delivered."""
        try:
            return self._send_all(items[0].endpoint, items)
        except Exception:
            log.exception("webhook sends to endpoint %s failed", endpoint_id)
            self._give_back(items)
            return 0

    def _give_back(self, items: Sequence[_Send]) -> None:
        """Jobs whose outcome could not be recorded (the database failed): back in the queue,
        since the heartbeat would otherwise keep them leased to this worker. If even that
        fails, they stay leased until this worker stops, and are then sent again."""
        try:
            now = max([self.clock.now(), *(item.claimed for item in items)])
            self._defer(items, now, reason="the outcome could not be recorded")
        except Exception:
            log.exception("could not give %d webhook jobs back to the queue", len(items))

    def _send_all(self, endpoint: _Endpoint, items: Sequence[_Send]) -> int:
        outcomes: list[tuple[_Send, str | None]] = []
        failure: str | None = endpoint.error
        target: targets.Target | None = None
        if failure is None:
            try:  # again at every send: DNS may have changed since the registration
                target = targets.check(
                    endpoint.url,
                    allow_private=self.settings.allow_private_targets,
                    resolve=self.resolve,
                )
            except DocexError as exc:
                failure = f"{exc.code}: {exc.detail}"
        for item in items:
            if failure is None and target is not None and endpoint.secret is not None:
                failure = self._post(target, endpoint.secret, item)
                crash_point(WEBHOOK_AFTER_SEND)
            outcomes.append((item, failure))
        # Retries count from now, or from the claim's time if a test moved the clock ahead.
        now = max([self.clock.now(), *(item.claimed for item in items)])
        return self._record(endpoint, outcomes, now)

    def _post(self, target: targets.Target, secret: bytes, item: _Send) -> str | None:
        """One send; None when the receiver accepted it, else why not."""
        timestamp = int(self.clock.now().timestamp())
        headers = {
            "Host": target.host_header,
            "content-type": "application/json",
            "user-agent": "docex-webhooks",
            "webhook-id": item.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": secrets.signature(secret, item.message_id, timestamp, item.body),
        }
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            request = self._http.build_request(
                "POST",
                target.pinned_url,
                content=item.body,
                headers=headers,
                extensions=extensions,
                timeout=httpx.Timeout(
                    self.settings.timeout_seconds, connect=self.settings.connect_timeout_seconds
                ),
            )
            response = self._http.send(request, stream=True)
            response.close()  # the body is not needed: only the status says anything
        except httpx.TimeoutException:
            return "timed out"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {str(exc)[:200]}"
        if 200 <= response.status_code < 300:
            return None
        return f"answered HTTP {response.status_code}"

    def _defer(self, items: Sequence[_Send], now: datetime, reason: str = "endpoint busy") -> None:
        """Jobs claimed while their endpoint's queue here is full (or whose outcome could not
        be recorded): back in the queue for a second."""
        with self.db.write() as session:
            for item in items:
                jobs.retry(session, item.job, reason, now=now, policy=self._busy)

    def _record(
        self, endpoint: _Endpoint, outcomes: Sequence[tuple[_Send, str | None]], now: datetime
    ) -> int:
        told: list[str] = []
        with self.db.write() as session:
            accepted = [item.job for item, error in outcomes if error is None]
            done = jobs.complete(session, accepted) if accepted else set()
            delivered = [item for item, error in outcomes if error is None and item.job.id in done]
            for attempts in sorted({item.job.attempts for item in delivered}):
                session.execute(
                    update(WebhookMessage)
                    .where(
                        WebhookMessage.id.in_(
                            [i.message_id for i in delivered if i.job.attempts == attempts]
                        )
                    )
                    .values(state=DELIVERED, attempts=attempts, last_error=None, delivered_at=now)
                    .execution_options(synchronize_session=False)
                )
            told += ["delivered"] * len(delivered)
            for item, error in outcomes:
                if error is None:
                    continue  # delivered above, or its lease was lost: whoever holds it decides
                state = jobs.retry(session, item.job, error, now=now, policy=self.policy)
                if state is None:
                    continue  # the lease was lost: whoever holds it now decides
                final = state == jobs.FAILED
                session.execute(
                    update(WebhookMessage)
                    .where(WebhookMessage.id == item.message_id)
                    .values(
                        state=FAILED if final else WebhookMessage.state,
                        attempts=item.job.attempts,
                        last_error=error[:500],
                    )
                    .execution_options(synchronize_session=False)
                )
                if final:
                    events.record(
                        session,
                        events.WEBHOOK_MESSAGE_FAILED,
                        at=now,
                        agency_id=endpoint.agency_id,
                        endpoint_id=endpoint.id,
                        message_id=item.message_id,
                        attempts=item.job.attempts,
                        reason=error[:500],
                    )
                told.append("failed" if final else "retry")
        for outcome in told:
            self._tell(outcome, 1)
        return len(delivered)

    def _tell(self, outcome: str, count: int) -> None:
        if self.on_outcome is not None:
            for _ in range(count):
                self.on_outcome(outcome)
