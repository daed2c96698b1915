"""A clerk signs in through the identity provider in chromium: the sign-in page's "Đăng nhập
bằng VNeID", the provider's own login form (a real oidc-provider, tests/oidc), and back in the
inbox of their agency, signed in by a web session like any other."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from docex.auth.accounts import link_identity
from docex.auth.models import Principal
from docex.config import Settings
from tests.functional.conftest import free_port
from tests.helpers import G22, node_of
from tests.oidc.conftest import (
    ACCOUNTS,
    OidcProvider,
    oidc_settings,
    start_provider,
    stop_provider,
)
from tests.web.browser.conftest import Live, axe
from tests.web.conftest import person_of


@pytest.fixture
def provider_port() -> int:
    return free_port()


@pytest.fixture
def settings(settings: Settings, provider_port: int) -> Settings:
    """The node trusts the provider that ``provider`` starts on ``provider_port``."""
    settings.oidc = oidc_settings(f"http://127.0.0.1:{provider_port}", None)
    return settings


@pytest.fixture
def provider(live: Live, provider_port: int, tmp_path: Path) -> Iterator[OidcProvider]:
    callback = f"{live.url}/ui/oidc/callback"
    node = node_of(live.client)
    node.oidc.redirect_url = callback  # the live node's port is known only now
    started = start_provider(tmp_path, [callback], port=provider_port)
    yield started
    stop_provider(started)


def test_a_clerk_signs_in_through_the_provider_and_lands_in_the_inbox(
    anonymous: Callable[[], Page], live: Live, provider: OidcProvider
) -> None:
    username = person_of(live.credentials, G22)[0]
    node = node_of(live.client)

    def link() -> None:
        with node.db.write() as session:
            clerk = session.query(Principal).filter_by(username=username).one()
            link_identity(session, None, clerk.id, ACCOUNTS["an"]["cccd"], now=node.clock.now())

    live.call(link)
    page = anonymous()
    page.goto("/ui/sign-in")
    assert axe(page) == []
    page.get_by_role("link", name="Đăng nhập bằng VNeID").click()
    page.wait_for_url(f"{provider.issuer}/interaction/**")
    page.get_by_label("Login").fill("an")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live.url}/ui/inbox**")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Văn bản đến")
    page.goto("/ui/account")
    expect(page.locator("main")).to_contain_text(username)
