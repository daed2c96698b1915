"""Federation benchmark: documents crossing the demo network.

Runs ``docex network demo`` (the hub and two provinces, three real ``docex serve`` processes on
SQLite + files, as ``docex network demo DIR`` runs them) in this process's background. Three
modes:

``--mode hops`` (the default): as a commune of Nghệ An (node nghean), sends ``--documents``
signed documents to a commune of Hà Nội (node hanoi): each goes nghean → hub → hanoi as a signed
transfer per hop, is delivered there, and its 01 comes back the same way. Reported, in
milliseconds: ``submit_ms`` (the send on nghean, signatures validated), ``to_inbox_ms`` (from the
``201`` to the document in the recipient's inbox on hanoi), ``to_01_ms`` (from the ``201`` to
the 01 recorded at the sender on nghean), each as p50 / p95 / max, plus documents per second end
to end; one after another (``--concurrency 1``) or several clients at once.

``--mode rate``: two nodes, one hop: a commune of Nghệ An (nghean) sends to the Government
Office (``000.00.00.G22``, hosted on the hub) PDFs of ``--pdf-kb`` KB (100) signed by its
leader and sealed by its clerk (a pool of 16 distinct ones, cycled, signed before the clock).

1. Closed loop: ``--concurrency`` (8) clients submit ``--documents`` (120) documents back to
   back (each sends its next one on its ``201``); the *sustained rate* is documents ÷ (first
   submit → every 01 recorded at the sender), the end found by polling nghean's ``/metrics``
   every 20 ms (a delivery to another node stays ``queued`` on the sender's node until its 01
   comes back). Skipped when ``--rate`` is given.
2. Open loop at half that rate (or ``--rate``): document *i* is due at t0 + *i*/rate and is
   handed at that moment to a pool of ``--workers`` (8) submit threads, whatever the replies
   before it; ``--paced-documents`` (200) documents. A poller thread reads each accepted
   document on nghean (``GET /api/v1/documents/{id}``) every ``--poll-ms`` (10) ms until its
   recipient shows status 01. ``submit_to_01_ms``: from the moment the submit request starts
   to the poll that saw the 01 (p50/p95/p99/max); a 01 is seen at most ``--poll-ms`` plus one
   pass over the documents in flight (``poll_pass_ms``) after it is there. ``due_to_01_ms``
   counts from the scheduled time instead (waiting for a free submit thread included).
   Cross-checks from the nodes' own clocks (same machine): ``submit_to_01_recorded_ms`` (the
   sender's delivery row updated to 01) and ``submit_to_01_issued_ms`` (the 01 receipt's time:
   the hub delivered it to G22's inbox).

``--mode broadcast``: before the nodes start, ``--agencies`` (1000) agencies are added, spread
over the three nodes (n mod 3), each hosted on its node with a custodial encryption key (what
``docex agency add`` does), imported by the hub and published in its directory, which the
provinces fetch at start; the hub puts them in a group. After a warm-up document to one of them
on each node, G22 (on the hub) sends one signed PDF to ``group:bench-broadcast``. Polled every
``--poll-ms`` (20) ms, each by a thread of its own: G22's outbox on the hub (the document's 01
count) and each province's ``/metrics`` (its deliveries delivered). Reported in seconds from
the moment the submit starts: ``submit_s`` (``201``), ``all_delivered_s`` (every recipient has
it in its inbox: the provinces' as polled, the hub's own by their 01 receipts, as the hub's
gauge also counts the sender's deliveries whose 01 came back), ``all_01_s`` (every 01 visible
at the sender), per node, plus the nodes' own timestamps and the CPU each node used.

    .venv/bin/python bench/federation.py [--mode hops|rate|broadcast] [--documents N]
        [--concurrency C] [--pdf-kb KB] [--rate R] [--paced-documents N] [--workers W]
        [--poll-ms MS] [--agencies N] [--base-port P] [--out FILE] [--keep-temp]

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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import intake  # bench/intake.py: percentiles, /metrics, the machine

from docex.agencies.service import create_agency, create_group, ensure_custodial_keys
from docex.db import Database
from docex.keys.node import agency_key_store
from docex.kit.clock import SystemClock
from docex.kit.samplepdf import sample_pdf
from docex.network import HUB, NETWORK_FILE, NODES, _settings, prepare, run_demo

SENDER = "001.00.41.H41"  # a commune of Nghệ An, on nghean
RECIPIENT = "001.00.26.H26"  # a commune of Hà Nội, on hanoi
RATE_SENDER, RATE_NODE = SENDER, "nghean"
RATE_RECIPIENT = "000.00.00.G22"  # the Government Office, on the hub: one hop
BROADCAST_SENDER = "000.00.00.G22"
BROADCAST_GROUP = "bench-broadcast"
SIGNED_POOL = 16  # distinct signed PDFs, cycled: validation costs the same each time
METRICS_POLL_S = 0.02
TIMEOUT_S = 300.0
BROADCAST_TARGET_S = 5.0
RATE_TARGET_P99_MS = 300.0


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


def _summary_ms(seconds: list[float]) -> dict[str, float]:
    """Nearest-rank p50/p95/p99, max and mean, in ms (as bench/intake.py)."""
    return {k: round(v, 1) for k, v in intake.latency_summary(seconds).items()}


def _wall(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


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
    return _signed_bytes(url, people, sample_pdf(title, seed=uuid.uuid4().bytes))


def _signed_bytes(url: str, people: dict[str, Any], data: bytes) -> bytes:
    """``data`` signed by the agency's leader and sealed by its clerk, by the node's signing
    service (incremental updates: the padding of the sample stays inside a valid PDF)."""
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


def _signed_sized(url: str, people: dict[str, Any], titles: list[str], size: int) -> list[bytes]:
    """Signed PDFs of about ``size`` bytes once signed: the two signatures (with their
    certificates, timestamps and revocation data) add a fixed amount, measured on a first
    PDF, which the padding inside the unsigned PDF leaves room for."""
    unsigned = sample_pdf(titles[0], seed=uuid.uuid4().bytes)
    overhead = len(_signed_bytes(url, people, unsigned)) - len(unsigned)
    pad = max(0, size - overhead)
    return [
        _signed_bytes(url, people, sample_pdf(t, size=pad, seed=uuid.uuid4().bytes)) for t in titles
    ]


def _client(url: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
        trust_env=False,
    )


def _submit(client: httpx.Client, recipients: list[str], index: int, pdf: bytes) -> httpx.Response:
    envelope = {
        "recipients": recipients,
        "subject": f"Công văn liên tỉnh số {index}",
        "code": {"number": str(index + 1), "notation": "UBND-BENCH"},
    }
    return client.post(
        "/api/v1/documents",
        files=[
            ("envelope", (None, json.dumps(envelope), "application/json")),
            ("main", ("cv.pdf", pdf, "application/pdf")),
        ],
    )


def _node_cpu() -> dict[str, float]:
    """CPU seconds (user + system) of each node's processes (``docex serve`` and its pool of
    signature validators), by node id, from this process's children."""
    out: dict[str, float] = {}
    for child in psutil.Process().children(recursive=True):
        with suppress(psutil.Error):
            node = child.environ().get("DOCEX_NODE_ID")
            if node:
                times = child.cpu_times()
                out[node] = out.get(node, 0.0) + times.user + times.system
    return out


