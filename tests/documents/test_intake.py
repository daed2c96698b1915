from __future__ import annotations

from fastapi.testclient import TestClient

from tests.helpers import G22, H26, H41, as_sent, auth, counts, deliver, envelope, pdf, send


def test_clerk_sends_a_document_that_arrives_in_the_recipients_inbox(
    client: TestClient, credentials: dict
) -> None:
    main = pdf("Công văn số 12")
    response = send(client, auth(credentials, G22), envelope(), main)
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["sender_id"] == G22
    assert document["business_id"].startswith(f"{G22},")
    assert document["recipients"][0]["transport"] == "queued"
    assert document["recipients"][0]["status"] is None

    assert deliver(client) == 1

    inbox = client.get("/api/v1/inbox", headers=auth(credentials, H41)).json()
    assert [i["document_id"] for i in inbox["items"]] == [document["id"]]
    assert inbox["items"][0]["status"] == "01"
    file_id = document["files"][0]["id"]
    download = client.get(
        f"/api/v1/documents/{document['id']}/files/{file_id}", headers=auth(credentials, H41)
    )
    assert download.status_code == 200
    assert download.content == as_sent(main)
    assert download.headers["etag"] == f'"{document["files"][0]["sha256"]}"'


def test_one_blob_is_shared_by_every_recipient_of_a_group(
    client: TestClient, credentials: dict
) -> None:
    response = send(
        client,
        auth(credentials, G22),
        envelope(["group:provinces"]),
        pdf(),
        attachments=[("phu-luc.xlsx", b"appendix bytes")],
    )
    assert response.status_code == 201, response.text
    recipients = {r["agency_id"]: r for r in response.json()["recipients"]}
    assert set(recipients) == {H41, H26}
    assert all(r["addressed_as"] == "group:provinces" for r in recipients.values())
    assert counts(client)["blobs"] == 2  # main + attachment, once for both recipients
    assert deliver(client) == 2


def test_same_message_id_and_content_is_answered_with_the_original(
    client: TestClient, credentials: dict
) -> None:
    main = pdf()
    first = send(client, auth(credentials, G22), envelope(message_id="vpcp-2026-0012"), main)
    again = send(client, auth(credentials, G22), envelope(message_id="vpcp-2026-0012"), main)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert counts(client)["documents"] == 1
    assert counts(client)["blobs"] == 1


def test_same_message_id_from_another_agency_is_another_document(
    client: TestClient, credentials: dict
) -> None:
    main = pdf()
    a = send(client, auth(credentials, G22), envelope(message_id="m-1"), main)
    b = send(client, auth(credentials, H26), envelope(message_id="m-1"), main)
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]


def test_path_traversal_file_name_is_kept_only_as_sanitized_metadata(
    client: TestClient, credentials: dict
) -> None:
    response = send(
        client,
        auth(credentials, G22),
        envelope(),
        pdf(),
        main_name="../../../etc/passwd.pdf",
        attachments=[("..\\..\\windows\\sys\u0000tem.ini", b"x")],
    )
    assert response.status_code == 201, response.text
    names = [f["name"] for f in response.json()["files"]]
    assert names[0] == "passwd.pdf"
    assert names[1].endswith(".ini")
    assert not any(bad in names[1] for bad in ("/", "\\", "..", "\x00", "windows"))
    node_blob_keys = list(client.app.state.node.store.iter_keys())  # type: ignore[attr-defined]
    assert all(key.startswith("f") and "/" not in key for key in node_blob_keys)


def test_retired_recipient_reaches_its_successor_and_the_trace_shows_it(
    client: TestClient, credentials: dict
) -> None:
    admin = auth(credentials, "admin")
    retired = client.patch(
        "/api/v1/agencies/000.00.00.H26",
        json={"status": "retired", "successor_id": H41},
        headers=admin,
    )
    assert retired.status_code == 200, retired.text
    response = send(client, auth(credentials, G22), envelope([H26]), pdf())
    assert response.status_code == 201, response.text
    [recipient] = response.json()["recipients"]
    assert recipient["agency_id"] == H41
    assert recipient["addressed_as"] == H26
    trace = client.get(
        f"/api/v1/documents/{response.json()['id']}/trace", headers=auth(credentials, G22)
    ).json()
    queued = next(i for i in trace["items"] if i["event"] == "routing:delivery:queued")
    assert queued["detail"]["succession"] == [H26, H41]


def test_vietnamese_file_names_survive_upload_and_download(
    client: TestClient, credentials: dict
) -> None:
    response = send(
        client,
        auth(credentials, G22),
        envelope(),
        pdf(),
        main_name="Công văn số 12.pdf",
        attachments=[("phụ lục.txt", b"x")],
    )
    assert response.status_code == 201, response.text
    document = response.json()
    assert [f["name"] for f in document["files"]] == ["Công văn số 12.pdf", "phụ lục.txt"]
    deliver(client)
    download = client.get(
        f"/api/v1/documents/{document['id']}/files/{document['files'][0]['id']}",
        headers=auth(credentials, H41),
    )
    assert "filename*=UTF-8''C%C3%B4ng%20v%C4%83n" in download.headers["content-disposition"]


def test_a_sender_cannot_send_above_its_own_clearance(
    client: TestClient, credentials: dict
) -> None:
    before = counts(client)
    # The demo clerk is cleared for confidential, the demo leader for secret.
    refused = send(client, auth(credentials, G22), envelope(classification="secret"), pdf())
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_clearance"
    assert counts(client) == before
    allowed = send(
        client, auth(credentials, G22, "leader"), envelope(classification="secret"), pdf()
    )
    assert allowed.status_code == 201, allowed.text
