"""Compose in chromium: the clerk uploads (with its progress bar) and fills the envelope, picking
the recipient by search; the leader, in his own browser, signs; the clerk seals, reads the
signature check and sends; the document exists once. Every compose screen passes axe."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.helpers import G22, H41, counts, pdf
from tests.web.browser.conftest import Live, axe, foreign_requests

SUBJECT = "Về việc kiểm thử soạn thảo văn bản trên trình duyệt"


def test_a_clerk_composes_the_leader_signs_the_clerk_seals_and_sends(
    person: Callable[[str], Page], live: Live
) -> None:
    clerk = person(G22)
    clerk.goto("/ui/compose")
    expect(clerk.get_by_role("heading", name="Soạn văn bản", exact=True)).to_be_visible()
    expect(clerk.locator('progress[data-progress-for="upload-form"]')).to_be_attached()
    assert axe(clerk) == []
    clerk.get_by_label("Tệp văn bản chính (PDF)").set_input_files(
        {"name": "cong-van.pdf", "mimeType": "application/pdf", "buffer": bytes(pdf())}
    )
    clerk.get_by_role("button", name="Tải lên").click()
    clerk.wait_for_url(re.compile(r"/ui/compose/drafts/[0-9a-f-]+$"))
    draft_url = clerk.url

    expect(clerk.get_by_label("Số", exact=True)).to_have_value("1")  # the register's next
    clerk.get_by_label("Ký hiệu").fill("VPCP-TTĐT")
    clerk.get_by_label("Trích yếu").fill(SUBJECT)
    clerk.get_by_label("Tìm cơ quan theo tên hoặc mã").fill("nghe an")
    pick = clerk.locator(f'#recipient-tree input[value="{H41}"]')
    expect(clerk.locator("#recipient-tree input")).to_have_count(1)
    pick.check()
    expect(clerk.locator("#envelope-check")).to_contain_text("Thông tin văn bản hợp lệ.")
    assert axe(clerk) == []
    clerk.get_by_role("button", name="Lưu thông tin văn bản").click()
    expect(clerk.get_by_role("heading", level=1)).to_contain_text(SUBJECT)

    leader = person(f"{G22}/leader")
    leader.goto("/ui/compose/drafts")
    assert axe(leader) == []
    leader.get_by_role("link", name=SUBJECT).click()
    leader.get_by_role("button", name="Ký số").click()
    expect(leader.locator("main")).to_contain_text("Đã ký số, chờ đóng dấu")
    expect(leader.get_by_role("button", name="Đóng dấu")).to_have_count(0)
    assert axe(leader) == []

    clerk.goto(draft_url)
    clerk.get_by_role("button", name="Đóng dấu").click()
    expect(clerk.locator("#check")).to_contain_text("Chữ ký số hợp lệ: văn bản có thể phát hành.")
    assert axe(clerk) == []
    send = clerk.get_by_role("button", name="Phát hành văn bản")
    send.click()
    clerk.wait_for_url(re.compile(r"/ui/documents/[0-9a-f-]+$"))
    assert live.call(lambda: counts(live.client))["documents"] == 1
    assert foreign_requests(clerk, live) == []
    assert foreign_requests(leader, live) == []
