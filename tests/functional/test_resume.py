"""A download cut mid-body by the network resumes from where it stopped, against a real node.

Between the client and the node sits a TCP relay that hangs up on the client after a number of
bytes of the answer, as a failing link or a restarted proxy would.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
from pathlib import Path

import pytest

from docex_client import DocexClient, RetryPolicy, TransportError
from docex_client.retry import NO_RETRY
from tests.functional.conftest import NodeProcess, signed_pdf
from tests.functional.test_crash import _wait_until_delivered
from tests.helpers import G22, H41

pytestmark = pytest.mark.functional


class CuttingRelay:
    """Relays 127.0.0.1:<port> to the node; the answers on connection number ``n`` (from 0)
    are cut after ``cuts[n]`` bytes. Records the head of every request it relays."""

    def __init__(self, upstream_port: int, cuts: dict[int, int]) -> None:
        self.upstream_port, self.cuts = upstream_port, cuts
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests: list[bytes] = []
        self.connections = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            number, self.connections = self.connections, self.connections + 1
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._up, args=(client, upstream), daemon=True).start()
            threading.Thread(
                target=self._down, args=(upstream, client, self.cuts.get(number)), daemon=True
            ).start()

    def _up(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            while data := client.recv(65536):
                if data[:4] in (b"GET ", b"POST"):
                    self.requests.append(data.split(b"\r\n\r\n", 1)[0])
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            upstream.close()

    def _down(self, upstream: socket.socket, client: socket.socket, cut: int | None) -> None:
        sent = 0
        try:
            while data := upstream.recv(65536):
                if cut is not None and sent + len(data) > cut:
                    client.sendall(data[: cut - sent])
                    return
                client.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):  # a hang-up, not a tidy end of the answer
                client.shutdown(socket.SHUT_RDWR)
            client.close()
            upstream.close()

    def close(self) -> None:
        self._closed = True
        self.listener.close()


@pytest.fixture
def big_document(node_process: NodeProcess, tmp_path: Path) -> tuple[str, str, bytes]:
    node = node_process
    node.start("--demo")
    main = tmp_path / "cong-van.pdf"
    main.write_bytes(signed_pdf(node, "Công văn kèm phụ lục"))
    appendix = os.urandom(6 * 1024 * 1024)
    (tmp_path / "phu-luc.bin").write_bytes(appendix)
    clerks = node.credentials()["agencies"]
    with DocexClient(node.url, clerks[G22]["clerk"]["token"]) as sender:
        sent = sender.send(
            {"recipients": [H41], "subject": "Phụ lục lớn"}, main, [tmp_path / "phu-luc.bin"]
        )
    _wait_until_delivered(node)
    attachment = next(f for f in sent.document.files if f.role == "attachment")
    return sent.document.id, attachment.id, appendix


def test_a_cut_download_resumes_with_a_range_in_the_same_call(
    node_process: NodeProcess, big_document: tuple[str, str, bytes], tmp_path: Path
) -> None:
    document_id, file_id, appendix = big_document
    relay = CuttingRelay(node_process.port, cuts={0: 2_500_000})
    token = node_process.credentials()["agencies"][H41]["clerk"]["token"]
    try:
        with DocexClient(
            f"http://127.0.0.1:{relay.port}", token, retry=RetryPolicy(backoff=0.01)
        ) as api:
            result = api.download(document_id, file_id, tmp_path / "phu-luc.bin")
    finally:
        relay.close()
    assert result.sha256 == hashlib.sha256(appendix).hexdigest()
    assert (tmp_path / "phu-luc.bin").read_bytes() == appendix
    assert relay.connections == 2
    first, second = relay.requests
    assert b"range:" not in first.lower()
    resumed_at = int(second.lower().split(b"range: bytes=")[1].split(b"-")[0])
    assert 2_000_000 < resumed_at < 2_500_000  # all but the answer's head and what was in flight
    assert f'if-range: "{result.sha256}"'.encode() in second.lower()
    assert sorted(p.name for p in tmp_path.iterdir() if "phu-luc" in p.name) == ["phu-luc.bin"]


def test_a_download_cut_for_good_leaves_its_part_and_the_next_call_takes_the_rest(
    node_process: NodeProcess, big_document: tuple[str, str, bytes], tmp_path: Path
) -> None:
    document_id, file_id, appendix = big_document
    digest = hashlib.sha256(appendix).hexdigest()
    token = node_process.credentials()["agencies"][H41]["clerk"]["token"]
    dest = tmp_path / "out" / "phu-luc.bin"
    dest.parent.mkdir()
    relay = CuttingRelay(node_process.port, cuts={0: 4_000_000})
    try:
        with (
            DocexClient(f"http://127.0.0.1:{relay.port}", token, retry=NO_RETRY) as api,
            pytest.raises(TransportError),
        ):
            api.download(document_id, file_id, dest)
    finally:
        relay.close()
    (partial,) = dest.parent.iterdir()
    assert partial.name == f".phu-luc.bin.{digest}.part"
    kept = partial.read_bytes()
    assert 3_000_000 < len(kept) < 4_000_000
    assert appendix.startswith(kept)

    with DocexClient(node_process.url, token) as api:
        result = api.download(document_id, file_id, dest, expected_sha256=digest)
    assert (result.resumed_from, result.sha256) == (len(kept), digest)
    assert dest.read_bytes() == appendix
    assert [p.name for p in dest.parent.iterdir()] == ["phu-luc.bin"]
