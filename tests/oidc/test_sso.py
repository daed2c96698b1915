"""Single sign-on against a real OpenID provider (tests/oidc/conftest.py): the code flow with
PKCE lands a linked person in their home page, in a web session like a password sign-in's; every
token or callback that is not exactly right is refused with its code (a 4xx page, audited, no
session); an identity linked to nobody creates nobody; passwords can be switched off."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from docex.app import create_app
from docex.auth.accounts import link_identity
from docex.auth.models import Principal
from docex.auth.oidc import OidcRefused, nonce_of
from docex.config import Settings
from docex.signing.sandbox import ValidatorPool
from tests.helpers import G22, MovableClock, audit_events, node_of
from tests.oidc.conftest import ACCOUNTS, OidcProvider
from tests.web.conftest import BASE, person_of

CALLBACK = f"{BASE}/ui/oidc/callback"


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def sso(
    settings: Settings,
    validator_pool: ValidatorPool,
    oidc_provider: OidcProvider,
    clock: MovableClock,
    credentials: dict[str, Any],
) -> Iterator[TestClient]:
    """A node whose G22 clerk is linked to An's citizen id number at the provider."""
    settings.oidc = oidc_provider.settings(CALLBACK)
    app = create_app(settings, validators=validator_pool, clock=clock)
    with TestClient(
        app, base_url=BASE, raise_server_exceptions=False, follow_redirects=False
    ) as client:
        link(client, person_of(credentials, G22)[0], ACCOUNTS["an"]["cccd"])
        yield client


def link(client: TestClient, username: str, value: str) -> None:
    node = node_of(client)
    with node.db.write() as session:
        principal_id = session.scalars(
            select(Principal.id).where(Principal.username == username)
        ).one()
        link_identity(session, None, principal_id, value, now=node.clock.now())


def begin(client: TestClient) -> str:
    """Press "Sign in with VNeID": the provider's authorization URL (the flow cookie is set)."""
    started = client.get("/ui/oidc/start")
    assert started.status_code == 303, started.text
    return str(started.headers["location"])


def come_back(client: TestClient, url: str) -> Any:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == CALLBACK, url
    return client.get(f"{parts.path}?{parts.query}")


def refusals(client: TestClient) -> list[str]:
    return [e.detail["error"] for e in audit_events(client, "api:request:refused")]


def sessions_opened(client: TestClient) -> list[dict[str, Any]]:
    return [e.detail for e in audit_events(client, "auth:session:opened")]


def test_the_sign_in_page_offers_the_provider_and_its_flow_lands_the_clerk_in_the_inbox(
    sso: TestClient, oidc_provider: OidcProvider, credentials: dict[str, Any]
) -> None:
    page = sso.get("/ui/sign-in")
    assert 'href="/ui/oidc/start"' in page.text
    assert "Đăng nhập bằng VNeID" in page.text
    url = begin(sso)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{oidc_provider.issuer}/auth?")
    assert query["code_challenge_method"] == ["S256"]
    assert query["client_id"] == ["docex"]
    assert query["redirect_uri"] == [CALLBACK]
    landed = come_back(sso, oidc_provider.authorize(url, "an"))
    assert landed.status_code == 303, landed.text
    assert landed.headers["location"] == "/ui/inbox"
    inbox = sso.get("/ui/inbox")
    assert inbox.status_code == 200
    username = person_of(credentials, G22)[0]
    (opened,) = sessions_opened(sso)
    assert opened["method"] == "oidc"
    me = sso.get("/ui/account")
    assert username in me.text


def test_a_wrong_or_missing_state_is_refused(sso: TestClient, oidc_provider: OidcProvider) -> None:
    back = oidc_provider.authorize(begin(sso), "an")
    parts = urlsplit(back)
    query = parse_qs(parts.query)
    query["state"] = ["f" * 64]
    forged = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
    refused = come_back(sso, forged)
    assert refused.status_code == 400
    assert "Đăng nhập qua nhà cung cấp định danh không thành công" in refused.text
    assert sessions_opened(sso) == []
    assert refusals(sso) == ["oidc_state_mismatch"]
    assert sso.get("/ui/inbox").status_code == 303  # still signed in as no one


