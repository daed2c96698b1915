"""The inbox (Văn bản đến) and a recipient's actions, through the web UI: order, badges, unread
state, filters and search, overdue, pages, the poll, and every action with its refusals."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from docex.auth.service import authenticate
from docex.documents.models import Delivery, DocumentRead
from docex.routing.deadlines import mark_overdue
from docex.web import inbox as web_inbox
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
    node_of,
    pdf,
    send,
    token,
)
from tests.web.conftest import login

INBOX = "/ui/inbox"


def sent(
    web: TestClient,
    credentials: dict[str, Any],
    sender: str = G22,
    role: str = "clerk",
    **fields: Any,
) -> str:
    response = send(web, auth(credentials, sender, role), envelope([H41], **fields), pdf())
    assert response.status_code == 201, response.text
    assert deliver(web) == 1
    return str(response.json()["id"])


def lines(page: str) -> list[str]:
    """The document ids of the inbox's lines, top to bottom."""
    return re.findall(r'<tr id="line-([0-9a-f-]{36})"', page)


def line_of(page: str, document_id: str) -> str:
    found = re.search(rf'<tr id="line-{document_id}".*?</tr>', page, re.S)
    assert found is not None, f"no line for {document_id}"
    return found.group(0)


def poll_url(page: str) -> str:
    found = re.search(r'id="inbox-poll"[^>]* hx-get="([^"]+)"', page)
    assert found is not None, "the inbox does not poll"
    return html.unescape(found.group(1))


def delivery_of(web: TestClient, document_id: str) -> Delivery:
    with node_of(web).db.read() as session:
        return session.scalars(
            select(Delivery).where(
                Delivery.document_id == document_id, Delivery.recipient_id == H41
            )
        ).one()


def refusals(web: TestClient, error: str) -> list[Any]:
    return [e for e in audit_events(web, "api:request:refused") if e.detail["error"] == error]


def status_form(
    csrf: str, code: str, *, note: str = "", number: str = "", suggested: str = ""
) -> dict[str, str]:
    return {
        "csrf": csrf,
        "code": code,
        "note": note,
        "incoming_number": number,
        "suggested": suggested,
        "next": INBOX,
    }


