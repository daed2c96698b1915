"""Every parse of untrusted PDF bytes, with bounded resources: a hostile PDF costs seconds, not
the node.

What is guaranteed. Two kinds of job run in worker processes, never in the caller's:

- validation (``ValidatorPool.validate``, ``validate_pdf_bounded``): the structural check of an
  incoming document (is it a PDF, is it encrypted, how many pages) and its PAdES signatures,
  ``docex.signing.validation.validate_pdf``. Always returns a ``ValidationReport``, never raises
  for bad input;
- signing preparation (``ValidatorPool.prepare_signature``): the part of signing that parses
  the document, ``docex.signing.pades.prepare_signature``. The worker gets a request with public
  data only (certificate, revocation data, texts); it returns the digest to sign, and the keys
  never leave the caller. Raises ``SigningError`` (``resource_limit`` when a limit is hit).

Each worker runs with

- ``RLIMIT_AS`` = ``memory_bytes`` (address space: a decompression bomb or a pathological
  structure gets ``MemoryError`` inside the worker, which answers ``resource_limit``);
- ``RLIMIT_CPU``: before each job the soft limit is moved to the CPU time used so far plus the
  job's budget, so the kernel stops (SIGXCPU) a job that spins, however long the worker lived;

and the parent waits at most ``timeout_s`` of wall-clock time for an answer, then kills the
worker (SIGKILL) and answers ``resource_limit``. A worker that dies for any reason is replaced;
a worker that hit a limit is never reused (its heap may be in any state). pyHanko's own decode
limits (``DecodeLimits``: object streams, XMP, certificates...) stop most bombs earlier still,
inside the worker. The caller's memory does not grow with the document: paths cross the pipe,
not bytes, and the signed output is copied back in chunks.

Against what. Decompression bombs (nested ``/FlateDecode``, object streams of whitespace),
broken cross-reference tables that make lenient readers rescan the file, object graphs that
explode parsing or difference analysis, files that make the parser loop, and crashes of the
parser. The worker process is not a security boundary against code execution: it runs as the
same user.

How. Workers are started with ``multiprocessing``'s *forkserver* context, with the validation
and signing modules preloaded in the fork server, so a new worker is a fork of a warm,
thread-free process. ``ValidatorPool`` keeps N of them warm (built once by the application and
passed in); ``validate_pdf_bounded`` without a pool starts a one-shot worker.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import queue
import resource
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Final, Generic, Protocol, TypeVar

from docex.signing.pades import (
    PreparedSignature,
    SignatureRequest,
    SigningError,
    SigningErrorCode,
    prepare_signature,
)
from docex.signing.validation import (
    Indication,
    SignaturePolicy,
    TrustConfig,
    ValidationReport,
    failure_report,
    validate_pdf,
)

logger = logging.getLogger(__name__)

MiB: Final = 1 << 20
DEFAULT_TIMEOUT_S: Final = 20.0
DEFAULT_MEMORY_BYTES: Final = 512 * MiB
_COPY_CHUNK: Final = 1 << 20
# What a job imports, including pyHanko's lazy imports (XMP metadata checks use lxml):
# imported once in the fork server, never under a worker's memory cap.
_PRELOAD: Final = ["docex.signing.validation", "docex.signing.pades", "lxml.etree", "gzip"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Job(Protocol[T_co]):
    """Work for a worker: picklable, with a CPU budget. ``run`` never raises for bad input."""

    @property
    def cpu_s(self) -> float: ...

    def run(self) -> T_co:
        """Do the work (in the worker); the answer goes back to the caller."""
        ...

    def stopped(self, why: str) -> T_co:
        """The answer when the worker could not give one (timeout, death, a limit)."""
        ...

    def exhausted(self, answer: Any) -> bool:
        """Whether ``answer`` says a limit was hit: that worker is then never reused."""
        ...


@dataclass(frozen=True)
class _Answer(Generic[T]):
    value: T
    exhausted: bool


@dataclass(frozen=True)
class _Validation:
    path: str
    sender_agency: str
    trust: TrustConfig
    policy: SignaturePolicy
    now: datetime | None
    cpu_s: float

    def run(self) -> ValidationReport:
        return validate_pdf(
            Path(self.path),
            sender_agency=self.sender_agency,
            trust=self.trust,
            policy=self.policy,
            now=self.now,
        )

    def stopped(self, why: str) -> ValidationReport:
        return failure_report(Indication.RESOURCE_LIMIT, why, now=self.now or datetime.now(UTC))

    def exhausted(self, answer: Any) -> bool:
        return isinstance(answer, ValidationReport) and (
            answer.indication is Indication.RESOURCE_LIMIT
        )


@dataclass(frozen=True)
class Refusal:
    """Why a document was not prepared for signing: a ``SigningError`` that pickles."""

    code: SigningErrorCode
    detail: str


@dataclass(frozen=True)
class _Preparation:
    source: str
    output: str
    request: SignatureRequest
    cpu_s: float

    def run(self) -> PreparedSignature | Refusal:
        try:
            with open(self.source, "rb") as source, open(self.output, "w+b") as output:
                return prepare_signature(source, output, self.request)
        except SigningError as exc:
            return Refusal(exc.code, exc.detail)
        except MemoryError:
            return self.stopped("out of memory")
        except RecursionError:
            return Refusal("invalid_pdf", "the PDF cannot be read: structure nested too deeply")
        except Exception as exc:  # any parse error of hostile input: fail closed, never raise
            logger.info("PDF refused for signing: %r", exc)
            return Refusal("invalid_pdf", f"the PDF cannot be read ({type(exc).__name__})")

    def stopped(self, why: str) -> Refusal:
        return Refusal("resource_limit", f"the PDF needs too much time or memory ({why})")

    def exhausted(self, answer: Any) -> bool:
        return isinstance(answer, Refusal) and answer.code == "resource_limit"


def _set_memory_limit(memory_bytes: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        memory_bytes = min(memory_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, hard))


def _set_cpu_budget(seconds: float) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    # Only the soft limit moves: an unprivileged process can raise it again for the next job.
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _worker_main(conn: Connection, memory_bytes: int) -> None:
    """A worker: apply the limits once, then run one job at a time until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    _set_memory_limit(memory_bytes)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        _set_cpu_budget(job.cpu_s)
        try:
            value = job.run()
        except MemoryError:
            value = job.stopped("out of memory")
        answer = _Answer(value, job.exhausted(value))
        try:
            conn.send(answer)
        except (OSError, MemoryError):
            return
        if answer.exhausted:
            return  # never reuse a process that ran out of something


