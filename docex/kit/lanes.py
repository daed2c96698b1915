"""Lanes: work for many destinations on a shared pool of threads, one lane per destination.

The items for one key (a webhook endpoint, a peer node) are handled in order by one thread at a
time; items that arrive while the key's lane runs queue behind it, up to ``cap``, and what does
not fit is handed back to the caller (to be retried later). A destination that hangs holds up
its own lane only. ``work(key, items)`` returns how many items it completed and handles its own
failures: an exception escaping it is logged and the lane goes on with what queued meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class Lanes(Generic[T]):
    def __init__(
        self, work: Callable[[str, list[T]], int], *, workers: int, cap: int, name: str
    ) -> None:
        self.work = work
        self.cap = cap
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
        self._queues: dict[str, deque[T]] = {}  # keys with a lane running, what waits behind
        self._lock = threading.Lock()

    def offer(
        self, groups: Mapping[str, Sequence[T]], *, wait_seconds: float
    ) -> tuple[int, list[T]]:
        """Start or join each key's lane with its items; wait up to ``wait_seconds`` for the lanes
        started here. (items completed by the lanes that finished, items that did not fit)."""
        started: list[Future[int]] = []
        overflow: list[T] = []
        for key, items in groups.items():
            with self._lock:
                queue = self._queues.get(key)
                if queue is None:
                    self._queues[key] = deque(items)
                    started.append(self._pool.submit(self._run, key))
                else:  # in flight: queue behind it, up to the cap
                    room = max(0, self.cap - len(queue))
                    queue.extend(items[:room])
                    overflow += items[room:]
        # Most lanes finish within this wait; one still working (a destination that hangs)
        # goes on by itself, and the caller claims the next batch meanwhile.
        finished, _ = wait(started, timeout=wait_seconds)
        return sum(f.result() for f in finished), overflow

    def _run(self, key: str) -> int:
        done = 0
        while True:
            with self._lock:
                queue = self._queues[key]
                if not queue:
                    del self._queues[key]
                    return done
                items = list(queue)
                queue.clear()
            try:
                done += self.work(key, items)
            except Exception:
                log.exception("lane %s failed", key)

    def drain(self, timeout: float = 60.0) -> bool:
        """Waits until no lane runs (tests, benchmarks); False if some still do."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._queues:
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
