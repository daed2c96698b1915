"""The subject of a classified document is classified: its envelope's free text (subject,
summary, signer, business reason, place) is shown only to those cleared for it — party
agency members and auditors alike — and to everyone else as a placeholder that names the
document by its identifiers. Every view (document, trace, inbox, outbox) asks the one policy
(``auth/policy.py``, action ``document:read_content``)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from docex.auth.policy import Kind
from docex.auth.service import create_api_token, create_principal
from docex.config import Classification
from tests.helpers import G22, H41, auth, deliver, envelope, node_of, pdf, send

SUBJECT = "Kế hoạch diễn tập phòng thủ khu vực Bắc Trung Bộ"
SUMMARY = "Điều động lực lượng dự bị động viên"
SIGNER = "Thượng tướng Nguyễn Văn Mật"
REASON = "Thay thế văn bản lộ thông tin"
PLACE = "Căn cứ Vinh"
SECRETS = (SUBJECT, SUMMARY, SIGNER, REASON, PLACE)
DOCUMENTS = "/api/v1/documents"


def classified(client: TestClient, credentials: dict, classification: str) -> dict[str, Any]:
    env = envelope(
        [H41],
        subject=SUBJECT,
        summary=SUMMARY,
        classification=classification,
        code={"number": "7816", "notation": "VPCP-QP"},
        signer={"competence": "KT. BỘ TRƯỞNG", "position": "Thứ trưởng", "full_name": SIGNER},
        promulgation={"place": PLACE, "date": "2026-06-19"},
        business={"type": "new", "reason": REASON},
    )
    # The demo leader is cleared for secret; top_secret needs a leader cleared for it.
    sender = auth(credentials, G22, "leader")
    if classification == "top_secret":
        sender = token_for(client, Kind.LEADER, Classification.TOP_SECRET, G22)
    response = send(client, sender, env, pdf())
    assert response.status_code == 201, response.text
    assert deliver(client) == 1
    return dict(response.json())


def token_for(
    client: TestClient, kind: Kind, clearance: Classification, agency: str | None = None
) -> dict[str, str]:
    node = node_of(client)
    username = f"{kind.value}.{clearance.value}.{agency or 'node'}"
    with node.db.write() as session:
        principal = create_principal(
            session,
            kind=kind,
            agency_id=agency,
            now=node.clock.now(),
            username=username,
            password="mat-khau-dai-du",
            full_name=username,
            clearance=clearance,
        )
        secret = create_api_token(session, principal, name="test", now=node.clock.now()).secret
    return {"Authorization": f"Bearer {secret}"}


def assert_withheld(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} shown to someone not cleared for it"


# -- auditors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("classification", ["confidential", "secret", "top_secret"])
def test_auditor_without_clearance_sees_a_placeholder_not_the_subject(
    client: TestClient, credentials: dict, classification: str
) -> None:
    document = classified(client, credentials, classification)
    auditor = auth(credentials, "auditor")  # demo auditor: clearance normal

    read = client.get(f"{DOCUMENTS}/{document['id']}", headers=auditor)
    assert read.status_code == 200, read.text
    assert_withheld(read.text)
    body = read.json()
    assert body["content_withheld"] is True
    subject = body["envelope"]["subject"]
    assert document["business_id"] in subject
    assert "7816/VPCP-QP" in subject
    assert classification in subject
    # What the auditor's work needs is still there: who, to whom, how classified, what happened.
    assert body["envelope"]["classification"] == classification
    assert body["envelope"]["code"] == {"number": "7816", "notation": "VPCP-QP"}
    assert [r["agency_id"] for r in body["recipients"]] == [H41]

    trace = client.get(f"{DOCUMENTS}/{document['id']}/trace", headers=auditor)
    assert trace.status_code == 200, trace.text
    assert trace.json()["items"]
    assert_withheld(trace.text)


@pytest.mark.parametrize("classification", ["confidential", "secret", "top_secret"])
def test_auditor_cleared_for_the_classification_reads_the_subject(
    client: TestClient, credentials: dict, classification: str
) -> None:
    document = classified(client, credentials, classification)
    auditor = token_for(client, Kind.AUDITOR, Classification(classification))
    read = client.get(f"{DOCUMENTS}/{document['id']}", headers=auditor)
    assert read.status_code == 200, read.text
    body = read.json()
    assert body["content_withheld"] is False
    assert body["envelope"]["subject"] == SUBJECT
    assert body["envelope"]["signer"]["full_name"] == SIGNER


def test_auditor_cleared_below_the_classification_sees_the_placeholder(
    client: TestClient, credentials: dict
) -> None:
    document = classified(client, credentials, "top_secret")
    auditor = token_for(client, Kind.AUDITOR, Classification.SECRET)
    read = client.get(f"{DOCUMENTS}/{document['id']}", headers=auditor)
    assert read.status_code == 200, read.text
    assert read.json()["content_withheld"] is True
    assert_withheld(read.text)


def test_auditor_reads_the_subject_of_a_normal_document(
    client: TestClient, credentials: dict
) -> None:
    document = classified(client, credentials, "normal")
    read = client.get(f"{DOCUMENTS}/{document['id']}", headers=auth(credentials, "auditor"))
    assert read.status_code == 200, read.text
    assert read.json()["content_withheld"] is False
    assert read.json()["envelope"]["subject"] == SUBJECT


# -- mailboxes of party agencies -------------------------------------------------------------------


def test_uncleared_recipient_sees_the_inbox_line_with_a_placeholder(
    client: TestClient, credentials: dict
) -> None:
    document = classified(client, credentials, "secret")
    inbox = client.get("/api/v1/inbox", headers=auth(credentials, H41, "system"))  # normal
    assert inbox.status_code == 200, inbox.text
    (item,) = inbox.json()["items"]
    assert item["document_id"] == document["id"]
    assert item["content_withheld"] is True
    assert document["business_id"] in item["subject"]
    assert_withheld(inbox.text)
    cleared = client.get("/api/v1/inbox", headers=auth(credentials, H41, "leader"))  # secret
    (item,) = cleared.json()["items"]
    assert (item["subject"], item["content_withheld"]) == (SUBJECT, False)


def test_uncleared_sender_member_sees_the_outbox_line_with_a_placeholder(
    client: TestClient, credentials: dict
) -> None:
    document = classified(client, credentials, "secret")
    outbox = client.get("/api/v1/outbox", headers=auth(credentials, G22))  # clerk: confidential
    assert outbox.status_code == 200, outbox.text
    (item,) = outbox.json()["items"]
    assert item["content_withheld"] is True
    assert document["business_id"] in item["subject"]
    assert_withheld(outbox.text)
    cleared = client.get("/api/v1/outbox", headers=auth(credentials, G22, "leader"))
    (item,) = cleared.json()["items"]
    assert (item["subject"], item["content_withheld"]) == (SUBJECT, False)
