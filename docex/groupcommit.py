"""Group commit: many small write transactions share one commit (and one fsync).

Intake is bounded by durable commits: every accepted document must be on disk before its 201,
and a commit costs an fsync (milliseconds on real disks). ``GroupCommitter`` runs the jobs that
arrive while a commit is in flight together, in one transaction, each inside its own SAVEPOINT:

- a job that raises is rolled back alone and its caller gets the exception;
- the others commit together; every caller returns only after *that* commit succeeded;
- ``before_commit`` hooks run first (the blob store's directory fsyncs, also shared);
- if the commit itself fails, every job of the batch gets the error and nothing is written.

This is the classic group commit of database engines, done one level up. With one sender it
adds no waiting (a lone job is committed at once); with many it turns N fsyncs into one.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from docex.db import Database, forbid_event_loop

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class _Job:
    run: Callable[[Session], Any]
    future: Future[Any] = field(default_factory=Future)


class GroupCommitter:
    def __init__(
        self,
        db: Database,
        *,
        before_commit: Callable[[], None] | None = None,
        max_batch: int = 64,
    ) -> None:
        self.db = db
        self.before_commit = before_commit
        self.max_batch = max_batch
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, job: Callable[[Session], T]) -> T:
        """Run ``job`` in a write transaction shared with concurrent jobs; return its result
        once committed, or raise its exception (or the commit's)."""
        forbid_event_loop("a group commit")
        self._ensure_started()
        item = _Job(job)
        self._queue.put(item)
        result: T = item.future.result()
        return result

    def close(self) -> None:
        with self._lock:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join(30)
                self._thread = None

    def _ensure_started(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="docex-group-commit", daemon=True
                )
                self._thread.start()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Job]) -> None:
        results: list[tuple[_Job, Any, BaseException | None]] = []
        try:
            with self.db.write() as session:
                for job in batch:
                    try:
                        with session.begin_nested():
                            value = job.run(session)
                            session.flush()
                        results.append((job, value, None))
                    except Exception as exc:  # this job alone is rolled back
                        results.append((job, None, exc))
                if self.before_commit is not None:
                    self.before_commit()
        except BaseException as exc:
            log.warning("group commit of %d jobs failed: %s", len(batch), type(exc).__name__)
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        for job, value, error in results:
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(value)
