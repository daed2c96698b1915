"""The supervision dashboard in chromium: the supervisor signs in, lands on the dashboard,
sees the slow province flagged, opens its overdue document's drill-down (the delivery facts,
never the subject); both screens accessible and asking nothing of anyone but the node."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.helpers import G22, H41
from tests.web.browser.conftest import Live, axe, foreign_requests
from tests.web.test_supervision import SUBJECT, slow_province


def test_the_supervisor_sees_the_slow_province_and_its_overdue_document(
    person: Callable[[str], Page], live: Live
) -> None:
    document_id = live.call(lambda: slow_province(live.client, live.credentials))

    page = person("supervisor")
    page.wait_for_url("**/ui/supervision")
    expect(page.get_by_role("heading", name="Trung tâm giám sát, điều hành")).to_be_visible()
    province = page.locator(f'table.sv-provinces tr[data-province="{H41}"]')
    expect(province).to_contain_text("Chậm")
    expect(page.locator("table.sv-provinces tbody tr").first).to_have_attribute(
        "data-province", H41
    )
    expect(page.locator("#network")).to_contain_text("Nút này")
    assert axe(page) == []

    page.locator(f'table.sv-league tr[data-agency="{H41}"]').get_by_role("link").click()
    page.wait_for_url(f"**/ui/supervision/agencies/{H41}*")
    expect(page.get_by_role("heading", name="Văn bản quá hạn")).to_be_visible()
    row = page.locator(f'table.sv-overdue tr[data-document="{document_id}"]')
    expect(row).to_contain_text(G22)
    expect(row).to_contain_text("Chưa phản hồi")
    expect(page.locator("main")).not_to_contain_text(SUBJECT)
    expect(page.locator("svg[role=img] title")).to_have_count(1)
    assert axe(page) == []
    assert foreign_requests(page, live) == []
