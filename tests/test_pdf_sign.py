"""The signing service, POST /api/v1/pdf/sign: a leader signs, a clerk seals, with keys the
node holds; anything else is refused with a code and nothing changes."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from docex.kit.samplepdf import sample_pdf
from tests.helpers import (
    FIXTURES,
    G22,
    H41,
    LEADERS,
    audit_events,
    auth,
    counts,
    envelope,
    node_of,
    send,
)

SIGN = "/api/v1/pdf/sign"


def _sign(client: TestClient, headers: dict[str, str], data: bytes, role: str) -> object:
    return client.post(
        SIGN,
        files={"file": ("cv.pdf", data, "application/pdf")},
        data={"as": role},
        headers=headers,
    )


def test_leader_signs_clerk_seals_and_the_node_accepts_it(
    client: TestClient, credentials: dict
) -> None:
    draft = sample_pdf("Quyết định số 7")
    signed = _sign(client, auth(credentials, G22, "leader"), draft, "signer")
    assert signed.status_code == 200, signed.text  # type: ignore[attr-defined]
    assert signed.headers["content-type"] == "application/pdf"  # type: ignore[attr-defined]
    sealed = _sign(client, auth(credentials, G22), signed.content, "seal")  # type: ignore[attr-defined]
    assert sealed.status_code == 200  # type: ignore[attr-defined]
    document = send(client, auth(credentials, G22), envelope([H41]), sealed.content)  # type: ignore[attr-defined]
    assert document.status_code == 201, document.text
    roles = sorted(s["role"] for s in document.json()["signatures"])
    assert roles == ["seal", "signer"]


@pytest.mark.parametrize(
    ("who", "role", "as_", "status", "error"),
    [
        (G22, "system", "signer", 403, "forbidden"),  # a system is not a person
        (G22, "leader", "seal", 403, "forbidden"),  # the clerk applies the seal
        ("auditor", "auditor", "seal", 403, "forbidden"),
        (G22, "clerk", "signer", 404, "unknown_key"),  # the demo clerk holds no personal key
    ],
)
def test_who_may_sign_as_what(
    client: TestClient,
    credentials: dict,
    who: str,
    role: str,
    as_: str,
    status: int,
    error: str,
) -> None:
    response = _sign(client, auth(credentials, who, role), sample_pdf("x"), as_)
    assert response.status_code == status  # type: ignore[attr-defined]
    assert response.json()["error"] == error  # type: ignore[attr-defined]
    assert audit_events(client, "api:request:refused")[-1].detail["error"] == error


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        (b"<html>not a pdf</html>", 415, "not_a_pdf"),
        (b"", 415, "not_a_pdf"),
        ((FIXTURES / "pdf" / "minimal-aes256.pdf").read_bytes(), 422, "encrypted_pdf"),
    ],
    ids=["html", "empty", "encrypted"],
)
def test_what_cannot_be_signed_is_refused_and_nothing_is_stored(
    client: TestClient, credentials: dict, data: bytes, status: int, error: str
) -> None:
    before = counts(client)
    response = _sign(client, auth(credentials, G22), data, "seal")
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.json()["error"] == error  # type: ignore[attr-defined]
    assert counts(client) == before


def test_the_role_must_be_signer_or_seal(client: TestClient, credentials: dict) -> None:
    response = _sign(client, auth(credentials, G22), sample_pdf("x"), "notary")
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert response.json()["error"] == "invalid_request"  # type: ignore[attr-defined]


def test_signing_is_an_audit_event_with_the_names_of_the_certificate(
    client: TestClient, credentials: dict
) -> None:
    """The stamp names the certificate's holder and organisation (as `docex pdf sign` does),
    not what the database says; the event names the actor, the agency and the key."""
    headers = auth(credentials, G22, "leader")
    response = _sign(client, headers, sample_pdf("Tờ trình 3"), "signer")
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    (event,) = audit_events(client, "signing:pdf:signed")
    key_id = f"person:{LEADERS[G22]}"
    certificate = node_of(client).signatures.key_store.certificate(key_id)  # type: ignore[union-attr]
    surname = certificate.subject.get_attributes_for_oid(NameOID.SURNAME)[0].value
    given = certificate.subject.get_attributes_for_oid(NameOID.GIVEN_NAME)[0].value
    assert event.actor_id is not None
    assert event.agency_id == G22
    assert event.detail["key_id"] == key_id
    assert event.detail["role"] == "signer"
    assert event.detail["level"] == "PAdES B-LT"
    assert event.detail["signer_name"] == f"{surname!s} {given!s}"
    assert event.detail["certificate_sha256"] == certificate.fingerprint(hashes.SHA256()).hex()
    assert event.detail["size"] == len(response.content)  # type: ignore[attr-defined]


def test_a_refused_signature_is_no_signing_event(client: TestClient, credentials: dict) -> None:
    response = _sign(client, auth(credentials, G22), b"<html>not a pdf</html>", "seal")
    assert response.status_code == 415  # type: ignore[attr-defined]
    assert audit_events(client, "signing:pdf:signed") == []
