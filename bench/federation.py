"""Federation benchmark: documents crossing the demo network, two hops each.

Runs ``docex network demo`` (the hub and two provinces, three real ``docex serve`` processes on
SQLite + files, as ``docex network demo DIR`` runs them) in this process's background, then,
as a commune of Nghệ An (node nghean), sends ``--documents`` signed documents to a commune of
Hà Nội (node hanoi): each goes nghean → hub → hanoi as a signed transfer per hop, is delivered
there, and its 01 comes back the same way. Reported, in milliseconds:

- ``submit_ms``: the send on nghean (intake, signatures validated), per document;
- ``to_inbox_ms``: from the ``201`` to the document in the recipient's inbox on hanoi;
- ``to_01_ms``: from the ``201`` to the 01 recorded at the sender on nghean (the round trip);

each as p50 / p95 / max, plus documents per second end to end. The documents are sent one
after another (``--concurrency 1``) or by several clients at once.

    .venv/bin/python bench/federation.py [--documents N] [--concurrency C] [--base-port P]
                                         [--out FILE] [--keep-temp]

Prints one JSON document on stdout; progress goes to stderr. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from docex.kit.samplepdf import sample_pdf
from docex.network import NETWORK_FILE, run_demo

SENDER = "001.00.41.H41"  # a commune of Nghệ An, on nghean
RECIPIENT = "001.00.26.H26"  # a commune of Hà Nội, on hanoi


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _free_base() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        base = int(sock.getsockname()[1])
    return max(20000, min(base, 60000))


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(p95, 1),
        "max": round(ordered[-1], 1),
    }


class Demo:
    def __init__(self, root: Path, base_port: int) -> None:
        self.root = root
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=run_demo,
            args=(root,),
            kwargs={"base_port": base_port, "say": _say, "stop": self.stop, "signals": ()},
            daemon=True,
        )

    def __enter__(self) -> dict[str, Any]:
        self.thread.start()
        path = self.root / NETWORK_FILE
        deadline = time.monotonic() + 300
        while not path.exists():
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise SystemExit(
                    "the demo network did not come up; see the logs in " + str(self.root)
                )
            time.sleep(0.5)
        network: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return network

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(60)


def _people(network: dict[str, Any], node: str, agency: str) -> tuple[str, dict[str, Any]]:
    entry = network["nodes"][node]
    credentials = json.loads(Path(entry["credentials"]).read_text(encoding="utf-8"))
    return entry["base_url"], credentials["agencies"][agency]


def _signed(url: str, people: dict[str, Any], title: str) -> bytes:
    data = sample_pdf(title, seed=uuid.uuid4().bytes)
    for role, who in (("signer", "leader"), ("seal", "clerk")):
        answer = httpx.post(
            f"{url}/api/v1/pdf/sign",
            files={"file": ("cv.pdf", data, "application/pdf")},
            data={"as": role},
            headers={"Authorization": f"Bearer {people[who]['token']}"},
            timeout=60,
        )
        answer.raise_for_status()
        data = answer.content
    return data


def run(documents: int, concurrency: int, base_port: int, root: Path) -> dict[str, Any]:
    with Demo(root, base_port) as network:
        sender_url, sender = _people(network, "nghean", SENDER)
        recipient_url, recipient = _people(network, "hanoi", RECIPIENT)
        send_headers = {"Authorization": f"Bearer {sender['clerk']['token']}"}
        read_headers = {"Authorization": f"Bearer {recipient['clerk']['token']}"}
        _say(f"signing {documents} documents on nghean ...")
        pdfs = [_signed(sender_url, sender, f"Công văn liên tỉnh số {i}") for i in range(documents)]

        def one(index: int) -> dict[str, float]:
            envelope = {
                "recipients": [RECIPIENT],
                "subject": f"Công văn liên tỉnh số {index}",
                "code": {"number": str(index + 1), "notation": "UBND-BENCH"},
            }
            started = time.perf_counter()
            answer = httpx.post(
                f"{sender_url}/api/v1/documents",
                files=[
                    ("envelope", (None, json.dumps(envelope), "application/json")),
                    ("main", ("cv.pdf", pdfs[index], "application/pdf")),
                ],
                headers=send_headers,
                timeout=120,
            )
            answer.raise_for_status()
            accepted = time.perf_counter()
            document_id = answer.json()["id"]
            arrived = back = None
            deadline = accepted + 300
            while (arrived is None or back is None) and time.perf_counter() < deadline:
                if arrived is None:
                    view = httpx.get(
                        f"{recipient_url}/api/v1/documents/{document_id}",
                        headers=read_headers,
                        timeout=30,
                    )
                    if view.status_code == 200:
                        arrived = time.perf_counter()
                if back is None:
                    view = httpx.get(
                        f"{sender_url}/api/v1/documents/{document_id}",
                        headers=send_headers,
                        timeout=30,
                    )
                    if view.json()["recipients"][0]["status"] == "01":
                        back = time.perf_counter()
                time.sleep(0.02)
            if arrived is None or back is None:
                raise SystemExit(f"document {document_id} did not cross within 300 s")
            return {
                "submit_ms": (accepted - started) * 1000,
                "to_inbox_ms": (arrived - accepted) * 1000,
                "to_01_ms": (back - accepted) * 1000,
            }

        _say(f"sending {documents} documents nghean → hub → hanoi, {concurrency} at a time ...")
        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            results = list(pool.map(one, range(documents)))
        elapsed = time.perf_counter() - started
    return {
        "documents": documents,
        "concurrency": concurrency,
        "hops": 2,
        "submit_ms": _percentiles([r["submit_ms"] for r in results]),
        "to_inbox_ms": _percentiles([r["to_inbox_ms"] for r in results]),
        "to_01_ms": _percentiles([r["to_01_ms"] for r in results]),
        "documents_per_second": round(documents / elapsed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--base-port", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--keep-temp", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="docex-bench-federation-"))
    try:
        figures = run(args.documents, args.concurrency, args.base_port or _free_base(), root)
    finally:
        if not args.keep_temp:
            shutil.rmtree(root, ignore_errors=True)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
