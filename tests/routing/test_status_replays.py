"""A status post retried after a lost answer is safe: the same status from the same agency
answers 200 with the original receipt, and an ``Idempotency-Key`` binds a post to its body."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from tests.helpers import G22, H26, H41, audit_events, auth, counts, deliver, envelope, pdf, send


def delivered(client: TestClient, credentials: dict, recipients: list[str] | None = None) -> str:
    response = send(client, auth(credentials, G22), envelope(recipients or [H41]), pdf())
    assert response.status_code == 201, response.text
    deliver(client)
    return str(response.json()["id"])


def post(
    client: TestClient,
    headers: dict[str, str],
    document_id: str,
    key: str | None = None,
    **body: Any,
) -> Response:
    if key is not None:
        headers = {**headers, "Idempotency-Key": key}
    response: Response = client.post(
        f"/api/v1/documents/{document_id}/statuses", json=body, headers=headers
    )
    return response


def test_the_same_status_posted_again_answers_200_with_the_original_receipt(
    client: TestClient, credentials: dict
) -> None:
    doc = delivered(client, credentials)
    clerk = auth(credentials, H41)
    first = post(client, clerk, doc, code="03", incoming_number="125", note="Vào sổ")
    assert first.status_code == 201, first.text
    before = counts(client)
    statuses_before = len(audit_events(client, "routing:status:recorded"))

    again = post(client, clerk, doc, code="03", incoming_number="125", note="Vào sổ")
    # Without the number the node gave: still the same request as far as the client knows.
    unnumbered = post(client, clerk, doc, code="03", note="Vào sổ")

    assert (again.status_code, unnumbered.status_code) == (200, 200)
    assert again.json() == first.json() == unnumbered.json()
    assert counts(client) == before, "a replay creates no second receipt"
    assert len(audit_events(client, "routing:status:recorded")) == statuses_before


def test_a_repeat_with_another_note_or_number_is_still_an_illegal_transition(
    client: TestClient, credentials: dict
) -> None:
    doc = delivered(client, credentials)
    clerk = auth(credentials, H41)
    assert post(client, clerk, doc, code="03", incoming_number="7").status_code == 201
    other_number = post(client, clerk, doc, code="03", incoming_number="8")
    other_note = post(client, clerk, doc, code="03", incoming_number="7", note="khác")
    for response in (other_number, other_note):
        assert response.status_code == 409, response.text
        assert response.json()["error"] == "illegal_transition"


def test_a_status_from_another_agency_is_not_a_replay_of_this_one(
    client: TestClient, credentials: dict
) -> None:
    doc = delivered(client, credentials, [H41, H26])
    assert (
        post(client, auth(credentials, H41), doc, code="03", incoming_number="1").status_code == 201
    )
    other = post(client, auth(credentials, H26), doc, code="03", incoming_number="1")
    assert other.status_code == 201, other.text
    assert other.json()["from_agency_id"] == H26


def test_a_recall_retried_answers_200_and_a_new_recall_after_a_refusal_is_new(
    client: TestClient, credentials: dict
) -> None:
    doc = delivered(client, credentials, [H41, H26])
    sender = auth(credentials, G22)
    first = post(client, sender, doc, code="13", note="Sai số liệu")
    assert first.status_code == 201, first.text
    again = post(client, sender, doc, code="13", note="Sai số liệu")
    assert again.status_code == 200, again.text
    assert again.json()["receipts"] == first.json()["receipts"]

    assert (
        post(client, auth(credentials, H41), doc, code="16", note="Đã ban hành").status_code == 201
    )
    # H41 refused: a recall may be asked again, and that is a new request, not a replay.
    renewed = post(client, sender, doc, code="13", note="Sai số liệu", recipients=[H41])
    assert renewed.status_code == 201, renewed.text
    assert renewed.json()["id"] != first.json()["receipts"][0]["id"]


def test_an_idempotency_key_with_the_same_body_answers_the_original(
    client: TestClient, credentials: dict
) -> None:
    doc = delivered(client, credentials)
    clerk = auth(credentials, H41)
    first = post(client, clerk, doc, key="k-0001", code="03")
    assert first.status_code == 201, first.text
    before = counts(client)
    again = post(client, clerk, doc, key="k-0001", code="03")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert counts(client) == before
    # A new key is a new request: here an illegal one.
    fresh = post(client, clerk, doc, key="k-0002", code="03", incoming_number="99")
    assert fresh.status_code == 409
    assert fresh.json()["error"] == "illegal_transition"


def test_an_idempotency_key_with_another_body_is_409_idempotency_key_conflict(
    client: TestClient, credentials: dict
) -> None:
    doc = delivered(client, credentials)
    clerk = auth(credentials, H41)
    assert post(client, clerk, doc, key="k-1", code="03").status_code == 201
    before = counts(client)
    for body in (
        {"code": "05"},
        {"code": "03", "note": "khác"},
        {"code": "03", "incoming_number": "9"},
    ):
        response = post(client, clerk, doc, key="k-1", **body)
        assert response.status_code == 409, (body, response.text)
        assert response.json()["error"] == "idempotency_key_conflict"
    assert counts(client) == before
    # The key is the recipient's own on this document: the sender's same key is independent.
    recall = post(client, auth(credentials, G22), doc, key="k-1", code="13", note="Thu hồi")
    assert recall.status_code == 201, recall.text


def test_a_keyed_recall_to_several_recipients_replays_every_receipt(
    client: TestClient, credentials: dict
) -> None:
    doc = delivered(client, credentials, [H41, H26])
    sender = auth(credentials, G22)
    first = post(client, sender, doc, key="recall-1", code="13", note="Sai")
    again = post(client, sender, doc, key="recall-1", code="13", note="Sai")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["receipts"] == first.json()["receipts"]
    narrower = post(client, sender, doc, key="recall-1", code="13", note="Sai", recipients=[H41])
    assert narrower.status_code == 409
    assert narrower.json()["error"] == "idempotency_key_conflict"


def test_a_malformed_idempotency_key_is_422(client: TestClient, credentials: dict) -> None:
    doc = delivered(client, credentials)
    response = post(client, auth(credentials, H41), doc, key="has space", code="03")
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