def test_a_callback_without_the_browser_s_flow_cookie_is_refused(
    sso: TestClient, oidc_provider: OidcProvider
) -> None:
    back = oidc_provider.authorize(begin(sso), "an")
    sso.cookies.clear()  # another browser, handed the link
    refused = come_back(sso, back)
    assert refused.status_code == 400
    assert sessions_opened(sso) == []
    assert refusals(sso) == ["oidc_state_mismatch"]


def test_a_replayed_code_is_refused(sso: TestClient, oidc_provider: OidcProvider) -> None:
    url = begin(sso)
    flow = list(sso.cookies.jar)
    back = oidc_provider.authorize(url, "an")
    assert come_back(sso, back).status_code == 303
    sso.cookies.clear()
    for cookie in flow:  # the same request, cookie and all, again
        sso.cookies.jar.set_cookie(cookie)
    replayed = come_back(sso, back)
    assert replayed.status_code == 400
    assert len(sessions_opened(sso)) == 1
    assert refusals(sso) == ["oidc_code_refused"]


def test_a_token_with_another_nonce_is_refused(
    sso: TestClient, oidc_provider: OidcProvider
) -> None:
    parts = urlsplit(begin(sso))
    query = parse_qs(parts.query)
    query["nonce"] = ["an-injected-nonce-0123456789"]
    tampered = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
    refused = come_back(sso, oidc_provider.authorize(tampered, "an"))
    assert refused.status_code == 400
    assert sessions_opened(sso) == []
    assert refusals(sso) == ["oidc_nonce_mismatch"]


def test_an_expired_token_is_refused(
    sso: TestClient, oidc_provider: OidcProvider, clock: MovableClock
) -> None:
    back = oidc_provider.authorize(begin(sso), "an")
    clock.at += timedelta(hours=2)  # the provider's ID tokens live an hour
    refused = come_back(sso, back)
    assert refused.status_code == 400
    assert sessions_opened(sso) == []
    assert refusals(sso) == ["oidc_token_expired"]


def test_a_token_for_another_client_is_refused(
    sso: TestClient, oidc_provider: OidcProvider
) -> None:
    """A real ID token of the same provider, for the same person, issued to another
    application: its signature is good, its audience is not docex."""
    nonce = nonce_of("some flow")
    raw = oidc_provider.id_token_for_other_client(CALLBACK, "an", nonce)
    node = node_of(sso)
    with pytest.raises(OidcRefused) as refused:
        node.oidc.verify(raw, nonce=nonce)
    assert refused.value.code == "oidc_wrong_audience"
    # The same token with its signature broken is not the provider's.
    head, body, signature = raw.split(".")
    broken = f"{head}.{body}.{signature[:-4]}AAAA"
    with pytest.raises(OidcRefused) as forged:
        node.oidc.verify(broken, nonce=nonce)
    assert forged.value.code == "oidc_token_invalid"


def test_an_identity_linked_to_nobody_is_refused_and_nobody_is_created(
    sso: TestClient, oidc_provider: OidcProvider
) -> None:
    def people() -> int:
        with node_of(sso).db.read() as session:
            return int(session.scalar(select(func.count()).select_from(Principal)) or 0)

    before = people()
    refused = come_back(sso, oidc_provider.authorize(begin(sso), "binh"))
    assert refused.status_code == 403
    assert "chưa được liên kết với tài khoản nào" in refused.text
    assert people() == before
    assert sessions_opened(sso) == []
    assert refusals(sso) == ["oidc_not_linked"]


