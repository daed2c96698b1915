"""Inbox, outbox, and what each party sees of a document and of its trace."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import G22, H26, H41, I01, auth, deliver, envelope, pdf, send

INBOX = "/api/v1/inbox"
OUTBOX = "/api/v1/outbox"


def sent(client: TestClient, credentials: dict, recipients: list[str], **fields: Any) -> str:
    response = send(client, auth(credentials, G22), envelope(recipients, **fields), pdf())
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def inbox_ids(client: TestClient, headers: dict[str, str], **params: Any) -> list[str]:
    response = client.get(INBOX, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["document_id"] for item in response.json()["items"]]


def all_pages(
    client: TestClient, path: str, headers: dict[str, str], limit: int
) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = client.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item["document_id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 10, "pagination does not end"


# -- inbox ---------------------------------------------------------------------------------------


def test_inbox_lists_deliveries_newest_first(client: TestClient, credentials: dict) -> None:
    ids = []
    for n in range(3):
        ids.append(sent(client, credentials, [H41], subject=f"Công văn {n}"))
        assert deliver(client) == 1
    items = client.get(INBOX, headers=auth(credentials, H41)).json()["items"]
    assert [i["document_id"] for i in items] == ids[::-1]
    delivered = [i["delivered_at"] for i in items]
    assert delivered == sorted(delivered, reverse=True)
    assert items[0]["subject"] == "Công văn 2"
    assert items[0]["sender_id"] == G22
    assert items[0]["status"] == "01"


def test_inbox_shows_only_delivered_documents_of_the_callers_agency(
    client: TestClient, credentials: dict
) -> None:
    to_h41 = sent(client, credentials, [H41])
    to_h26 = sent(client, credentials, [H26])
    assert inbox_ids(client, auth(credentials, H41)) == []  # queued is not yet in the inbox
    deliver(client)
    assert inbox_ids(client, auth(credentials, H41)) == [to_h41]
    assert inbox_ids(client, auth(credentials, H26)) == [to_h26]
    assert inbox_ids(client, auth(credentials, I01)) == []
    assert inbox_ids(client, auth(credentials, G22)) == []  # the sender's outbox, not its inbox


def test_inbox_filters_by_status(client: TestClient, credentials: dict) -> None:
    accepted, arrived = sent(client, credentials, [H41]), sent(client, credentials, [H41])
    deliver(client)
    response = client.post(
        f"/api/v1/documents/{accepted}/statuses",
        json={"code": "03"},
        headers=auth(credentials, H41),
    )
    assert response.status_code == 201, response.text
    clerk = auth(credentials, H41)
    assert inbox_ids(client, clerk, status="03") == [accepted]
    assert inbox_ids(client, clerk, status="01") == [arrived]
    assert inbox_ids(client, clerk, status="06") == []
    assert set(inbox_ids(client, clerk)) == {accepted, arrived}


def test_inbox_filters_by_urgency(client: TestClient, credentials: dict) -> None:
    normal = sent(client, credentials, [H41])
    flash = sent(client, credentials, [H41], urgency="flash")
    urgent = sent(client, credentials, [H41], urgency="urgent")
    deliver(client)
    clerk = auth(credentials, H41)
    assert inbox_ids(client, clerk, urgency="flash") == [flash]
    assert inbox_ids(client, clerk, urgency="urgent") == [urgent]
    assert inbox_ids(client, clerk, urgency="normal") == [normal]
    assert inbox_ids(client, clerk, urgency="very_urgent") == []
    items = client.get(INBOX, params={"urgency": "flash"}, headers=clerk).json()["items"]
    assert items[0]["urgency"] == "flash"


@pytest.mark.parametrize("params", [{"urgency": "hoa_toc"}, {"status": "3"}, {"status": "abc"}])
def test_inbox_filter_with_an_unknown_value_is_422(
    client: TestClient, credentials: dict, params: dict[str, str]
) -> None:
    response = client.get(INBOX, params=params, headers=auth(credentials, H41))
    assert (response.status_code, response.json()["error"]) == (422, "invalid_request")


@pytest.mark.parametrize("one_dispatch", [True, False], ids=["same-instant", "one-by-one"])
@pytest.mark.parametrize("limit", [1, 2, 3])
def test_inbox_pages_through_five_documents_without_duplicates_or_gaps(
    client: TestClient, credentials: dict, limit: int, one_dispatch: bool
) -> None:
    """Delivered in one dispatcher run, the five share one delivered_at: the cursor must still
    tell them apart."""
    ids = []
    for n in range(5):
        ids.append(sent(client, credentials, [H41], subject=f"Công văn {n}"))
        if not one_dispatch:
            deliver(client)
    if one_dispatch:
        assert deliver(client) == 5
    clerk = auth(credentials, H41)
    pages = all_pages(client, INBOX, clerk, limit)
    assert [len(p) for p in pages] == [limit] * (5 // limit) + ([5 % limit] if 5 % limit else [])
    flat = [doc for page in pages for doc in page]
    assert flat == ids[::-1]
    assert flat == inbox_ids(client, clerk, limit=500)


def test_inbox_cursor_keeps_the_filter_it_was_given_with(
    client: TestClient, credentials: dict
) -> None:
    flashes = [sent(client, credentials, [H41], urgency="flash") for _ in range(3)]
    sent(client, credentials, [H41])
    deliver(client)
    clerk = auth(credentials, H41)
    first = client.get(INBOX, params={"urgency": "flash", "limit": 2}, headers=clerk).json()
    rest = client.get(
        INBOX,
        params={"urgency": "flash", "limit": 2, "cursor": first["next_cursor"]},
        headers=clerk,
    ).json()
    got = [i["document_id"] for i in first["items"] + rest["items"]]
    assert got == flashes[::-1]
    assert rest["next_cursor"] is None


# -- outbox --------------------------------------------------------------------------------------


def test_outbox_counts_recipients_by_transport_and_status(
    client: TestClient, credentials: dict
) -> None:
    to_group = sent(client, credentials, ["group:provinces"])
    sender = auth(credentials, G22)

    def row() -> dict[str, Any]:
        items = client.get(OUTBOX, headers=sender).json()["items"]
        return next(i for i in items if i["document_id"] == to_group)

    queued = row()
    assert queued["recipients"] == 2
    assert queued["transport"] == {"queued": 2}
    assert queued["status"] == {"none": 2}
    deliver(client)
    arrived = row()
    assert arrived["transport"] == {"delivered": 2}
    assert arrived["status"] == {"01": 2}
    accepted = client.post(
        f"/api/v1/documents/{to_group}/statuses",
        json={"code": "03"},
        headers=auth(credentials, H41),
    )
    assert accepted.status_code == 201, accepted.text
    after = row()
    assert after["transport"] == {"delivered": 2}
    assert after["status"] == {"01": 1, "03": 1}


def test_outbox_lists_only_what_the_callers_agency_sent_newest_first(
    client: TestClient, credentials: dict
) -> None:
    ids = [sent(client, credentials, [H41]) for _ in range(3)]
    other = send(client, auth(credentials, H26), envelope([H41]), pdf())
    assert other.status_code == 201
    outbox = client.get(OUTBOX, headers=auth(credentials, G22)).json()
    assert [i["document_id"] for i in outbox["items"]] == ids[::-1]
    assert outbox["next_cursor"] is None
    h26 = client.get(OUTBOX, headers=auth(credentials, H26)).json()["items"]
    assert [i["document_id"] for i in h26] == [other.json()["id"]]
    assert client.get(OUTBOX, headers=auth(credentials, H41)).json()["items"] == []


@pytest.mark.parametrize("limit", [1, 2, 4])
def test_outbox_pages_through_five_documents_without_duplicates_or_gaps(
    client: TestClient, credentials: dict, limit: int
) -> None:
    ids = [sent(client, credentials, [H41]) for _ in range(5)]
    pages = all_pages(client, OUTBOX, auth(credentials, G22), limit)
    assert [doc for page in pages for doc in page] == ids[::-1]
    assert all(len(page) == limit for page in pages[:-1])


@pytest.mark.parametrize("who", ["auditor", "admin"])
def test_mailboxes_are_for_agencies_not_node_principals(
    client: TestClient, credentials: dict, who: str
) -> None:
    for path in (INBOX, OUTBOX):
        response = client.get(path, headers=auth(credentials, who))
        assert (response.status_code, response.json()["error"]) == (403, "forbidden")


# -- what each party sees of a document ----------------------------------------------------------


def test_recipient_sees_only_its_own_row_while_sender_and_auditor_see_all(
    client: TestClient, credentials: dict
) -> None:
    document = sent(client, credentials, ["group:provinces"])
    deliver(client)

    def recipients(headers: dict[str, str]) -> list[str]:
        response = client.get(f"/api/v1/documents/{document}", headers=headers)
        assert response.status_code == 200, response.text
        return sorted(r["agency_id"] for r in response.json()["recipients"])

    assert recipients(auth(credentials, H41)) == [H41]
    assert recipients(auth(credentials, H41, "leader")) == [H41]
    assert recipients(auth(credentials, H26, "system")) == [H26]
    assert recipients(auth(credentials, G22)) == sorted([H26, H41])
    assert recipients(auth(credentials, G22, "leader")) == sorted([H26, H41])
    assert recipients(auth(credentials, "auditor")) == sorted([H26, H41])


def test_recipient_sees_only_the_receipts_of_its_own_delivery(
    client: TestClient, credentials: dict
) -> None:
    document = sent(client, credentials, ["group:provinces"])
    deliver(client)

    def receipts(headers: dict[str, str]) -> set[tuple[str, str]]:
        response = client.get(f"/api/v1/documents/{document}/receipts", headers=headers)
        assert response.status_code == 200, response.text
        return {(r["code"], r["from_agency_id"]) for r in response.json()["items"]}

    assert receipts(auth(credentials, H41)) == {("01", H41)}
    assert receipts(auth(credentials, H26)) == {("01", H26)}
    assert receipts(auth(credentials, G22)) == {("01", H41), ("01", H26)}
    assert receipts(auth(credentials, "auditor")) == {("01", H41), ("01", H26)}


def _trace(client: TestClient, document: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/documents/{document}/trace", headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_trace_is_in_audit_log_order(client: TestClient, credentials: dict) -> None:
    document = sent(client, credentials, ["group:provinces"])
    deliver(client)
    client.post(
        f"/api/v1/documents/{document}/statuses",
        json={"code": "03"},
        headers=auth(credentials, H41),
    )
    items = _trace(client, document, auth(credentials, G22))
    indexes = [i["audit_index"] for i in items]
    assert indexes == sorted(indexes)
    assert len(set(indexes)) == len(indexes)
    times = [datetime.fromisoformat(i["at"]) for i in items]
    assert times == sorted(times)
    events = [i["event"] for i in items]
    assert events[0] == "intake:document:accepted"
    # A group's expansion is one event listing both deliveries, not one event per delivery.
    assert events.count("intake:recipient:resolved") == 1
    assert "routing:delivery:queued" not in events
    assert events.count("routing:delivery:delivered") == 2
    assert events.index("intake:recipient:resolved") < events.index("routing:delivery:delivered")
    assert events[-1] == "routing:status:recorded"
    assert all(i["node_id"] == "test-node" for i in items)


def test_recipient_trace_has_none_of_another_recipients_events(
    client: TestClient, credentials: dict
) -> None:
    document = sent(client, credentials, ["group:provinces"])
    deliver(client)
    for who in (H41, H26):
        accepted = client.post(
            f"/api/v1/documents/{document}/statuses",
            json={"code": "03"},
            headers=auth(credentials, who),
        )
        assert accepted.status_code == 201, accepted.text
    everything = _trace(client, document, auth(credentials, G22))
    h26_deliveries = {
        i["detail"]["delivery_id"]
        for i in everything
        if i["agency_id"] == H26 and "delivery_id" in i["detail"]
    }
    assert h26_deliveries

    seen_by_h41 = _trace(client, document, auth(credentials, H41))
    assert seen_by_h41
    assert all(i["agency_id"] in (G22, H41) for i in seen_by_h41)
    assert not any(i["detail"].get("to") == H26 for i in seen_by_h41)
    assert not any(i["detail"].get("delivery_id") in h26_deliveries for i in seen_by_h41)
    own = [i["event"] for i in seen_by_h41 if i["agency_id"] == H41]
    assert "routing:delivery:delivered" in own
    assert own.count("routing:status:recorded") == 2  # its 01 and its 03
    indexes = [i["audit_index"] for i in seen_by_h41]
    assert indexes == sorted(indexes)

    auditor = _trace(client, document, auth(credentials, "auditor"))
    assert [i["audit_index"] for i in auditor] == [i["audit_index"] for i in everything]
