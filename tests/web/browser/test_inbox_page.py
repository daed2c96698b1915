"""The inbox in chromium: the recipient clerk has it open, a document is sent to her agency
through the API, its line appears without a reload, and she accepts it with the suggested
incoming number; the inbox and the actions are accessible and ask nothing of anyone but the
node."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.helpers import G22, H41, auth, envelope, pdf, send
from tests.web.browser.conftest import Live, axe, foreign_requests

SUBJECT = "Về việc thử nghiệm giao diện văn bản đến"


def test_a_document_arrives_without_a_reload_and_the_clerk_accepts_it(
    person: Callable[[str], Page], live: Live
) -> None:
    page = person(H41)
    expect(page.get_by_role("heading", name="Văn bản đến", exact=True)).to_be_visible()
    assert page.url.endswith("/ui/inbox")
    assert axe(page) == []

    sent = live.call(
        lambda: send(
            live.client, auth(live.credentials, G22), envelope([H41], subject=SUBJECT), pdf()
        )
    )
    assert sent.status_code == 201, sent.text
    line = page.locator("#inbox-lines tr", has_text=SUBJECT)
    expect(line).to_be_visible(timeout=20_000)  # polled every 2 s, delivered by the worker
    expect(page.locator("#inbox-news")).to_have_text("Có 1 văn bản mới")
    expect(line.get_by_text("Mới", exact=True)).to_be_visible()

    line.locator("summary").click()
    number = line.get_by_label("Số đến")
    expect(number).to_be_visible()
    suggested = number.input_value()
    assert suggested.isdigit()
    assert axe(page) == []

    line.get_by_role("button", name="Tiếp nhận").click()
    page.wait_for_url("**/ui/inbox")
    accepted = page.locator("#inbox-lines tr", has_text=SUBJECT)
    expect(accepted).to_contain_text("đã tiếp nhận")
    expect(accepted).to_contain_text(f"Số đến {suggested}")
    expect(accepted.get_by_text("Mới", exact=True)).to_have_count(0)
    assert foreign_requests(page, live) == []