def test_newest_first_with_unanswered_flash_on_top_and_badges_in_words(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    first = sent(web, credentials, subject="Về việc thứ nhất")
    flash = sent(web, credentials, subject="Về việc hỏa tốc", urgency="flash")
    secret = sent(
        web, credentials, role="leader", subject="Về việc tối mật", classification="secret"
    )
    last = sent(web, credentials, subject="Về việc cuối", urgency="very_urgent")
    login(web, credentials, H41)

    page = web.get(INBOX)
    assert page.status_code == 200
    assert "<h1>Văn bản đến</h1>" in page.text
    assert lines(page.text) == [flash, last, secret, first]
    flash_line = line_of(page.text, flash)
    assert 'class="unread flash"' in flash_line
    assert '<span class="badge flash">Hỏa tốc</span>' in flash_line
    assert '<span class="badge new">Mới</span>' in flash_line
    assert '<span class="badge very_urgent">Thượng khẩn</span>' in line_of(page.text, last)
    secret_line = line_of(page.text, secret)
    assert '<span class="badge classified">Tối mật</span>' in secret_line
    assert "Về việc tối mật" not in page.text  # a clerk is cleared up to confidential only
    assert "12/VPCP-TTĐT" in line_of(page.text, first)
    assert "Văn phòng Chính phủ" in line_of(page.text, first)
    assert "đã đến" in line_of(page.text, first)

    # Answered, the flash document takes its place by time again.
    csrf = login(web, credentials, H41)
    accepted = web.post(f"/ui/documents/{flash}/status", data=status_form(csrf, "03"))
    assert accepted.status_code == 303
    assert lines(web.get(INBOX).text) == [last, secret, flash, first]


def test_a_line_is_new_until_that_person_opens_or_handles_the_document(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    opened = sent(web, credentials)
    handled = sent(web, credentials)
    csrf = login(web, credentials, H41)
    page = web.get(INBOX).text
    assert "unread" in line_of(page, opened)
    assert "unread" in line_of(page, handled)

    node = node_of(web)
    with node.db.read() as session:
        clerk = authenticate(session, token(credentials, H41), now=node.clock.now())
    web_inbox.document_opened(node, clerk, opened)  # the document page's hook
    web_inbox.document_opened(node, clerk, opened)  # again: changes nothing
    assert web.post(f"/ui/documents/{handled}/status", data=status_form(csrf, "03")).is_redirect

    page = web.get(INBOX).text
    assert "unread" not in line_of(page, opened)
    assert "Mới" not in line_of(page, handled)
    with node.db.read() as session:
        assert len(list(session.scalars(select(DocumentRead)))) == 2

    # Read by the clerk is not read by the leader of the same agency.
    login(web, credentials, f"{H41}/leader")
    page = web.get(INBOX).text
    assert "unread" in line_of(page, opened)
    assert "unread" in line_of(page, handled)


def test_filters_and_search_by_number_notation_and_subject(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    report = sent(web, credentials, subject="Về việc báo cáo tháng", urgency="urgent")
    plan = sent(
        web, credentials, subject="Kế hoạch năm", code={"number": "77", "notation": "KH-VPCP"}
    )
    front = sent(web, credentials, sender=I01, subject="Về việc phối hợp")
    secret = sent(
        web,
        credentials,
        role="leader",
        subject="Về việc bí mật",
        classification="secret",
        code={"number": "5", "notation": "MAT-VPCP"},
    )
    csrf = login(web, credentials, H41)
    assert web.post(f"/ui/documents/{plan}/status", data=status_form(csrf, "03")).is_redirect

    def found(**params: str) -> list[str]:
        page = web.get(INBOX, params=params)
        assert page.status_code == 200, page.text
        return lines(page.text)

    assert found(urgency="urgent") == [report]
    assert found(status="03") == [plan]
    assert found(sender=I01) == [front]
    assert found(q="KH-VPCP") == [plan]
    assert found(q="77/kh") == [plan]  # the number and notation, any case
    assert found(q="về việc") == [front, report]  # Vietnamese, any case: "Về" is found
    assert found(q="bí mật") == []  # a subject withheld from the reader is not searched
    assert found(q="MAT-VPCP") == [secret]  # its number is no secret
    today = node_of(web).clock.now().date()
    assert len(found(since=str(today), until=str(today))) == 4
    assert found(until=str(today - timedelta(days=2))) == []
    assert found(since=str(today + timedelta(days=2))) == []

    refused = web.get(INBOX, params={"since": "hôm qua"})
    assert refused.status_code == 422
    assert refusals(web, "invalid_filter")


def test_the_api_inbox_takes_the_same_filters(web: TestClient, credentials: dict[str, Any]) -> None:
    sent(web, credentials, subject="Về việc một")
    front = sent(web, credentials, sender=I01, subject="Về việc hai")
    listed = web.get("/api/v1/inbox", params={"q": "VIỆC HAI"}, headers=auth(credentials, H41))
    assert [i["document_id"] for i in listed.json()["items"]] == [front]
    listed = web.get("/api/v1/inbox", params={"sender": I01}, headers=auth(credentials, H41))
    assert [i["document_id"] for i in listed.json()["items"]] == [front]
    later = (node_of(web).clock.now() + timedelta(hours=1)).isoformat()
    listed = web.get("/api/v1/inbox", params={"since": later}, headers=auth(credentials, H41))
    assert listed.json()["items"] == []


def test_an_overdue_line_says_so(web: TestClient, credentials: dict[str, Any]) -> None:
    late = sent(web, credentials)
    node = node_of(web)
    with node.db.write() as session:
        assert mark_overdue(session, node.clock.now() + timedelta(days=10))
    login(web, credentials, H41)
    assert '<span class="badge overdue">Quá hạn</span>' in line_of(web.get(INBOX).text, late)


def test_pages_follow_the_domain_cursor(
    web: TestClient, credentials: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_inbox, "PAGE_SIZE", 2)
    ids = [sent(web, credentials, subject=f"Công văn {n}") for n in range(3)]
    login(web, credentials, H41)
    first = web.get(INBOX)
    assert lines(first.text) == [ids[2], ids[1]]
    found = re.search(r'<a href="([^"]+)" rel="next">Trang sau</a>', first.text)
    assert found is not None
    second = web.get(html.unescape(found.group(1)))
    assert lines(second.text) == [ids[0]]
    assert "Trang sau" not in second.text
    assert 'id="inbox-poll"' not in second.text  # only the first page takes arrivals


def test_another_agency_sees_none_of_it_and_may_not_act(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    document = sent(web, credentials, subject="Về việc riêng của Nghệ An")
    csrf = login(web, credentials, H26)
    page = web.get(INBOX)
    assert page.status_code == 200
    assert lines(page.text) == []
    assert "Về việc riêng" not in page.text
    assert web.get(f"/ui/documents/{document}/actions").status_code == 404
    before = counts(web)
    refused = web.post(f"/ui/documents/{document}/status", data=status_form(csrf, "03"))
    assert refused.status_code == 404
    assert "Không tìm thấy" in refused.text
    assert counts(web) == before
    assert delivery_of(web, document).status == "01"
    assert refusals(web, "document_not_found")[-1].detail["path"].endswith("/status")


def test_the_poll_answers_204_until_something_arrives_then_the_new_lines(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    older = sent(web, credentials)
    login(web, credentials, H41)
    page = web.get(INBOX).text
    assert 'hx-trigger="every 10s"' in page
    url = poll_url(page)
    nothing = web.get(url)
    assert nothing.status_code == 204
    assert nothing.content == b""

    news = sent(web, credentials, subject="Về việc mới đến")
    flash = sent(web, credentials, subject="Về việc khẩn cấp", urgency="flash")
    arrived = web.get(url)
    assert arrived.status_code == 200
    assert "Có 2 văn bản mới" in arrived.text
    assert lines(arrived.text) == [flash, news]
    assert older not in arrived.text
    assert 'hx-swap-oob="afterbegin:#inbox-flash"' in arrived.text
    assert 'hx-swap-oob="afterbegin:#inbox-lines"' in arrived.text
    assert "unread" in line_of(arrived.text, news)
    assert web.get(poll_url(arrived.text)).status_code == 204

    # An empty inbox polls too; a filtered one only for what it would show.
    login(web, credentials, H26)
    assert web.get(poll_url(web.get(INBOX).text)).status_code == 204
    login(web, credentials, H41)
    url = poll_url(web.get(INBOX, params={"urgency": "urgent"}).text)
    sent(web, credentials)
    assert web.get(url).status_code == 204


def test_accepting_gives_the_suggested_incoming_number(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    one, two = sent(web, credentials), sent(web, credentials)
    csrf = login(web, credentials, H41)
    actions = web.get(f"/ui/documents/{one}/actions", headers={"HX-Request": "true"})
    assert actions.status_code == 200
    assert "<html" not in actions.text  # a fragment for htmx
    suggested = re.search(r'name="incoming_number" value="([^"]*)"', actions.text)
    assert suggested is not None
    number = suggested.group(1)
    assert "Tiếp nhận" in actions.text
    assert "Trả lại nơi gửi" in actions.text
    assert "Phân công" not in actions.text  # a clerk does not assign

    accepted = web.post(
        f"/ui/documents/{one}/status",
        data=status_form(csrf, "03", number=number, suggested=number),
    )
    assert accepted.status_code == 303
    assert accepted.headers["location"] == INBOX
    assert delivery_of(web, one).incoming_number == number
    (recorded,) = [
        e for e in audit_events(web, "routing:status:recorded") if e.detail["code"] == "03"
    ]
    assert recorded.document_id == one
    assert f"Số đến {number}" in line_of(web.get(INBOX).text, one)

    page = web.get(f"/ui/documents/{two}/actions")  # standalone: a page of its own
    assert "<html" in page.text
    assert f'value="{int(number) + 1}"' in page.text
    after = web.get(f"/ui/documents/{one}/actions").text
    assert "Tiếp nhận</button>" not in after  # accepted once
    assert "Hoàn thành" in after
    assert "Đang xử lý" in after


def test_a_return_needs_a_reason(web: TestClient, credentials: dict[str, Any]) -> None:
    document = sent(web, credentials)
    csrf = login(web, credentials, H41)
    before = counts(web)
    refused = web.post(f"/ui/documents/{document}/status", data=status_form(csrf, "02", note="  "))
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("text/html")
    assert counts(web) == before
    assert delivery_of(web, document).status == "01"
    assert refusals(web, "reason_required")

    returned = web.post(
        f"/ui/documents/{document}/status", data=status_form(csrf, "02", note="Gửi nhầm nơi nhận")
    )
    assert returned.status_code == 303
    assert delivery_of(web, document).status == "02"
    assert "từ chối" in line_of(web.get(INBOX).text, document)


def test_a_leader_assigns_but_does_not_accept_and_a_clerk_does_not_assign(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    document = sent(web, credentials)
    leader_csrf = login(web, credentials, f"{H41}/leader")
    actions = web.get(f"/ui/documents/{document}/actions").text
    assert "Tiếp nhận</button>" not in actions
    before = counts(web)
    refused = web.post(f"/ui/documents/{document}/status", data=status_form(leader_csrf, "03"))
    assert refused.status_code == 403
    assert counts(web) == before
    assert refusals(web, "status_not_allowed")

    clerk_csrf = login(web, credentials, H41)
    assert web.post(
        f"/ui/documents/{document}/status", data=status_form(clerk_csrf, "03")
    ).is_redirect
    refused = web.post(
        f"/ui/documents/{document}/status", data=status_form(clerk_csrf, "04", note="Vụ Tổng hợp")
    )
    assert refused.status_code == 403
    assert delivery_of(web, document).status == "03"

    leader_csrf = login(web, credentials, f"{H41}/leader")
    assert "Phân công</button>" in web.get(f"/ui/documents/{document}/actions").text
    assigned = web.post(
        f"/ui/documents/{document}/status",
        data=status_form(leader_csrf, "04", note="Giao Vụ Tổng hợp"),
    )
    assert assigned.status_code == 303
    assert delivery_of(web, document).status == "04"


def test_a_status_posted_without_its_csrf_token_is_refused(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    document = sent(web, credentials)
    login(web, credentials, H41)
    before = counts(web)
    form = status_form("", "03")
    del form["csrf"]
    refused = web.post(f"/ui/documents/{document}/status", data=form)
    assert refused.status_code == 403
    assert counts(web) == before
    assert delivery_of(web, document).status == "01"
    assert refusals(web, "csrf_invalid")[-1].detail["path"].endswith("/status")


def test_a_recall_is_answered_from_the_actions(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    document = sent(web, credentials)
    recall = web.post(
        f"/api/v1/documents/{document}/statuses",
        json={"code": "13", "note": "Ban hành nhầm"},
        headers=auth(credentials, G22),
    )
    assert recall.status_code == 201, recall.text
    csrf = login(web, credentials, H41)
    actions = web.get(f"/ui/documents/{document}/actions").text
    assert "Nơi gửi đề nghị thu hồi văn bản này." in actions
    assert "Đồng ý thu hồi" in actions
    assert "Từ chối thu hồi" in actions
    assert "Tiếp nhận</button>" not in actions

    before = counts(web)
    refused = web.post(f"/ui/documents/{document}/status", data=status_form(csrf, "16"))
    assert refused.status_code == 422
    assert counts(web) == before
    agreed = web.post(f"/ui/documents/{document}/status", data=status_form(csrf, "15"))
    assert agreed.status_code == 303
    assert delivery_of(web, document).business_state == "recalled"
    assert "Đã thu hồi" in line_of(web.get(INBOX).text, document)
    assert "Hiện không có thao tác nào" in web.get(f"/ui/documents/{document}/actions").text
