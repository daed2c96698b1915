"""Health, readiness, metrics, published keys."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.helpers import G22, auth, envelope, pdf, send


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "blob_store": "ok"}


def test_readiness_is_503_while_the_blob_store_is_gone(client: TestClient) -> None:
    blob_dir = client.app.state.node.settings.blob_dir  # type: ignore[attr-defined]
    moved = blob_dir.with_name("blobs-away")
    blob_dir.rename(moved)
    try:
        ready = client.get("/readyz")
    finally:
        moved.rename(blob_dir)
    assert ready.status_code == 503
    assert ready.headers["retry-after"] == "5"
    assert ready.json()["checks"]["blob_store"] == "BlobStoreUnavailable"
    assert client.get("/readyz").status_code == 200


def test_metrics_count_requests_by_route_template_refusals_and_queue(
    client: TestClient, credentials: dict
) -> None:
    document = send(client, auth(credentials, G22), envelope(), pdf()).json()
    client.get(f"/api/v1/documents/{document['id']}", headers={"Authorization": "Bearer x"})
    # /metrics answers the loopback by default (tests/security/test_headers.py)
    text = TestClient(client.app, client=("127.0.0.1", 50000)).get("/metrics").text
    assert re.search(
        r'docex_http_request_duration_seconds_count\{method="POST",'
        r'route="/api/v1/documents",status="201"\} 1\.0',
        text,
    )
    assert 'route="/api/v1/documents/{document_id}"' in text
    assert document["id"] not in text
    refused = 'docex_refusals_total{error="invalid_token",route="/api/v1/documents/{document_id}"}'
    assert f"{refused} 1.0" in text
    assert 'docex_deliveries{transport="queued"} 1.0' in text
    age = re.search(r"^docex_oldest_queued_delivery_age_seconds (\S+)$", text, re.M)
    assert age is not None
    assert float(age.group(1)) >= 0


def test_published_keys_are_public_only(client: TestClient) -> None:
    jwks = client.get("/.well-known/jwks.json").json()
    [key] = jwks["keys"]
    assert key["kty"] == "EC"
    assert "d" not in key
    assert client.get("/api/v1/node").json()["jwks"] == jwks
