"""The document page in chromium: the sender's clerk opens a document she sent and sees its
files, signature report, receipts and timeline; the main PDF shows inline, served by the node;
a clerk of a third agency opening the same address gets the 404 page. Both pages pass axe."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect

from tests.helpers import G22, H41, I01, auth, deliver, envelope, pdf, send
from tests.web.browser.conftest import Live, axe, foreign_requests

SUBJECT = "Về việc chuẩn bị hội nghị tổng kết năm"


def delivered(live: Live, document_id: str) -> dict[str, Any]:
    """The document once its routing worker delivered it (this test helps it along)."""
    headers = auth(live.credentials, G22)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        live.call(lambda: deliver(live.client))
        view: dict[str, Any] = live.client.get(
            f"/api/v1/documents/{document_id}", headers=headers
        ).json()
        if all(r["transport"] == "delivered" for r in view["recipients"]):
            return view
    raise AssertionError("the document was not delivered")


def test_the_sender_reads_her_document_and_a_third_agency_gets_the_404_page(
    person: Callable[[str], Page], live: Live
) -> None:
    headers = auth(live.credentials, G22)
    sent = live.call(lambda: send(live.client, headers, envelope([H41], subject=SUBJECT), pdf()))
    assert sent.status_code == 201, sent.text
    document_id = sent.json()["id"]
    delivered(live, document_id)
    accepted = live.client.post(
        f"/api/v1/documents/{document_id}/statuses",
        json={"code": "03", "incoming_number": "88"},
        headers=auth(live.credentials, H41),
    )
    assert accepted.status_code == 201, accepted.text

    page = person(G22)
    page.goto(f"/ui/documents/{document_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(SUBJECT)
    expect(page.get_by_role("link", name="Tải xuống cong-van.pdf")).to_be_visible()
    expect(page.locator("#signature-verdict")).to_contain_text("Chữ ký số hợp lệ")
    expect(page.locator("tr.receipt")).to_have_count(2)
    expect(page.locator("tr.receipt").last).to_contain_text("88")
    expect(page.locator("ol.timeline li").first).to_contain_text("Gửi đi")
    expect(page.locator("ol.timeline")).to_contain_text("Đã chuyển đến nơi nhận")
    assert axe(page) == []

    with page.expect_response(lambda r: r.url.endswith("/view")) as shown:
        page.get_by_text("Xem văn bản chính ngay trên trang").click()
    response = shown.value
    assert response.status == 200
    assert response.url.startswith(live.url + "/ui/documents/")
    assert response.headers["content-type"] == "application/pdf"
    assert foreign_requests(page, live) == []

    stranger = person(I01)
    refused = stranger.goto(f"/ui/documents/{document_id}")
    assert refused is not None
    assert refused.status == 404
    expect(stranger.get_by_role("heading", level=1)).to_contain_text("Không tìm thấy")
    expect(stranger.locator("main")).not_to_contain_text(SUBJECT)
    assert axe(stranger) == []
    assert foreign_requests(stranger, live) == []
