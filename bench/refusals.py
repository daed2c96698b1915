"""A flood of refused requests against a real node: how fast it refuses, and what the flood costs
the database.

Starts ``docex serve --demo`` (SQLite in a temp data directory), fires ``--requests`` requests
with a bad bearer token (``GET /api/v1/inbox``), ``--concurrency`` at a time, and reports the
refusals per second and how much the database grew (audit rows and bytes, measured with the node
stopped and the WAL checkpointed, before and after). Prints one JSON document on stdout.

    .venv/bin/python bench/refusals.py [--requests 2000] [--concurrency 32] [--keep-temp]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

DOCEX = str(Path(sys.executable).with_name("docex"))
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Node:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DOCEX_")}
        self.env.update(DOCEX_DATA_DIR=str(data_dir), DOCEX_PORT=str(self.port))

    def start(self, *args: str) -> None:
        with (self.data_dir.parent / "node.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [DOCEX, "serve", *args], env=self.env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise SystemExit("the node did not become ready (see node.log)")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise SystemExit("the node ignored SIGTERM") from None

    def database(self) -> tuple[int, int]:
        """(bytes of the database file once the WAL is checkpointed into it, audit rows)."""
        path = self.data_dir / "docex.db"
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            rows = conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]
        return path.stat().st_size, int(rows)


def flood(url: str, requests: int, concurrency: int) -> tuple[float, dict[str, int]]:
    statuses: collections.Counter[str] = collections.Counter()
    with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:

        def one(n: int) -> str:
            try:
                response = client.get(
                    f"{url}/api/v1/inbox", headers={"Authorization": f"Bearer dxt_bad{n}"}
                )
            except httpx.HTTPError as exc:
                return type(exc).__name__
            return str(response.status_code)

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            statuses.update(pool.map(one, range(requests)))
        elapsed = time.perf_counter() - started
    return elapsed, dict(statuses)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--keep-temp", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="docex-bench-refusals-"))
    node = Node(root / "data")
    try:
        subprocess.run([DOCEX, "init", "--demo"], env=node.env, check=True, capture_output=True)
        node.start()  # a first start and stop: whatever a start writes is not the flood's
        node.stop()
        bytes_before, rows_before = node.database()
        node.start()
        elapsed, statuses = flood(node.url, args.requests, args.concurrency)
        node.stop()
        bytes_after, rows_after = node.database()
    finally:
        node.stop()
        if not args.keep_temp:
            shutil.rmtree(root, ignore_errors=True)
    result: dict[str, Any] = {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(args.requests / elapsed, 1),
        "statuses": statuses,
        "audit_rows_added": rows_after - rows_before,
        "database_bytes_before": bytes_before,
        "database_bytes_after": bytes_after,
        "database_growth_bytes": bytes_after - bytes_before,
    }
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
