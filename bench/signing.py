"""Signing benchmark: agency seals per second through ``docex.signing.pades.sign_pdf``.

Builds a fresh PKI in a temp directory (encrypted keys), generates ``--documents`` distinct PDFs
of ``--size`` bytes, then seals each of them with the agency's key, in-process:

- ``b_t``: PAdES B-T (signature + RFC 3161 time-stamp from the in-process TSA);
- ``b_lt``: PAdES B-LT (also validates the seal's and the TSA's certificates with OCSP and CRLs
  from the in-process responder, and embeds them in the document security store), with the
  validation context reused for a minute (``RevocationContexts``, as a node does);
- ``b_lt_fresh_context``: B-LT with a new validation context, hence new OCSP requests and path
  validations, for every document (the worst case);
- ``b_t_processes``: B-T again with ``--processes`` worker processes, each with its own key store
  (how a node with several workers uses its cores).

Prints one JSON document: seals/s by wall clock and by CPU time of the sealing process (the
latter is what the machine could do if nothing else competed for the core). The issue's target
is at least 40 seals/s. Nothing is asserted: run it on a quiet machine and compare.

    .venv/bin/python bench/signing.py [--documents 100] [--size 102400] [--processes 2]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyhanko_certvalidator import ValidationContext

from docex.kit.samplepdf import sample_pdf
from docex.signing.keystore import FileKeyStore
from docex.signing.pades import RevocationContexts, revocation_context, sign_pdf
from docex.signing.pki import build_pki
from docex.signing.timestamps import InProcessTimeStamper, authority_from_pki

AGENCY = ("000.00.00.G22", "Văn phòng Chính phủ")
KEY_ID = f"seal:{AGENCY[0]}"
PASSPHRASE = "bench passphrase"  # noqa: S105 (a throw-away PKI in a temp directory)
TARGET_SEALS_PER_S = 40


def _seal_all(directory: Path, pdfs: list[bytes], *, lt: str) -> dict[str, float]:
    store = FileKeyStore(directory, PASSPHRASE)
    timestamper = InProcessTimeStamper(authority_from_pki(store.pki))
    contexts = RevocationContexts(store.pki)

    def context() -> ValidationContext | None:
        if lt == "cached":
            return contexts.current()
        return revocation_context(store.pki) if lt == "fresh" else None

    # warm-up: loads the key, sizes the signature container, fills caches
    _seal(store, timestamper, sample_pdf("warm-up"), context())
    wall, cpu = time.perf_counter(), time.process_time()
    total = 0
    for pdf in pdfs:
        total += len(_seal(store, timestamper, pdf, context()))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "documents": len(pdfs),
        "seconds": round(wall, 3),
        "seals_per_s": round(len(pdfs) / wall, 1),
        "cpu_seconds": round(cpu, 3),
        "seals_per_cpu_s": round(len(pdfs) / cpu, 1) if cpu else 0.0,
        "ms_per_seal": round(wall / len(pdfs) * 1000, 2),
        "output_mb": round(total / 1e6, 1),
    }


def _seal(
    store: FileKeyStore,
    timestamper: InProcessTimeStamper,
    pdf: bytes,
    context: ValidationContext | None,
) -> bytes:
    return sign_pdf(
        io.BytesIO(pdf),
        key_store=store,
        key_id=KEY_ID,
        role="seal",
        timestamper=timestamper,
        validation_context=context,
        signer_name=AGENCY[1],
        agency_name=AGENCY[1],
        now=datetime.now(UTC),
    )


def _worker(args: tuple[str, list[bytes]]) -> int:
    directory, pdfs = args
    store = FileKeyStore(Path(directory), PASSPHRASE)
    timestamper = InProcessTimeStamper(authority_from_pki(store.pki))
    for pdf in pdfs:
        _seal(store, timestamper, pdf, None)
    return len(pdfs)


def _parallel(directory: Path, pdfs: list[bytes], processes: int) -> dict[str, float]:
    shares = [pdfs[i::processes] for i in range(processes)]
    with ProcessPoolExecutor(max_workers=processes) as pool:
        list(pool.map(_worker, [(str(directory), [sample_pdf("warm-up")])] * processes))
        wall = time.perf_counter()
        done = sum(pool.map(_worker, [(str(directory), share) for share in shares]))
        wall = time.perf_counter() - wall
    return {
        "processes": processes,
        "documents": done,
        "seconds": round(wall, 3),
        "seals_per_s": round(done / wall, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=100)
    parser.add_argument("--size", type=int, default=100 * 1024, help="PDF size in bytes")
    parser.add_argument("--processes", type=int, default=2, help="0 to skip the parallel run")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="docex-bench-signing-") as tmp:
        directory = Path(tmp) / "pki"
        build_pki(directory, [AGENCY], [], passphrase=PASSPHRASE, now=datetime.now(UTC))
        pdfs = [sample_pdf(f"document {i}", size=args.size) for i in range(args.documents)]
        print(f"sealing {len(pdfs)} PDFs of {args.size} bytes…", file=sys.stderr)
        results: dict[str, Any] = {
            "b_t": _seal_all(directory, pdfs, lt="no"),
            "b_lt": _seal_all(directory, pdfs, lt="cached"),
            "b_lt_fresh_context": _seal_all(directory, pdfs, lt="fresh"),
        }
        if args.processes > 0:
            results["b_t_processes"] = _parallel(directory, pdfs, args.processes)
    best = max(r["seals_per_s"] for r in results.values())
    report = {
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "params": {"documents": args.documents, "size": args.size, "processes": args.processes},
        "results": results,
        "targets": {
            "seals_per_s": TARGET_SEALS_PER_S,
            "b_t_met": results["b_t"]["seals_per_s"] >= TARGET_SEALS_PER_S,
            "b_lt_met": results["b_lt"]["seals_per_s"] >= TARGET_SEALS_PER_S,
            "best_met": best >= TARGET_SEALS_PER_S,
        },
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
