"""Idempotency before work: the ``(sender, message_id)`` check comes before the PDF is opened,
so a retry costs no signature validation and other content under the same id is
``409 message_id_conflict`` whatever it is."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from docex.kit.samplepdf import sample_pdf
from tests.helpers import (
    G22,
    H26,
    H41,
    as_sent,
    audit_events,
    auth,
    counts,
    envelope,
    node_of,
    pdf,
    send,
)

MESSAGE_ID = "vpcp-2026-0099"


def validations(client: TestClient) -> float:
    """How many PDFs the node has validated (``NodeSignatures``' ``on_validated`` hook feeds
    this histogram once per validation)."""
    value = node_of(client).metrics.registry.get_sample_value(
        "docex_signature_validation_seconds_count"
    )
    return value or 0.0


def test_a_retry_of_an_accepted_send_is_answered_without_validating_again(
    client: TestClient, credentials: dict
) -> None:
    main = pdf("Công văn 99")
    clerk = auth(credentials, G22)
    attachments = [("phu-luc.xlsx", b"appendix")]
    first = send(client, clerk, envelope(message_id=MESSAGE_ID), main, attachments=attachments)
    assert first.status_code == 201, first.text
    assert validations(client) == 1
    before = counts(client)

    again = send(client, clerk, envelope(message_id=MESSAGE_ID), main, attachments=attachments)

    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert again.headers["location"] == f"/api/v1/documents/{first.json()['id']}"
    assert validations(client) == 1, "a replay must not validate the PDF again"
    assert counts(client) == before


def test_a_retry_by_another_clerk_of_the_agency_is_the_same_document(
    client: TestClient, credentials: dict
) -> None:
    main = pdf()
    first = send(client, auth(credentials, G22), envelope(message_id=MESSAGE_ID), main)
    again = send(client, auth(credentials, G22, "system"), envelope(message_id=MESSAGE_ID), main)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert validations(client) == 1


Resend = Callable[[TestClient, dict[str, str], bytes], Response]

OTHER_CONTENT: dict[str, Resend] = {
    "other-subject": lambda c, h, main: send(
        c, h, envelope(message_id=MESSAGE_ID, subject="Một việc khác"), main
    ),
    "other-recipients": lambda c, h, main: send(
        c, h, envelope([H41, H26], message_id=MESSAGE_ID), main
    ),
    "other-main": lambda c, h, main: send(c, h, envelope(message_id=MESSAGE_ID), pdf("Khác")),
    "unsigned-main-that-would-fail-validation": lambda c, h, main: send(
        c, h, envelope(message_id=MESSAGE_ID), sample_pdf("Chưa ký")
    ),
    "not-a-pdf": lambda c, h, main: send(c, h, envelope(message_id=MESSAGE_ID), b"<html></html>"),
    "no-main": lambda c, h, main: send(c, h, envelope(message_id=MESSAGE_ID), None),
    "one-more-file": lambda c, h, main: send(
        c, h, envelope(message_id=MESSAGE_ID), main, attachments=[("them.txt", b"extra")]
    ),
    "other-file-name": lambda c, h, main: send(
        c, h, envelope(message_id=MESSAGE_ID), main, main_name="khac.pdf"
    ),
}


@pytest.mark.parametrize("resend", list(OTHER_CONTENT.values()), ids=list(OTHER_CONTENT))
def test_the_same_message_id_with_any_other_content_is_409_without_validating(
    client: TestClient, credentials: dict, resend: Resend
) -> None:
    clerk = auth(credentials, G22)
    main = pdf()
    first = send(client, clerk, envelope(message_id=MESSAGE_ID), main)
    assert first.status_code == 201, first.text
    before = counts(client)
    refused_before = len(audit_events(client, "api:request:refused"))

    response = resend(client, clerk, main)

    assert response.status_code == 409, response.text
    assert response.json()["error"] == "message_id_conflict"
    assert validations(client) == 1, "a conflict is found before any validation"
    assert counts(client) == before
    assert len(audit_events(client, "api:request:refused")) == refused_before + 1
    document = client.get(f"/api/v1/documents/{first.json()['id']}", headers=clerk).json()
    assert document["files"] == first.json()["files"]
    download = client.get(
        f"/api/v1/documents/{first.json()['id']}/files/{document['files'][0]['id']}",
        headers=clerk,
    )
    assert download.content == as_sent(main)


def test_without_a_message_id_each_send_is_validated_and_is_a_new_document(
    client: TestClient, credentials: dict
) -> None:
    main = pdf()
    a = send(client, auth(credentials, G22), envelope(), main)
    b = send(client, auth(credentials, G22), envelope(), main)
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]
    assert validations(client) == 2


def test_a_retry_by_a_principal_not_cleared_for_the_document_is_403_not_a_replay(
    client: TestClient, credentials: dict
) -> None:
    main = pdf()
    # The demo leader is cleared for secret, the demo clerk for confidential only.
    secret = envelope(message_id=MESSAGE_ID, classification="secret")
    first = send(client, auth(credentials, G22, "leader"), secret, main)
    assert first.status_code == 201, first.text
    retry = send(client, auth(credentials, G22), secret, main)
    assert retry.status_code == 403, retry.text
    assert retry.json()["error"] == "insufficient_clearance"
    assert validations(client) == 1
