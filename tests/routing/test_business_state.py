"""Recall, update and replace take effect: once the recipient accepts, the earlier document is
shown recalled / updated / replaced on both sides, a recalled file is 410 ``recalled`` to that
recipient (never to the sender), and the trace says so."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.helpers import G22, H26, H41, as_sent, audit_events, auth, deliver, envelope, pdf, send


def sent(
    client: TestClient, credentials: dict, main: bytes | None = None, **fields: Any
) -> dict[str, Any]:
    recipients = fields.pop("recipients", [H41, H26])
    response = send(
        client, auth(credentials, G22), envelope(recipients, **fields), main or pdf("Văn bản")
    )
    assert response.status_code == 201, response.text
    deliver(client)
    document: dict[str, Any] = response.json()
    return document


def status(
    client: TestClient, credentials: dict, who: str, document_id: str, **body: Any
) -> Response:
    response: Response = client.post(
        f"/api/v1/documents/{document_id}/statuses", json=body, headers=auth(credentials, who)
    )
    assert response.status_code in (200, 201), response.text
    return response


def rows(client: TestClient, credentials: dict, who: str, document_id: str) -> dict[str, Any]:
    view = client.get(f"/api/v1/documents/{document_id}", headers=auth(credentials, who))
    assert view.status_code == 200, view.text
    return {r["agency_id"]: r for r in view.json()["recipients"]}


def inbox_item(client: TestClient, credentials: dict, who: str, document_id: str) -> Any:
    items = client.get("/api/v1/inbox", headers=auth(credentials, who)).json()["items"]
    return next(i for i in items if i["document_id"] == document_id)


def outbox_item(client: TestClient, credentials: dict, document_id: str) -> Any:
    items = client.get("/api/v1/outbox", headers=auth(credentials, G22)).json()["items"]
    return next(i for i in items if i["document_id"] == document_id)


def download(client: TestClient, credentials: dict, who: str, document: dict) -> Response:
    file_id = document["files"][0]["id"]
    response: Response = client.get(
        f"/api/v1/documents/{document['id']}/files/{file_id}", headers=auth(credentials, who)
    )
    return response


def test_a_revoke_accepted_with_15_recalls_the_earlier_document_for_that_recipient_only(
    client: TestClient, credentials: dict
) -> None:
    main = pdf("Quyết định 12")
    earlier = sent(client, credentials, main)
    revoke = sent(
        client,
        credentials,
        business={"type": "revoke", "refers_to": earlier["id"], "reason": "Ban hành sai"},
    )
    status(client, credentials, H41, revoke["id"], code="15")
    status(client, credentials, H26, revoke["id"], code="16", note="Đã thực hiện")

    recipients = rows(client, credentials, G22, earlier["id"])
    assert recipients[H41]["business_state"] == "recalled"
    assert recipients[H41]["superseded_by"] == revoke["id"]
    assert recipients[H26]["business_state"] is None
    assert recipients[H26]["superseded_by"] is None
    assert rows(client, credentials, H41, earlier["id"])[H41]["business_state"] == "recalled"
    mine = inbox_item(client, credentials, H41, earlier["id"])
    assert (mine["business_state"], mine["superseded_by"]) == ("recalled", revoke["id"])
    assert inbox_item(client, credentials, H26, earlier["id"])["business_state"] is None
    assert outbox_item(client, credentials, earlier["id"])["business_state"] == {"recalled": 1}

    gone = download(client, credentials, H41, earlier)
    assert gone.status_code == 410, gone.text
    assert gone.json()["error"] == "recalled"
    assert download(client, credentials, H26, earlier).content == as_sent(main)
    assert download(client, credentials, G22, earlier).content == as_sent(main)
    refused = audit_events(client, "api:request:refused")[-1]
    assert (refused.detail["error"], refused.agency_id) == ("recalled", H41)

    trace = client.get(
        f"/api/v1/documents/{earlier['id']}/trace", headers=auth(credentials, H41)
    ).json()["items"]
    recalled = [t for t in trace if t["event"] == "routing:delivery:recalled"]
    assert len(recalled) == 1
    assert recalled[0]["agency_id"] == H41
    assert recalled[0]["detail"]["superseded_by"] == revoke["id"]
    h26_trace = client.get(
        f"/api/v1/documents/{earlier['id']}/trace", headers=auth(credentials, H26)
    ).json()["items"]
    assert "routing:delivery:recalled" not in [t["event"] for t in h26_trace]


def test_a_recall_by_13_answered_15_makes_the_document_recalled(
    client: TestClient, credentials: dict
) -> None:
    document = sent(client, credentials)
    status(client, credentials, G22, document["id"], code="13", note="Sai nội dung")
    status(client, credentials, H41, document["id"], code="15")
    status(client, credentials, H26, document["id"], code="16", note="Không đồng ý")

    recipients = rows(client, credentials, G22, document["id"])
    assert (recipients[H41]["business_state"], recipients[H41]["superseded_by"]) == (
        "recalled",
        None,
    )
    assert recipients[H26]["business_state"] is None
    assert download(client, credentials, H41, document).status_code == 410
    assert download(client, credentials, H26, document).status_code == 200
    assert download(client, credentials, G22, document).status_code == 200
    sealed = client.get(
        f"/api/v1/documents/{document['id']}/files/{document['files'][0]['id']}/sealed",
        headers=auth(credentials, H41),
    )
    assert sealed.status_code == 410
    # The auditor still reads the record of it (files were never an auditor's).
    trace = client.get(
        f"/api/v1/documents/{document['id']}/trace", headers=auth(credentials, "auditor")
    ).json()["items"]
    assert "routing:delivery:recalled" in [t["event"] for t in trace]
    # Nothing follows a recall the recipient agreed to.
    again = client.post(
        f"/api/v1/documents/{document['id']}/statuses",
        json={"code": "03"},
        headers=auth(credentials, H41),
    )
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("business_type", "accept", "state"),
    [
        ("update", {"code": "15"}, "updated"),
        ("update", {"code": "03"}, "updated"),
        ("replace", {"code": "15"}, "replaced"),
        ("replace", {"code": "03", "incoming_number": "40"}, "replaced"),
    ],
)
def test_an_accepted_update_or_replacement_marks_the_earlier_document(
    client: TestClient, credentials: dict, business_type: str, accept: dict, state: str
) -> None:
    earlier = sent(client, credentials)
    newer = sent(client, credentials, business={"type": business_type, "refers_to": earlier["id"]})
    status(client, credentials, H41, newer["id"], **accept)

    recipients = rows(client, credentials, G22, earlier["id"])
    assert (recipients[H41]["business_state"], recipients[H41]["superseded_by"]) == (
        state,
        newer["id"],
    )
    assert recipients[H26]["business_state"] is None
    assert inbox_item(client, credentials, H41, earlier["id"])["business_state"] == state
    assert outbox_item(client, credentials, earlier["id"])["business_state"] == {state: 1}
    # Only a recall takes the files away.
    assert download(client, credentials, H41, earlier).status_code == 200
    events = [e.event for e in audit_events(client) if e.document_id == earlier["id"]]
    assert events.count(f"routing:delivery:{state}") == 1


def test_a_rejected_or_refused_replacement_changes_nothing(
    client: TestClient, credentials: dict
) -> None:
    earlier = sent(client, credentials)
    newer = sent(client, credentials, business={"type": "replace", "refers_to": earlier["id"]})
    status(client, credentials, H41, newer["id"], code="16", note="Không nhận")
    status(client, credentials, H26, newer["id"], code="02", note="Gửi nhầm")
    assert {
        r["business_state"] for r in rows(client, credentials, G22, earlier["id"]).values()
    } == {None}


def test_a_recalled_document_stays_recalled_when_later_replaced(
    client: TestClient, credentials: dict
) -> None:
    earlier = sent(client, credentials, recipients=[H41])
    revoke = sent(
        client,
        credentials,
        recipients=[H41],
        business={"type": "revoke", "refers_to": earlier["id"]},
    )
    status(client, credentials, H41, revoke["id"], code="15")
    newer = sent(
        client,
        credentials,
        recipients=[H41],
        business={"type": "replace", "refers_to": earlier["id"]},
    )
    status(client, credentials, H41, newer["id"], code="03")
    row = rows(client, credentials, G22, earlier["id"])[H41]
    assert (row["business_state"], row["superseded_by"]) == ("recalled", revoke["id"])
    assert download(client, credentials, H41, earlier).status_code == 410


def test_a_replacement_of_a_document_the_recipient_never_got_marks_nothing(
    client: TestClient, credentials: dict
) -> None:
    earlier = sent(client, credentials, recipients=[H26])
    newer = sent(
        client,
        credentials,
        recipients=[H41],
        business={"type": "replace", "refers_to": earlier["id"]},
    )
    status(client, credentials, H41, newer["id"], code="15")
    assert rows(client, credentials, G22, earlier["id"])[H26]["business_state"] is None
    assert "routing:delivery:replaced" not in [e.event for e in audit_events(client)]


def test_a_replayed_acceptance_does_not_record_the_effect_twice(
    client: TestClient, credentials: dict
) -> None:
    earlier = sent(client, credentials, recipients=[H41])
    newer = sent(
        client,
        credentials,
        recipients=[H41],
        business={"type": "update", "refers_to": earlier["id"]},
    )
    first = status(client, credentials, H41, newer["id"], code="15")
    again = status(client, credentials, H41, newer["id"], code="15")
    assert (first.status_code, again.status_code) == (201, 200)
    assert [e.event for e in audit_events(client)].count("routing:delivery:updated") == 1
