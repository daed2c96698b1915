"""Retries: only what is safe to do twice, with backoff and jitter, never before Retry-After."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from docex_client import DocexClient, RetryPolicy, TransportError, UnavailableError
from tests.client.helpers import BASE, DOC, TOKEN, Recorder, document_json, parse_multipart

ME = {"id": "p1", "kind": "clerk", "agency_id": "000.00.00.H41", "clearance": "normal"}


def down(retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    body = {"error": "database_unavailable", "detail": "the database is unavailable"}
    return httpx.Response(503, json=body, headers=headers)


def refused() -> httpx.ConnectError:
    return httpx.ConnectError("connection refused")


def client(recorder: Recorder, waits: list[float], **policy: float) -> DocexClient:
    return DocexClient(
        BASE,
        TOKEN,
        transport=httpx.MockTransport(recorder),
        retry=RetryPolicy(**policy),  # type: ignore[arg-type]
        sleep=waits.append,
    )


def test_backoff_doubles_with_jitter_and_stops_after_the_attempts() -> None:
    policy = RetryPolicy(attempts=5, backoff=1.0, max_backoff=3.0)
    assert [policy.delay(n, rng=lambda: 0.0) for n in (1, 2, 3, 4)] == [0.5, 1.0, 1.5, 1.5]
    assert [policy.delay(n, rng=lambda: 1.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, 3.0]
    assert policy.delay(5) is None
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(attempts=0)


def test_retry_after_is_a_floor_and_too_long_a_wait_is_not_waited_for() -> None:
    policy = RetryPolicy(backoff=1.0, max_retry_after=60)
    assert policy.delay(1, retry_after=7, rng=lambda: 1.0) == 7
    assert policy.delay(1, retry_after=0.1, rng=lambda: 1.0) == 1.0
    assert policy.delay(1, retry_after=61) is None


def test_a_read_is_retried_after_503_honouring_retry_after_then_succeeds() -> None:
    recorder = Recorder([down("2"), refused(), httpx.Response(200, json=ME)])
    waits: list[float] = []
    with client(recorder, waits, backoff=0.25) as api:
        assert api.me().kind == "clerk"
    assert len(recorder.requests) == 3
    assert waits[0] == 2.0  # what the node asked for
    assert 0.25 <= waits[1] <= 0.5  # second try: backoff 0.5, half of it random


def test_a_read_gives_up_after_the_attempts_with_the_last_error() -> None:
    recorder = Recorder([down("1"), down("1"), down("1")])
    waits: list[float] = []
    with client(recorder, waits, attempts=3) as api, pytest.raises(UnavailableError) as caught:
        api.document(DOC)
    assert (len(recorder.requests), len(waits)) == (3, 2)
    assert caught.value.retry_after == 1.0


def test_a_node_asking_for_a_long_wait_gets_an_answer_at_once() -> None:
    recorder = Recorder([down("3600")])
    waits: list[float] = []
    with client(recorder, waits) as api, pytest.raises(UnavailableError):
        api.me()
    assert waits == []


@pytest.mark.parametrize("failure", ["refused", "503"])
def test_a_status_report_is_never_retried(failure: str) -> None:
    recorder = Recorder([refused() if failure == "refused" else down("1")])
    waits: list[float] = []
    with (
        client(recorder, waits) as api,
        pytest.raises(TransportError if failure == "refused" else UnavailableError),
    ):
        api.post_status(DOC, "03")
    assert (len(recorder.requests), waits) == (1, [])


def test_a_send_is_retried_whole_with_the_same_message_id(tmp_path: Path) -> None:
    main = tmp_path / "m.pdf"
    main.write_bytes(b"%PDF-1.7 " + bytes(range(256)) * 300)
    lost_answer = httpx.ReadError("connection reset by peer")
    recorder = Recorder([lost_answer, down("1"), httpx.Response(200, json=document_json())])
    waits: list[float] = []
    with client(recorder, waits) as api:
        sent = api.send({"recipients": ["000.00.00.H41"], "subject": "Thử"}, main)
    assert sent.created is False  # the node had it already: the lost answer's document
    bodies = [parse_multipart(r.headers["Content-Type"], r.content) for r in recorder.requests]
    ids = {json.loads(parts[0].data)["message_id"] for parts in bodies}
    assert len(ids) == 1
    assert all(parts[1].data == main.read_bytes() for parts in bodies)
    assert all(int(r.headers["Content-Length"]) == len(r.content) for r in recorder.requests)
