"""Guessing is slowed: sign-in attempts are counted per account and per client address in the
database, with exponential back-off (429 too_many_attempts + Retry-After), a lock audited and
counted; a success resets the account; a locked account stays locked even for the right
password; replicas sharing the database share the counts. Time is a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from docex.app import create_app
from docex.auth.models import SignInThrottle
from docex.auth.service import issue_access_token
from docex.config import Settings
from docex.errors import TooManyRequests, Unauthenticated
from tests.helpers import G22, H41, MovableClock, audit_events, node_of

TOKEN_URL = "/api/v1/auth/token"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(T0)


def _app(settings: Settings, clock: MovableClock, **client: Any) -> TestClient:
    return TestClient(create_app(settings, clock=clock), raise_server_exceptions=False, **client)


@pytest.fixture
def node(settings: Settings, clock: MovableClock) -> Iterator[TestClient]:
    # The test client reaches the node through a proxy (127.0.0.1) that names the client.
    settings.trusted_proxies = ["127.0.0.1"]
    with _app(settings, clock, client=("127.0.0.1", 40000)) as client:
        yield client


def person(credentials: dict[str, Any], who: str = G22, role: str = "clerk") -> dict[str, str]:
    entry = credentials["agencies"][who][role]
    return {"username": entry["username"], "password": entry["password"]}


def login(client: TestClient, form: dict[str, str], address: str = "198.51.100.1") -> Response:
    response: Response = client.post(TOKEN_URL, data=form, headers={"X-Forwarded-For": address})
    return response


def wrong(form: dict[str, str], n: int = 0) -> dict[str, str]:
    return {**form, "password": f"{form['password']}-sai-{n}"}


def test_a_hundred_wrong_passwords_then_the_right_one_is_429_not_200(
    node: TestClient, clock: MovableClock, credentials: dict
) -> None:
    clerk = person(credentials)
    answers = [login(node, wrong(clerk, n)).status_code for n in range(100)]
    # Five free failures, a sixth that locks, then refusals that check no password at all.
    assert answers == [401] * 6 + [429] * 94
    right = login(node, clerk)
    assert right.status_code == 429
    assert right.json()["error"] == "too_many_attempts"
    assert right.headers["Retry-After"] == "1"
    assert "access_token" not in right.text

    clock.advance(1)
    assert login(node, clerk).status_code == 200


def test_back_off_doubles_with_each_further_failure_up_to_the_maximum(
    settings: Settings, clock: MovableClock, credentials: dict
) -> None:
    settings.auth.sign_in_free_attempts = 2
    settings.auth.sign_in_backoff_seconds = 3
    settings.auth.sign_in_backoff_max_seconds = 20
    clerk = person(credentials)
    with _app(settings, clock) as client:
        assert [client.post(TOKEN_URL, data=wrong(clerk)).status_code for _ in range(2)] == [
            401
        ] * 2
        waits = []
        for _ in range(5):
            assert client.post(TOKEN_URL, data=wrong(clerk)).status_code == 401  # admitted
            refused = client.post(TOKEN_URL, data=clerk)
            assert refused.status_code == 429
            waits.append(int(refused.headers["Retry-After"]))
            clock.advance(waits[-1] - 0.5)
            assert client.post(TOKEN_URL, data=clerk).status_code == 429  # not yet
            clock.advance(0.5)
        assert waits == [3, 6, 12, 20, 20]
        assert client.post(TOKEN_URL, data=clerk).status_code == 200


def test_a_lock_is_audited_and_counted_and_names_the_account_not_the_password(
    node: TestClient, clock: MovableClock, credentials: dict
) -> None:
    clerk = person(credentials)
    for n in range(6):
        login(node, wrong(clerk, n), address="198.51.100.9")
    locks = audit_events(node, "auth:account:locked")
    assert len(locks) == 1
    lock = locks[0]
    assert lock.agency_id == G22
    assert lock.detail["username"] == clerk["username"]
    assert lock.detail["principal_id"]
    assert lock.detail["client"] == "198.51.100.9"
    assert lock.detail["failures"] == 6
    assert lock.detail["blocked_until"] == "2026-03-02T01:00:01Z"
    assert clerk["password"] not in str(lock.detail)
    # Attempts refused while locked lock nothing more.
    for n in range(10):
        assert login(node, wrong(clerk, n)).status_code == 429
    assert len(audit_events(node, "auth:account:locked")) == 1
    metrics = node.get("/metrics").text
    assert 'docex_sign_in_locks_total{scope="account"} 1.0' in metrics


def test_a_success_resets_the_account_and_failures_are_forgotten_after_a_quiet_spell(
    node: TestClient, clock: MovableClock, credentials: dict
) -> None:
    clerk = person(credentials)
    for round_ in range(3):
        for n in range(5):
            assert login(node, wrong(clerk, n)).status_code == 401, round_
        assert login(node, clerk).status_code == 200  # the sixth attempt, right: reset
    for n in range(5):
        assert login(node, wrong(clerk, n)).status_code == 401
    clock.advance(node_of(node).settings.auth.sign_in_forget_seconds + 1)
    assert login(node, wrong(clerk)).status_code == 401  # counted from zero again
    for n in range(4):
        assert login(node, wrong(clerk, n)).status_code == 401
    assert login(node, wrong(clerk)).status_code == 401  # the sixth: locks
    assert login(node, clerk).status_code == 429


def test_unknown_usernames_are_locked_out_exactly_like_real_ones(
    node: TestClient, credentials: dict
) -> None:
    real = [login(node, wrong(person(credentials), n)).status_code for n in range(8)]
    ghost = [
        login(node, {"username": "khong.ton.tai", "password": f"x{n}"}).status_code
        for n in range(8)
    ]
    nul = [login(node, {"username": "ai\x00do", "password": f"x{n}"}).status_code for n in range(8)]
    assert real == ghost == nul == [401] * 6 + [429] * 2


def test_one_address_guessing_many_accounts_is_slowed_and_others_are_not(
    settings: Settings, clock: MovableClock, credentials: dict
) -> None:
    settings.auth.sign_in_address_free_attempts = 10
    settings.trusted_proxies = ["127.0.0.1"]
    with _app(settings, clock, client=("127.0.0.1", 40000)) as client:
        sprayed = [
            login(client, {"username": f"nguoi.{n}", "password": "123456"}, "198.51.100.66")
            for n in range(12)
        ]
        assert [r.status_code for r in sprayed] == [401] * 11 + [429]
        # Even a real account with its right password waits, from that address...
        blocked = login(client, person(credentials, H41), "198.51.100.66")
        assert (blocked.status_code, blocked.json()["error"]) == (429, "too_many_attempts")
        assert audit_events(client, "auth:address:locked")[0].detail["client"] == "198.51.100.66"
        # ...while the same account signs in from anywhere else.
        assert login(client, person(credentials, H41), "203.0.113.5").status_code == 200


def test_signing_in_to_ones_own_account_does_not_wash_away_an_addresss_guesses(
    settings: Settings, clock: MovableClock, credentials: dict
) -> None:
    settings.auth.sign_in_address_free_attempts = 10
    settings.trusted_proxies = ["127.0.0.1"]
    mine = person(credentials, H41)
    with _app(settings, clock, client=("127.0.0.1", 40000)) as client:
        for n in range(10):
            login(client, {"username": f"nguoi.{n}", "password": "123456"})
            assert login(client, mine).status_code == 200
        assert login(client, {"username": "nguoi.x", "password": "1"}).status_code == 401
        assert login(client, mine).status_code == 429


def test_replicas_sharing_the_database_share_the_counts(
    settings: Settings, clock: MovableClock, credentials: dict
) -> None:
    clerk = person(credentials)
    with _app(settings, clock) as first, _app(settings, clock) as second:
        for n in range(3):
            assert first.post(TOKEN_URL, data=wrong(clerk, n)).status_code == 401
            assert second.post(TOKEN_URL, data=wrong(clerk, n)).status_code == 401
        assert first.post(TOKEN_URL, data=clerk).status_code == 429
        assert second.post(TOKEN_URL, data=clerk).status_code == 429
    with _app(settings, clock) as restarted:
        assert restarted.post(TOKEN_URL, data=clerk).status_code == 429


def test_concurrent_guesses_cannot_slip_between_the_check_and_the_count(
    node: TestClient, credentials: dict
) -> None:
    clerk = person(credentials)
    sign_in = node_of(node).sign_in

    def guess(n: int) -> str:
        try:
            sign_in.attempt(
                clerk["username"],
                f"sai-{n}",
                address=f"203.0.113.{n}",
                then=lambda session, principal, now: issue_access_token(
                    session, principal, now, ttl_seconds=60
                ),
            )
        except Unauthenticated:
            return "401"
        except TooManyRequests:
            return "429"
        return "200"

    with ThreadPoolExecutor(16) as pool:
        answers = sorted(pool.map(guess, range(40)))
    assert answers == ["401"] * 6 + ["429"] * 34


def test_forgotten_rows_are_purged_and_locked_ones_kept(
    node: TestClient, clock: MovableClock, credentials: dict
) -> None:
    settings = node_of(node).settings
    for n in range(5):
        login(node, {"username": f"nguoi.{n}", "password": "1"}, address="198.51.100.2")
    clock.advance(settings.auth.sign_in_forget_seconds + 1)
    for n in range(6):
        login(node, wrong(person(credentials), n), address="198.51.100.3")
    with node_of(node).db.read() as session:
        assert session.scalar(select(func.count()).select_from(SignInThrottle)) == 5 + 1 + 2
    assert node_of(node).sign_in.purge(batch=2) == 5 + 1
    with node_of(node).db.read() as session:
        kept = {(row.scope, row.failures) for row in session.scalars(select(SignInThrottle))}
    assert kept == {("account", 6), ("address", 6)}
