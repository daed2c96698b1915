"""What an operator reads: JSON log lines with the request's id, one access line per request
without any secret, and the metrics beside the request histogram."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from docex.agencies.models import Agency
from docex.kit.logs import JsonFormatter, RequestIdFilter
from tests.helpers import G22, H26, auth, deliver, envelope, node_of, pdf, send, token


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every record of the process, as ``docex serve`` writes it (one JSON object a line)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield out
    root.removeHandler(handler)
    root.setLevel(level)


def _parsed(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_the_request_id_goes_from_the_request_to_its_log_lines_and_back(
    client: TestClient, credentials: dict, log_lines: io.StringIO
) -> None:
    response = client.get(
        "/api/v1/inbox", headers={**auth(credentials, H26), "X-Request-ID": "qlvb-hanoi-0042"}
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "qlvb-hanoi-0042"
    [line] = [e for e in _parsed(log_lines) if e.get("request_id") == "qlvb-hanoi-0042"]
    assert line["logger"] == "docex.access"
    assert (line["method"], line["route"], line["status"]) == ("GET", "/api/v1/inbox", 200)
    assert line["principal_id"]
    assert line["duration_ms"] >= 0


@pytest.mark.parametrize(
    "given", [b"has space", b"x" * 200, b'quote"d', b"", "é-unicode".encode(), b"<script>"]
)
def test_a_malformed_request_id_is_replaced_by_a_new_one(
    client: TestClient, given: bytes, log_lines: io.StringIO
) -> None:
    response = client.get("/healthz", headers={b"X-Request-ID": given})
    rid = response.headers["x-request-id"]
    assert rid.encode() != given
    assert re.fullmatch(r"[0-9a-f-]{36}", rid)
    assert [e["route"] for e in _parsed(log_lines) if e.get("request_id") == rid] == ["/healthz"]


def test_two_requests_have_two_ids(client: TestClient) -> None:
    first, second = client.get("/healthz"), client.get("/healthz")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_no_token_or_query_secret_reaches_any_log_line(
    client: TestClient, credentials: dict, log_lines: io.StringIO
) -> None:
    secret = token(credentials, G22)
    send(client, auth(credentials, G22), envelope(), pdf())
    client.get("/api/v1/inbox?token=query-secret-123", headers=auth(credentials, G22))
    client.get("/api/v1/inbox", headers={"Authorization": "Bearer not-a-real-token-456"})
    client.post("/api/v1/auth/token", data={"username": "vanthu.vpcp", "password": "pw-789-x"})
    # The node's lines: "httpx" is this test's client, logging the URLs it requests.
    node_lines = [e for e in _parsed(log_lines) if e["logger"] != "httpx"]
    lines = json.dumps(node_lines)
    access = [e for e in node_lines if e["logger"] == "docex.access"]
    assert len(access) >= 4
    assert {e["status"] for e in access} >= {201, 200, 401}
    for leaked in (secret, "query-secret-123", "not-a-real-token-456", "pw-789-x"):
        assert leaked not in lines


def test_metrics_have_process_build_and_the_counters_an_operator_alerts_on(
    client: TestClient, credentials: dict
) -> None:
    node = node_of(client)
    assert send(client, auth(credentials, G22), envelope(), pdf()).status_code == 201
    unsigned = bytes(pdf("Chưa ký"))
    refused = send(client, auth(credentials, G22), envelope(), unsigned)
    assert refused.status_code == 422
    with node.db.write() as session:
        session.execute(update(Agency).where(Agency.id == H26).values(node_id="elsewhere"))
    assert send(client, auth(credentials, G22), envelope([H26]), pdf("Đi xa")).status_code == 201
    deliver(client)

    text = TestClient(client.app, client=("127.0.0.1", 50000)).get("/metrics").text
    assert re.search(r"^process_resident_memory_bytes \d", text, re.M)
    assert re.search(r"^process_cpu_seconds_total \d", text, re.M)
    assert 'docex_build_info{version="' in text
    assert f'docex_signature_refusals_total{{indication="{refused.json()["error"]}"}} 1.0' in text
    assert 'docex_delivery_failures_total{outcome="retry"} 1.0' in text
    validated = re.search(r"^docex_signature_validation_seconds_count (\S+)$", text, re.M)
    assert validated is not None
    assert float(validated.group(1)) == 3  # two sent, one refused