def test_the_admin_links_a_person_on_the_user_page(
    sso: TestClient, oidc_provider: OidcProvider, credentials: dict[str, Any]
) -> None:
    from tests.web.conftest import login

    csrf = login(sso, credentials, "admin")
    page = sso.get("/ui/admin/users")
    assert "Định danh đăng nhập một lần" in page.text
    username = person_of(credentials, f"{G22}/leader")[0]
    with node_of(sso).db.read() as session:
        leader = session.scalars(select(Principal).where(Principal.username == username)).one()
    done = sso.post(
        f"/ui/admin/users/{leader.id}/identity",
        data={"csrf": csrf, "identity": ACCOUNTS["binh"]["cccd"]},
    )
    assert done.status_code == 303, done.text
    taken = sso.post(
        f"/ui/admin/users/{leader.id}/identity",
        data={"csrf": csrf, "identity": ACCOUNTS["an"]["cccd"]},  # the clerk's
    )
    assert taken.status_code == 409
    (linked,) = [
        e.detail for e in audit_events(sso, "auth:principal:updated") if e.actor_id is not None
    ]
    assert linked["oidc_subject"] == ACCOUNTS["binh"]["cccd"]
    sso.post("/ui/sign-out", data={"csrf": csrf})
    sso.cookies.clear()
    landed = come_back(sso, oidc_provider.authorize(begin(sso), "binh"))
    assert landed.status_code == 303
    assert landed.headers["location"] == "/ui/inbox"


def test_with_passwords_disabled_password_sign_in_is_refused_and_sso_still_works(
    settings: Settings,
    validator_pool: ValidatorPool,
    oidc_provider: OidcProvider,
    credentials: dict[str, Any],
) -> None:
    settings.oidc = oidc_provider.settings(CALLBACK)
    settings.auth.passwords = False
    app = create_app(settings, validators=validator_pool)
    with TestClient(
        app, base_url=BASE, raise_server_exceptions=False, follow_redirects=False
    ) as web:
        username, password = person_of(credentials, G22)
        link(web, username, ACCOUNTS["an"]["cccd"])
        page = web.get("/ui/sign-in")
        assert 'name="password"' not in page.text
        assert 'href="/ui/oidc/start"' in page.text
        refused = web.post(
            "/ui/sign-in",
            # an old form, or a script: the anonymous CSRF token is the cookie's
            data={"username": username, "password": password, "csrf": csrf_cookie(web)},
        )
        assert refused.status_code == 403
        assert "Đăng nhập bằng mật khẩu đã bị tắt" in refused.text
        token = web.post("/api/v1/auth/token", data={"username": username, "password": password})
        assert token.status_code == 403
        assert token.json()["error"] == "passwords_disabled"
        assert audit_events(web, "auth:token:issued") == []
        assert sessions_opened(web) == []
        landed = come_back(web, oidc_provider.authorize(begin(web), "an"))
        assert landed.status_code == 303
        assert landed.headers["location"] == "/ui/inbox"
        assert [s["method"] for s in sessions_opened(web)] == ["oidc"]


def csrf_cookie(web: TestClient) -> str:
    (token,) = [c.value for c in web.cookies.jar if c.name.endswith("docex-csrf") and c.value]
    return str(token)


def test_without_an_issuer_there_is_no_button_and_no_flow(
    settings: Settings, validator_pool: ValidatorPool
) -> None:
    app = create_app(settings, validators=validator_pool)
    with TestClient(app, base_url=BASE, follow_redirects=False) as web:
        _no_sso(web)


def _no_sso(web: TestClient) -> None:
    assert "/ui/oidc/start" not in web.get("/ui/sign-in").text
    assert web.get("/ui/oidc/start").status_code == 404
    assert web.get("/ui/oidc/callback?code=x&state=y").status_code == 404


def test_an_answer_naming_another_provider_is_refused(
    sso: TestClient, oidc_provider: OidcProvider
) -> None:
    parts = urlsplit(oidc_provider.authorize(begin(sso), "an"))
    query = parse_qs(parts.query)
    assert query["iss"] == [oidc_provider.issuer]  # RFC 9207: the provider says who it is
    query["iss"] = ["https://idp.example"]
    refused = come_back(sso, urlunsplit(parts._replace(query=urlencode(query, doseq=True))))
    assert refused.status_code == 400
    assert sessions_opened(sso) == []
    assert refusals(sso) == ["oidc_provider_refused"]
