"""Slow clients cannot hold a node: a real ``docex serve`` on 127.0.0.1, with timeouts of a
second, against clients that never finish their heads or bodies, trickle them, or open more
connections than their share; and strict framing at the HTTP layer.

Other source addresses on the loopback (127.0.0.2, ...) stand for other clients: the node
caps connections per peer address, so a flood from one leaves the others served."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.functional.conftest import NodeProcess
from tests.security.conftest import (
    MULTIPART,
    closed_by_peer,
    connect,
    multipart,
    part,
    read_answer,
    wait_for,
)

pytestmark = pytest.mark.functional

CAP = 20
LIMITS = {
    "DOCEX_LIMITS__HEADER_TIMEOUT_SECONDS": "1",
    "DOCEX_LIMITS__BODY_TIMEOUT_SECONDS": "1",
    "DOCEX_LIMITS__MIN_BODY_BYTES_PER_SECOND": "1000",
    "DOCEX_LIMITS__MAX_CONNECTIONS_PER_ADDRESS": str(CAP),
}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    served = NodeProcess(tmp_path_factory.mktemp("slow-clients") / "node")
    served.start("--demo", **LIMITS)
    yield served
    served.stop()


def token(node: NodeProcess) -> str:
    return str(node.credentials()["agencies"]["000.00.00.G22"]["clerk"]["token"])


def spool(node: NodeProcess) -> list[Path]:
    return sorted((node.data_dir / "spool").iterdir())


def open_fds(node: NodeProcess) -> int:
    assert node.proc is not None
    return int(psutil.Process(node.proc.pid).num_fds())


def upload_head(node: NodeProcess, declared: int) -> bytes:
    """The start of a document upload: headers, the envelope, the head of the main part."""
    envelope = json.dumps(
        {"recipients": ["000.00.00.H41"], "subject": "Chậm", "code": {"number": "1"}}
    ).encode()
    start = part("envelope", envelope, ctype="application/json")
    start += (
        b"--docex-security-boundary-5521\r\n"
        b'Content-Disposition: form-data; name="main"; filename="cv.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n%PDF-1.7\n"
    )
    head = (
        "POST /api/v1/documents HTTP/1.1\r\nHost: node\r\n"
        f"Authorization: Bearer {token(node)}\r\n"
        f"Content-Type: {MULTIPART}\r\nContent-Length: {declared}\r\n\r\n"
    )
    return head.encode() + start


def request_count(node: NodeProcess, route: str) -> float:
    text = httpx.get(f"{node.url}/metrics", timeout=10).text
    labels = rf'\{{[^}}]*route="{re.escape(route)}"[^}}]*\}}'
    pattern = rf"^docex_http_request_duration_seconds_count{labels} (\S+)$"
    return sum(float(m) for m in re.findall(pattern, text, re.M))


# -- heads ---------------------------------------------------------------------------------------


def test_a_request_head_that_never_ends_is_408_and_the_connection_closed(
    node: NodeProcess,
) -> None:
    with connect(node.port) as sock:
        sock.sendall(b"POST /api/v1/auth/token HTTP/1.1\r\nHost: node\r\nContent-")
        answer = read_answer(sock)
    assert answer.status == 408
    assert answer.json()["error"] == "request_timeout"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.closed


def test_a_connection_that_sends_nothing_is_408_and_closed(node: NodeProcess) -> None:
    with connect(node.port) as sock:
        answer = read_answer(sock)
    assert (answer.status, answer.json()["error"], answer.closed) == (408, "request_timeout", True)


def test_a_kept_alive_connection_gets_the_same_head_timeout_for_its_next_request(
    node: NodeProcess,
) -> None:
    with connect(node.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: node\r\n\r\n")
        first = read_answer(sock, within=5)
        assert first.status == 200
        assert not first.closed
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
        second = read_answer(sock)
    assert (second.status, second.closed) == (408, True)


# -- bodies --------------------------------------------------------------------------------------


def test_an_upload_that_never_reaches_its_content_length_is_408_and_leaves_no_spool_file(
    node: NodeProcess,
) -> None:
    with connect(node.port) as sock:
        sock.sendall(upload_head(node, declared=200_000))
        wait_for(lambda: len(spool(node)) == 1, what="the main part is spooled")
        answer = read_answer(sock)
    assert answer.status == 408
    assert answer.json()["error"] == "request_timeout"
    assert answer.headers["connection"] == "close"
    assert answer.closed
    wait_for(lambda: spool(node) == [], what="the spool file is removed")


def test_a_login_form_that_never_ends_is_408(node: NodeProcess) -> None:
    with connect(node.port) as sock:
        sock.sendall(
            b"POST /api/v1/auth/token HTTP/1.1\r\nHost: node\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
            b"username=vanthu"
        )
        answer = read_answer(sock)
    assert (answer.status, answer.json()["error"], answer.closed) == (408, "request_timeout", True)


def test_a_body_trickling_slower_than_the_minimum_rate_is_408(node: NodeProcess) -> None:
    """One byte every 0.2 s never leaves a second without data, but averages 5 bytes/s."""
    with connect(node.port) as sock:
        sock.sendall(upload_head(node, declared=200_000))
        deadline = time.monotonic() + 20
        while not closed_by_peer(sock) and time.monotonic() < deadline:
            sock.sendall(b"x")
            time.sleep(0.2)
        answer = read_answer(sock, within=1)
    assert answer.status == 408
    assert "slower than 1000 bytes per second" in answer.json()["detail"]
    wait_for(lambda: spool(node) == [], what="the spool file is removed")


def test_a_slow_but_honest_upload_is_accepted(node: NodeProcess) -> None:
    """Above the minimum rate, pauses under the body timeout: the node waits for it."""
    from tests.functional.conftest import signed_pdf

    data = signed_pdf(node, "Chậm mà chắc", seed=b"slow-honest")
    envelope = json.dumps(
        {"recipients": ["000.00.00.H41"], "subject": "Chậm mà chắc", "code": {"number": "2"}}
    ).encode()
    body = multipart(
        part("envelope", envelope, ctype="application/json"),
        part("main", data, filename="cv.pdf", ctype="application/pdf"),
    )
    head = (
        "POST /api/v1/documents HTTP/1.1\r\nHost: node\r\n"
        f"Authorization: Bearer {token(node)}\r\n"
        f"Content-Type: {MULTIPART}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with connect(node.port) as sock:
        sock.sendall(head)
        step = max(1, len(body) // 8)
        for start in range(0, len(body), step):
            sock.sendall(body[start : start + step])
            time.sleep(0.3)
        answer = read_answer(sock, within=60)
    assert answer.status == 201, answer.body


# -- connections per address --------------------------------------------------------------------


def test_connections_over_the_per_address_cap_are_refused_429_and_others_still_served(
    node: NodeProcess, sockets: list[socket.socket]
) -> None:
    for _ in range(CAP):
        sockets.append(connect(node.port, source="127.0.0.3"))
        sockets[-1].sendall(b"GET /healthz HTTP/1.1\r\n")  # a head, not yet finished
    with connect(node.port, source="127.0.0.3") as extra:
        answer = read_answer(extra, within=5)
    assert (answer.status, answer.json()["error"]) == (429, "too_many_connections")
    assert answer.headers["retry-after"] == "1"
    assert answer.closed
    with connect(node.port, source="127.0.0.4") as other:  # someone else
        other.sendall(b"GET /healthz HTTP/1.1\r\nHost: node\r\n\r\n")
        assert read_answer(other, within=5).status == 200


def test_200_slow_uploads_hold_neither_file_handles_nor_spool_files(
    node: NodeProcess, sockets: list[socket.socket]
) -> None:
    """The reported attack: 200 uploads sending one byte every half second (file handles went
    22 -> 438, spool files 0 -> 200, for as long as the clients cared). Now: CAP of them are let
    in and dropped when the rate check fires; the others are refused at once."""
    assert node.proc is not None
    server = psutil.Process(node.proc.pid)
    spool_dir = node.data_dir / "spool"

    def held() -> int:  # the node's ends of connections from the slow clients
        return sum(
            1 for c in server.net_connections(kind="tcp") if c.raddr and c.raddr.ip == "127.0.0.2"
        )

    def open_spool_files() -> int:
        return sum(1 for f in server.open_files() if Path(f.path).parent == spool_dir)

    wait_for(lambda: spool(node) == [], what="a quiet node")
    fds_before = open_fds(node)
    for _ in range(200):
        sock = connect(node.port, source="127.0.0.2")
        sock.setblocking(False)
        with contextlib.suppress(OSError):  # refused already
            sock.send(upload_head(node, declared=1_000_000))
        sockets.append(sock)
    most_fds, most_spooled, most_held = open_fds(node), len(spool(node)), held()
    open_ = list(sockets)
    deadline = time.monotonic() + 30
    while open_ and time.monotonic() < deadline:
        for sock in list(open_):
            if closed_by_peer(sock):
                open_.remove(sock)
                continue
            try:
                sock.send(b"x")
            except OSError:
                open_.remove(sock)
        most_fds = max(most_fds, open_fds(node))
        most_spooled = max(most_spooled, len(spool(node)))
        most_held = max(most_held, held())
        time.sleep(0.5)
    # Still trickling clients or not, the node has let go of every one of them.
    wait_for(
        lambda: held() == 0 and spool(node) == [] and open_spool_files() == 0,
        what="every connection and spool file of the slow clients released",
    )
    print(  # the figures of the report (pytest -s)
        f"\n200 slow uploads: fds {fds_before} -> peak {most_fds} -> {open_fds(node)}; "
        f"connections held peak {most_held} -> {held()}; "
        f"spool files peak {most_spooled} -> {len(spool(node))}; "
        f"answered or closed by the node within 30 s: {200 - len(open_)} of 200"
    )
    assert open_ == [], f"{len(open_)} slow uploads still held by the node"
    assert most_spooled <= CAP  # (connections: the peak counts refused ones being closed)


# -- framing -------------------------------------------------------------------------------------


def test_content_length_with_transfer_encoding_is_400_and_never_reaches_the_app(
    node: NodeProcess,
) -> None:
    before = request_count(node, "/api/v1/auth/token")
    form = b"username=vanthu.vpcp&password=x"
    with connect(node.port) as sock:
        sock.sendall(
            b"POST /api/v1/auth/token HTTP/1.1\r\nHost: node\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            + f"{len(form):x}\r\n".encode()
            + form
            + b"\r\n0\r\n\r\n"
        )
        answer = read_answer(sock, within=5)
    assert answer.status == 400
    assert answer.json()["error"] == "bad_request"
    assert "Content-Length and Transfer-Encoding" in answer.json()["detail"]
    assert answer.closed
    assert request_count(node, "/api/v1/auth/token") == before


def test_a_malformed_request_is_a_json_400(node: NodeProcess) -> None:
    with connect(node.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: node\r\nBad Header\r\n\r\n")
        answer = read_answer(sock, within=5)
    assert answer.status == 400
    assert answer.json()["error"] == "bad_request"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.closed


# -- a node that stops, or is killed, mid-upload --------------------------------------------------


def test_spool_files_do_not_outlive_a_killed_or_stopped_node(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "node")
    patient = {
        **LIMITS,
        "DOCEX_LIMITS__BODY_TIMEOUT_SECONDS": "300",
        "DOCEX_LIMITS__MIN_BODY_BYTES_PER_SECOND": "0",
    }
    try:
        node.start("--demo", **patient)
        with connect(node.port) as sock:  # killed (SIGKILL) mid-upload
            sock.sendall(upload_head(node, declared=1_000_000))
            wait_for(lambda: len(spool(node)) == 1, what="the main part is spooled")
            node.kill()
        [left] = spool(node)
        an_hour_ago = time.time() - 3600
        os.utime(left, (an_hour_ago, an_hour_ago))
        node.start(**patient)
        assert spool(node) == [], "the restarted node kept a dead process's spool file"

        with connect(node.port) as sock:  # stopped (SIGTERM) mid-upload
            sock.sendall(upload_head(node, declared=1_000_000))
            wait_for(lambda: len(spool(node)) == 1, what="the main part is spooled")
            node.stop()
        assert spool(node) == [], "a graceful stop left a spool file"
    finally:
        node.stop()
