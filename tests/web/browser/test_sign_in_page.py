"""The sign-in page in chromium: a clerk signs in by the form (the Secure cookie is kept on
the node's loopback address), the page is accessible, and asks nothing of anyone but the node."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.helpers import G22
from tests.web.browser.conftest import Live, axe, foreign_requests


def test_a_clerk_signs_in_and_out_in_the_browser(person: Callable[[str], Page], live: Live) -> None:
    page = person(G22)
    expect(page.locator("header.top")).to_contain_text("Đăng xuất")
    page.goto("/ui/account")
    expect(page.get_by_role("heading", name="Tài khoản của tôi")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Văn thư")
    assert axe(page) == []
    page.get_by_role("button", name="Đăng xuất").click()
    page.wait_for_url("**/ui/sign-in")
    page.goto("/ui/account")
    page.wait_for_url("**/ui/sign-in?next=/ui/account")
    assert foreign_requests(page, live) == []


def test_the_sign_in_page_is_accessible_in_both_languages(
    anonymous: Callable[[], Page], live: Live
) -> None:
    page = anonymous()
    page.goto("/ui/sign-in")
    assert axe(page) == []
    page.get_by_role("link", name="EN").click()
    expect(page.get_by_role("heading", name="Sign in to docex")).to_be_visible()
    assert axe(page) == []
    page.get_by_label("Username").fill("nobody")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    assert foreign_requests(page, live) == []
