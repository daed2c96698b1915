"""Registering webhook endpoints: who may (system clients for their agency; admins manage
anyone's; nobody else), what a target may be (no private, loopback or link-local address unless
the operator allows it), the secret shown once and never again (not in lists, logs or the audit
log), and every refusal a 4xx with its code, nothing stored, an audit event."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from docex.config import Settings
from docex.routing.webhooks.models import WebhookEndpoint
from tests.helpers import G22, H41, audit_events, auth, node_of

URL = "https://93.184.215.14/hooks/docex"  # a public address, never contacted at registration


def stored(client: TestClient) -> int:
    with node_of(client).db.read() as session:
        return int(session.scalar(select(func.count()).select_from(WebhookEndpoint)) or 0)


def headers(credentials: dict[str, Any], who: str, role: str = "system") -> dict[str, str]:
    return auth(credentials, who, role)


def create(
    client: TestClient, credentials: dict[str, Any], who: str = G22, **body: Any
) -> dict[str, Any]:
    answer = client.post(
        "/api/v1/webhooks", json={"url": URL, **body}, headers=headers(credentials, who)
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_a_system_client_registers_an_endpoint_and_sees_its_secret_once(
    client: TestClient, credentials: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    made = create(client, credentials, events=["delivery.failed", "document.delivered"] * 2)
    assert set(made) == {"id", "agency_id", "url", "events", "enabled", "created_at", "secret"}
    assert (made["agency_id"], made["url"], made["enabled"]) == (G22, URL, True)
    assert made["events"] == ["document.delivered", "delivery.failed"]
    assert made["secret"].startswith("whsec_")
    assert len(base64.b64decode(made["secret"].removeprefix("whsec_"))) >= 24
    raw = base64.b64decode(made["secret"].removeprefix("whsec_"))

    listed = client.get("/api/v1/webhooks", headers=headers(credentials, G22)).json()
    assert listed["items"] == [{k: v for k, v in made.items() if k != "secret"}]
    patched = client.patch(
        f"/api/v1/webhooks/{made['id']}", json={"enabled": False}, headers=headers(credentials, G22)
    ).json()
    assert "secret" not in patched
    assert patched["enabled"] is False
    # Nowhere else: not in the logs, the audit log, or the database in the clear.
    secret = made["secret"]
    assert all(
        secret not in r.getMessage() and secret not in str(r.__dict__) for r in caplog.records
    )
    assert all(secret not in str(e.detail) for e in audit_events(client))
    with node_of(client).db.read() as session:
        row = session.get(WebhookEndpoint, made["id"])
        assert row is not None
        assert raw not in row.secret_wrapped
        assert secret.encode() not in row.secret_wrapped
    [event] = audit_events(client, "webhooks:endpoint:registered")
    assert event.agency_id == G22
    assert event.detail["endpoint_id"] == made["id"]
    assert [
        e.detail["endpoint_id"] for e in audit_events(client, "webhooks:endpoint:disabled")
    ] == [made["id"]]


def test_no_events_means_every_event(client: TestClient, credentials: dict[str, Any]) -> None:
    assert create(client, credentials)["events"] is None
    assert create(client, credentials, events=None)["events"] is None


@pytest.mark.parametrize("role", ["clerk", "leader"])
def test_people_of_an_agency_may_not_register(
    client: TestClient, credentials: dict[str, Any], role: str
) -> None:
    answer = client.post(
        "/api/v1/webhooks", json={"url": URL}, headers=headers(credentials, G22, role)
    )
    assert (answer.status_code, answer.json()["error"]) == (403, "forbidden")
    listing = client.get("/api/v1/webhooks", headers=headers(credentials, G22, role))
    assert (listing.status_code, listing.json()["error"]) == (403, "forbidden")
    assert stored(client) == 0
    assert [e.detail["error"] for e in audit_events(client, "api:request:refused")] == [
        "forbidden",
        "forbidden",
    ]


@pytest.mark.parametrize("who", ["auditor", "admin"])
def test_node_roles_register_nothing(
    client: TestClient, credentials: dict[str, Any], who: str
) -> None:
    answer = client.post("/api/v1/webhooks", json={"url": URL}, headers=auth(credentials, who))
    assert (answer.status_code, answer.json()["error"]) == (403, "forbidden")
    assert stored(client) == 0


def test_an_agency_manages_its_own_endpoints_and_an_admin_everyones(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    ours = create(client, credentials, G22)
    theirs = create(client, credentials, H41)
    g22, h41, admin = (
        headers(credentials, G22),
        headers(credentials, H41),
        auth(credentials, "admin"),
    )
    assert [e["id"] for e in client.get("/api/v1/webhooks", headers=g22).json()["items"]] == [
        ours["id"]
    ]
    everyone = client.get("/api/v1/webhooks", headers=admin).json()["items"]
    assert sorted(e["id"] for e in everyone) == sorted([ours["id"], theirs["id"]])
    auditor = client.get("/api/v1/webhooks", headers=auth(credentials, "auditor"))
    assert auditor.status_code == 403

    # Another agency's endpoint does not exist for you.
    for method, path, body in (
        ("PATCH", f"/api/v1/webhooks/{ours['id']}", {"enabled": False}),
        ("DELETE", f"/api/v1/webhooks/{ours['id']}", None),
        ("PATCH", "/api/v1/webhooks/no-such-id", {"enabled": False}),
    ):
        answer = client.request(method, path, json=body, headers=h41)
        assert (answer.status_code, answer.json()["error"]) == (404, "webhook_not_found")
    clerk = client.patch(
        f"/api/v1/webhooks/{ours['id']}", json={"enabled": False}, headers=auth(credentials, G22)
    )
    assert clerk.status_code == 403

    # The admin switches it off and on; the owner deletes it.
    for enabled in (False, True):
        answer = client.patch(
            f"/api/v1/webhooks/{ours['id']}", json={"enabled": enabled}, headers=admin
        )
        assert (answer.status_code, answer.json()["enabled"]) == (200, enabled)
    assert client.delete(f"/api/v1/webhooks/{ours['id']}", headers=g22).status_code == 204
    again = client.delete(f"/api/v1/webhooks/{ours['id']}", headers=g22)
    assert (again.status_code, again.json()["error"]) == (404, "webhook_not_found")
    assert client.get("/api/v1/webhooks", headers=g22).json()["items"] == []
    names = [e.event for e in audit_events(client) if e.event.startswith("webhooks:")]
    assert names == [
        "webhooks:endpoint:registered",
        "webhooks:endpoint:registered",
        "webhooks:endpoint:disabled",
        "webhooks:endpoint:enabled",
        "webhooks:endpoint:deleted",
    ]
    assert not any(
        e.event.startswith("webhooks:") and e.actor_id is None for e in audit_events(client)
    )


def test_the_list_is_paged(client: TestClient, credentials: dict[str, Any]) -> None:
    made = [create(client, credentials)["id"] for _ in range(3)]
    g22 = headers(credentials, G22)
    first = client.get("/api/v1/webhooks?limit=2", headers=g22).json()
    second = client.get(
        f"/api/v1/webhooks?limit=2&cursor={first['next_cursor']}", headers=g22
    ).json()
    assert [e["id"] for e in first["items"] + second["items"]] == made
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": URL, "events": ["document.delivered", "document.read"]}, "unknown_webhook_event"),
        ({"url": URL, "events": []}, "no_webhook_events"),
        ({"url": URL, "event": ["document.delivered"]}, "invalid_request"),
        ({"url": URL, "events": "document.delivered"}, "invalid_request"),
        ({"url": "ftp://example.org/hook"}, "webhook_target_forbidden"),
        ({"url": "file:///etc/passwd"}, "webhook_target_forbidden"),
        ({"url": "https://user:pw@93.184.215.14/"}, "invalid_webhook_url"),
        ({"url": "https:///no-host"}, "invalid_webhook_url"),
        ({"url": "https://93.184.215.14:99999/"}, "invalid_webhook_url"),
        ({"url": "http://no-such-host.invalid/hook"}, "webhook_target_unresolvable"),
        ({"url": "http://127.0.0.1:8000/hook"}, "webhook_target_forbidden"),
        ({"url": "http://10.1.2.3/hook"}, "webhook_target_forbidden"),
        ({"url": "http://192.168.1.10/hook"}, "webhook_target_forbidden"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, "webhook_target_forbidden"),
        ({"url": "http://[::1]:8000/hook"}, "webhook_target_forbidden"),
        ({"url": "http://[fe80::1]/hook"}, "webhook_target_forbidden"),
        ({"url": "http://[::ffff:127.0.0.1]/hook"}, "webhook_target_forbidden"),
        ({"url": "http://0.0.0.0/hook"}, "webhook_target_forbidden"),
        ({"url": "http://100.64.0.1/hook"}, "webhook_target_forbidden"),
        ({"url": "http://224.0.0.1/hook"}, "webhook_target_forbidden"),
        (
            {"url": "http://localhost:8000/hook"},
            "webhook_target_forbidden",
        ),  # resolves to ::1/127.0.0.1
    ],
)
def test_refused_registrations_store_nothing_and_are_audited(
    client: TestClient, credentials: dict[str, Any], body: dict[str, Any], code: str
) -> None:
    answer = client.post("/api/v1/webhooks", json=body, headers=headers(credentials, G22))
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == code
    assert stored(client) == 0
    [refused] = audit_events(client, "api:request:refused")
    assert (refused.detail["error"], refused.detail["status"]) == (code, 422)
    assert audit_events(client, "webhooks:endpoint:registered") == []


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/hook", "http://10.1.2.3/hook", "http://localhost/hook"]
)
def test_the_operator_may_allow_private_targets(
    client: TestClient, credentials: dict[str, Any], settings: Settings, url: str
) -> None:
    settings.webhooks.allow_private_targets = True
    assert create(client, credentials, url=url)["url"] == url
    forbidden = client.post(
        "/api/v1/webhooks", json={"url": "gopher://127.0.0.1/"}, headers=headers(credentials, G22)
    )
    assert forbidden.json()["error"] == "webhook_target_forbidden"  # http(s) all the same


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCEX_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true")
    monkeypatch.setenv("DOCEX_WEBHOOKS__TIMEOUT_SECONDS", "3")
    webhooks = Settings().webhooks
    assert (webhooks.allow_private_targets, webhooks.timeout_seconds) == (True, 3.0)
    monkeypatch.delenv("DOCEX_WEBHOOKS__ALLOW_PRIVATE_TARGETS")
    assert Settings().webhooks.allow_private_targets is False  # refused unless allowed
