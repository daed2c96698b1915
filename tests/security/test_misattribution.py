"""The signer belongs to the sender (Decree 30: the issuing agency's competent person signs, its
seal follows). Through the HTTP API, as an agency would try it: with the node's own signing
service, a sender that seals a PDF signed by another agency's leader, or a letter it received,
and sends it as its own, is refused ``422 signer_not_of_sender``; nothing is stored and the
refusal is audited."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from docex.kit.samplepdf import sample_pdf
from tests.helpers import G22, H41, I01, audit_events, auth, counts, deliver, envelope, send

SIGN = "/api/v1/pdf/sign"
REFUSED = "api:request:refused"


def _sign(client: TestClient, headers: dict[str, str], data: bytes, role: str) -> bytes:
    response = client.post(
        SIGN,
        files={"file": ("cv.pdf", data, "application/pdf")},
        data={"as": role},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return bytes(response.content)


def _assert_misattributed(
    client: TestClient, response: Any, before: dict[str, int], refused_before: int
) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "signer_not_of_sender"
    assert "belongs to an agency other than the sender" in body["detail"]
    assert "thuộc cơ quan khác" in body["detail"]  # and in Vietnamese
    assert counts(client) == before, "a misattributed document was stored"
    refused = audit_events(client, REFUSED)
    assert len(refused) == refused_before + 1
    assert refused[-1].detail["error"] == "signer_not_of_sender"


def test_pdf_signed_by_another_agency_leader_and_sealed_by_the_sender_is_422(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    signed = _sign(client, auth(credentials, H41, "leader"), sample_pdf("Công văn"), "signer")
    sealed = _sign(client, auth(credentials, G22), signed, "seal")
    before, refused_before = counts(client), len(audit_events(client, REFUSED))

    response = send(client, auth(credentials, G22), envelope([I01]), sealed)

    _assert_misattributed(client, response, before, refused_before)
    # The same bytes are fine for nobody else either: Nghệ An did not seal them.
    other = send(client, auth(credentials, H41), envelope([I01]), sealed)
    assert other.json()["error"] == "seal_agency_mismatch"


def test_received_letter_sealed_again_by_the_recipient_and_sent_as_its_own_is_422(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    draft = sample_pdf("Công văn của UBND tỉnh Nghệ An")
    letter = _sign(
        client,
        auth(credentials, H41),
        _sign(client, auth(credentials, H41, "leader"), draft, "signer"),
        "seal",
    )
    sent = send(client, auth(credentials, H41), envelope([G22]), letter)
    assert sent.status_code == 201, sent.text
    assert deliver(client) == 1
    main = next(f for f in sent.json()["files"] if f["role"] == "main")
    received = client.get(
        f"/api/v1/documents/{sent.json()['id']}/files/{main['id']}",
        headers=auth(credentials, G22),
    )
    assert received.content == letter
    resealed = _sign(client, auth(credentials, G22), received.content, "seal")
    before, refused_before = counts(client), len(audit_events(client, REFUSED))

    response = send(client, auth(credentials, G22), envelope([I01]), resealed)

    _assert_misattributed(client, response, before, refused_before)


def test_the_sender_own_leader_and_seal_are_accepted(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    signed = _sign(client, auth(credentials, G22, "leader"), sample_pdf("Công văn"), "signer")
    sealed = _sign(client, auth(credentials, G22), signed, "seal")

    response = send(client, auth(credentials, G22), envelope([H41]), sealed)

    assert response.status_code == 201, response.text
    signer = next(s for s in response.json()["signatures"] if s["role"] == "signer")
    assert signer["agency_code"] == G22
