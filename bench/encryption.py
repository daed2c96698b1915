"""Encryption-at-rest benchmark: the DXB1 segmented AEAD against a plain copy and the raw disk.

Prints one JSON document on stdout (progress on stderr):

- ``memory``: MB/s of a stream held in memory, nothing written: ``copy`` (the chunks copied
  through a generator, the floor any streaming costs), ``encrypt``, ``decrypt``, and
  ``encrypt_then_decrypt`` (the two chained, one pass).
- ``disk``: MB/s on the filesystem of ``--dir``: ``raw_write`` (sequential write + fsync of
  plain bytes, like ``dd conv=fsync``), ``plain_store_read`` and ``encrypted_store_read`` (put
  into a ``FilesystemBlobStore`` and read back whole, without and with encryption; size divided
  by the time of both), and ``encrypted_vs_raw_write``: the issue asks for >= 0.6.

    .venv/bin/python bench/encryption.py [--size-mib 256] [--segment-kib 1024] [--repeat 3]
                                         [--dir DIR]

Each figure is the median of ``--repeat`` runs. Read-back comes from the page cache when the
file fits in memory (no caches are dropped: that needs root and disturbs other work); the write
side is always fsynced.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from docex.storage.encryption import Chunk, associated_data, decrypt, encrypt, new_data_key
from docex.storage.filesystem import FilesystemBlobStore

CHUNK = 256 * 1024
MB = 1_000_000


def _source(size: int) -> Iterator[memoryview]:
    """``size`` bytes in 256 KiB views of one random block: the source itself costs nothing."""
    block = memoryview(os.urandom(4 << 20))
    for sent in range(0, size, CHUNK):
        offset = sent % len(block)
        yield block[offset : offset + min(CHUNK, size - sent)]


def _copied(chunks: Iterable[Chunk]) -> Iterator[bytes]:
    for chunk in chunks:
        yield bytes(chunk)


def _drain(chunks: Iterable[Chunk]) -> int:
    return sum(len(c) for c in chunks)


def _timed(label: str, size: int, repeat: int, run: Callable[[], None]) -> float:
    rates = []
    for i in range(repeat):
        start = time.perf_counter()
        run()
        elapsed = time.perf_counter() - start
        rates.append(size / elapsed / MB)
        print(f"{label} #{i + 1}: {rates[-1]:.0f} MB/s", file=sys.stderr)
    return round(statistics.median(rates), 1)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--segment-kib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: TMPDIR)")
    args = parser.parse_args()
    size = args.size_mib << 20
    segment = args.segment_kib << 10
    dek = new_data_key()
    aad = associated_data("bench-doc", "bench-file", "normal")

    def copy() -> None:
        _drain(_copied(_source(size)))

    def encrypt_only() -> None:
        _drain(encrypt(_source(size), dek, aad, segment_size=segment))

    def encrypt_then_decrypt() -> None:
        _drain(decrypt(encrypt(_source(size), dek, aad, segment_size=segment), dek, aad))

    blob = list(encrypt(_source(size), dek, aad, segment_size=segment))

    def decrypt_only() -> None:
        _drain(decrypt(blob, dek, aad))

    memory = {
        "copy": _timed("copy", size, args.repeat, copy),
        "encrypt": _timed("encrypt", size, args.repeat, encrypt_only),
        "decrypt": _timed("decrypt", size, args.repeat, decrypt_only),
        "encrypt_then_decrypt": _timed("enc+dec", size, args.repeat, encrypt_then_decrypt),
    }
    blob.clear()

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="docex-bench-") as tmp:
        root = Path(tmp)
        store = FilesystemBlobStore(root / "blobs")

        def raw_write() -> None:
            path = root / "raw"
            with path.open("wb") as fh:
                for chunk in _copied(_source(size)):
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            path.unlink()

        def plain_store_read() -> None:
            store.put_stream("plain", _copied(_source(size)))
            assert _drain(store.open("plain")) == size
            store.delete("plain")

        def encrypted_store_read() -> None:
            store.put_stream(
                "sealed", encrypt(_copied(_source(size)), dek, aad, segment_size=segment)
            )
            assert _drain(decrypt(store.open("sealed"), dek, aad)) == size
            store.delete("sealed")

        disk = {
            "raw_write": _timed("raw write", size, args.repeat, raw_write),
            "plain_store_read": _timed("plain store+read", size, args.repeat, plain_store_read),
            "encrypted_store_read": _timed(
                "encrypted store+read", size, args.repeat, encrypted_store_read
            ),
        }
        disk["encrypted_vs_raw_write"] = round(disk["encrypted_store_read"] / disk["raw_write"], 2)
        disk["encrypted_vs_plain_store_read"] = round(
            disk["encrypted_store_read"] / disk["plain_store_read"], 2
        )

    result = {
        "machine": {
            "nproc": len(os.sched_getaffinity(0)),
            "cpu": _cpu_model(),
            "python": platform.python_version(),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
        },
        "params": {"size_mib": args.size_mib, "segment_kib": args.segment_kib},
        "memory_mb_s": memory,
        "disk_mb_s": disk,
        "targets": {
            "encrypted_store_read >= 0.6 x raw_write": disk["encrypted_vs_raw_write"] >= 0.6
        },
    }
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
