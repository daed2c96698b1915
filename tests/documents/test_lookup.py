"""Finding a document by a short id or its business id: only among those you can see."""

from __future__ import annotations

import itertools
from typing import Any

from fastapi.testclient import TestClient

from tests.helpers import G22, H26, H41, audit_events, auth, deliver, envelope, pdf, send

LOOKUP = "/api/v1/documents/lookup"


def sent(client: TestClient, credentials: dict, **fields: Any) -> dict[str, Any]:
    response = send(client, auth(credentials, G22), envelope([H41], **fields), pdf())
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


def lookup(client: TestClient, headers: dict[str, str], ref: str) -> list[str]:
    response = client.get(LOOKUP, params={"ref": ref}, headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_a_unique_prefix_and_the_business_id_name_the_document(
    client: TestClient, credentials: dict
) -> None:
    document = sent(client, credentials, code={"number": "77", "notation": "VPCP-KSTT"})
    deliver(client)
    for who in (G22, H41):
        headers = auth(credentials, who)
        assert lookup(client, headers, document["id"]) == [document["id"]]
        assert lookup(client, headers, document["id"][:13].upper()) == [document["id"]]
        assert lookup(client, headers, document["business_id"]) == [document["id"]]
    response = client.get(LOOKUP, params={"ref": document["id"]}, headers=auth(credentials, G22))
    (item,) = response.json()["items"]
    assert item["business_id"].startswith(f"{G22},")
    assert item["business_id"].endswith("77/VPCP-KSTT")
    assert item["subject"] == envelope()["subject"]


def test_documents_sent_the_same_minute_share_an_8_character_prefix_and_all_are_listed(
    client: TestClient, credentials: dict
) -> None:
    # UUIDv7: the first 8 characters change every 65.5 s, so of three documents sent one
    # after the other, two at least share them.
    ids = [sent(client, credentials)["id"] for _ in range(3)]
    prefix = next(a[:8] for a, b in itertools.pairwise(ids) if a[:8] == b[:8])
    matching = [i for i in ids if i.startswith(prefix)]
    assert len(matching) >= 2
    assert lookup(client, auth(credentials, G22), prefix) == matching


def test_documents_you_cannot_see_are_not_found_nor_counted(
    client: TestClient, credentials: dict
) -> None:
    document = sent(client, credentials)
    assert lookup(client, auth(credentials, H41), document["id"][:8]) == []  # not delivered yet
    deliver(client)
    assert lookup(client, auth(credentials, H26), document["id"]) == []
    assert lookup(client, auth(credentials, H26), document["business_id"]) == []
    assert lookup(client, auth(credentials, "auditor"), document["id"]) == [document["id"]]
    assert lookup(client, auth(credentials, "admin"), document["id"]) == []


def test_a_reference_too_short_or_of_another_shape_is_refused(
    client: TestClient, credentials: dict
) -> None:
    for ref in ("0195ab3", "not-an-id!", "%", "0195ab3c%"):
        response = client.get(LOOKUP, params={"ref": ref}, headers=auth(credentials, G22))
        assert response.status_code == 422, ref
        assert response.json()["error"] == "invalid_reference"
    assert len(audit_events(client, "api:request:refused")) >= 4
