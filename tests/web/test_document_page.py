"""The document page: the envelope, files (download and the inline PDF view), the signature
report, receipts, the trace as a timeline and the business chain, as the API shows them to the
same person; the 404 page for anyone else; files gone (410) after a recall."""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Any

from fastapi.testclient import TestClient

from tests.helpers import (
    G22,
    H26,
    H41,
    I01,
    audit_events,
    auth,
    counts,
    deliver,
    envelope,
    pdf,
    send,
)
from tests.web.conftest import login

API = "/api/v1"
SUBJECT = "Về việc tổng kết công tác văn thư năm 2026"


def _sent(web: TestClient, credentials: dict[str, Any], **fields: Any) -> dict[str, Any]:
    env = envelope([H41, H26], subject=SUBJECT, due_date="2026-12-31", urgency="flash", **fields)
    response = send(
        web,
        auth(credentials, G22),
        env,
        pdf(),
        main_name="cong-van-tong-ket.pdf",
        attachments=[("phu-luc.xlsx", b"PK\x03\x04 not really a spreadsheet")],
    )
    assert response.status_code == 201, response.text
    deliver(web)
    document: dict[str, Any] = response.json()
    return document


def _status(
    web: TestClient, credentials: dict[str, Any], who: str, document_id: str, **body: Any
) -> None:
    role = "leader" if body["code"] == "04" else "clerk"
    response = web.post(
        f"{API}/documents/{document_id}/statuses", json=body, headers=auth(credentials, who, role)
    )
    assert response.status_code == 201, response.text


