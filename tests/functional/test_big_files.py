"""A 1 GiB file goes in and comes back out through a real node, streamed and encrypted, while
the node's memory stays flat."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import psutil
import pytest

from docex_client import DocexClient
from tests.functional.conftest import NodeProcess, signed_pdf
from tests.functional.test_crash import _wait_until_delivered
from tests.helpers import G22, H41

pytestmark = pytest.mark.functional

GIB = 1 << 30
RSS_LIMIT = 200 * 1024 * 1024


class PeakRss:
    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _write_big_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    block = bytearray(hashlib.sha512(b"docex").digest() * 16384)  # 1 MiB
    with path.open("wb") as fh:
        for n in range(size // len(block)):
            block[:8] = n.to_bytes(8, "big")  # every MiB differs
            fh.write(block)
            digest.update(block)
    return digest.hexdigest()


def test_one_gib_file_round_trips_with_the_node_under_200_mb(
    node_process: NodeProcess, tmp_path: Path
) -> None:
    node = node_process
    node.start("--demo", DOCEX_LIMITS__MAX_BODY_BYTES=str(2 * GIB))
    assert node.proc is not None
    big = tmp_path / "phu-luc-1gib.bin"
    expected = _write_big_file(big, GIB)
    main = tmp_path / "cong-van.pdf"
    main.write_bytes(signed_pdf(node, "Công văn kèm phụ lục lớn"))
    credentials = node.credentials()["agencies"]

    with PeakRss(node.proc.pid) as rss:
        with DocexClient(node.url, credentials[G22]["clerk"]["token"], timeout=600) as sender:
            sent = sender.send({"recipients": [H41], "subject": "Phụ lục 1 GiB"}, main, [big])
        _wait_until_delivered(node)
        attachment = next(f for f in sent.document.files if f.role == "attachment")
        assert (attachment.size, attachment.sha256) == (GIB, expected)
        received = tmp_path / "received.bin"
        with DocexClient(node.url, credentials[H41]["clerk"]["token"], timeout=600) as reader:
            got = reader.download(sent.document.id, attachment.id, received).sha256
    print(f"node peak RSS during 1 GiB up and down: {rss.peak / 2**20:.0f} MiB")
    assert got == expected
    assert received.stat().st_size == GIB
    assert rss.peak < RSS_LIMIT, f"node peaked at {rss.peak / 2**20:.0f} MiB"
    # At rest, the blob is ciphertext: the plaintext's first MiB is nowhere in it.
    blobs = [
        p for p in (node.data_dir / "blobs").rglob("*") if p.is_file() and p.stat().st_size > GIB
    ]
    assert len(blobs) == 1
    with blobs[0].open("rb") as fh, big.open("rb") as plain:
        assert plain.read(4096) not in fh.read(8 << 20)