class _Worker:
    def __init__(self, ctx: Any, memory_bytes: int) -> None:
        parent, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(
            target=_worker_main, args=(child, memory_bytes), daemon=True, name="docex-pdf"
        )
        self.process.start()
        child.close()
        self.conn: Connection = parent
        self.jobs = 0

    def run(self, job: Job[Any], timeout_s: float) -> _Answer[Any] | str:
        """The answer, or why there is none (timeout or death)."""
        try:
            self.conn.send(job)
        except (OSError, ValueError):
            return "the worker was gone"
        self.jobs += 1
        if not self.conn.poll(timeout_s):
            self.kill()
            return f"no answer within {timeout_s:g} s"
        try:
            answer = self.conn.recv()
        except (EOFError, OSError):
            self.process.join(1)
            return self._death()
        if not isinstance(answer, _Answer):
            self.kill()
            return "the worker answered nonsense"
        if answer.exhausted:
            self.process.join(1)
        return answer

    def _death(self) -> str:
        code = self.process.exitcode
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                return f"the worker was stopped by {signal.Signals(-code).name}"
        return f"the worker exited ({code})"

    @property
    def alive(self) -> bool:
        return bool(self.process.is_alive())

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.process.join(2)
        if self.process.is_alive():
            self.kill()
        self.conn.close()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        with contextlib.suppress(OSError):
            self.conn.close()


def _context() -> Any:
    ctx = multiprocessing.get_context("forkserver")
    # Preloading matters only before the fork server starts; later it is a no-op.
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