def _cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {n: round(after.get(n, 0.0) - before.get(n, 0.0), 2) for n in sorted(after)}


# -- hops: two hops, one document at a time or a few ------------------------------------------


def run_hops(network: dict[str, Any], documents: int, concurrency: int) -> dict[str, Any]:
    sender_url, sender = _people(network, "nghean", SENDER)
    recipient_url, recipient = _people(network, "hanoi", RECIPIENT)
    send_headers = {"Authorization": f"Bearer {sender['clerk']['token']}"}
    read_headers = {"Authorization": f"Bearer {recipient['clerk']['token']}"}
    _say(f"signing {documents} documents on nghean ...")
    pdfs = [_signed(sender_url, sender, f"Công văn liên tỉnh số {i}") for i in range(documents)]

    def one(index: int) -> dict[str, float]:
        started = time.perf_counter()
        with httpx.Client(base_url=sender_url, headers=send_headers, timeout=120) as client:
            answer = _submit(client, [RECIPIENT], index, pdfs[index])
        answer.raise_for_status()
        accepted = time.perf_counter()
        document_id = answer.json()["id"]
        arrived = back = None
        deadline = accepted + TIMEOUT_S
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
            raise SystemExit(f"document {document_id} did not cross within {TIMEOUT_S:.0f} s")
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


