"""The outbox (Văn bản đi): the sender's recipient matrix (delivered, accepted with its incoming
number, returned with the reason, failed with why, overdue by the deadlines rule), re-sending a
failed delivery (the sender's clerk only, once, audited), and the recall (13, a reason
required); every refusal a 4xx page, audited, nothing changed."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from docex.agencies.models import Agency
from docex.documents.models import Delivery
from docex.routing.deadlines import mark_overdue
from docex.routing.deliveries import DeliveryTransport
from docex.routing.models import Receipt
from docex.routing.worker import Worker
from docex.vocabulary.transport import JOB_DELIVERY
from tests.helpers import (
    A01,
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
)
from tests.web.conftest import login

NO_ROUTE = "no route to node 'elsewhere'"


def _move_h26(client: TestClient, node_id: str) -> None:
    with node_of(client).db.write() as session:
        session.execute(update(Agency).where(Agency.id == H26).values(node_id=node_id))


def _one_attempt(client: TestClient) -> Worker:
    """The node's delivery worker, giving up after one attempt (as tests/routing do)."""
    node = node_of(client)
    mine = node.worker.transports[JOB_DELIVERY]
    assert isinstance(mine, DeliveryTransport)
    transport = DeliveryTransport(
        node.db,
        node.signer,
        node_id=node.settings.node_id,
        deadlines=node.settings.deadlines,
        batch_size=50,
        policy=replace(mine.policy, max_attempts=1),
    )
    return Worker(node.db, [transport], node.settings.dispatcher, clock=node.clock, owner="w")


def _send(client: TestClient, credentials: dict[str, Any], recipients: list[str]) -> str:
    """A document from G22 to ``recipients``, H26 (if there) on a node there is no route to:
    after one attempt its delivery fails; the others are delivered."""
    if H26 in recipients:
        _move_h26(client, "elsewhere")
    sent = send(client, auth(credentials, G22), envelope(recipients), pdf())
    assert sent.status_code == 201, sent.text
    _one_attempt(client).run_once()
    return str(sent.json()["id"])


def _status(
    client: TestClient, credentials: dict[str, Any], who: str, document_id: str, **body: Any
) -> None:
    answer = client.post(
        f"/api/v1/documents/{document_id}/statuses", json=body, headers=auth(credentials, who)
    )
    assert answer.status_code == 201, answer.text


def _row(html: str, agency: str) -> str:
    """The matrix row of ``agency``, its markup with the tags taken out."""
    for row in re.findall(r"<tr class=\"t-[a-z]+\">(.*?)</tr>", html, re.S):
        if agency in row:
            return " ".join(re.sub(r"<[^>]+>", " ", row).split())
    raise AssertionError(f"no row for {agency}")


def _transport(client: TestClient, recipient: str) -> str:
    with node_of(client).db.read() as session:
        return session.scalars(
            select(Delivery.transport).where(Delivery.recipient_id == recipient)
        ).one()


def _refused(client: TestClient, error: str) -> int:
    return sum(1 for e in audit_events(client, "api:request:refused") if e.detail["error"] == error)


