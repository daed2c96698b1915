"""Credentials: password login gives a bearer token that expires; tokens are kept only as hashes;
``/api/v1/me`` says who a token belongs to."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from docex.app import create_app
from docex.auth.models import Principal, Token
from docex.auth.service import check_password, issue_access_token
from docex.config import Settings
from docex.db import Base
from tests.helpers import G22, H41, MovableClock, audit_events, node_of

TOKEN_URL = "/api/v1/auth/token"
ME = "/api/v1/me"


def person(credentials: dict[str, Any], who: str, role: str = "clerk") -> dict[str, str]:
    entry = credentials[who] if who in ("auditor", "admin") else credentials["agencies"][who][role]
    return {"username": entry["username"], "password": entry["password"]}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_password_login_gives_a_bearer_token_that_works_on_me(
    client: TestClient, credentials: dict
) -> None:
    clerk = person(credentials, G22)
    response = client.post(TOKEN_URL, data=clerk)
    assert response.status_code == 200, response.text
    issued = response.json()
    assert issued["token_type"] == "bearer"
    assert issued["expires_in"] == node_of(client).settings.auth.access_token_ttl_seconds
    me = client.get(ME, headers=bearer(issued["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["kind"] == "clerk"
    assert me.json()["agency_id"] == G22
    assert me.json()["username"] == clerk["username"]


def test_each_login_gives_a_different_token(client: TestClient, credentials: dict) -> None:
    first = client.post(TOKEN_URL, data=person(credentials, H41, "leader")).json()
    second = client.post(TOKEN_URL, data=person(credentials, H41, "leader")).json()
    assert first["access_token"] != second["access_token"]
    for issued in (first, second):
        assert client.get(ME, headers=bearer(issued["access_token"])).status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        "wrong-password",
        "unknown-user",
        "empty-looking-password",
        "username-other-case",
        "username-with-nul",
    ],
)
def test_bad_login_is_401_invalid_credentials_with_the_same_answer_for_every_cause(
    client: TestClient, credentials: dict, change: str
) -> None:
    clerk = person(credentials, G22)
    wrong = client.post(TOKEN_URL, data={**clerk, "password": clerk["password"] + "x"})
    form = {
        "wrong-password": {**clerk, "password": clerk["password"][::-1]},
        "unknown-user": {"username": "khong.ton.tai", "password": clerk["password"]},
        "empty-looking-password": {**clerk, "password": " "},
        "username-other-case": {**clerk, "username": clerk["username"].upper()},
        "username-with-nul": {**clerk, "username": clerk["username"] + "\x00"},
    }[change]
    response = client.post(TOKEN_URL, data=form)
    assert response.status_code == 401, response.text
    assert response.json() == wrong.json()
    assert response.json()["error"] == "invalid_credentials"
    assert response.headers["www-authenticate"] == "Bearer"
    refused = audit_events(client, "api:request:refused")[-1]
    assert refused.detail["error"] == "invalid_credentials"
    for secret in (clerk["password"], clerk["password"][::-1]):
        assert secret not in str(refused.detail)


T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(T0)


@pytest.fixture
def clocked_client(settings: Settings, clock: MovableClock) -> Iterator[TestClient]:
    settings.auth.access_token_ttl_seconds = 600
    with TestClient(create_app(settings, clock=clock), raise_server_exceptions=False) as c:
        yield c


def test_access_token_works_until_its_ttl_and_not_a_moment_after(
    clocked_client: TestClient, clock: MovableClock, credentials: dict
) -> None:
    issued = clocked_client.post(TOKEN_URL, data=person(credentials, G22)).json()
    assert issued["expires_in"] == 600
    clock.at = T0 + timedelta(seconds=599)
    assert clocked_client.get(ME, headers=bearer(issued["access_token"])).status_code == 200
    clock.at = T0 + timedelta(seconds=600)
    expired = clocked_client.get(ME, headers=bearer(issued["access_token"]))
    assert expired.status_code == 401
    assert expired.json()["error"] == "invalid_token"


def test_token_issued_in_the_past_and_expired_is_401_invalid_token(
    client: TestClient, credentials: dict
) -> None:
    clerk = person(credentials, G22)
    with node_of(client).db.write() as session:
        principal = check_password(session, clerk["username"], clerk["password"])
        assert principal is not None
        issued = issue_access_token(
            session, principal, datetime.now(UTC) - timedelta(hours=2), ttl_seconds=60
        )
    response = client.get(ME, headers=bearer(issued.secret))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    fresh = client.post(TOKEN_URL, data=clerk).json()["access_token"]
    assert client.get(ME, headers=bearer(fresh)).status_code == 200


def test_revoked_token_is_401_invalid_token(client: TestClient, credentials: dict) -> None:
    secret = client.post(TOKEN_URL, data=person(credentials, G22)).json()["access_token"]
    assert client.get(ME, headers=bearer(secret)).status_code == 200
    digest = hashlib.sha256(secret.encode()).hexdigest()
    with node_of(client).db.write() as session:
        session.execute(
            update(Token).where(Token.token_hash == digest).values(revoked_at=datetime.now(UTC))
        )
    response = client.get(ME, headers=bearer(secret))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_disabled_person_can_neither_log_in_nor_use_an_earlier_token(
    client: TestClient, credentials: dict
) -> None:
    clerk = person(credentials, G22)
    secret = client.post(TOKEN_URL, data=clerk).json()["access_token"]
    with node_of(client).db.write() as session:
        session.execute(
            update(Principal).where(Principal.username == clerk["username"]).values(active=False)
        )
    login_again = client.post(TOKEN_URL, data=clerk)
    assert (login_again.status_code, login_again.json()["error"]) == (401, "invalid_credentials")
    earlier = client.get(ME, headers=bearer(secret))
    assert (earlier.status_code, earlier.json()["error"]) == (401, "invalid_token")


def _every_stored_value(client: TestClient) -> str:
    """Every row of every table, as text."""
    chunks: list[str] = []
    with node_of(client).db.read() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(text(f'SELECT * FROM "{table.name}"')):  # noqa: S608
                chunks.append(repr(tuple(row)))
    return "\n".join(chunks)


def test_tokens_are_stored_only_as_sha256_hashes(client: TestClient, credentials: dict) -> None:
    secret = client.post(TOKEN_URL, data=person(credentials, G22)).json()["access_token"]
    demo_secrets = [
        credentials["agencies"][code][role]["token"]
        for code in credentials["agencies"]
        for role in ("clerk", "leader", "system")
    ] + [credentials["auditor"]["token"], credentials["admin"]["token"]]
    with node_of(client).db.read() as session:
        hashes = set(session.scalars(select(Token.token_hash)))
    assert hashlib.sha256(secret.encode()).hexdigest() in hashes
    assert all(hashlib.sha256(s.encode()).hexdigest() in hashes for s in demo_secrets)
    everything = _every_stored_value(client)
    assert "dxt_" not in everything
    for leaked in [secret, *demo_secrets]:
        assert leaked not in everything
        assert leaked.split("_", 1)[1] not in everything


def test_passwords_are_not_stored_in_clear(client: TestClient, credentials: dict) -> None:
    clerk = person(credentials, G22)
    client.post(TOKEN_URL, data={**clerk, "password": clerk["password"] + "-typo"})
    everything = _every_stored_value(client)
    assert clerk["password"] not in everything


DEMO_PEOPLE = [
    (G22, "clerk", "confidential"),
    (G22, "leader", "secret"),
    (G22, "system", "normal"),
    (H41, "clerk", "confidential"),
    (H41, "leader", "secret"),
    (H41, "system", "normal"),
    ("auditor", "auditor", "normal"),
    ("admin", "admin", "normal"),
]


@pytest.mark.parametrize(("who", "role", "clearance"), DEMO_PEOPLE)
def test_me_tells_the_kind_agency_and_clearance_of_each_demo_principal(
    client: TestClient, credentials: dict, who: str, role: str, clearance: str
) -> None:
    if who in ("auditor", "admin"):
        entry, agency = credentials[who], None
    else:
        entry, agency = credentials["agencies"][who][role], who
    response = client.get(ME, headers=bearer(entry["token"]))
    assert response.status_code == 200, response.text
    me = response.json()
    assert me["kind"] == role
    assert me["agency_id"] == agency
    assert me["clearance"] == clearance
    assert me["username"] == entry.get("username")


@pytest.mark.parametrize("who", ["auditor", "admin"])
def test_node_people_log_in_with_their_password_too(
    client: TestClient, credentials: dict, who: str
) -> None:
    issued = client.post(TOKEN_URL, data=person(credentials, who))
    assert issued.status_code == 200, issued.text
    me = client.get(ME, headers=bearer(issued.json()["access_token"])).json()
    assert (me["kind"], me["agency_id"]) == (who, None)


def test_me_without_a_token_is_401_missing_token(client: TestClient) -> None:
    response = client.get(ME)
    assert (response.status_code, response.json()["error"]) == (401, "missing_token")
