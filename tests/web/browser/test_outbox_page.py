"""The outbox in chromium: the sender's clerk watches the matrix change without reloading as
the node delivers (one recipient reached, one failed) and the recipient accepts through the
API, then re-sends the failed delivery from the page; both screens accessible, nothing asked
of anyone but the node."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from docex.agencies.models import Agency
from docex.config import Settings
from tests.helpers import G22, H26, H41, auth, envelope, node_of, pdf, send
from tests.web.browser.conftest import Live, axe, foreign_requests

LIVE_WAIT = 30_000  # ms: the worker's turn and a poll or two (every 2 s here), on a busy machine
# Resolves when the page's next htmx request has been answered and its swap (if any) is done.
POLLED = """() => new Promise((done) =>
    document.body.addEventListener("htmx:afterOnLoad", () => done(), {once: true}))"""


@pytest.fixture(autouse=True)
def one_attempt(settings: Settings) -> None:
    """The node gives up on a delivery after one attempt: a failure shows at once."""
    settings.dispatcher.max_attempts = 1


def _host_h26(live: Live, node_id: str) -> None:
    def work() -> None:
        with node_of(live.client).db.write() as session:
            session.execute(update(Agency).where(Agency.id == H26).values(node_id=node_id))

    live.call(work)


def test_the_sender_sees_the_matrix_change_live_and_re_sends_a_failed_delivery(
    person: Callable[[str], Page], live: Live
) -> None:
    credentials: dict[str, Any] = live.credentials
    _host_h26(live, "elsewhere")  # no route there: its delivery fails
    page = person(G22)
    page.goto("/ui/outbox")
    expect(page.get_by_role("heading", name="Văn bản đi", exact=True)).to_be_visible(
        timeout=LIVE_WAIT
    )

    sent = live.call(lambda: send(live.client, auth(credentials, G22), envelope([H41, H26]), pdf()))
    assert sent.status_code == 201, sent.text
    document_id = sent.json()["id"]
    h41 = page.locator("tr", has_text=H41)
    h26 = page.locator("tr", has_text=H26)
    expect(h41).to_contain_text("01 · đã đến", timeout=LIVE_WAIT)  # arrived without a reload
    expect(h26).to_contain_text("Gửi lỗi", timeout=LIVE_WAIT)

    accepted = live.call(
        lambda: live.client.post(
            f"/api/v1/documents/{document_id}/statuses",
            json={"code": "03"},
            headers=auth(credentials, H41),
        )
    )
    assert accepted.status_code == 201, accepted.text
    expect(h41).to_contain_text("03 · đã tiếp nhận", timeout=LIVE_WAIT)
    expect(h41).to_contain_text("Số đến: 1", timeout=LIVE_WAIT)
    assert axe(page) == []
    # A poll that finds nothing new leaves the table as it is (a screen reader is not read
    # the same table again): the row marked here is the same element after the next poll.
    page.evaluate("document.querySelector('#outbox-items tbody tr').dataset.mark = 'kept'")
    page.evaluate(POLLED)
    expect(page.locator("tr[data-mark=kept]")).to_have_count(1, timeout=LIVE_WAIT)

    _host_h26(live, live.client.app.state.node.settings.node_id)  # type: ignore[attr-defined]
    page.get_by_role("button", name=f"Gửi lại cho {H26}").click()
    expect(page.get_by_role("status")).to_contain_text("Đã đưa lại vào hàng gửi", timeout=LIVE_WAIT)
    expect(h26).to_contain_text("01 · đã đến", timeout=LIVE_WAIT)
    expect(h26).not_to_contain_text("Gửi lỗi", timeout=LIVE_WAIT)

    page.get_by_role("link", name="Về việc triển khai thử nghiệm docex").click()
    expect(page.get_by_role("heading", name="Thao tác")).to_be_visible(timeout=LIVE_WAIT)
    expect(page.get_by_label("Lý do thu hồi (bắt buộc)")).to_be_visible(timeout=LIVE_WAIT)
    assert axe(page) == []
    assert foreign_requests(page, live) == []
