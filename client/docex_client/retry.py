"""When to try a request again, and how long to wait first.

A request is tried again only when doing it twice cannot do harm: reads (GET), and sends that
carry a ``message_id`` (the node answers a repeated send with the original document, RFC-style
idempotency; docs/api.md, "Idempotency"). Other requests (reporting a status, signing a PDF,
logging in) are tried once.

What is retried: no answer at all (refused, reset, timed out, cut mid-body) and ``503`` (the
node or a dependency is down, or the node is shutting down). Everything else is an answer.

How long: exponential backoff with jitter (half fixed, half random, so clients that failed
together do not come back together), and never sooner than a ``Retry-After`` the node sent.
A Retry-After longer than ``max_retry_after`` is not waited for: the error is raised at once.
"""

from __future__ import annotations

import email.utils
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["NO_RETRY", "RetryPolicy", "parse_retry_after"]


@dataclass(frozen=True)
class RetryPolicy:
    """How many tries and how long between them. ``attempts`` counts the first try."""

    attempts: int = 4
    backoff: float = 0.5
    """Seconds before the second try; doubled before each further one."""
    max_backoff: float = 30.0
    max_retry_after: float = 120.0
    """A node asking to wait longer than this is not waited for."""

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts counts the first try: at least 1")
        if self.backoff < 0 or self.max_backoff < 0 or self.max_retry_after < 0:
            raise ValueError("delays cannot be negative")

    def delay(
        self,
        tries: int,
        *,
        retry_after: float | None = None,
        rng: Callable[[], float] = random.random,
    ) -> float | None:
        """Seconds to wait after ``tries`` failed tries, or None when it is time to give up."""
        if tries >= self.attempts:
            return None
        if retry_after is not None and retry_after > self.max_retry_after:
            return None
        ceiling = min(self.max_backoff, self.backoff * 2.0 ** (tries - 1))
        jittered = ceiling / 2 + rng() * ceiling / 2
        return max(jittered, retry_after or 0.0)


NO_RETRY = RetryPolicy(attempts=1)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
