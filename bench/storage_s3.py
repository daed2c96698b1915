"""S3 blob store throughput on a real SeaweedFS: MB/s up and down for one large stream.

Starts its own ``weed mini`` (127.0.0.1 only, fsync on for buckets: the same setup as the tests,
``tests/storage/seaweed.py``) in a temporary directory, and through ``S3BlobStore`` measures:

- ``put_stream``: an iterator of 256 KiB chunks of unknown total length, hashed on the way
  (16 MiB multipart parts), the path of a blob whose size is not known in advance;
- ``put_file``: the same bytes from a spooled local file of known size (``fput_object``), the
  path intake takes;
- ``open``: the object read back in 256 KiB chunks and hashed, as a download that checks
  integrity does; the digest is compared with the upload's after the clock stops.

Each is run ``--repeat`` times; the JSON on stdout gives every run's MB/s (10^6 bytes per second)
and their median, and Python's tracemalloc peak of each operation. Progress goes to stderr.

    .venv/bin/python bench/storage_s3.py [--size-mib 256] [--repeat 3] [--keep-temp]

Client, server and disk share the machine, so the figures are the store's speed on this machine
with fsync on, not the network's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from docex.storage.base import CHUNK_SIZE
from docex.storage.s3 import PART_SIZE, S3BlobStore

MiB = 1024 * 1024
_POOL = 16 * MiB  # random bytes cycled through, so making the stream costs next to nothing


def _chunks(total: int, pool: bytes) -> Iterator[bytes]:
    view = memoryview(pool)
    sent = 0
    while sent < total:
        start = sent % len(pool)
        n = min(CHUNK_SIZE, total - sent, len(pool) - start)
        yield bytes(view[start : start + n])
        sent += n


def _timed(label: str, run: Callable[[], object], size: int) -> tuple[float, float, object]:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = run()
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rate = size / elapsed / 1e6
    print(
        f"  {label:<10} {rate:8.1f} MB/s  ({elapsed:.2f} s, peak {peak / MiB:.1f} MiB)",
        file=sys.stderr,
    )
    return rate, peak / MiB, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=256, help="stream size in MiB")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each operation")
    parser.add_argument("--keep-temp", action="store_true", help="keep the SeaweedFS directory")
    args = parser.parse_args()

    # The helper lives with the tests; the bench runs from the repository as a script.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.storage.seaweed import SeaweedFS

    size = args.size_mib * MiB
    pool = os.urandom(_POOL)
    root = Path(tempfile.mkdtemp(prefix="docex-bench-s3-"))
    figures: dict[str, list[float]] = {"put_stream": [], "put_file": [], "open": []}
    peaks: dict[str, float] = dict.fromkeys(figures, 0.0)
    try:
        with SeaweedFS(root / "seaweedfs") as seaweedfs:
            store = S3BlobStore(
                seaweedfs.endpoint,
                seaweedfs.bucket,
                access_key=seaweedfs.access_key,
                secret_key=seaweedfs.secret_key,
            )
            print(
                f"SeaweedFS at {seaweedfs.endpoint}, {args.size_mib} MiB per run", file=sys.stderr
            )
            spool = root / "spool"
            expected = hashlib.sha256()
            with spool.open("wb") as fh:
                for chunk in _chunks(size, pool):
                    expected.update(chunk)
                    fh.write(chunk)
            for run in range(1, args.repeat + 1):
                print(f"run {run}/{args.repeat}", file=sys.stderr)
                key = f"bench-{run}"
                rate, peak, info = _timed(
                    "put_stream", partial(store.put_stream, key, _chunks(size, pool)), size
                )
                figures["put_stream"].append(rate)
                peaks["put_stream"] = max(peaks["put_stream"], peak)
                assert getattr(info, "sha256", None) == expected.hexdigest()

                copy = root / f"spool-{run}"
                shutil.copyfile(spool, copy)
                put_file = partial(
                    store.put_file, f"{key}-file", copy, sha256=expected.hexdigest(), size=size
                )
                rate, peak, _ = _timed("put_file", put_file, size)
                figures["put_file"].append(rate)
                peaks["put_file"] = max(peaks["put_file"], peak)

                def read_back(k: str = key) -> str:
                    digest = hashlib.sha256()
                    for chunk in store.open(k):
                        digest.update(chunk)
                    return digest.hexdigest()

                rate, peak, digest = _timed("open", read_back, size)
                figures["open"].append(rate)
                peaks["open"] = max(peaks["open"], peak)
                assert digest == expected.hexdigest(), "downloaded bytes differ"
                for k in (key, f"{key}-file"):
                    store.delete(k)
    finally:
        if args.keep_temp:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)

    result: dict[str, Any] = {
        "size_mib": args.size_mib,
        "part_size_mib": PART_SIZE // MiB,
        "chunk_kib": CHUNK_SIZE // 1024,
        "fsync": True,
        "mb_per_s": {
            name: {
                "median": round(statistics.median(rates), 1),
                "runs": [round(r, 1) for r in rates],
            }
            for name, rates in figures.items()
        },
        "tracemalloc_peak_mib": {name: round(peak, 1) for name, peak in peaks.items()},
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
        },
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