def test_the_sender_sees_envelope_files_signatures_receipts_and_timeline(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    document = _sent(web, credentials)
    _status(web, credentials, H41, document["id"], code="03", incoming_number="125")
    login(web, credentials, G22)

    page = web.get(f"/ui/documents/{document['id']}")

    assert page.status_code == 200, page.text
    html = page.text
    assert page.headers["content-security-policy"].endswith("frame-ancestors 'none'")
    assert f'<h1 id="doc-subject">{SUBJECT}</h1>' in html
    assert "Số, ký hiệu" in html
    assert "12/VPCP-TTĐT" in html
    assert "Hỏa tốc" in html
    assert "31/12/2026" in html  # the deadline, as Vietnam writes dates
    assert "Văn phòng Chính phủ" in html  # the sender by name
    # Files: both listed, downloadable; the main PDF viewable inline, the attachment not.
    main, attachment = document["files"]
    assert f'/ui/documents/{document["id"]}/files/{main["id"]}" download' in html
    assert f"/ui/documents/{document['id']}/files/{main['id']}/view" in html
    assert f"/ui/documents/{document['id']}/files/{attachment['id']}/view" not in html
    assert "phu-luc.xlsx" in html
    # The signature report in plain words: the leader, the agency's seal, valid.
    assert "Chữ ký của người có thẩm quyền" in html
    assert "Chữ ký số của cơ quan (con dấu)" in html
    assert "Chữ ký số hợp lệ" in html
    assert html.count('<span class="badge ok">Hợp lệ</span>') == 3  # the verdict, and each
    # Receipts: arrived at both, accepted by H41 with its incoming number.
    assert html.count('<tr class="receipt"') == 3
    assert "đã tiếp nhận" in html
    assert "<td>125</td>" in html
    # The timeline: every event of the API's trace, in order.
    trace = web.get(f"{API}/documents/{document['id']}/trace", headers=auth(credentials, G22))
    indexes = [str(e["audit_index"]) for e in trace.json()["items"]]
    assert [
        part.split('"')[0] for part in html.split('<li class="event" data-index="')[1:]
    ] == indexes
    assert "Đã chuyển đến nơi nhận" in html
    # The recipient's actions come from their own route; no evidence link for a clerk.
    actions = f"/ui/documents/{document['id']}/actions?next=/ui/documents/{document['id']}"
    assert f'hx-get="{actions}"' in html
    assert "/evidence" not in html


def test_a_file_downloads_and_the_main_pdf_shows_inline_framed_by_the_node_only(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    document = _sent(web, credentials)
    main, attachment = document["files"]
    login(web, credentials, H41)
    base = f"/ui/documents/{document['id']}/files"

    download = web.get(f"{base}/{main['id']}")
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(download.content).hexdigest() == main["sha256"]

    inline = web.get(f"{base}/{main['id']}/view")
    assert inline.status_code == 200
    assert inline.content == download.content
    assert inline.headers["content-type"] == "application/pdf"
    assert inline.headers["content-disposition"].startswith("inline;")
    assert inline.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'self'"
    assert inline.headers["x-frame-options"] == "SAMEORIGIN"
    assert inline.headers["x-content-type-options"] == "nosniff"

    other = web.get(f"{base}/{attachment['id']}/view")  # not a PDF: never rendered
    assert other.headers["content-type"] == "application/octet-stream"
    reads = [e for e in audit_events(web, "storage:file:read") if e.agency_id == H41]
    assert [e.detail["file_id"] for e in reads] == [main["id"], main["id"], attachment["id"]]


def test_a_third_agency_gets_the_404_page_as_for_a_document_that_does_not_exist(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    document = _sent(web, credentials)
    main = document["files"][0]
    login(web, credentials, I01)
    before = counts(web)
    refusals = len(audit_events(web, "api:request:refused"))

    pages = [
        web.get(f"/ui/documents/{document['id']}"),
        web.get(f"/ui/documents/{document['id']}/files/{main['id']}"),
        web.get(f"/ui/documents/{document['id']}/files/{main['id']}/view"),
        web.get(f"/ui/documents/{document['id']}/evidence"),
    ]
    unknown = web.get("/ui/documents/00000000-0000-7000-8000-000000000000")
    mangled = web.get("/ui/documents/..%2F..%2Fetc")

    for page in [*pages, unknown]:
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert "Trang hoặc văn bản này không tồn tại, hoặc bạn không có quyền xem." in page.text
        assert SUBJECT not in page.text
        assert "<code>document_not_found</code>" in page.text
    assert mangled.status_code == 404
    assert pages[0].text.replace(document["id"], "X") == unknown.text.replace(
        "00000000-0000-7000-8000-000000000000", "X"
    )
    assert counts(web) == before
    refused = audit_events(web, "api:request:refused")[refusals:]
    assert [e.detail["error"] for e in refused][:5] == ["document_not_found"] * 5
    assert refused[0].agency_id == I01


def test_after_a_recall_the_recipient_sees_the_page_but_its_files_are_gone(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    document = _sent(web, credentials)
    main = document["files"][0]
    _status(
        web, credentials, G22, document["id"], code="13", note="Ban hành nhầm", recipients=[H41]
    )
    _status(web, credentials, H41, document["id"], code="15")
    login(web, credentials, H41)

    page = web.get(f"/ui/documents/{document['id']}")
    assert page.status_code == 200
    assert "Nơi gửi đã thu hồi văn bản này." in page.text
    assert f'/files/{main["id"]}" download' not in page.text
    gone = web.get(f"/ui/documents/{document['id']}/files/{main['id']}")
    assert gone.status_code == 410
    assert "Nơi gửi đã thu hồi văn bản này." in gone.text
    assert audit_events(web, "api:request:refused")[-1].detail["error"] == "recalled"

    login(web, credentials, G22)  # the sender keeps its files
    kept = web.get(f"/ui/documents/{document['id']}/files/{main['id']}")
    assert kept.status_code == 200
    sender_page = web.get(f"/ui/documents/{document['id']}").text
    assert "Đã thu hồi" in sender_page
    assert "Ban hành nhầm" in sender_page


def test_the_business_chain_links_a_replacement_both_ways(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    first = _sent(web, credentials)
    replace = {"type": "replace", "refers_to": first["id"], "reason": "Sai số liệu"}
    second = _sent(web, credentials, business=replace)
    _status(web, credentials, H41, second["id"], code="03", incoming_number="7")
    login(web, credentials, H41)

    old = web.get(f"/ui/documents/{first['id']}").text
    new = web.get(f"/ui/documents/{second['id']}").text

    assert f'Bị thay thế bởi <a href="/ui/documents/{second["id"]}">' in old
    assert f'Thay thế: <a href="/ui/documents/{first["id"]}">' in new


def test_an_auditor_downloads_the_evidence_bundle_but_never_a_file(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    document = _sent(web, credentials, classification="confidential")
    main = document["files"][0]
    login(web, credentials, "auditor")  # cleared for normal documents only

    page = web.get(f"/ui/documents/{document['id']}")
    assert page.status_code == 200
    assert SUBJECT not in page.text
    assert "Trích yếu được giữ kín" in page.text
    assert "cong-van-tong-ket.pdf" not in page.text
    assert f'/files/{main["id"]}" download' not in page.text
    assert web.get(f"/ui/documents/{document['id']}/files/{main['id']}").status_code == 404

    link = f'href="/ui/documents/{document["id"]}/evidence"'
    assert link in page.text
    zipped = web.get(f"/ui/documents/{document['id']}/evidence")
    assert zipped.status_code == 200
    assert zipped.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()
    api = web.get(
        f"{API}/documents/{document['id']}/evidence", headers=auth(credentials, "auditor")
    )
    assert names == zipfile.ZipFile(io.BytesIO(api.content)).namelist()


def test_the_page_asks_for_a_sign_in_first(web: TestClient, credentials: dict[str, Any]) -> None:
    document = _sent(web, credentials)
    for path in ("", "/evidence", f"/files/{document['files'][0]['id']}"):
        response = web.get(f"/ui/documents/{document['id']}{path}")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/ui/sign-in?next=/ui/documents/")