# -- rate: sustained documents/s across two nodes, then p99 at half of it ---------------------


def _wait_all_01(control: httpx.Client, before: dict[str, int], expected: int) -> float:
    """Poll the sender's /metrics until ``expected`` more deliveries are delivered (01 back)
    and none is queued; the moment it saw that (perf_counter)."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        counts = intake.delivery_counts(control)
        seen = time.perf_counter()
        if counts.get("failed", 0) > before.get("failed", 0):
            raise SystemExit(f"deliveries failed on the sender: {counts}")
        grown = counts.get("delivered", 0) - before.get("delivered", 0)
        if grown >= expected and counts.get("queued", 0) == 0:
            return seen
        if time.monotonic() > deadline:
            raise SystemExit(f"not every 01 back within {TIMEOUT_S:.0f} s: {counts}")
        time.sleep(METRICS_POLL_S)


def _closed_loop(
    url: str, token: str, pdfs: list[bytes], documents: int, concurrency: int
) -> dict[str, Any]:
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    remaining = iter(range(documents))

    def take() -> int | None:
        with lock:
            return next(remaining, None)

    def sender() -> None:
        with _client(url, token) as client:
            while (i := take()) is not None:
                started = time.perf_counter()
                answer = _submit(client, [RATE_RECIPIENT], i, pdfs[i % len(pdfs)])
                spent = time.perf_counter() - started
                with lock:
                    if answer.status_code == 201:
                        latencies.append(spent)
                    else:
                        failures.append(f"{answer.status_code} {answer.text[:200]}")

    with httpx.Client(base_url=url, timeout=30, trust_env=False) as control:
        before = intake.delivery_counts(control)
        cpu = _node_cpu()
        started = time.perf_counter()
        threads = [threading.Thread(target=sender, daemon=True) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        submitted = time.perf_counter()
        if failures:
            raise SystemExit(f"{len(failures)} submits failed, e.g. {failures[0]}")
        done = _wait_all_01(control, before, documents)
        used = _cpu_used(cpu, _node_cpu())
    return {
        "documents": documents,
        "concurrency": concurrency,
        "docs_per_s": round(documents / (done - started), 2),
        "submit_docs_per_s": round(documents / (submitted - started), 2),
        "submit_ms": _summary_ms(latencies),
        "node_cpu_s": used,
    }


class _Poller:
    """One thread that reads each document in flight on the sender every ``interval`` until
    its recipients all show 01, and notes when it saw that."""

    def __init__(self, url: str, token: str, interval: float) -> None:
        self.url, self.token, self.interval = url, token, interval
        self.waiting: dict[str, int] = {}  # document id → index
        self.seen: dict[int, tuple[float, str]] = {}  # index → (perf_counter, updated_at)
        self.passes: list[float] = []  # seconds a pass over the documents in flight took
        self.requests = 0
        self.lock = threading.Lock()
        self.finish = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def add(self, document_id: str, index: int) -> None:
        with self.lock:
            self.waiting[document_id] = index

    def _run(self) -> None:
        deadline = None
        with _client(self.url, self.token) as client:
            while True:
                with self.lock:
                    ids = list(self.waiting.items())
                if not ids and self.finish.is_set():
                    return
                if self.finish.is_set():
                    deadline = deadline or time.monotonic() + TIMEOUT_S
                    if time.monotonic() > deadline:
                        raise SystemExit(f"{len(ids)} documents without their 01")
                started = time.perf_counter()
                for document_id, index in ids:
                    view = client.get(f"/api/v1/documents/{document_id}")
                    self.requests += 1
                    if view.status_code != 200:
                        continue
                    recipients = view.json()["recipients"]
                    if all(r["status"] == "01" for r in recipients):
                        at = time.perf_counter()
                        with self.lock:
                            del self.waiting[document_id]
                            self.seen[index] = (at, max(r["updated_at"] for r in recipients))
                if ids:
                    self.passes.append(time.perf_counter() - started)
                time.sleep(self.interval)


def _open_loop(
    url: str,
    token: str,
    pdfs: list[bytes],
    rate: float,
    documents: int,
    workers: int,
    poll_s: float,
) -> dict[str, Any]:
    poller = _Poller(url, token, poll_s)
    local = threading.local()
    clients: list[httpx.Client] = []
    sent: dict[int, dict[str, Any]] = {}
    failures: list[str] = []
    lock = threading.Lock()

    def send(index: int, due: float) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = _client(url, token)
            with lock:
                clients.append(client)
        wall = time.time()
        started = time.perf_counter()
        answer = _submit(client, [RATE_RECIPIENT], index, pdfs[index % len(pdfs)])
        accepted = time.perf_counter()
        if answer.status_code != 201:
            with lock:
                failures.append(f"{answer.status_code} {answer.text[:200]}")
            return
        document_id = answer.json()["id"]
        with lock:
            sent[index] = {
                "id": document_id,
                "due": due,
                "started": started,
                "wall": wall,
                "accepted": accepted,
            }
        poller.add(document_id, index)

    poller.thread.start()
    cpu = _node_cpu()
    t0 = time.perf_counter() + 0.1
    try:
        with ThreadPoolExecutor(workers) as pool:
            futures = []
            for i in range(documents):
                due = t0 + i / rate
                if (wait := due - time.perf_counter()) > 0:
                    time.sleep(wait)  # the schedule: never waits for a reply
                futures.append(pool.submit(send, i, due))
            for future in futures:
                future.result()
        submitted = time.perf_counter()
        poller.finish.set()
        poller.thread.join()
        used = _cpu_used(cpu, _node_cpu())
        # Outside the timing: each document's 01 receipt, stamped by the node that issued it.
        issued: dict[int, float] = {}
        with _client(url, token) as client:
            for index, item in sent.items():
                receipts = client.get(f"/api/v1/documents/{item['id']}/receipts").json()
                times = [_wall(r["created_at"]) for r in receipts["items"] if r["code"] == "01"]
                if times:
                    issued[index] = max(times)
    finally:
        for client in clients:
            client.close()
    done = [i for i in sent if i in poller.seen]
    if len(done) != len(sent):
        raise SystemExit(f"{len(sent) - len(done)} documents without their 01")
    last = max(poller.seen[i][0] for i in done)
    return {
        "rate": round(rate, 2),
        "documents": len(sent),
        "workers": workers,
        "errors": len(failures),
        "error_samples": failures[:3],
        "achieved_docs_per_s": round(len(sent) / (submitted - t0), 2),
        "docs_per_s_to_01": round(len(sent) / (last - t0), 2),
        "submit_ms": _summary_ms([sent[i]["accepted"] - sent[i]["started"] for i in done]),
        "submit_to_01_ms": _summary_ms([poller.seen[i][0] - sent[i]["started"] for i in done]),
        "due_to_01_ms": _summary_ms([poller.seen[i][0] - sent[i]["due"] for i in done]),
        "submit_to_01_recorded_ms": _summary_ms(
            [_wall(poller.seen[i][1]) - sent[i]["wall"] for i in done]
        ),
        "submit_to_01_issued_ms": _summary_ms(
            [issued[i] - sent[i]["wall"] for i in done if i in issued]
        ),
        "poll_interval_ms": round(poll_s * 1000, 1),
        "poll_pass_ms": _summary_ms(poller.passes),
        "poll_requests": poller.requests,
        "node_cpu_s": used,
    }


def run_rate(
    network: dict[str, Any],
    *,
    documents: int,
    concurrency: int,
    pdf_kb: int,
    rate: float | None,
    paced_documents: int,
    workers: int,
    poll_s: float,
) -> dict[str, Any]:
    url, people = _people(network, RATE_NODE, RATE_SENDER)
    token = people["clerk"]["token"]
    _say(f"signing {SIGNED_POOL} PDFs of {pdf_kb} KB on {RATE_NODE} ...")
    titles = [f"Công văn liên tỉnh số {i}" for i in range(SIGNED_POOL)]
    pdfs = _signed_sized(url, people, titles, pdf_kb * 1024)
    with _client(url, token) as client, httpx.Client(base_url=url, trust_env=False) as control:
        _say("warming up: 3 documents, one at a time ...")
        for i in range(3):
            before = intake.delivery_counts(control)
            _submit(client, [RATE_RECIPIENT], i, pdfs[i]).raise_for_status()
            _wait_all_01(control, before, 1)
    out: dict[str, Any] = {
        "sender": f"{RATE_SENDER} on {RATE_NODE}",
        "recipient": f"{RATE_RECIPIENT} on {HUB}",
        "hops": 1,
        "pdf_bytes": {"min": min(map(len, pdfs)), "max": max(map(len, pdfs))},
    }
    if rate is None:
        _say(f"closed loop: {documents} documents, {concurrency} clients ...")
        out["closed_loop"] = _closed_loop(url, token, pdfs, documents, concurrency)
        rate = out["closed_loop"]["docs_per_s"] / 2
        _say(f"sustained {out['closed_loop']['docs_per_s']} docs/s (to 01 at the sender)")
    _say(f"open loop: {paced_documents} documents at {rate:.2f}/s ...")
    out["open_loop"] = _open_loop(url, token, pdfs, rate, paced_documents, workers, poll_s)
    p99 = out["open_loop"]["submit_to_01_ms"]["p99"]
    _say(f"submit → 01 at the sender: p99 {p99} ms")
    out["target"] = {"p99_ms_below": RATE_TARGET_P99_MS, "met": p99 < RATE_TARGET_P99_MS}
    return out


# -- broadcast: 1,000 agencies over the three nodes --------------------------------------------


def _broadcast_code(n: int) -> str:
    return f"{n % 1000:03d}.{n // 1000:02d}.98.X98"


def seed_broadcast(root: Path, base_port: int, count: int) -> dict[str, list[str]]:
    """Before the nodes start: ``count`` agencies hosted on the three nodes in turn, each with
    its custodial encryption key (as ``docex agency add``); the hub imports the provinces'
    (as ``docex federation node add``) and makes them all a group. ``run_demo`` then prepares
    again: it imports and publishes the directory with them, which the provinces fetch."""
    prepare(root, base_port)
    hosted: dict[str, list[str]] = {node.id: [] for node in NODES}
    for n in range(count):
        hosted[NODES[n % len(NODES)].id].append(_broadcast_code(n))
    now = SystemClock().now()
    for node in NODES:
        settings = _settings(root, node, base_port)
        db = Database(settings.resolved_database_url)
        try:
            with db.write() as session:
                for code in hosted[node.id]:
                    create_agency(
                        session,
                        code=code,
                        name=f"Ủy ban nhân dân xã thử nghiệm {code}",
                        kind="state",
                        node_id=node.id,
                        now=now,
                    )
                ensure_custodial_keys(session, agency_key_store(settings), node_id=node.id, now=now)
        finally:
            db.dispose()
    prepare(root, base_port)  # the hub imports the provinces' new agencies
    settings = _settings(root, NODES[0], base_port)
    db = Database(settings.resolved_database_url)
    try:
        with db.write() as session:
            members = [code for codes in hosted.values() for code in codes]
            create_group(session, BROADCAST_GROUP, members, title="Xã thử nghiệm (bench)", now=now)
    finally:
        db.dispose()
    return hosted


def _outbox_item(client: httpx.Client, document_id: str) -> dict[str, Any] | None:
    page = client.get("/api/v1/outbox", params={"limit": 5})
    page.raise_for_status()
    for item in page.json()["items"]:
        if item["document_id"] == document_id:
            found: dict[str, Any] = item
            return found
    return None


def _watch(check: Callable[[], bool], interval: float) -> float:
    """Call ``check`` every ``interval`` until it is true; the moment it was (perf_counter)."""
    deadline = time.monotonic() + TIMEOUT_S
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"not done within {TIMEOUT_S:.0f} s")
        time.sleep(interval)
    return time.perf_counter()


def _count_01(client: httpx.Client, document_id: str) -> int:
    item = _outbox_item(client, document_id)
    return int(item["status"].get("01", 0)) if item else 0


def run_broadcast(
    network: dict[str, Any], hosted: dict[str, list[str]], pdf_kb: int, poll_s: float
) -> dict[str, Any]:
    url, people = _people(network, HUB, BROADCAST_SENDER)
    token = people["clerk"]["token"]
    count = sum(len(codes) for codes in hosted.values())
    (pdf,) = _signed_sized(url, people, ["Công văn gửi mọi xã thử nghiệm"], pdf_kb * 1024)
    metrics = {
        node: httpx.Client(base_url=entry["base_url"], timeout=30, trust_env=False)
        for node, entry in network["nodes"].items()
    }
    try:
        with _client(url, token) as client:
            _say("warming up: one document to an agency of each node ...")
            firsts = [codes[0] for codes in hosted.values()]
            warm = _submit(client, firsts, 0, pdf)
            warm.raise_for_status()
            deadline = time.monotonic() + TIMEOUT_S
            while _count_01(client, warm.json()["id"]) < len(firsts):
                if time.monotonic() > deadline:
                    raise SystemExit("the warm-up document did not get its 01s")
                time.sleep(0.1)
            before = {node: intake.delivery_counts(c) for node, c in metrics.items()}
            cpu = _node_cpu()
            _say(f"broadcast to group:{BROADCAST_GROUP} ({count} agencies) ...")
            wall = time.time()
            started = time.perf_counter()
            answer = _submit(client, [f"group:{BROADCAST_GROUP}"], 1, pdf)
            accepted = time.perf_counter()
            answer.raise_for_status()
            document_id = answer.json()["id"]
            progress: list[tuple[float, int]] = []
            polls = [0]

            def all_01_seen() -> bool:
                n01 = _count_01(client, document_id)
                polls[0] += 1
                if not progress or progress[-1][1] != n01:
                    progress.append((round(time.perf_counter() - started, 3), n01))
                return n01 >= count

            def delivered_on(node: str) -> Callable[[], bool]:
                def check() -> bool:
                    counts = intake.delivery_counts(metrics[node])
                    grown = counts.get("delivered", 0) - before[node].get("delivered", 0)
                    return grown >= len(hosted[node])

                return check

            # One thread per thing watched, so that each is read every ``poll_s``.
            with ThreadPoolExecutor(1 + len(metrics)) as pool:
                watch_01 = pool.submit(_watch, all_01_seen, poll_s)
                # A province's deliveries are all incoming; the hub's gauge would also count
                # the sender's deliveries whose 01 came back: its own are timed by their 01s.
                watch_nodes = {
                    n: pool.submit(_watch, delivered_on(n), poll_s) for n in metrics if n != HUB
                }
                all_01 = watch_01.result()
                delivered_at = {n: f.result() for n, f in watch_nodes.items()}
            used = _cpu_used(cpu, _node_cpu())
            # Outside the timing: the nodes' own timestamps, and every recipient at 01.
            view = client.get(f"/api/v1/documents/{document_id}").json()
            receipts = client.get(f"/api/v1/documents/{document_id}/receipts").json()
    finally:
        for c in metrics.values():
            c.close()
    recipients = view["recipients"]
    if len(recipients) != count or any(r["status"] != "01" for r in recipients):
        raise SystemExit(f"{len(recipients)} recipients, not all 01")
    issued: dict[str, float] = {}
    for r in receipts["items"]:
        if r["code"] == "01":
            issued[r["from_agency_id"]] = _wall(r["created_at"])
    node_of = {code: node for node, codes in hosted.items() for code in codes}
    by_node: dict[str, dict[str, float | None]] = {}
    for node in hosted:
        recorded = [_wall(r["updated_at"]) for r in recipients if node_of[r["agency_id"]] == node]
        stamps = [t for code, t in issued.items() if node_of.get(code) == node]
        by_node[node] = {
            "agencies": len(hosted[node]),
            "delivered_polled_s": round(delivered_at[node] - started, 3)
            if node in delivered_at
            else None,
            "delivered_issued_s": round(max(stamps) - wall, 3),
            "01_recorded_at_sender_s": round(max(recorded) - wall, 3),
        }
    all_01_s = all_01 - started
    hub_done = max(t for code, t in issued.items() if node_of.get(code) == HUB) - wall
    return {
        "sender": f"{BROADCAST_SENDER} on {HUB}",
        "agencies": count,
        "pdf_bytes": len(pdf),
        "poll_interval_ms": round(poll_s * 1000, 1),
        "outbox_polls": polls[0],
        "outbox_poll_cycle_ms": round((all_01 - accepted) / max(1, polls[0]) * 1000, 1),
        "submit_s": round(accepted - started, 3),
        "all_delivered_s": round(max(*(t - started for t in delivered_at.values()), hub_done), 3),
        "all_delivered_issued_s": round(max(issued.values()) - wall, 3),
        "all_01_s": round(all_01_s, 3),
        "all_01_recorded_s": round(max(_wall(r["updated_at"]) for r in recipients) - wall, 3),
        "by_node": by_node,
        "progress_01": progress[:: max(1, len(progress) // 20)][:-1] + progress[-1:],
        "node_cpu_s": used,
        "target": {"all_01_s_below": BROADCAST_TARGET_S, "met": all_01_s < BROADCAST_TARGET_S},
    }


# -- main ----------------------------------------------------------------------------------


@contextmanager
def _temp(keep: bool) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="docex-bench-federation-"))
    try:
        yield root
    finally:
        if keep:
            _say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("hops", "rate", "broadcast"), default="hops")
    parser.add_argument(
        "--documents", type=int, default=None, help="hops: 50; rate, closed loop: 120"
    )
    parser.add_argument("--concurrency", type=int, default=None, help="hops: 1; rate: 8")
    parser.add_argument("--pdf-kb", type=int, default=100, help="rate, broadcast (100)")
    parser.add_argument("--rate", type=float, default=None, help="rate: skip the closed loop")
    parser.add_argument("--paced-documents", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8, help="rate: submit threads (8)")
    parser.add_argument("--poll-ms", type=float, default=None, help="rate: 10; broadcast: 20")
    parser.add_argument("--agencies", type=int, default=1000)
    parser.add_argument("--base-port", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--keep-temp", action="store_true")
    args = parser.parse_args()
    base_port = args.base_port or _free_base()
    figures: dict[str, Any] = {"mode": args.mode, "machine": intake.machine()}
    with _temp(args.keep_temp) as root:
        run: Callable[[dict[str, Any]], dict[str, Any]]
        if args.mode == "hops":

            def run(network: dict[str, Any]) -> dict[str, Any]:
                return run_hops(network, args.documents or 50, args.concurrency or 1)

        elif args.mode == "rate":

            def run(network: dict[str, Any]) -> dict[str, Any]:
                return run_rate(
                    network,
                    documents=args.documents or 120,
                    concurrency=args.concurrency or 8,
                    pdf_kb=args.pdf_kb,
                    rate=args.rate,
                    paced_documents=args.paced_documents,
                    workers=args.workers,
                    poll_s=(args.poll_ms or 10) / 1000,
                )

        else:
            _say(f"adding {args.agencies} agencies over the three nodes ...")
            started = time.perf_counter()
            hosted = seed_broadcast(root, base_port, args.agencies)
            figures["setup_s"] = round(time.perf_counter() - started, 1)

            def run(network: dict[str, Any]) -> dict[str, Any]:
                return run_broadcast(network, hosted, args.pdf_kb, (args.poll_ms or 20) / 1000)

        with Demo(root, base_port) as network:
            figures.update(run(network))
    text = json.dumps(figures, indent=2, ensure_ascii=False)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
