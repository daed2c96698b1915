"""Refusals of anonymous requests, counted rather than logged one by one.

Anyone can send a node requests with no token, a garbage token or a wrong password; writing one
audit row for each would let a flood grow the log (and the database) without bound, and make
every refusal a disk write. A refusal with no authenticated actor is therefore counted in
memory, per (client address, error code) and fixed time window
(``DOCEX_REFUSAL_WINDOW_SECONDS``, aligned on the epoch). The first refusal of a window is
audited at once, as its own ``api:request:refused`` event with ``count`` 1, so an isolated bad
login is in the log as soon as it is answered; the rest of the window, if any, becomes *one*
more event when the window closes, carrying their ``count``, the first and last time, the
statuses and methods seen and a few sample paths. Refusals of an authenticated actor are not
counted here: each is its own event (``docex.api.errors``).

Guarantees:

- The log grows by at most two events per (address, error code, window) per process, and the
  memory by at most ``max_keys`` tallies: past that, new addresses share one tally whose
  ``client`` is ``*`` (a flood from many addresses is still counted, in one event per window).
- The ``count`` of every event of a key adds up to the number of refusals.
- ``count()`` does no I/O and holds a lock only to update a dictionary, so the event loop may
  call it. Events are written by a thread of their own when their window has closed, and by
  ``stop()`` (shutdown) for every window, closed or not.
- What a crash loses is bounded: the tallies of the open window and of the windows not yet
  written (at most ``window`` seconds' worth). A failed write keeps its tallies for the next try.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from docex.audit import events
from docex.db import Database
from docex.kit.clock import Clock, rfc3339
from docex.kit.loops import Loop

log = logging.getLogger(__name__)

OVERFLOW = "*"  # the one tally of every address past ``max_keys``
_SAMPLE_PATHS = 5


@dataclass
class _Tally:
    first_at: datetime
    last_at: datetime
    count: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    methods: Counter[str] = field(default_factory=Counter)
    paths: list[str] = field(default_factory=list)

    def add(self, at: datetime, status: int, method: str, path: str) -> None:
        if not self.count:  # the first refusal of the window was audited on its own
            self.first_at = self.last_at = at
        self.count += 1
        self.first_at = min(self.first_at, at)
        self.last_at = max(self.last_at, at)
        self.statuses[status] += 1
        self.methods[method[:16]] += 1
        if len(self.paths) < _SAMPLE_PATHS and path[:200] not in self.paths:
            self.paths.append(path[:200])

    def merge(self, other: _Tally) -> None:
        if not self.count:
            self.first_at, self.last_at = other.first_at, other.last_at
        self.count += other.count
        self.first_at = min(self.first_at, other.first_at)
        self.last_at = max(self.last_at, other.last_at)
        self.statuses.update(other.statuses)
        self.methods.update(other.methods)
        for path in other.paths:
            if len(self.paths) < _SAMPLE_PATHS and path not in self.paths:
                self.paths.append(path)


# (client address, error code, window start as epoch seconds)
_Key = tuple[str, str, int]


class RefusalTally:
    def __init__(
        self, db: Database, clock: Clock, *, window_seconds: float, max_keys: int = 10_000
    ) -> None:
        self.db = db
        self.clock = clock
        self.window = window_seconds
        self.max_keys = max_keys
        self._tallies: dict[_Key, _Tally] = {}
        self._lock = threading.Lock()
        # A failed write keeps its tallies for the next pass (``flush``).
        self._loop = Loop(
            "docex-refusals",
            self._write_closed,
            interval=timedelta(seconds=min(window_seconds / 4, 5.0)).total_seconds(),
        )

    def count(self, *, address: str, code: str, status: int, method: str, path: str) -> bool:
        """Count one refusal; True if it is the first of its window, which the caller audits
        at once (and which is then not part of the window's tally)."""
        at = self.clock.now()
        start = int(math.floor(at.timestamp() / self.window) * self.window)
        with self._lock:
            key = (address, code, start)
            if key not in self._tallies and len(self._tallies) >= self.max_keys:
                key = (OVERFLOW, code, start)
            tally = self._tallies.get(key)
            if tally is None:
                self._tallies[key] = _Tally(first_at=at, last_at=at)
                return True
            tally.add(at, status, method, path)
            return False

    def pending(self) -> int:
        """Refusals counted and not yet written."""
        with self._lock:
            return sum(t.count for t in self._tallies.values())

    def flush(self, *, everything: bool = False) -> int:
        """Write one event per tally whose window has closed (every tally with ``everything``)
        and that counted more than its first refusal; the number of events written."""
        now = self.clock.now().timestamp()
        with self._lock:
            closed = [k for k in self._tallies if everything or k[2] + self.window <= now]
            due = {k: t for k in closed if (t := self._tallies.pop(k)).count}
        if not due:
            return 0
        try:
            with self.db.write() as session:
                for (address, code, start), tally in sorted(due.items()):
                    events.record(
                        session,
                        events.REQUEST_REFUSED,
                        at=tally.last_at,
                        client=address,
                        error=code,
                        count=tally.count,
                        window_start=rfc3339(datetime.fromtimestamp(start, UTC)),
                        window_seconds=self.window,
                        first_at=rfc3339(tally.first_at),
                        last_at=rfc3339(tally.last_at),
                        status=min(tally.statuses),
                        statuses={str(s): n for s, n in sorted(tally.statuses.items())},
                        methods=dict(sorted(tally.methods.items())),
                        paths=tally.paths,
                    )
        except Exception:
            log.exception("could not audit %d refusal tallies; kept for the next try", len(due))
            with self._lock:
                for key, tally in due.items():
                    kept = self._tallies.setdefault(key, tally)
                    if kept is not tally:
                        kept.merge(tally)
            return 0
        return len(due)

    def _write_closed(self) -> bool:
        self.flush()
        return False

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        """Stop the writer and write every tally, its window closed or not."""
        self._loop.stop(30)
        self.flush(everything=True)
