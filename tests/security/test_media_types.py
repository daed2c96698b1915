"""Hostile metadata on files: a media type is checked against the RFC 9110 grammar and the
node's allow-list at intake (nothing stored when refused), and a download never lets the
browser interpret what it fetches: ``nosniff``, ``attachment``, and ``application/octet-stream``
for every type not known to be safe to show."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import update

from docex.documents.models import DocumentFile
from tests.documents.test_bad_input import (
    assert_refused,
    envelope_part,
    main_part,
    multipart,
    part,
    post_raw,
    snapshot,
)
from tests.helpers import G22, H41, auth, deliver, node_of, pdf, sign_as

DOCUMENTS = "/api/v1/documents"


def send_attachment(
    client: TestClient, credentials: dict, ctype: str, data: bytes = b"phu luc"
) -> Response:
    signed = sign_as(client, G22, pdf())
    attachment = part("attachment", data, filename="phu-luc", ctype=ctype)
    return post_raw(
        client, auth(credentials, G22), multipart(envelope_part(), main_part(signed), attachment)
    )


def download(client: TestClient, credentials: dict, document: dict, role: str) -> Response:
    file = next(f for f in document["files"] if f["role"] == role)
    response: Response = client.get(
        f"{DOCUMENTS}/{document['id']}/files/{file['id']}", headers=auth(credentials, H41)
    )
    return response


# -- intake: the grammar --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ctype",
    [
        "text/html\nX-A: 1",
        "application/pdf\x00",
        "application/pdf\x0b",
        "application",
        "/pdf",
        "application/",
        "application/p df",
        "application/pdf/x",
        "application/pdf; charset",
        "application/pdf; =utf-8",
        'text/plain; charset="utf-8',
        "applicatión/pdf",
        "application/\u0440df",  # Cyrillic р
        "application/" + "x" * 128,  # RFC 6838: at most 127 characters
        "application/pdf; " + "; ".join(f"p{i}=v" for i in range(40)),
    ],
    ids=[
        "bare-lf-header-injection",
        "nul",
        "vertical-tab",
        "no-subtype",
        "no-type",
        "empty-subtype",
        "space-in-subtype",
        "two-slashes",
        "parameter-without-value",
        "parameter-without-name",
        "unterminated-quoted-string",
        "non-ascii",
        "cyrillic-look-alike",
        "subtype-too-long",
        "too-many-parameters",
    ],
)
def test_attachment_with_a_malformed_media_type_is_422_invalid_media_type(
    client: TestClient, credentials: dict, ctype: str
) -> None:
    before = snapshot(client)
    response = send_attachment(client, credentials, ctype)
    assert_refused(client, response, 422, "invalid_media_type", before)


def test_main_part_with_a_malformed_media_type_is_422_invalid_media_type(
    client: TestClient, credentials: dict
) -> None:
    signed = sign_as(client, G22, pdf())
    body = multipart(
        envelope_part(),
        part("main", signed, filename="cv.pdf", ctype="application/pdf\nX-A: 1"),
    )
    before = snapshot(client)
    response = post_raw(client, auth(credentials, G22), body)
    assert_refused(client, response, 422, "invalid_media_type", before)


# -- intake: the allow-list -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "ctype",
    [
        "text/html",
        "TEXT/HTML; charset=utf-8",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/javascript",
        "application/javascript",
        "application/x-msdownload",
        "application/x-sh",
        "multipart/mixed; boundary=x",
        "message/rfc822",
        "video/mp4",
    ],
)
def test_attachment_of_a_type_docex_does_not_carry_is_415_media_type_not_allowed(
    client: TestClient, credentials: dict, ctype: str
) -> None:
    before = snapshot(client)
    response = send_attachment(client, credentials, ctype)
    assert_refused(client, response, 415, "media_type_not_allowed", before)


@pytest.mark.parametrize(
    ("ctype", "stored"),
    [
        ("application/pdf", "application/pdf"),
        ("Application/PDF", "application/pdf"),
        ("text/plain; charset=utf-8", "text/plain"),
        ('text/plain; charset="utf-8"', "text/plain"),
        ("text/plain;; charset=utf-8", "text/plain"),  # RFC 9110 allows empty parameters
        ("text/plain ;charset=utf-8; format=flowed", "text/plain"),
        ("text/csv", "text/csv"),
        ("application/xml", "application/xml"),
        ("text/xml", "text/xml"),
        ("application/msword", "application/msword"),
        (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        ("application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.text"),
        ("image/png", "image/png"),
        ("image/jpeg", "image/jpeg"),
        ("image/tiff", "image/tiff"),
        ("application/zip", "application/zip"),
        ("application/x-7z-compressed", "application/x-7z-compressed"),
        ("application/octet-stream", "application/octet-stream"),
    ],
)
def test_attachment_of_an_accepted_type_is_stored_under_its_bare_type(
    client: TestClient, credentials: dict, ctype: str, stored: str
) -> None:
    response = send_attachment(client, credentials, ctype)
    assert response.status_code == 201, response.text
    files = response.json()["files"]
    assert [f["content_type"] for f in files] == ["application/pdf", stored]


def test_attachment_without_a_content_type_is_stored_as_octet_stream(
    client: TestClient, credentials: dict
) -> None:
    response = send_attachment(client, credentials, "")
    assert response.status_code == 201, response.text
    assert response.json()["files"][1]["content_type"] == "application/octet-stream"


# -- downloads ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ctype", "served"),
    [
        ("application/pdf", "application/pdf"),
        ("image/png", "image/png"),
        ("text/plain", "application/octet-stream"),
        ("text/xml", "application/octet-stream"),
        ("application/zip", "application/octet-stream"),
        (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/octet-stream",
        ),
    ],
)
def test_download_is_an_attachment_never_sniffed_and_octet_stream_unless_safe_to_show(
    client: TestClient, credentials: dict, ctype: str, served: str
) -> None:
    data = b"<html><script>alert(1)</script></html>"
    sent = send_attachment(client, credentials, ctype, data)
    assert sent.status_code == 201, sent.text
    deliver(client)
    response = download(client, credentials, sent.json(), "attachment")
    assert response.status_code == 200
    assert response.content == data
    headers = response.headers
    assert headers["content-type"].split(";")[0] == served
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-disposition"].startswith("attachment;")
    main = download(client, credentials, sent.json(), "main")
    assert main.headers["content-type"] == "application/pdf"


@pytest.mark.parametrize(
    "stored",
    ["text/html", "image/svg+xml", "text/html\nX-A: 1", "application/xhtml+xml"],
    ids=["html", "svg", "header-injection", "xhtml"],
)
def test_file_stored_with_a_dangerous_type_before_the_check_is_served_as_octet_stream(
    client: TestClient, credentials: dict, stored: str
) -> None:
    """Rows written before intake checked media types still download, and never as HTML."""
    data = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"
    sent = send_attachment(client, credentials, "application/octet-stream", data)
    assert sent.status_code == 201, sent.text
    deliver(client)
    file_id = sent.json()["files"][1]["id"]
    with node_of(client).db.write() as session:
        session.execute(
            update(DocumentFile).where(DocumentFile.id == file_id).values(content_type=stored)
        )
    response = download(client, credentials, sent.json(), "attachment")
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"].startswith("attachment;")