class ValidatorPool:
    """N warm worker processes with resource limits. Thread-safe; build once, ``close()`` at
    shutdown (or use as a context manager).

    Each ``validate`` call takes an idle worker (waiting for one if all are busy), sends it the
    job and waits at most ``timeout_s`` for the report. Workers are recycled after
    ``max_jobs_per_worker`` jobs, and replaced when they die or hit a limit.
    """

    def __init__(
        self,
        workers: int = 2,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
        max_jobs_per_worker: int = 1000,
    ) -> None:
        if workers < 1:
            raise ValueError("a pool needs at least one worker")
        if timeout_s <= 0 or memory_bytes <= 0:
            raise ValueError("timeout_s and memory_bytes must be positive")
        self.timeout_s = timeout_s
        self.memory_bytes = memory_bytes
        self.max_jobs_per_worker = max_jobs_per_worker
        self._ctx = _context()
        self._idle: queue.SimpleQueue[_Worker | None] = queue.SimpleQueue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(workers):
            self._idle.put(self._spawn())

    def _spawn(self) -> _Worker:
        worker = _Worker(self._ctx, self.memory_bytes)
        with self._lock:
            self._all.add(worker)
        return worker

    def _retire(self, worker: _Worker, *, kill: bool) -> None:
        with self._lock:
            self._all.discard(worker)
        if kill:
            worker.kill()
        else:
            worker.stop()

    def run(self, job: Job[T], timeout_s: float | None = None) -> T:
        """``job.run()`` in a worker; ``job.stopped(why)`` when no answer came in time or the
        worker died."""
        if self._closed:
            raise RuntimeError("the validator pool is closed")
        timeout = timeout_s if timeout_s is not None else self.timeout_s
        worker = self._idle.get()
        try:
            if worker is None or not worker.alive:
                if worker is not None:
                    self._retire(worker, kill=True)
                worker = self._spawn()
            started = time.monotonic()
            outcome = worker.run(job, timeout)
            if isinstance(outcome, str) and outcome == "the worker was gone":
                # Died while idle (OOM killer, operator): one more try on a fresh worker.
                self._retire(worker, kill=True)
                worker = self._spawn()
                outcome = worker.run(job, timeout - (time.monotonic() - started))
        except BaseException:
            if worker is not None:
                self._retire(worker, kill=True)
            self._idle.put(None)
            raise
        if isinstance(outcome, _Answer) and not outcome.exhausted:
            if worker.jobs >= self.max_jobs_per_worker:
                self._retire(worker, kill=False)
                self._idle.put(None)
            else:
                self._idle.put(worker)
            value: T = outcome.value
            return value
        self._retire(worker, kill=True)
        self._idle.put(None)
        if isinstance(outcome, _Answer):
            exhausted: T = outcome.value
            return exhausted
        logger.warning("PDF job stopped: %s", outcome)
        return job.stopped(outcome)

    def validate(
        self,
        path: Path,
        *,
        sender_agency: str,
        trust: TrustConfig,
        policy: SignaturePolicy,
        now: datetime | None = None,
        timeout_s: float | None = None,
    ) -> ValidationReport:
        """``validate_pdf`` in a worker; ``resource_limit`` when a limit is hit."""
        timeout = timeout_s if timeout_s is not None else self.timeout_s
        job = _Validation(str(path), sender_agency, trust, policy, now, cpu_s=timeout + 1)
        return self.run(job, timeout)

    def prepare_signature(
        self,
        source: BinaryIO,
        output: BinaryIO,
        request: SignatureRequest,
        *,
        spool_dir: Path | None = None,
        timeout_s: float | None = None,
    ) -> PreparedSignature:
        """``pades.prepare_signature`` in a worker (a ``pades.Preparer``): ``source`` is copied
        to a file in ``spool_dir`` for the worker, whose output file is copied back into
        ``output``; both files are removed before this returns, however it returns. Raises
        ``SigningError``; ``resource_limit`` when a limit is hit."""
        timeout = timeout_s if timeout_s is not None else self.timeout_s
        with tempfile.TemporaryDirectory(dir=spool_dir, prefix="sign-") as work:
            source_path, output_path = Path(work, "input.pdf"), Path(work, "output.pdf")
            with source_path.open("wb") as spooled:
                shutil.copyfileobj(source, spooled, _COPY_CHUNK)
            job = _Preparation(str(source_path), str(output_path), request, cpu_s=timeout + 1)
            answer = self.run(job, timeout)
            if isinstance(answer, Refusal):
                raise SigningError(answer.code, answer.detail)
            with output_path.open("rb") as prepared:
                shutil.copyfileobj(prepared, output, _COPY_CHUNK)
        return answer

    def close(self) -> None:
        """Stop every worker. Calls in flight get ``resource_limit`` or their report."""
        self._closed = True
        with self._lock:
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            worker.stop()

    def __enter__(self) -> ValidatorPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def validate_pdf_bounded(
    path: Path,
    *,
    sender_agency: str,
    trust: TrustConfig,
    policy: SignaturePolicy,
    now: datetime | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
    pool: ValidatorPool | None = None,
) -> ValidationReport:
    """``validate_pdf`` in a worker process with a memory cap, a CPU cap and a wall-clock
    timeout; ``resource_limit`` when one is hit.

    With ``pool`` the job runs on one of its warm workers (the pool's memory cap applies,
    ``timeout_s`` still does); without, on a one-shot worker started for this call.
    """
    if pool is not None:
        return pool.validate(
            path,
            sender_agency=sender_agency,
            trust=trust,
            policy=policy,
            now=now,
            timeout_s=timeout_s,
        )
    with ValidatorPool(1, timeout_s=timeout_s, memory_bytes=memory_bytes) as one_shot:
        return one_shot.validate(
            path, sender_agency=sender_agency, trust=trust, policy=policy, now=now
        )
