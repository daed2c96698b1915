"""No request, refused or not, can stop a node from answering: refusals are audited off the event
loop and no write transaction is held across an ``await``, so refusals beside real writes leave
``/healthz`` answering, every request answered, and SIGTERM obeyed.

Against a real ``docex serve`` (uvicorn, a subprocess) on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from functools import partial

import httpx
import pytest

from tests.helpers import G22, H41
from tests.security.conftest import (
    HANG_SECONDS,
    HealthPoller,
    Served,
    http_client,
    in_parallel,
)

pytestmark = pytest.mark.functional

Call = Callable[[], httpx.Response]


def _wrong_login(client: httpx.Client, node: Served, n: int) -> httpx.Response:
    return client.post(
        f"{node.url}/api/v1/auth/token",
        data={"username": f"khong.ai.{n % 5}", "password": "doan-mo"},
    )


def _garbage_token(client: httpx.Client, node: Served, n: int) -> httpx.Response:
    return client.get(
        f"{node.url}/api/v1/inbox", headers={"Authorization": f"Bearer dxt_garbage{n}"}
    )


def _real_login(client: httpx.Client, node: Served, n: int) -> httpx.Response:
    who, role = [(G22, "clerk"), (H41, "clerk"), (H41, "leader"), (G22, "leader")][n % 4]
    return client.post(f"{node.url}/api/v1/auth/token", data=node.person(who, role))


def _refused_status(client: httpx.Client, node: Served, n: int) -> httpx.Response:
    return client.post(
        f"{node.url}/api/v1/documents/{uuid.uuid4()}/statuses",
        json={"code": "03"},
        headers=node.bearer(H41),
    )


# The three reproductions of the issue, each a pair fired together, many times over.
PAIRS: dict[str, tuple[Callable[..., httpx.Response], Callable[..., httpx.Response]]] = {
    "two-wrong-passwords": (_wrong_login, _wrong_login),
    "garbage-token-beside-a-real-login": (_garbage_token, _real_login),
    "two-refused-status-posts": (_refused_status, _refused_status),
}


@pytest.mark.parametrize("pair", list(PAIRS))
def test_two_refusals_at_once_leave_the_node_answering(served: Served, pair: str) -> None:
    first, second = PAIRS[pair]
    with (
        http_client() as client,
        HealthPoller(served.url, served.process.kill) as health,
    ):
        calls: list[Call] = []
        for n in range(60):
            calls += [partial(first, client, served, n), partial(second, client, served, n)]
        answers = in_parallel(calls, workers=16)
    assert health.failures() == []
    assert health.answers
    expected = {
        "two-wrong-passwords": [{401, 429}, {401, 429}],
        "garbage-token-beside-a-real-login": [{401}, {200}],
        "two-refused-status-posts": [{404}, {404}],
    }[pair]
    for n, answer in enumerate(answers):
        assert answer in expected[n % 2], (n, answer)
    _stops_on_sigterm(served)


def _stops_on_sigterm(node: Served) -> None:
    proc = node.process.proc
    assert proc is not None
    proc.terminate()
    try:
        proc.wait(HANG_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail("the node ignored SIGTERM")
