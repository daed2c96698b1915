from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from docex.vocabulary.statuses import allowed_next
from tests.helpers import G22, H26, H41, auth, deliver, envelope, pdf, send


@pytest.mark.parametrize(
    ("history", "business", "expected"),
    [
        ([], "new", {"01"}),
        (["01"], "new", {"02", "03", "13"}),
        (["01"], "update", {"02", "03", "13", "15", "16"}),
        (["01", "02"], "new", set()),
        (["01", "03"], "new", {"04", "05", "06", "13"}),
        (["01", "03", "04", "05"], "new", {"06", "13"}),
        (["01", "03", "06"], "new", {"13"}),
        (["01", "03", "13"], "new", {"15", "16"}),
        (["01", "03", "13", "16"], "new", {"04", "05", "06", "13"}),
        (["01", "13", "16"], "new", {"02", "03", "13"}),
        (["01", "13", "15"], "new", set()),
    ],
)
def test_legal_next_statuses(history: list[str], business: str, expected: set[str]) -> None:
    assert allowed_next(history, business_type=business) == expected


def test_full_life_of_a_document_is_seen_by_the_sender(
    client: TestClient, credentials: dict
) -> None:
    doc = send(client, auth(credentials, G22), envelope([H41, H26]), pdf()).json()
    deliver(client)
    url = f"/api/v1/documents/{doc['id']}/statuses"
    steps = [
        (H41, "clerk", {"code": "03"}),
        (H41, "leader", {"code": "04", "note": "Giao Sở Nội vụ"}),
        (H41, "system", {"code": "05"}),
        (H41, "clerk", {"code": "06"}),
        (H26, "clerk", {"code": "02", "note": "Gửi nhầm đơn vị"}),
    ]
    for agency, role, body in steps:
        response = client.post(url, json=body, headers=auth(credentials, agency, role))
        assert response.status_code == 201, (agency, body, response.text)
    view = client.get(f"/api/v1/documents/{doc['id']}", headers=auth(credentials, G22)).json()
    statuses = {r["agency_id"]: r["status"] for r in view["recipients"]}
    assert statuses == {H41: "06", H26: "02"}
    codes = [
        r["code"]
        for r in client.get(
            f"/api/v1/documents/{doc['id']}/receipts", headers=auth(credentials, G22)
        ).json()["items"]
    ]
    assert sorted(codes) == ["01", "01", "02", "03", "04", "05", "06"]


def test_sender_recalls_and_each_recipient_answers(client: TestClient, credentials: dict) -> None:
    doc = send(client, auth(credentials, G22), envelope([H41, H26]), pdf()).json()
    deliver(client)
    url = f"/api/v1/documents/{doc['id']}/statuses"
    recall = client.post(
        url, json={"code": "13", "note": "Sai nội dung"}, headers=auth(credentials, G22)
    )
    assert recall.status_code == 201, recall.text
    assert {r["to_agency_id"] for r in recall.json()["receipts"]} == {H41, H26}
    assert client.post(url, json={"code": "15"}, headers=auth(credentials, H41)).status_code == 201
    refused = client.post(
        url, json={"code": "16", "note": "Đã ban hành"}, headers=auth(credentials, H26)
    )
    assert refused.status_code == 201
    # H26 carries on from 01: it may now accept the document.
    assert client.post(url, json={"code": "03"}, headers=auth(credentials, H26)).status_code == 201
    assert client.post(url, json={"code": "03"}, headers=auth(credentials, H41)).status_code == 409


def test_a_document_does_not_exist_for_a_recipient_before_it_arrives(
    client: TestClient, credentials: dict
) -> None:
    doc = send(client, auth(credentials, G22), envelope(), pdf()).json()
    response = client.post(
        f"/api/v1/documents/{doc['id']}/statuses",
        json={"code": "03"},
        headers=auth(credentials, H41),
    )
    assert response.status_code == 404
    assert (
        client.get(f"/api/v1/documents/{doc['id']}", headers=auth(credentials, H41)).status_code
        == 404
    )
    assert counts_of_receipts(client, credentials, doc["id"]) == 0


def counts_of_receipts(client: TestClient, credentials: dict, document_id: str) -> int:
    return len(
        client.get(
            f"/api/v1/documents/{document_id}/receipts", headers=auth(credentials, G22)
        ).json()["items"]
    )
