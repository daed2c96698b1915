"""No request, refused or not, can stop a node from answering: refusals are audited off the event
loop and no write transaction is held across an ``await``, so hundreds of refusals beside real
writes leave ``/healthz`` answering, every request answered, and SIGTERM obeyed.

Against a real ``docex serve`` (uvicorn, a subprocess) on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from docex.audit.models import AuditEvent
from docex.db import Database
from docex.documents.models import Document
from tests.helpers import G22, H26, H41, I01
from tests.security.conftest import (
    HANG_SECONDS,
    HealthPoller,
    Served,
    delivered_to_h41,
    http_client,
    in_parallel,
    serve,
    signed_pdf,
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


def _envelope_send(
    client: httpx.Client, node: Served, envelope: str, pdf: bytes, sender: str = G22
) -> httpx.Response:
    return client.post(
        f"{node.url}/api/v1/documents",
        files={
            "envelope": (None, envelope, "application/json"),
            "main": ("cv.pdf", pdf, "application/pdf"),
        },
        headers=node.bearer(sender),
    )


def test_hundreds_of_refusals_beside_real_writes_never_stall_the_node(
    settings: Any, credentials: dict[str, Any]
) -> None:
    # Attackers and honest clients come through the same proxy (127.0.0.1), which says who they
    # are; the node believes it because the proxy is configured as trusted.
    node = serve(settings, credentials, DOCEX_TRUSTED_PROXIES="127.0.0.1")
    try:
        _storm(node)
    finally:
        node.process.kill()


def _storm(node: Served) -> None:
    statused = delivered_to_h41(node, G22, 6)
    pdfs = [signed_pdf(node, f"Gửi {n}", agency=G22, seed=f"storm-{n}".encode()) for n in range(4)]
    garbage_pdf = b"%PDF-1.7\n" + b"0" * 2000
    attacker = [f"198.51.100.{n}" for n in range(1, 9)]
    honest = [f"203.0.113.{n}" for n in range(1, 41)]

    with http_client() as client:

        def via(address: str) -> dict[str, str]:
            return {"X-Forwarded-For": address}

        kinds = ["bad_login", "garbage_token", "no_token", "refused_status", "bad_envelope"]
        kinds += ["real_login", "send", "status", "read"]
        calls: dict[str, list[Call]] = {kind: [] for kind in kinds}
        for n in range(100):
            # Unknown people, and a real one with wrong passwords (locked out on the way).
            form = (
                {"username": f"khong.ai.{n % 9}", "password": "doan"}
                if n % 2
                else {**node.person(H26), "password": f"sai-{n}"}
            )
            calls["bad_login"].append(
                partial(
                    client.post,
                    f"{node.url}/api/v1/auth/token",
                    data=form,
                    headers=via(attacker[n % 8]),
                )
            )
            calls["garbage_token"].append(
                partial(
                    client.get,
                    f"{node.url}/api/v1/inbox",
                    headers={"Authorization": f"Bearer dxt_{n}", **via(attacker[n % 8])},
                )
            )
        for n in range(30):
            calls["no_token"].append(
                partial(client.get, f"{node.url}/api/v1/outbox", headers=via(attacker[n % 8]))
            )
        calls["refused_status"] += [
            partial(
                client.post,
                f"{node.url}/api/v1/documents/{uuid.uuid4()}/statuses",
                json={"code": "03"},
                headers=node.bearer(H41),
            )
            for _ in range(60)
        ] + [
            partial(
                client.post,
                f"{node.url}/api/v1/documents/{statused[n % 6]}/statuses",
                json={"code": "99"},
                headers=node.bearer(H41),
            )
            for n in range(20)
        ]
        calls["bad_envelope"] += [
            partial(_envelope_send, client, node, "{not json" if n % 2 else "[]", garbage_pdf)
            for n in range(40)
        ]
        calls["real_login"] += [
            partial(
                client.post,
                f"{node.url}/api/v1/auth/token",
                data=node.person(*[(G22, "clerk"), (H41, "clerk"), (I01, "leader")][n % 3]),
                headers=via(honest[n]),
            )
            for n in range(40)
        ]
        calls["send"] += [
            partial(
                _envelope_send,
                client,
                node,
                json.dumps({"recipients": [H41], "subject": f"Bão {n}"}),
                pdfs[n % 4],
            )
            for n in range(12)
        ]
        # Each delivered document accepted twice at once: one 201, and the other, the same
        # post, is answered as the replay it is (200, the first one's receipt).
        calls["status"] += [
            partial(
                client.post,
                f"{node.url}/api/v1/documents/{statused[n % 6]}/statuses",
                json={"code": "03"},
                headers=node.bearer(H41),
            )
            for n in range(12)
        ]
        calls["read"] += [
            partial(client.get, f"{node.url}/api/v1/inbox", headers=node.bearer(H41))
            for _ in range(20)
        ]

        order = [(kind, call) for kind, group in calls.items() for call in group]
        # Interleave the kinds so every refusal lands beside writes.
        order = [order[(n * 97) % len(order)] for n in range(len(order))]
        assert len({id(c) for _, c in order}) == len(order)
        with HealthPoller(node.url, node.process.kill) as health:
            answers = in_parallel([call for _, call in order], workers=64)

    by_kind: dict[str, list[int | str]] = {}
    for (kind, _), answer in zip(order, answers, strict=True):
        by_kind.setdefault(kind, []).append(answer)
    assert health.failures() == []
    assert len(health.answers) >= 3
    expected = {
        "bad_login": {401, 429},
        "garbage_token": {401},
        "no_token": {401},
        "refused_status": {404, 422},
        "bad_envelope": {400, 422},
        "real_login": {200},
        "send": {201},
        "status": {200, 201},
        "read": {200},
    }
    for kind, got in by_kind.items():
        assert set(got) <= expected[kind], (kind, got)
    assert sorted(by_kind["status"]) == [200] * 6 + [201] * 6
    assert 429 in by_kind["bad_login"]  # the real account was locked out during the storm

    _stops_on_sigterm(node)

    db = Database(str(node.settings.database_url))
    try:
        with db.read() as session:
            documents = session.scalar(select(func.count()).select_from(Document))
            refusals = list(
                session.scalars(select(AuditEvent).where(AuditEvent.event == "api:request:refused"))
            )
    finally:
        db.dispose()
    assert documents == 6 + 12
    # Authenticated refusals: one event each. Anonymous ones: counted per address and window.
    named = [e for e in refusals if e.actor_id is not None]
    anonymous = [e for e in refusals if e.actor_id is None]
    authenticated = 80 + 40  # the six second acceptances are replays now, not refusals
    assert len(named) == authenticated
    unauthenticated = sum(
        1 for kind in ("bad_login", "garbage_token", "no_token") for _ in by_kind[kind]
    )
    assert sum(int(e.detail.get("count", 1)) for e in anonymous) == unauthenticated
    assert {e.detail["client"] for e in anonymous} <= set(attacker)
    # At most two events (the first refusal, then the rest) per address, error code and window;
    # four codes (invalid_credentials, too_many_attempts, invalid_token, missing_token), and
    # the storm may straddle two windows.
    assert len(anonymous) <= len(attacker) * 4 * 2 * 2 < unauthenticated
