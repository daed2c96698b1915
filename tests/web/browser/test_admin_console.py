"""The admin console in chromium: an operator re-queues a failed delivery (it is then
delivered) and adds an agency, with the keyboard-reachable forms; every sub-page is free of
serious accessibility violations and asks nothing of anyone but the node."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from docex.agencies.models import Agency
from docex.config import Settings
from docex.documents.models import Delivery
from tests.helpers import G22, H26, auth, envelope, node_of, pdf, send
from tests.web.browser.conftest import Live, axe, foreign_requests

PAGES = (
    "/ui/admin",
    "/ui/admin/agencies",
    "/ui/admin/users",
    "/ui/admin/tokens",
    "/ui/admin/webhooks",
    "/ui/admin/peers",
    "/ui/admin/deliveries",
    "/ui/admin/keys",
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.dispatcher.max_attempts = 1  # a delivery that cannot be made fails at once
    return settings


def _home_of_h26(live: Live, node_id: str) -> None:
    def work() -> None:
        with node_of(live.client).db.write() as session:
            session.execute(update(Agency).where(Agency.id == H26).values(node_id=node_id))

    live.call(work)


def _transport_becomes(live: Live, delivery: Callable[[], str | None], wanted: str) -> None:
    """Waits (off Playwright's loop) for the worker to bring the delivery to ``wanted``."""

    def work() -> None:
        deadline = time.monotonic() + 30
        while delivery() != wanted:
            if time.monotonic() > deadline:
                pytest.fail(f"the delivery never became {wanted}")
            time.sleep(0.05)

    live.call(work)


def test_an_operator_requeues_a_failed_delivery_and_adds_an_agency(
    person: Callable[[str], Page], live: Live
) -> None:
    _home_of_h26(live, "elsewhere")  # no route: the worker gives up after its one attempt
    credentials: dict[str, Any] = live.credentials
    document = live.call(
        lambda: send(live.client, auth(credentials, G22), envelope([H26]), pdf()).json()
    )

    def transport() -> str | None:
        with node_of(live.client).db.read() as session:
            return session.scalars(
                select(Delivery.transport).where(Delivery.document_id == document["id"])
            ).one_or_none()

    _transport_becomes(live, transport, "failed")
    _home_of_h26(live, "test-node")  # the route is fixed

    page = person("admin")
    page.get_by_role("link", name="Chuyển phát thất bại").first.click()
    expect(page.get_by_role("heading", name="Chuyển phát thất bại", level=1)).to_be_visible()
    expect(page.locator("main")).to_contain_text("no route to node")
    page.get_by_role("button", name=f"Gửi lại {H26} {document['id']}").click()
    expect(page.get_by_role("status")).to_have_text(
        "Đã đưa lại vào hàng đợi: văn bản đang được gửi lại."
    )
    expect(page.locator("main")).to_contain_text("Không có chuyển phát thất bại.")
    _transport_becomes(live, transport, "delivered")

    page.get_by_role("link", name="Cơ quan", exact=True).click()
    page.get_by_label("Mã định danh", exact=True).fill("000.00.00.G98")
    page.get_by_label("Tên cơ quan", exact=True).fill("Bộ Khoa học và Công nghệ")
    page.get_by_label("Loại", exact=True).select_option("state")
    page.get_by_role("button", name="Thêm cơ quan").click()
    expect(page.get_by_role("status")).to_have_text("Đã thêm cơ quan.")
    expect(page.get_by_role("row", name="000.00.00.G98")).to_contain_text(
        "Bộ Khoa học và Công nghệ"
    )
    assert foreign_requests(page, live) == []


def test_every_admin_sub_page_is_accessible(person: Callable[[str], Page], live: Live) -> None:
    page = person("admin")
    for path in PAGES:
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        assert axe(page) == [], path
    assert foreign_requests(page, live) == []
