"""Signing in to the web UI: the session cookie, CSRF on every form, throttling, expiry,
sign-out, the security headers, the language switch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from docex.app import create_app
from docex.config import Settings
from tests.helpers import G22, MovableClock, audit_events
from tests.web.conftest import BASE, csrf_of, login, person_of


def test_the_root_leads_to_the_sign_in_page_in_vietnamese(web: TestClient) -> None:
    assert web.get("/").headers["location"] == "/ui/"
    assert web.get("/ui/").headers["location"] == "/ui/sign-in"
    page = web.get("/ui/sign-in")
    assert page.status_code == 200
    assert '<html lang="vi">' in page.text
    assert "Đăng nhập" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text  # no inline script at all


def test_a_clerk_signs_in_with_a_secure_http_only_cookie_and_lands_in_the_inbox(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    username, password = person_of(credentials, G22)
    page = web.get("/ui/sign-in")
    signed = web.post(
        "/ui/sign-in",
        data={"username": username, "password": password, "csrf": csrf_of(page.text)},
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/ui/inbox"
    cookie = next(
        c for c in signed.headers.get_list("set-cookie") if c.startswith("__Host-docex-session=")
    )
    flags = cookie.lower()
    assert "httponly" in flags
    assert "secure" in flags
    assert "samesite=lax" in flags
    assert "path=/" in flags
    assert "domain" not in flags
    (opened,) = audit_events(web, "auth:session:opened")
    assert opened.detail["session_id"]


def test_a_wrong_password_shows_the_form_again_and_is_audited(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    username, password = person_of(credentials, G22)
    page = web.get("/ui/sign-in")
    refused = web.post(
        "/ui/sign-in",
        data={"username": username, "password": password + "x", "csrf": csrf_of(page.text)},
    )
    assert refused.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu." in refused.text
    assert 'name="username"' in refused.text
    assert password not in refused.text
    assert audit_events(web, "auth:session:opened") == []


def test_a_form_posted_without_its_csrf_token_is_refused(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    username, password = person_of(credentials, G22)
    web.get("/ui/sign-in")
    refused = web.post("/ui/sign-in", data={"username": username, "password": password})
    assert refused.status_code == 403
    assert "Biểu mẫu đã hết hạn" in refused.text
    assert audit_events(web, "auth:session:opened") == []

    login(web, credentials, G22)
    out = web.post("/ui/sign-out", data={"csrf": "forged"})
    assert out.status_code == 403
    (refusal,) = [
        e for e in audit_events(web, "api:request:refused") if e.detail["error"] == "csrf_invalid"
    ][-1:]
    assert refusal.detail["path"] == "/ui/sign-out"
    assert audit_events(web, "auth:session:closed") == []


def test_sign_out_ends_the_session_for_good(web: TestClient, credentials: dict[str, Any]) -> None:
    csrf = login(web, credentials, G22)
    cookie = web.cookies.get("__Host-docex-session")
    assert cookie
    out = web.post("/ui/sign-out", data={"csrf": csrf})
    assert out.status_code == 303
    assert out.headers["location"] == "/ui/sign-in"
    (closed,) = audit_events(web, "auth:session:closed")
    assert closed.detail["reason"] == "signed_out"
    # The old cookie, replayed, signs no one in.
    web.cookies.set("__Host-docex-session", cookie, domain="testserver")
    again = web.get("/ui/account")
    assert again.status_code == 303
    assert again.headers["location"].startswith("/ui/sign-in?next=/ui/account")


def test_sign_in_is_throttled_per_account(clocked: TestClient, credentials: dict[str, Any]) -> None:
    web = clocked  # the node's clock stands still: a block does not run out mid-test
    username, password = person_of(credentials, G22)
    csrf = csrf_of(web.get("/ui/sign-in").text)
    statuses = [
        web.post(
            "/ui/sign-in", data={"username": username, "password": "nope", "csrf": csrf}
        ).status_code
        for _ in range(7)
    ]
    assert statuses[:5] == [401] * 5
    assert 429 in statuses[5:]
    blocked = web.post(
        "/ui/sign-in", data={"username": username, "password": password, "csrf": csrf}
    )
    assert blocked.status_code == 429  # even the right password, while blocked
    assert "retry-after" in blocked.headers
    assert audit_events(web, "auth:account:locked")


T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(T0)


@pytest.fixture
def clocked(settings: Settings, clock: MovableClock) -> Any:
    settings.web.session_idle_seconds = 600
    settings.web.session_absolute_seconds = 3600
    with TestClient(
        create_app(settings, clock=clock),
        base_url=BASE,
        raise_server_exceptions=False,
        follow_redirects=False,
    ) as client:
        yield client


def _signed_in(client: TestClient) -> bool:
    return bool(client.get("/ui/").headers["location"] != "/ui/sign-in")


def test_a_session_ends_when_idle_and_in_any_case_when_old(
    clocked: TestClient, clock: MovableClock, credentials: dict[str, Any]
) -> None:
    login(clocked, credentials, G22)
    for minutes in (9, 18, 27, 36, 45, 54):  # used every 9 minutes: never idle 10
        clock.at = T0 + timedelta(minutes=minutes)
        assert _signed_in(clocked), minutes
    clock.at = T0 + timedelta(minutes=60)  # the absolute limit
    assert not _signed_in(clocked)
    (closed,) = audit_events(clocked, "auth:session:closed")
    assert closed.detail["reason"] == "absolute"

    clock.at = T0 + timedelta(hours=2)
    login(clocked, credentials, G22)
    clock.at += timedelta(minutes=10)
    expired = clocked.get("/ui/account")
    assert expired.status_code == 303
    assert "expired=1" in expired.headers["location"]
    assert audit_events(clocked, "auth:session:closed")[-1].detail["reason"] == "idle"


def test_the_language_switch_keeps_the_page_and_only_goes_home(web: TestClient) -> None:
    switched = web.get("/ui/lang/en?next=/ui/sign-in")
    assert switched.headers["location"] == "/ui/sign-in"
    page = web.get("/ui/sign-in")
    assert '<html lang="en">' in page.text
    assert "Sign in to docex" in page.text
    for away in ("https://elsewhere.example/", "//elsewhere.example/", "/api/v1/me"):
        assert web.get("/ui/lang/vi", params={"next": away}).headers["location"] == "/ui/"


def test_a_page_nobody_has_is_the_404_page_and_the_api_still_answers_json(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    login(web, credentials, G22)
    missing = web.get("/ui/no-such-page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "Không tìm thấy" in missing.text
    api = web.get("/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.json()["error"] == "not_found"


def test_the_assets_come_gzipped_and_cached_and_pages_never_compressed(web: TestClient) -> None:
    script = web.get("/ui/static/htmx.min.js", headers={"Accept-Encoding": "gzip"})
    assert script.status_code == 200
    assert script.headers["content-encoding"] == "gzip"
    assert int(script.headers["content-length"]) < 20_000  # 52 KB as shipped
    assert script.headers["cache-control"] == "max-age=3600"
    assert "htmx" in script.text
    page = web.get("/ui/sign-in", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in page.headers  # a CSRF token beside reflected text: no
    assert page.headers["cache-control"] == "no-store"
