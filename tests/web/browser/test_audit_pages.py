"""The auditor's screens in chromium: an auditor searches the log by document, opens the
document's trace (its events proven in the signed checkpoint), downloads the evidence bundle,
which verifies offline, and reviews the checkpoints; the three screens are accessible and ask
nothing of anyone but the node."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from docex.evidence import bundle
from tests.helpers import G22, auth, deliver, envelope, node_of, pdf, send
from tests.web.browser.conftest import Live, axe, foreign_requests


def test_an_auditor_traces_a_document_and_downloads_its_evidence(
    person: Callable[[str], Page], live: Live, tmp_path: Path
) -> None:
    sent = live.call(
        lambda: send(
            live.client, auth(live.credentials, G22), envelope(), pdf("Công văn kiểm toán")
        )
    )
    assert sent.status_code == 201, sent.text
    document = sent.json()["id"]
    live.call(lambda: deliver(live.client))
    live.call(node_of(live.client).audit.checkpoint)

    page = person("auditor")
    page.wait_for_url("**/ui/audit")
    expect(page.get_by_role("heading", name="Tra cứu nhật ký kiểm toán")).to_be_visible()
    assert axe(page) == []
    page.get_by_label("Mã văn bản").fill(document)
    page.get_by_role("button", name="Tra cứu", exact=True).click()
    page.wait_for_url(f"**/ui/audit?document={document}*")
    rows = page.locator("table.audit-events tbody tr")
    expect(rows.first).to_be_visible()
    expect(rows.filter(has_text="intake:document:accepted")).to_have_count(1)

    rows.first.get_by_role("link").click()
    page.wait_for_url(f"**/ui/audit/documents/{document}")
    expect(page.get_by_role("heading", name="Vết xử lý văn bản")).to_be_visible()
    expect(page.locator("tr[data-proof=proven]").first).to_contain_text("đã chứng minh")
    assert axe(page) == []
    with page.expect_download() as download:
        page.get_by_role("link", name="Tải gói chứng cứ (zip)").click()
    saved = tmp_path / "evidence.zip"
    download.value.save_as(saved)
    assert download.value.suggested_filename == f"evidence-{document}.zip"
    report = bundle.verify(saved.read_bytes())
    assert report.ok, report.problems
    assert report.document_id == document

    page.get_by_role("link", name="Điểm kiểm tra và chữ ký đồng xác nhận").click()
    page.wait_for_url("**/ui/audit/checkpoints")
    expect(page.get_by_role("heading", name="Các điểm kiểm tra mới nhất")).to_be_visible()
    expect(page.locator("table.audit-checkpoints tbody tr").first).to_contain_text("hợp lệ")
    assert axe(page) == []
    assert foreign_requests(page, live) == []
