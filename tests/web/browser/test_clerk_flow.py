"""The issue's whole story in chromium, one person per browser context, nobody reloading:

the Government Office's clerk uploads a letter and fills its envelope; her leader signs it in
his browser; she seals it, reads the signature check and sends it. Nghệ An's clerk, her inbox
open, sees it arrive without a reload and accepts it with the suggested incoming number; the
sender's outbox shows the acceptance; Nghệ An's leader assigns it; the auditor downloads its
evidence bundle, which verifies; a clerk of a third agency opening the document's URL gets the
404 page; and a form posted without its CSRF token is refused, changing nothing.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from docex.evidence import bundle
from tests.helpers import G22, H41, I01, audit_events, counts, node_of, pdf
from tests.web.browser.conftest import Live, foreign_requests

SUBJECT = "Về việc thí điểm liên thông văn bản trên giao diện web"
LIVE = 20_000  # ms: the pages poll every 2 s; the worker delivers in the meantime


def test_a_letter_goes_from_compose_to_assignment_and_the_auditor_proves_it(
    person: Callable[[str], Page], live: Live, tmp_path: Path
) -> None:
    # Nghệ An's clerk has her inbox open before anything is sent.
    receiver = person(H41)
    expect(receiver.get_by_role("heading", name="Văn bản đến", exact=True)).to_be_visible()

    # The Government Office's clerk composes.
    clerk = person(G22)
    clerk.goto("/ui/compose")
    clerk.get_by_label("Tệp văn bản chính (PDF)").set_input_files(
        {"name": "cong-van.pdf", "mimeType": "application/pdf", "buffer": bytes(pdf())}
    )
    clerk.get_by_role("button", name="Tải lên").click()
    clerk.wait_for_url(re.compile(r"/ui/compose/drafts/[0-9a-f-]+$"))
    draft = clerk.url
    clerk.get_by_label("Ký hiệu").fill("VPCP-TTĐT")
    clerk.get_by_label("Trích yếu").fill(SUBJECT)
    clerk.get_by_label("Tìm cơ quan theo tên hoặc mã").fill("nghe an")
    clerk.locator(f'#recipient-tree input[value="{H41}"]').check()
    expect(clerk.locator("#envelope-check")).to_contain_text("Thông tin văn bản hợp lệ.")
    clerk.get_by_role("button", name="Lưu thông tin văn bản").click()
    expect(clerk.get_by_role("heading", level=1)).to_contain_text(SUBJECT)

    # Her leader signs, in his own browser.
    leader = person(f"{G22}/leader")
    leader.goto(draft)
    leader.get_by_role("button", name="Ký số").click()
    expect(leader.locator("main")).to_contain_text("Đã ký số, chờ đóng dấu")

    # She seals, reads the check, sends.
    clerk.goto(draft)
    clerk.get_by_role("button", name="Đóng dấu").click()
    expect(clerk.locator("#check")).to_contain_text("Chữ ký số hợp lệ: văn bản có thể phát hành.")
    clerk.get_by_role("button", name="Phát hành văn bản").click()
    clerk.wait_for_url(re.compile(r"/ui/documents/[0-9a-f-]+$"))
    document_id = clerk.url.rsplit("/", 1)[1]
    expect(clerk.locator("main")).to_contain_text(SUBJECT)

    # It arrives in Nghệ An's open inbox; she accepts it with the suggested number.
    line = receiver.locator("#inbox-lines tr", has_text=SUBJECT)
    expect(line).to_be_visible(timeout=LIVE)
    expect(receiver.locator("#inbox-news")).to_have_text("Có 1 văn bản mới")
    line.locator("summary").click()
    suggested = line.get_by_label("Số đến").input_value()
    assert suggested == "1"  # the first incoming document of the year
    line.get_by_role("button", name="Tiếp nhận").click()
    expect(receiver.locator("#inbox-lines tr", has_text=SUBJECT)).to_contain_text("Số đến 1")

    # The sender's outbox shows it accepted.
    clerk.goto("/ui/outbox")
    row = clerk.locator("tr", has_text=H41).first
    expect(row).to_contain_text("03 · đã tiếp nhận", timeout=LIVE)

    # Nghệ An's leader assigns it.
    boss = person(f"{H41}/leader")
    boss.goto(f"/ui/documents/{document_id}")
    boss.get_by_label("Giao cho (cá nhân hoặc đơn vị)").fill("Sở Thông tin và Truyền thông")
    boss.get_by_role("button", name="Phân công").click()
    expect(boss.locator("main")).to_contain_text("phân công", timeout=LIVE)

    # The auditor downloads the evidence bundle, and it verifies.
    live.call(node_of(live.client).audit.checkpoint)
    auditor = person("auditor")
    auditor.goto(f"/ui/audit/documents/{document_id}")
    with auditor.expect_download() as download:
        auditor.get_by_role("link", name="Tải gói chứng cứ (zip)").click()
    saved = tmp_path / "evidence.zip"
    download.value.save_as(saved)
    assert zipfile.is_zipfile(saved)
    report = bundle.verify(saved.read_bytes())
    assert report.ok, report.problems
    assert report.document_id == document_id

    # A clerk of a third agency gets the 404 page for the same URL.
    stranger = person(I01)
    answer = stranger.goto(f"/ui/documents/{document_id}")
    assert answer is not None
    assert answer.status == 404
    expect(stranger.get_by_role("heading", level=1)).to_contain_text("Không tìm thấy")
    expect(stranger.locator("main")).not_to_contain_text(SUBJECT)

    # A form posted without its CSRF token (the page's own cookies, no token) is refused.
    before = live.call(lambda: counts(live.client))
    forged = receiver.request.post(
        f"{live.url}/ui/documents/{document_id}/status",
        form={"code": "06"},
        max_redirects=0,
    )
    assert forged.status == 403
    assert live.call(lambda: counts(live.client)) == before
    refused = live.call(lambda: audit_events(live.client, "api:request:refused"))
    assert any(e.detail["error"] == "csrf_invalid" for e in refused)

    for page in (receiver, clerk, leader, boss, auditor, stranger):
        assert foreign_requests(page, live) == []