def test_the_matrix_tells_the_sender_where_the_document_stands_with_each_recipient(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    document_id = _send(web, credentials, [H41, I01, H26, A01])
    _status(web, credentials, H41, document_id, code="03")
    _status(web, credentials, I01, document_id, code="02", note="Không đúng thẩm quyền")
    node = node_of(web)
    # The deadlines sweep a week on (past any weekend whatever the day the test runs): A01
    # never answered.
    with node.db.write() as session:
        marked = mark_overdue(session, node.clock.now() + timedelta(days=7))
    assert [m.recipient_id for m in marked] == [A01]

    login(web, credentials, G22)
    page = web.get("/ui/outbox")
    assert page.status_code == 200
    assert "<h1>Văn bản đi</h1>" in page.text
    assert f'href="/ui/outbox/{document_id}"' in page.text
    accepted = _row(page.text, H41)
    assert "Ủy ban nhân dân tỉnh Nghệ An" in accepted
    assert "Đã gửi đến" in accepted
    assert "03 · đã tiếp nhận" in accepted
    assert "Số đến: 1" in accepted
    assert "Quá hạn" not in accepted
    returned = _row(page.text, I01)
    assert "02 · từ chối" in returned
    assert "Lý do: Không đúng thẩm quyền" in returned
    failed = _row(page.text, H26)
    assert "Gửi lỗi" in failed
    assert f"Lý do: {NO_ROUTE}".replace("'", "&#39;") in failed
    assert "Chưa đến" in failed
    assert f"Gửi lại cho {H26}" in failed
    overdue = _row(page.text, A01)
    assert "01 · đã đến" in overdue
    assert "Quá hạn" in overdue
    assert "Gửi lại" not in accepted + returned + overdue  # only a failed one is re-sent
    assert "Gửi lỗi: 1" in page.text
    assert "Quá hạn: 1" in page.text

    # htmx's poll gets the list alone; the document's own page has the same rows and links.
    polled = web.get("/ui/outbox", headers={"HX-Request": "true"})
    assert "<html" not in polled.text
    assert "03 · đã tiếp nhận" in _row(polled.text, H41)
    one = web.get(f"/ui/outbox/{document_id}")
    assert one.status_code == 200
    assert "Lý do: Không đúng thẩm quyền" in _row(one.text, I01)
    assert f'href="/ui/documents/{document_id}"' in one.text
    assert f'href="/ui/compose?business=update&amp;of={document_id}"' in one.text
    assert f'href="/ui/compose?business=replace&amp;of={document_id}"' in one.text
    # The recall is offered to those it may still reach: not to the one that returned it.
    offered = re.findall(r'name="recipient" value="([^"]+)" checked', one.text)
    assert offered == [A01, H41]

    # Someone else's outbox is not this one: a recipient gets 404 for the sender's page.
    login(web, credentials, H41)
    assert document_id not in web.get("/ui/outbox").text
    other = web.get(f"/ui/outbox/{document_id}")
    assert other.status_code == 404
    assert "Không tìm thấy" in other.text
    assert web.get("/ui/outbox/not-a-document").status_code == 404


def test_the_sender_s_clerk_re_sends_a_failed_delivery_and_it_arrives_once(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    document_id = _send(web, credentials, [H41, H26])
    assert _transport(web, H26) == "failed"
    csrf = login(web, credentials, G22)
    resent = web.post(
        f"/ui/outbox/{document_id}/resend", data={"csrf": csrf, "recipient": H26, "back": "list"}
    )
    assert resent.status_code == 303
    assert resent.headers["location"] == "/ui/outbox?done=resent"
    assert "Đã đưa lại vào hàng gửi" in web.get(resent.headers["location"]).text
    assert _transport(web, H26) == "queued"
    [event] = audit_events(web, "routing:delivery:requeued")
    assert (event.agency_id, event.document_id) == (H26, document_id)
    assert event.actor_id is not None
    assert event.detail["reason"] == NO_ROUTE

    # Twice is refused: it is no longer failed.
    again = web.post(f"/ui/outbox/{document_id}/resend", data={"csrf": csrf, "recipient": H26})
    assert again.status_code == 409
    assert _refused(web, "delivery_not_failed") == 1

    _move_h26(web, node_of(web).settings.node_id)  # the route is back
    assert deliver(web) == 1
    with node_of(web).db.read() as session:
        arrivals = session.scalar(
            select(func.count()).where(Receipt.code == "01", Receipt.to_agency_id == G22)
        )
    assert arrivals == 2  # H41's and H26's, each once
    page = web.get(f"/ui/outbox/{document_id}")
    assert "Đã gửi đến" in _row(page.text, H26)
    assert "Gửi lại" not in page.text


def test_nobody_but_the_sender_s_clerk_re_sends_and_a_refusal_changes_nothing(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    document_id = _send(web, credentials, [H41, H26])
    before = counts(web)
    path = f"/ui/outbox/{document_id}/resend"
    for who, status, error in (
        (f"{G22}/leader", 403, "forbidden"),  # of the sender, not its dispatcher
        (H41, 403, "forbidden"),  # a recipient
        (I01, 404, "document_not_found"),  # a third agency
        (H26, 404, "document_not_found"),  # the failed recipient: it never had it
    ):
        csrf = login(web, credentials, who)
        refused = web.post(path, data={"csrf": csrf, "recipient": H26})
        assert refused.status_code == status, who
        assert refused.headers["content-type"].startswith("text/html")
        assert _refused(web, error) >= 1, who
    csrf = login(web, credentials, G22)
    no_token = web.post(path, data={"recipient": H26})
    assert no_token.status_code == 403
    assert "Biểu mẫu đã hết hạn" in no_token.text
    assert _refused(web, "csrf_invalid") == 1
    stranger = web.post(path, data={"csrf": csrf, "recipient": I01})
    assert stranger.status_code == 404
    assert _refused(web, "delivery_not_found") == 1
    assert _transport(web, H26) == "failed"
    assert audit_events(web, "routing:delivery:requeued") == []
    assert counts(web) == before


def test_the_sender_recalls_with_a_reason_and_sees_the_answer_in_the_matrix(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    document_id = _send(web, credentials, [H41, I01])
    path = f"/ui/outbox/{document_id}/recall"
    csrf = login(web, credentials, G22)
    page = web.get(f"/ui/outbox/{document_id}")
    assert 'name="reason"' in page.text
    assert "required" in page.text
    before = counts(web)

    no_reason = web.post(path, data={"csrf": csrf, "recipient": [H41, I01], "reason": "  "})
    assert no_reason.status_code == 422
    assert _refused(web, "reason_required") == 1
    nobody = web.post(path, data={"csrf": csrf, "reason": "Sai sót"})
    assert nobody.status_code == 422
    assert _refused(web, "recipients_required") == 1
    no_token = web.post(path, data={"recipient": H41, "reason": "Sai sót"})
    assert no_token.status_code == 403
    csrf_h41 = login(web, credentials, H41)
    recipient = web.post(path, data={"csrf": csrf_h41, "recipient": H41, "reason": "Sai sót"})
    assert recipient.status_code == 403
    assert _refused(web, "status_not_allowed") == 1
    assert counts(web) == before
    assert audit_events(web, "routing:status:recorded")[-1].detail["code"] == "01"

    csrf = login(web, credentials, G22)
    recalled = web.post(
        path, data={"csrf": csrf, "recipient": [H41], "reason": "Sai sót số liệu, sẽ gửi lại"}
    )
    assert recalled.status_code == 303
    assert recalled.headers["location"] == f"/ui/outbox/{document_id}?done=recalled"
    assert counts(web)["receipts"] == before["receipts"] + 1
    [asked] = [e for e in audit_events(web, "routing:status:recorded") if e.detail["code"] == "13"]
    assert asked.detail["to"] == H41
    page = web.get(recalled.headers["location"])
    assert "Đã gửi yêu cầu thu hồi" in page.text
    row = _row(page.text, H41)
    assert "13 · yêu cầu thu hồi" in row
    assert "Lý do: Sai sót số liệu, sẽ gửi lại" in row
    assert "13" not in _row(page.text, I01).split("·")[0]
    assert re.findall(r'name="recipient" value="([^"]+)" checked', page.text) == [I01]

    _status(web, credentials, H41, document_id, code="15")
    row = _row(web.get(f"/ui/outbox/{document_id}").text, H41)
    assert "15 · đồng ý thu hồi/cập nhật" in row
    assert "Đã thu hồi" in row


def test_the_outbox_goes_page_by_page_newest_first(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    ids = [
        send(
            web, auth(credentials, G22), envelope([H41], subject=f"Công văn số {n}"), pdf()
        ).json()["id"]
        for n in range(3)
    ]
    login(web, credentials, G22)
    seen: list[str] = []
    url = "/ui/outbox?limit=2"
    while url:
        page = web.get(url)
        assert page.status_code == 200
        seen += re.findall(r'<h2 id="doc-([0-9a-f-]+)">', page.text)
        found = re.search(r'href="(/ui/outbox\?[^"]+)">Trang sau', page.text)
        url = found.group(1).replace("&amp;", "&") if found else ""
    assert seen == ids[::-1]
    bad = web.get("/ui/outbox?cursor=nonsense")
    assert bad.status_code == 400
    assert _refused(web, "invalid_cursor") == 1


def test_a_clerk_not_cleared_for_a_document_sees_its_line_but_not_its_words(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    """A secret document its leader sent, and recalled from I01 with a reason: the agency's
    clerk (cleared for confidential) sees where it stands, not its subject nor the reason, and
    may not recall it; the leader sees both."""
    subject = "Kế hoạch bảo vệ bí mật"
    sent = send(
        web,
        auth(credentials, G22, "leader"),
        envelope([H41, I01], subject=subject, classification="secret"),
        pdf(),
    )
    assert sent.status_code == 201, sent.text
    document_id = sent.json()["id"]
    deliver(web)
    csrf = login(web, credentials, f"{G22}/leader")
    recalled = web.post(
        f"/ui/outbox/{document_id}/recall",
        data={"csrf": csrf, "recipient": I01, "reason": "Lý do mật"},
    )
    assert recalled.status_code == 303
    page = web.get(f"/ui/outbox/{document_id}")
    assert subject in page.text
    assert "Lý do: Lý do mật" in _row(page.text, I01)
    assert re.findall(r'name="recipient" value="([^"]+)" checked', page.text) == [H41]

    login(web, credentials, G22)
    page = web.get(f"/ui/outbox/{document_id}")
    assert page.status_code == 200
    assert subject not in page.text
    assert "subject withheld" in page.text
    assert "Lý do mật" not in page.text
    row = _row(page.text, I01)
    assert "13 · yêu cầu thu hồi" in row
    assert "Lý do: [withheld]" in row
    assert 'name="reason"' not in page.text  # no recall form: the clerk may not see it
    assert subject not in web.get("/ui/outbox").text
