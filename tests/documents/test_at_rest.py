"""Every file is encrypted at rest; a damaged, truncated or swapped blob is never served; a
classified document is readable only by cleared people of its party agencies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from docex.documents.models import DocumentFile, FileKeyWrap
from docex.documents.protection import rotate_data_keys
from docex.vocabulary.levels import Classification
from tests.helpers import (
    A01,
    G22,
    H26,
    H41,
    I01,
    as_sent,
    audit_events,
    auth,
    deliver,
    envelope,
    node_of,
    pdf,
    send,
)

MARKER = "BIMATQUOCGIA-4242"


def _blob_files(client: TestClient) -> list[Path]:
    root = node_of(client).settings.blob_dir
    return [p for p in root.rglob("*") if p.is_file() and ".tmp" not in p.parts]


def _send_marked(client: TestClient, credentials: dict, **fields: Any) -> dict:
    main = pdf(f"{MARKER} main " * 50)
    role = "leader" if fields.get("classification") not in (None, "normal") else "clerk"
    response = send(
        client,
        auth(credentials, G22, role),
        envelope(**fields),
        main,
        attachments=[("phu-luc.txt", (MARKER * 100).encode())],
    )
    assert response.status_code == 201, response.text
    deliver(client)
    return {"document": response.json(), "main": as_sent(main)}


def _download(
    client: TestClient,
    credentials: dict,
    document: dict,
    who: str = H41,
    role: str = "clerk",
    index: int = 0,
) -> object:
    file_id = document["files"][index]["id"]
    return client.get(
        f"/api/v1/documents/{document['id']}/files/{file_id}", headers=auth(credentials, who, role)
    )


def test_no_plaintext_of_any_document_is_on_disk(client: TestClient, credentials: dict) -> None:
    sent = _send_marked(client, credentials)
    blobs = _blob_files(client)
    assert len(blobs) == 2
    for blob in blobs:
        data = blob.read_bytes()
        assert MARKER.encode() not in data
        assert b"%PDF" not in data
        assert data[:4] == b"DXB1"
    download = _download(client, credentials, sent["document"])
    assert download.content == sent["main"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("damage", ["flip", "truncate", "swap", "missing"])
def test_a_damaged_blob_is_never_served_and_is_flagged(
    client: TestClient, credentials: dict, damage: str
) -> None:
    first = _send_marked(client, credentials)["document"]
    second = _send_marked(client, credentials)["document"]
    node = node_of(client)
    with node.db.read() as session:
        keys = {
            f.document_id: f.blob_key
            for f in session.scalars(select(DocumentFile).where(DocumentFile.role == "main"))
        }
    target = next(p for p in _blob_files(client) if p.name == keys[first["id"]])
    data = bytearray(target.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
    elif damage == "truncate":
        target.write_bytes(bytes(data[: len(data) - 100]))
    elif damage == "swap":
        other = next(p for p in _blob_files(client) if p.name == keys[second["id"]])
        target.write_bytes(other.read_bytes())
    else:
        target.unlink()

    response = _download(client, credentials, first)
    assert response.status_code == 500  # type: ignore[attr-defined]
    assert response.json()["error"] == "stored_file_corrupt"  # type: ignore[attr-defined]
    assert MARKER.encode() not in response.content  # type: ignore[attr-defined]
    [event] = audit_events(client, "storage:file:corrupt")
    assert event.document_id == first["id"]
    view = client.get(f"/api/v1/documents/{first['id']}", headers=auth(credentials, G22)).json()
    assert view["recipients"][0]["flag"] == "stored_file_corrupt"
    # The undamaged document is untouched.
    assert _download(client, credentials, second).status_code == 200  # type: ignore[attr-defined]


def test_kek_rotation_rewraps_without_rewriting_blobs(
    client: TestClient, credentials: dict
) -> None:
    sent = _send_marked(client, credentials)
    before = {p: p.read_bytes() for p in _blob_files(client)}
    node = node_of(client)
    new_version = node.keks.rotate()
    assert rotate_data_keys(node.db, node.keks) == 2
    with node.db.read() as session:
        versions = set(session.scalars(select(DocumentFile.kek_version)))
    assert versions == {new_version}
    assert {p: p.read_bytes() for p in _blob_files(client)} == before
    assert _download(client, credentials, sent["document"]).content == sent["main"]  # type: ignore[attr-defined]


def test_confidential_document_is_readable_only_by_cleared_people_of_party_agencies(
    client: TestClient, credentials: dict
) -> None:
    sent = _send_marked(client, credentials, recipients=[H41, H26], classification="confidential")
    document, main = sent["document"], sent["main"]
    # Clerks are cleared for confidential: both recipients and the sender's own leader read it.
    assert _download(client, credentials, document, H41).content == main  # type: ignore[attr-defined]
    assert _download(client, credentials, document, H26).content == main  # type: ignore[attr-defined]
    assert _download(client, credentials, document, G22, "leader").content == main  # type: ignore[attr-defined]
    # A system client of a recipient (clearance normal), a third agency, an auditor: 404.
    for who, role in ((H41, "system"), (I01, "clerk"), (A01, "leader")):
        response = _download(client, credentials, document, who, role)
        assert response.status_code == 404, (who, role)  # type: ignore[attr-defined]
        assert response.json()["error"] == "document_not_found"  # type: ignore[attr-defined]
    assert _download(client, credentials, document, "auditor").status_code == 404  # type: ignore[attr-defined]
    refusals = [e for e in audit_events(client, "api:request:refused") if e.detail["status"] == 404]
    assert len(refusals) >= 4

    for blob in _blob_files(client):
        assert MARKER.encode() not in blob.read_bytes()
    node = node_of(client)
    with node.db.read() as session:
        files = session.scalars(select(DocumentFile)).all()
        wraps = session.scalars(select(FileKeyWrap)).all()
    # The node's KEK alone cannot read it: no KEK wrap, one HPKE wrap per party agency.
    assert all(f.wrapped_key is None and f.kek_version is None for f in files)
    assert sorted({w.agency_id for w in wraps}) == sorted([G22, H41, H26])


def test_classified_document_to_an_agency_without_an_encryption_key_is_refused(
    client: TestClient, credentials: dict
) -> None:
    node = node_of(client)
    from docex.agencies.models import Agency

    with node.db.write() as session:
        session.execute(update(Agency).where(Agency.id == H26).values(encryption_key=None))
    response = send(
        client,
        auth(credentials, G22, "leader"),
        envelope([H41, H26], classification="secret"),
        pdf(),
    )
    assert response.status_code == 422
    assert response.json()["error"] == "recipient_without_encryption_key"
    assert _blob_files(client) == []


def test_node_refuses_documents_above_its_accreditation(
    client: TestClient, credentials: dict
) -> None:
    node_of(client).settings.max_classification = Classification.CONFIDENTIAL
    response = send(
        client, auth(credentials, G22, "leader"), envelope(classification="secret"), pdf()
    )
    assert response.status_code == 422
    assert response.json()["error"] == "classification_not_accredited"
    assert _blob_files(client) == []


def test_an_agency_that_keeps_its_own_key_decrypts_in_its_own_system(
    client: TestClient, credentials: dict, tmp_path: Path
) -> None:
    from docex.client import DocexClient

    sent = _send_marked(client, credentials, recipients=[H41], classification="confidential")
    document, main = sent["document"], sent["main"]
    node = node_of(client)
    # The operator hands Nghệ An its key and deletes the node's copy.
    private_pem = node.agency_keys.private_pem(H41)
    node.agency_keys.release(H41)

    on_node = _download(client, credentials, document, H41)
    assert on_node.status_code == 409  # type: ignore[attr-defined]
    assert on_node.json()["error"] == "agency_holds_key"  # type: ignore[attr-defined]
    assert audit_events(client, "storage:file:corrupt") == []

    file_id = document["files"][0]["id"]
    sealed = client.get(
        f"/api/v1/documents/{document['id']}/files/{file_id}/sealed", headers=auth(credentials, H41)
    )
    assert sealed.status_code == 200
    assert sealed.content[:4] == b"DXB1"
    assert MARKER.encode() not in sealed.content

    token = credentials["agencies"][H41]["clerk"]["token"]
    integrator = DocexClient(str(client.base_url), token, transport=client._transport)
    out = tmp_path / "giai-ma.pdf"
    digest = integrator.download_decrypted(
        document["id"], file_id, out, private_key_pem=private_pem, agency_id=H41
    )
    assert out.read_bytes() == main
    assert digest == document["files"][0]["sha256"]
    # Another agency's key, or the right key for the wrong agency, opens nothing.
    with pytest.raises(Exception, match="cannot open"):
        integrator.download_decrypted(
            document["id"],
            file_id,
            tmp_path / "x",
            private_key_pem=node.agency_keys.private_pem(H26),
            agency_id=H26,
        )
    assert not (tmp_path / "x").exists()


def test_a_normal_file_is_not_sealed_for_anyone(client: TestClient, credentials: dict) -> None:
    document = _send_marked(client, credentials)["document"]
    file_id = document["files"][0]["id"]
    response = client.get(
        f"/api/v1/documents/{document['id']}/files/{file_id}/sealed", headers=auth(credentials, H41)
    )
    assert response.status_code == 409
    assert response.json()["error"] == "not_sealed"


def test_agencies_publish_their_encryption_keys(client: TestClient, credentials: dict) -> None:
    agency = client.get(f"/api/v1/agencies/{H41}", headers=auth(credentials, G22)).json()
    assert agency["encryption_key"].startswith("-----BEGIN PUBLIC KEY-----")
