"""A background loop on a daemon thread: the one shape the node's long-running chores share (the
routing worker's loops, the audit-log integrator, the refusal writer).

``step`` runs again and again: at once when it says more work is waiting (it returns True) or
when someone calls :meth:`Loop.wake`, else after ``interval`` seconds. A step that raises is
logged and the loop carries on (a database hiccup must not end it; each user says why a failed
step is safe to retry). :meth:`Loop.stop` ends the loop and waits for the thread;
:meth:`Loop.run_forever` runs the same loop in the calling thread (``docex worker``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Loop:
    def __init__(self, name: str, step: Callable[[], bool], *, interval: float) -> None:
        self.name = name
        self.interval = interval
        self._step = step
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """End the loop; True once its thread has ended, False if it was never started or is
        still inside a step after ``timeout`` seconds."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is None:
            return False
        thread.join(timeout)
        if thread.is_alive():
            return False
        self._thread = None
        return True

    def run_forever(self) -> None:
        self._stop.clear()
        self._run()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            more = False
            try:
                more = self._step()
            except Exception:
                log.exception("%s: a pass failed; retrying", self.name)
            if not more:
                self._wake.wait(self.interval)
