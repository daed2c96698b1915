"""What slow clients cost a node: open file handles and spool files of a real ``docex serve``
while N uploads send one byte every few seconds.

Starts ``docex serve --demo`` in a temp directory (the ``DOCEX_*`` limits of the environment
pass through, e.g. ``DOCEX_LIMITS__BODY_TIMEOUT_SECONDS``), opens ``--connections`` document
uploads from 127.0.0.2 (each declares 1 MB, sends its envelope and the head of its PDF, then
one byte every ``--interval`` seconds) and trickles for ``--duration`` seconds, sampling the
node's open file descriptors and spool files every second. Prints one JSON document:

    .venv/bin/python bench/slow_clients.py [--connections 200] [--interval 5] [--duration 60]

``before``: a quiet node that has served a few requests; ``peak``: the most seen while
trickling; ``end``: at the end of the trickle, the clients still sending; ``held``: uploads
the node still had open then; ``after``: once the clients closed their side.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

BOUNDARY = "bench-slow-boundary"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def upload_head(token: str) -> bytes:
    envelope = json.dumps(
        {"recipients": ["000.00.00.H41"], "subject": "slow", "code": {"number": "1"}}
    )
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="envelope"\r\n'
        f"Content-Type: application/json\r\n\r\n{envelope}\r\n"
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="main"; filename="a.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n%PDF-1.7\n"
    )
    head = (
        "POST /api/v1/documents HTTP/1.1\r\nHost: node\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        "Content-Length: 1000000\r\n\r\n"
    )
    return (head + body).encode()


def measure(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    data_dir, port = tmp / "data", free_port()
    env = {**os.environ, "DOCEX_DATA_DIR": str(data_dir), "DOCEX_PORT": str(port)}
    docex = str(Path(sys.executable).with_name("docex"))
    with (tmp / "node.log").open("wb") as log:
        node = subprocess.Popen([docex, "serve", "--demo"], env=env, stdout=log, stderr=log)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline or node.poll() is not None:
                raise SystemExit(f"node not ready; log in {tmp / 'node.log'}")
            time.sleep(0.2)
        credentials = json.loads((data_dir / "demo-credentials.json").read_text())
        head = upload_head(credentials["agencies"]["000.00.00.G22"]["clerk"]["token"])
        process = psutil.Process(node.pid)
        spool = data_dir / "spool"

        def sample() -> dict[str, int]:
            return {"fds": process.num_fds(), "spool_files": len(list(spool.iterdir()))}

        token = credentials["agencies"]["000.00.00.G22"]["clerk"]["token"]
        for _ in range(3):  # warm: database connections, worker threads
            httpx.get(f"{url}/api/v1/inbox", headers={"Authorization": f"Bearer {token}"})
        before = sample()
        clients = []
        for _ in range(args.connections):
            sock = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0))
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.send(head)
            clients.append(sock)
        peak = sample()
        started = last_byte = time.monotonic()
        while time.monotonic() - started < args.duration:
            if time.monotonic() - last_byte >= args.interval:
                last_byte = time.monotonic()
                for sock in clients:
                    with contextlib.suppress(OSError):
                        sock.send(b"x")
            now = sample()
            peak = {k: max(peak[k], now[k]) for k in peak}
            time.sleep(1)
        end = sample()
        held = sum(1 for c in process.net_connections() if c.raddr and c.raddr.ip == "127.0.0.2")
        for sock in clients:
            sock.close()
        time.sleep(2)
        return {
            "connections": args.connections,
            "interval_s": args.interval,
            "duration_s": args.duration,
            "before": before,
            "peak": peak,
            "end": end,
            "held": held,
            "after": sample(),
        }
    finally:
        node.terminate()
        try:
            node.wait(30)
        except subprocess.TimeoutExpired:
            node.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--interval", type=float, default=5)
    parser.add_argument("--duration", type=float, default=60)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="docex-slow-clients-"))
    try:
        print(json.dumps(measure(args, tmp), indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
