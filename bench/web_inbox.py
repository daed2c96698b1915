"""Web inbox benchmark: the first page of ``/ui/inbox`` for an agency with 10,000 documents.

A demo node (``init_node(demo=True)``) whose ``000.00.00.H41`` has ``--documents`` documents
in its inbox, inserted straight into the database (documents and deliveries, as delivery
writes them: most accepted with an incoming number, some flash ones unanswered, some overdue),
not sent one by one, then ``ANALYZE`` (as autovacuum would soon do). Its clerk signs in by
the form; then, in process (the app driven through its ASGI interface by a TestClient, no
network), ``--requests`` requests of:

- ``GET /ui/inbox``, the first page: server time (median, p95) and bytes of the body;
- ``GET /ui/inbox/arrivals?after=`` when nothing arrived (the open inbox's poll, a 204);
- ``GET /ui/inbox?q=...``, a search by notation.

Targets (issue 14): first page under 100 ms server time, under 100 KB transferred.

    .venv/bin/python bench/web_inbox.py [--backend sqlite|postgres] [--documents N]
                                        [--requests N]

Prints one JSON document on stdout; progress on stderr. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent))
import intake  # bench/intake.py: percentiles, the embedded PostgreSQL

from docex.app import create_app
from docex.bootstrap import CREDENTIALS_FILE, init_node
from docex.config import Settings
from docex.db import Database
from docex.documents.models import Delivery, Document
from docex.kit.ids import uuid7

RECIPIENT = "000.00.00.H41"
SENDERS = ("000.00.00.G22", "000.00.00.I01", "000.00.00.H26")
TARGET_MS = 100.0
TARGET_BYTES = 100 * 1024
log = intake.log


def fill_inbox(url: str, count: int, now: datetime) -> None:
    """``count`` documents delivered to RECIPIENT over the last days, newest ``now``."""
    db = Database(url)
    try:
        for start in range(0, count, 1000):
            documents: list[dict[str, Any]] = []
            deliveries: list[dict[str, Any]] = []
            for n in range(start, min(count, start + 1000)):
                at = now - timedelta(minutes=5 * (count - n))
                sender = SENDERS[n % len(SENDERS)]
                urgency = "flash" if n % 500 == 0 else ("urgent" if n % 7 == 0 else "normal")
                # The last few unanswered, and the flash ones of the last 2000 (on top).
                fresh = n >= count - 40 and n % 3 != 0
                answered = not fresh and not (urgency == "flash" and n >= count - 2000)
                document_id = uuid7()
                code = f"{n + 1}/VB-{sender[-3:]}"
                subject = f"Về việc triển khai nhiệm vụ số {n + 1} năm 2026 của các cơ quan"
                documents.append(
                    {
                        "id": document_id,
                        "message_id": f"bench-{n}",
                        "business_id": f"{sender},{at:%Y/%m/%d},{code}",
                        "sender_id": sender,
                        "sender_principal_id": None,
                        "envelope": {"recipients": [RECIPIENT], "subject": subject},
                        "fingerprint": f"{n:064x}",
                        "subject": subject,
                        "urgency": urgency,
                        "classification": "confidential" if n % 11 == 0 else "normal",
                        "signatures": {},
                        "created_at": at,
                    }
                )
                deliveries.append(
                    {
                        "id": uuid7(),
                        "document_id": document_id,
                        "recipient_id": RECIPIENT,
                        "addressed_as": RECIPIENT,
                        "transport": "delivered",
                        "status": "03" if answered else "01",
                        "priority": 0,
                        "attempts": 1,
                        "node_id": "bench-node",
                        "incoming_number": str(n + 1) if answered else None,
                        "created_at": at,
                        "delivered_at": at,
                        "due_at": at + timedelta(hours=8),
                        "overdue_at": at + timedelta(hours=8) if n % 97 == 0 else None,
                        "updated_at": at,
                    }
                )
            with db.write() as session:
                session.execute(insert(Document), documents)
                session.execute(insert(Delivery), deliveries)
            log(f"  {min(count, start + 1000)} documents in the inbox")
        # What autovacuum (PostgreSQL) does on its own soon after such a load: the planner's
        # statistics. Without them PostgreSQL guesses one row per agency and scans the inbox.
        with db.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    finally:
        db.dispose()


def sign_in(client: TestClient, credentials: dict[str, Any]) -> None:
    clerk = credentials["agencies"][RECIPIENT]["clerk"]
    form = client.get("/ui/sign-in").text
    found = re.search(r'name="csrf" value="([^"]+)"', form)
    if found is None:
        raise intake.BenchError("no CSRF token on the sign-in page")
    signed = client.post(
        "/ui/sign-in",
        data={"username": clerk["username"], "password": clerk["password"], "csrf": found[1]},
    )
    if signed.status_code != 303:
        raise intake.BenchError(f"sign-in failed: {signed.status_code}")


def measure(
    client: TestClient, path: str, requests: int, expect: int
) -> tuple[dict[str, float], int]:
    """Server time of ``requests`` GETs of ``path`` (in process) and the body's size."""
    timings: list[float] = []
    size = 0
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        timings.append(time.perf_counter() - started)
        if response.status_code != expect:
            raise intake.BenchError(f"{path}: {response.status_code}, expected {expect}")
        size = len(response.content)
    ordered = sorted(timings)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(intake.percentile(ordered, 95) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }, size


@contextlib.contextmanager
def database(backend: str, tmp: Path) -> Iterator[str | None]:
    if backend == "postgres":
        with intake.postgres_database(tmp) as (url, _version):
            yield url
    else:
        yield None


def run(backend: str, documents: int, requests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="docex-web-inbox-") as tmp_dir:
        tmp = Path(tmp_dir)
        with database(backend, tmp) as url:
            settings = Settings(data_dir=tmp / "data", node_id="bench-node")
            if url:
                settings.database_url = url
            settings.dispatcher.enabled = False
            log(f"{backend}: a demo node")
            init_node(settings, demo=True)
            credentials = json.loads((settings.data_dir / CREDENTIALS_FILE).read_text())
            fill_inbox(settings.resolved_database_url, documents, datetime.now(UTC))
            app = create_app(settings)
            with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
                sign_in(client, credentials)
                first = client.get("/ui/inbox")  # warm: templates compiled, caches filled
                lines = len(re.findall(r'<tr id="line-', first.text))
                poll = re.search(r'id="inbox-poll"[^>]* hx-get="([^"]+)"', first.text)
                if poll is None:
                    raise intake.BenchError("the inbox does not poll")
                log(f"{backend}: {requests} requests each")
                timed: dict[str, Callable[[], tuple[dict[str, float], int]]] = {
                    "first_page": lambda: measure(client, "/ui/inbox", requests, 200),
                    "poll_nothing_new": lambda: measure(
                        client, html.unescape(poll[1]), requests, 204
                    ),
                    "search_by_notation": lambda: measure(
                        client, "/ui/inbox?q=9999/VB", requests, 200
                    ),
                }
                result: dict[str, Any] = {"documents": documents, "first_page_lines": lines}
                for name, run_one in timed.items():
                    timing, size = run_one()
                    result[name] = {**timing, "bytes": size}
            result["targets"] = {
                "first_page_under_100_ms": result["first_page"]["p95_ms"] < TARGET_MS,
                "first_page_under_100_kb": result["first_page"]["bytes"] < TARGET_BYTES,
            }
            return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args(argv)
    result = {
        "machine": intake.machine(),
        args.backend: run(args.backend, args.documents, args.requests),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
