"""Bad input to the document API. Every refusal is a clear 4xx with its machine-readable code,
is written to the audit log as ``api:request:refused``, and leaves nothing behind: no row, no
blob, no spool file."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from docex.app import create_app
from docex.config import LimitSettings, Settings
from docex.kit.pagination import encode_cursor
from docex.vocabulary.levels import Classification
from tests.helpers import (
    FIXTURES,
    G22,
    H41,
    I01,
    audit_events,
    auth,
    counts,
    deliver,
    envelope,
    fixture_files,
    node_of,
    pdf,
    send,
    sign_as,
)

REFUSED = "api:request:refused"
DOCUMENTS = "/api/v1/documents"
BOUNDARY = "docex-test-boundary-7816"
PDF_FIXTURES = [p.name for p in fixture_files("pdf", "*.pdf")]
ENCRYPTED = {
    "minimal-aes256.pdf",
    "minimal-rc4.pdf",
    "minimal-pubkey-aes256.pdf",
    "minimal-pubkey-unknown-envelope-alg.pdf",
    "malformed-encrypt-dict1.pdf",
}
CYRILLIC_EN = "\u041d"  # Н, looks like the Latin H
FULLWIDTH_ZERO = "\uff10"  # ０


# -- the checks every refusal must pass ---------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    counts: dict[str, int]
    refused: int


def snapshot(client: TestClient) -> Snapshot:
    return Snapshot(counts(client), len(audit_events(client, REFUSED)))


def spool_files(client: TestClient) -> list[Path]:
    return sorted(node_of(client).settings.spool_dir.iterdir())


def assert_refused(
    client: TestClient, response: Response, status: int, error: str, before: Snapshot
) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert counts(client) == before.counts, "a refused request stored something"
    assert spool_files(client) == [], "a refused request left a spool file"
    refused = audit_events(client, REFUSED)
    assert len(refused) == before.refused + 1, "the refusal was not audited exactly once"
    assert refused[-1].detail["error"] == error
    assert refused[-1].detail["status"] == status


# -- building requests by hand ------------------------------------------------------------------


def part(name: str, data: bytes, *, filename: str | None = None, ctype: str = "") -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
    if ctype:
        head += f"Content-Type: {ctype}\r\n"
    return head.encode() + b"\r\n" + data + b"\r\n"


def multipart(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def envelope_part(env: dict[str, Any] | None = None) -> bytes:
    raw = json.dumps(env if env is not None else envelope()).encode()
    return part("envelope", raw, ctype="application/json")


def main_part(data: bytes | None = None) -> bytes:
    return part(
        "main", data if data is not None else pdf(), filename="cv.pdf", ctype="application/pdf"
    )


def post_raw(
    client: TestClient, headers: dict[str, str], body: bytes | Iterator[bytes]
) -> Response:
    response: Response = client.post(
        DOCUMENTS,
        content=body,
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    return response


def chunked(data: bytes, size: int = 8192) -> Iterator[bytes]:
    """A body with no Content-Length: the server learns its size only by reading it."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def delivered_document(client: TestClient, credentials: dict) -> dict[str, Any]:
    response = send(client, auth(credentials, G22), envelope([H41]), pdf())
    assert response.status_code == 201, response.text
    assert deliver(client) == 1
    return dict(response.json())


def post_status(
    client: TestClient, headers: dict[str, str], document_id: str, **body: Any
) -> Response:
    response: Response = client.post(
        f"{DOCUMENTS}/{document_id}/statuses", json=body, headers=headers
    )
    return response


# -- credentials ---------------------------------------------------------------------------------


def test_request_without_a_token_is_401_missing_token(
    client: TestClient, credentials: dict
) -> None:
    before = snapshot(client)
    response = send(client, {}, envelope(), pdf())
    assert_refused(client, response, 401, "missing_token", before)
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    ["Basic dmFudGh1LnZwY3A6c2VjcmV0", "Bearer", "Bearer ", "Token abc", "dxt_abc"],
    ids=["basic", "bearer-without-token", "bearer-blank", "other-scheme", "no-scheme"],
)
def test_malformed_authorization_header_is_401_missing_token(
    client: TestClient, credentials: dict, header: str
) -> None:
    before = snapshot(client)
    response = send(client, {"Authorization": header}, envelope(), pdf())
    assert_refused(client, response, 401, "missing_token", before)


@pytest.mark.parametrize(
    "secret",
    [b"dxt_" + b"A" * 43, b"not-a-token", "dxt_ä".encode(), b"dxt_\xff\xfe"],
    ids=["well-formed", "garbage", "utf8", "not-utf8"],
)
def test_unknown_token_is_401_invalid_token(
    client: TestClient, credentials: dict, secret: bytes
) -> None:
    before = snapshot(client)
    response = client.post(
        DOCUMENTS,
        files=[("envelope", (None, json.dumps(envelope()), "application/json"))],
        headers={"Authorization": b"Bearer " + secret},
    )
    assert_refused(client, response, 401, "invalid_token", before)
    assert response.headers["www-authenticate"] == "Bearer"


# -- the sender is the authenticated agency -------------------------------------------------------


@pytest.mark.parametrize("field", ["sender", "sender_id", "from", "from_agency"])
def test_envelope_naming_another_agency_as_sender_is_403_acting_for_other_agency(
    client: TestClient, credentials: dict, field: str
) -> None:
    before = snapshot(client)
    fields: dict[str, Any] = {field: I01}
    response = send(client, auth(credentials, G22), envelope(**fields), pdf())
    assert_refused(client, response, 403, "acting_for_other_agency", before)


@pytest.mark.parametrize("value", [G22, None], ids=["own-agency", "null"])
def test_envelope_setting_the_sender_even_to_its_own_agency_is_422_sender_not_settable(
    client: TestClient, credentials: dict, value: str | None
) -> None:
    before = snapshot(client)
    response = send(client, auth(credentials, G22), envelope(sender=value), pdf())
    assert_refused(client, response, 422, "sender_not_settable", before)


# -- the parts and the envelope ------------------------------------------------------------------


def test_missing_envelope_part_is_422_missing_envelope(
    client: TestClient, credentials: dict
) -> None:
    before = snapshot(client)
    response = send(client, auth(credentials, G22), None, pdf())
    assert_refused(client, response, 422, "missing_envelope", before)


def test_missing_main_part_is_422_missing_main(client: TestClient, credentials: dict) -> None:
    before = snapshot(client)
    response = send(
        client, auth(credentials, G22), envelope(), None, attachments=[("phu-luc.pdf", pdf())]
    )
    assert_refused(client, response, 422, "missing_main", before)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"recipients": ["000.00.00.H41"], "subject": ',
        b"",
        b"\xff\xfe{}",
        b"{'a': 1}",
        b"[" * 50_000,
    ],
    ids=["unterminated", "empty", "not-utf8", "single-quotes", "deeply-nested"],
)
def test_envelope_that_is_not_json_is_400_invalid_json(
    client: TestClient, credentials: dict, raw: bytes
) -> None:
    before = snapshot(client)
    response = send(client, auth(credentials, G22), raw, pdf())
    assert_refused(client, response, 400, "invalid_json", before)


@pytest.mark.parametrize(
    "raw",
    ['["000.00.00.H41"]', "null", '"subject"', "42"],
    ids=["list", "null", "string", "number"],
)
def test_envelope_that_is_not_a_json_object_is_422_invalid_envelope(
    client: TestClient, credentials: dict, raw: str
) -> None:
    before = snapshot(client)
    response = send(client, auth(credentials, G22), raw, pdf())
    assert_refused(client, response, 422, "invalid_envelope", before)


@pytest.mark.parametrize(
    "extra",
    [
        {"clasification": "secret"},
        {"code": {"number": "12", "notation": "VPCP", "year": 2026}},
        {"signer": {"full_name": "Trần Văn Sơn", "signature": "x"}},
    ],
    ids=["misspelt-top-level", "nested-in-code", "nested-in-signer"],
)
def test_unknown_envelope_field_is_422_unknown_envelope_field(
    client: TestClient, credentials: dict, extra: dict[str, Any]
) -> None:
    before = snapshot(client)
    response = send(client, auth(credentials, G22), envelope(**extra), pdf())
    assert_refused(client, response, 422, "unknown_envelope_field", before)


def _without_subject() -> dict[str, Any]:
    env = envelope()
    del env["subject"]
    return env


@pytest.mark.parametrize(
    "env",
    [
        envelope(urgency="asap"),
        _without_subject(),
        envelope(subject=""),
        envelope(subject="   "),
        envelope(subject="Về việc\x00 thử nghiệm"),
        envelope(classification="ultra_secret"),
        envelope(due_date="next week"),
        envelope(promulgation={"place": "Hà Nội", "date": "2026-02-30"}),
        envelope(recipients=H41),  # type: ignore[arg-type]
        envelope(recipients=[41]),  # type: ignore[list-item]
        envelope(message_id="has a space"),
        envelope(business={"type": "cancel"}),
        envelope(steering="maybe"),
    ],
    ids=[
        "bad-urgency",
        "subject-missing",
        "subject-empty",
        "subject-blank",
        "subject-with-nul",  # XML 1.0 (edXML) cannot carry U+0000; PostgreSQL text neither
        "bad-classification",
        "bad-due-date",
        "impossible-promulgation-date",
        "recipients-not-a-list",
        "recipient-not-a-string",
        "message-id-with-space",
        "bad-business-type",
        "steering-not-boolean",
    ],
)
def test_envelope_with_invalid_values_is_422_invalid_envelope(
    client: TestClient, credentials: dict, env: dict[str, Any]
) -> None:
    before = snapshot(client)
    response = send(client, auth(credentials, G22), env, pdf())
    assert_refused(client, response, 422, "invalid_envelope", before)


# -- recipients ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recipients", "error"),
    [
        ([], "empty_recipients"),
        (["000.00.00.G99"], "unknown_recipient"),
        ([H41, "000.00.00.G99"], "unknown_recipient"),
        (["G22"], "invalid_agency_code"),
        (["000.00.00.h41"], "invalid_agency_code"),
        (["../x"], "invalid_agency_code"),
        (["000.00.00.H41'; DROP TABLE agencies; --"], "invalid_agency_code"),
        ([f"000.00.00.{CYRILLIC_EN}41"], "invalid_agency_code"),
        ([f"{FULLWIDTH_ZERO * 3}.00.00.H41"], "invalid_agency_code"),
        ([H41, f"000.00.00.{CYRILLIC_EN}26"], "invalid_agency_code"),
        (["group:nowhere"], "unknown_group"),
        (["group:../provinces"], "invalid_group_name"),
        ([G22], "recipient_is_sender"),
        ([H41, G22], "recipient_is_sender"),
    ],
    ids=[
        "empty",
        "unknown-code",
        "one-unknown-among-known",
        "malformed-short",
        "malformed-lowercase",
        "malformed-path",
        "malformed-injection",
        "cyrillic-look-alike",
        "fullwidth-digits",
        "look-alike-among-known",
        "unknown-group",
        "malformed-group",
        "sender-itself",
        "sender-among-others",
    ],
)
def test_bad_recipient_is_refused_with_its_own_code(
    client: TestClient, credentials: dict, recipients: list[str], error: str
) -> None:
    before = snapshot(client)
    response = send(client, auth(credentials, G22), envelope(recipients), pdf())
    assert_refused(client, response, 422, error, before)


def test_retired_recipient_without_successor_is_422_recipient_retired(
    client: TestClient, credentials: dict
) -> None:
    # An agency in no group with no mail queued may close without a successor.
    closing = "000.00.00.G13"
    admin = auth(credentials, "admin")
    added = client.post(
        "/api/v1/agencies",
        json={"id": closing, "name": "Bộ Nội vụ", "kind": "state"},
        headers=admin,
    )
    assert added.status_code == 201, added.text
    retired = client.patch(f"/api/v1/agencies/{closing}", json={"status": "retired"}, headers=admin)
    assert retired.status_code == 200, retired.text
    assert retired.json()["successor_id"] is None
    before = snapshot(client)
    response = send(client, auth(credentials, G22), envelope([closing]), pdf())
    assert_refused(client, response, 422, "recipient_retired", before)


# -- the main file must be a PDF we can read ------------------------------------------------------


def _zip(compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        archive.writestr("cong-van.pdf", pdf(size=5_000))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content",
    [
        b"<!DOCTYPE html><html><body><h1>C\xc3\xb4ng v\xc4\x83n</h1></body></html>",
        _zip(zipfile.ZIP_DEFLATED),
        _zip(zipfile.ZIP_STORED),  # the PDF inside is stored as is, %PDF- near the start
        b"",
        b" " * 2048 + pdf(),
    ],
    ids=["html", "zip-deflated", "zip-stored", "empty", "header-not-in-the-first-kilobyte"],
)
def test_main_file_that_is_not_a_pdf_is_415_not_a_pdf(
    client: TestClient, credentials: dict, content: bytes
) -> None:
    before = snapshot(client)
    response = send(client, auth(credentials, G22), envelope(), content)
    assert_refused(client, response, 415, "not_a_pdf", before)


def test_truncated_pdf_is_422_invalid_pdf(client: TestClient, credentials: dict) -> None:
    whole = pdf(size=20_000)
    before = snapshot(client)
    response = send(client, auth(credentials, G22), envelope(), whole[: len(whole) // 2])
    assert_refused(client, response, 422, "invalid_pdf", before)


@pytest.mark.parametrize("name", PDF_FIXTURES)
def test_hostile_pdf_fixture_is_accepted_or_refused_with_a_4xx_never_a_5xx(
    client: TestClient, credentials: dict, name: str
) -> None:
    content = (FIXTURES / "pdf" / name).read_bytes()
    before = snapshot(client)
    response = send(client, auth(credentials, G22), envelope(), content, main_name=name)
    assert response.status_code == 201 or 400 <= response.status_code < 500, response.text
    if name in ENCRYPTED:
        assert response.status_code == 422, response.text
        assert response.json()["error"] in ("encrypted_pdf", "invalid_pdf")
    if response.status_code == 201:
        assert response.json()["files"][0]["size"] == len(content)
        assert spool_files(client) == []
    else:
        assert_refused(client, response, response.status_code, response.json()["error"], before)


# -- limits --------------------------------------------------------------------------------------


@pytest.fixture
def small_client(settings: Settings) -> Iterator[TestClient]:
    """A node with small limits: 128 KiB bodies, 1 KiB envelopes, 3 files."""
    settings.limits = LimitSettings(max_body_bytes=128 * 1024, max_envelope_bytes=1024, max_files=3)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def test_document_within_the_limits_is_accepted_by_the_small_node(
    small_client: TestClient, credentials: dict
) -> None:
    response = send(
        small_client,
        auth(credentials, G22),
        envelope(),
        pdf(size=20_000),
        attachments=[("a.txt", b"a"), ("b.txt", b"b")],
    )
    assert response.status_code == 201, response.text
    assert spool_files(small_client) == []


def test_body_over_the_limit_with_honest_content_length_is_413_body_too_large(
    small_client: TestClient, credentials: dict
) -> None:
    before = snapshot(small_client)
    response = send(small_client, auth(credentials, G22), envelope(), pdf(size=100_000))
    assert_refused(small_client, response, 413, "body_too_large", before)


def test_body_without_content_length_over_the_limit_is_413_body_too_large(
    small_client: TestClient, credentials: dict
) -> None:
    body = multipart(envelope_part(), main_part(pdf(size=200_000)))
    before = snapshot(small_client)
    response = post_raw(small_client, auth(credentials, G22), chunked(body))
    assert "content-length" not in response.request.headers
    assert_refused(small_client, response, 413, "body_too_large", before)


@dataclass
class Streamed:
    status: int
    body: dict[str, Any]
    chunks_read: int
    most_spool_files_seen: int


def stream_to_app(client: TestClient, headers: dict[str, str], chunks: list[bytes]) -> Streamed:
    """POST a body chunk by chunk straight to the ASGI app, as a real server would (the test
    client reads a streamed body whole before the app sees any of it)."""
    spool = node_of(client).settings.spool_dir
    read = 0
    spooled = 0
    started: dict[str, Any] = {}
    answer = bytearray()

    async def receive() -> dict[str, Any]:
        nonlocal read, spooled
        spooled = max(spooled, len(list(spool.iterdir())))
        if read == len(chunks):
            return {"type": "http.disconnect"}
        read += 1
        return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.update(message)
        elif message["type"] == "http.response.body":
            answer.extend(message.get("body", b""))

    raw_headers = [
        (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
        (b"transfer-encoding", b"chunked"),
        *((k.lower().encode(), v.encode()) for k, v in headers.items()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": DOCUMENTS,
        "raw_path": DOCUMENTS.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    asyncio.run(client.app(scope, receive, send))  # type: ignore[arg-type]
    return Streamed(started["status"], json.loads(answer), read, spooled)


def test_streamed_body_over_the_limit_is_refused_mid_stream_and_leaves_no_spool_file(
    small_client: TestClient, credentials: dict
) -> None:
    body = multipart(envelope_part(), main_part(pdf(size=200_000)))
    chunks = list(chunked(body))
    before = snapshot(small_client)
    result = stream_to_app(small_client, auth(credentials, G22), chunks)
    assert (result.status, result.body["error"]) == (413, "body_too_large")
    assert result.most_spool_files_seen >= 1, "the main part was never spooled"
    assert result.chunks_read < len(chunks), "the whole body was read before refusing it"
    assert spool_files(small_client) == []
    assert counts(small_client) == before.counts
    assert audit_events(small_client, REFUSED)[-1].detail["error"] == "body_too_large"


def test_streamed_body_within_the_limit_is_accepted(
    small_client: TestClient, credentials: dict
) -> None:
    signed = sign_as(small_client, G22, pdf(size=20_000))
    body = multipart(envelope_part(), main_part(signed))
    response = post_raw(small_client, auth(credentials, G22), chunked(body, 1000))
    assert response.status_code == 201, response.text
    assert spool_files(small_client) == []


def test_envelope_over_max_envelope_bytes_is_413_envelope_too_large(
    small_client: TestClient, credentials: dict
) -> None:
    env = envelope(summary="Nội dung " * 150)
    assert len(json.dumps(env).encode()) > 1024
    before = snapshot(small_client)
    response = send(small_client, auth(credentials, G22), env, pdf())
    assert_refused(small_client, response, 413, "envelope_too_large", before)


def test_more_files_than_max_files_is_413_too_many_files(
    small_client: TestClient, credentials: dict
) -> None:
    before = snapshot(small_client)
    response = send(
        small_client,
        auth(credentials, G22),
        envelope(),
        pdf(),
        attachments=[("a.txt", b"a"), ("b.txt", b"b"), ("c.txt", b"c")],
    )
    assert_refused(small_client, response, 413, "too_many_files", before)


# -- multipart syntax ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    ["json", "form-urlencoded", "none", "multipart-without-boundary"],
)
def test_body_that_is_not_multipart_is_415_not_multipart(
    client: TestClient, credentials: dict, kind: str
) -> None:
    headers = auth(credentials, G22)
    before = snapshot(client)
    if kind == "json":
        response = client.post(DOCUMENTS, json={"envelope": envelope()}, headers=headers)
    elif kind == "form-urlencoded":
        response = client.post(
            DOCUMENTS, data={"envelope": json.dumps(envelope())}, headers=headers
        )
    elif kind == "none":
        response = client.post(DOCUMENTS, content=b"%PDF-1.7", headers=headers)
    else:
        response = client.post(
            DOCUMENTS,
            content=multipart(envelope_part(), main_part()),
            headers={**headers, "Content-Type": "multipart/form-data"},
        )
    assert_refused(client, response, 415, "not_multipart", before)


def test_unknown_part_name_is_422_unknown_part(client: TestClient, credentials: dict) -> None:
    body = multipart(envelope_part(), main_part(), part("attachments", b"x", filename="x.txt"))
    before = snapshot(client)
    response = post_raw(client, auth(credentials, G22), body)
    assert_refused(client, response, 422, "unknown_part", before)


@pytest.mark.parametrize(
    ("build", "status", "error"),
    [
        (
            lambda: multipart(envelope_part(), envelope_part(), main_part()),
            400,
            "malformed_multipart",
        ),
        (lambda: multipart(envelope_part(), main_part(), main_part()), 422, "duplicate_main"),
        (
            lambda: multipart(
                envelope_part(),
                main_part(),
                f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nx\r\n".encode(),
            ),
            400,
            "malformed_multipart",
        ),
        (
            lambda: multipart(
                envelope_part(),
                main_part(),
                f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n".encode(),
            ),
            400,
            "malformed_multipart",
        ),
    ],
    ids=["two-envelopes", "two-mains", "part-without-name", "part-without-disposition"],
)
def test_ill_formed_multipart_parts_are_refused(
    client: TestClient,
    credentials: dict,
    build: Callable[[], bytes],
    status: int,
    error: str,
) -> None:
    before = snapshot(client)
    response = post_raw(client, auth(credentials, G22), build())
    assert_refused(client, response, status, error, before)


@pytest.mark.parametrize("where", ["envelope-data", "main-headers", "main-data", "before-closing"])
def test_body_cut_in_the_middle_of_a_part_is_400_malformed_multipart(
    client: TestClient, credentials: dict, where: str
) -> None:
    env, main = envelope_part(), main_part(pdf(size=5_000))
    cut = {
        "envelope-data": env[: len(env) - 20],
        "main-headers": env + main[:40],
        "main-data": env + main[: len(main) // 2],
        "before-closing": env + main[:-2],
    }[where]
    before = snapshot(client)
    response = post_raw(client, auth(credentials, G22), cut)
    assert_refused(client, response, 400, "malformed_multipart", before)


# -- idempotency and accreditation ---------------------------------------------------------------


def test_duplicate_message_id_with_other_content_is_409(
    client: TestClient, credentials: dict
) -> None:
    first = send(client, auth(credentials, G22), envelope(message_id="vpcp-2026-0012"), pdf())
    assert first.status_code == 201, first.text
    before = snapshot(client)
    other_file = send(client, auth(credentials, G22), envelope(message_id="vpcp-2026-0012"), pdf())
    assert_refused(client, other_file, 409, "message_id_conflict", before)
    other_subject = send(
        client,
        auth(credentials, G22),
        envelope(message_id="vpcp-2026-0012", subject="Một việc khác"),
        pdf(),
    )
    assert other_subject.status_code == 409
    assert other_subject.json()["error"] == "message_id_conflict"
    assert counts(client) == before.counts
    document = client.get(f"{DOCUMENTS}/{first.json()['id']}", headers=auth(credentials, G22))
    assert document.json()["files"] == first.json()["files"]


@pytest.fixture
def confidential_client(settings: Settings) -> Iterator[TestClient]:
    """A node accredited up to confidential only."""
    settings.max_classification = Classification.CONFIDENTIAL
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def test_confidential_document_is_accepted_by_a_node_accredited_for_confidential(
    confidential_client: TestClient, credentials: dict
) -> None:
    response = send(
        confidential_client, auth(credentials, G22), envelope(classification="confidential"), pdf()
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("classification", ["secret", "top_secret"])
def test_classification_above_the_node_accreditation_is_422_classification_not_accredited(
    confidential_client: TestClient, credentials: dict, classification: str
) -> None:
    before = snapshot(confidential_client)
    response = send(
        confidential_client,
        auth(credentials, G22),
        envelope(classification=classification),
        pdf(),
    )
    assert_refused(confidential_client, response, 422, "classification_not_accredited", before)


# -- statuses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "role", "code"),
    [(H41, "leader", "03"), (H41, "leader", "02"), (G22, "clerk", "03"), (G22, "leader", "06")],
    ids=[
        "recipient-leader-accepts",
        "recipient-leader-rejects",
        "sender-accepts",
        "sender-completes",
    ],
)
def test_status_the_callers_role_may_not_report_is_403_status_not_allowed(
    client: TestClient, credentials: dict, who: str, role: str, code: str
) -> None:
    document = delivered_document(client, credentials)
    before = snapshot(client)
    response = post_status(
        client, auth(credentials, who, role), document["id"], code=code, note="lý do"
    )
    assert_refused(client, response, 403, "status_not_allowed", before)


def test_accepting_twice_is_409_illegal_transition(client: TestClient, credentials: dict) -> None:
    document = delivered_document(client, credentials)
    first = post_status(client, auth(credentials, H41), document["id"], code="03")
    assert first.status_code == 201, first.text
    before = snapshot(client)
    # Not a retry of the first (that would answer 200 with its receipt): another number.
    again = post_status(
        client,
        auth(credentials, H41),
        document["id"],
        code="03",
        incoming_number=f"{first.json()['incoming_number']}-bis",
    )
    assert_refused(client, again, 409, "illegal_transition", before)


def test_assigning_straight_after_arrival_is_409_illegal_transition(
    client: TestClient, credentials: dict
) -> None:
    document = delivered_document(client, credentials)
    before = snapshot(client)
    response = post_status(client, auth(credentials, H41, "leader"), document["id"], code="04")
    assert_refused(client, response, 409, "illegal_transition", before)


@pytest.mark.parametrize("note", [None, "", "   "], ids=["absent", "empty", "blank"])
def test_rejecting_without_a_reason_is_422_reason_required(
    client: TestClient, credentials: dict, note: str | None
) -> None:
    document = delivered_document(client, credentials)
    before = snapshot(client)
    body = {"code": "02"} if note is None else {"code": "02", "note": note}
    response = post_status(client, auth(credentials, H41), document["id"], **body)
    assert_refused(client, response, 422, "reason_required", before)


@pytest.mark.parametrize("code", ["99", "01", "00", "14"])
def test_status_code_a_client_cannot_report_is_422_invalid_status_code(
    client: TestClient, credentials: dict, code: str
) -> None:
    document = delivered_document(client, credentials)
    before = snapshot(client)
    response = post_status(client, auth(credentials, H41), document["id"], code=code, note="x")
    assert_refused(client, response, 422, "invalid_status_code", before)


@pytest.mark.parametrize("body", [{"code": "3"}, {"code": "03", "colour": "red"}, {}])
def test_malformed_status_body_is_422_invalid_request(
    client: TestClient, credentials: dict, body: dict[str, Any]
) -> None:
    document = delivered_document(client, credentials)
    before = snapshot(client)
    response = client.post(
        f"{DOCUMENTS}/{document['id']}/statuses", json=body, headers=auth(credentials, H41)
    )
    assert_refused(client, response, 422, "invalid_request", before)


@pytest.mark.parametrize(
    "body",
    [
        {"code": "02", "note": "Sai nơi nhận\x00"},
        {"code": "03", "incoming_number": "12\x00"},
    ],
    ids=["note-with-nul", "incoming-number-with-nul"],
)
def test_status_text_with_a_nul_byte_is_refused_and_never_answered_201_unstored(
    client: TestClient, credentials: dict, body: dict[str, str]
) -> None:
    """U+0000 cannot travel in edXML (XML 1.0) nor be stored in PostgreSQL text."""
    document = delivered_document(client, credentials)
    before = snapshot(client)
    response = post_status(client, auth(credentials, H41), document["id"], **body)
    if response.status_code == 201:
        stored = client.get(
            f"{DOCUMENTS}/{document['id']}/receipts", headers=auth(credentials, G22)
        ).json()["items"]
        assert response.json()["id"] in [r["id"] for r in stored], (
            "answered 201 with a signed receipt that was never committed"
        )
    assert_refused(client, response, 422, "invalid_request", before)


def test_status_from_a_third_agency_is_404_document_not_found(
    client: TestClient, credentials: dict
) -> None:
    document = delivered_document(client, credentials)
    before = snapshot(client)
    response = post_status(client, auth(credentials, I01), document["id"], code="03")
    assert_refused(client, response, 404, "document_not_found", before)


# -- visibility ----------------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["document", "file", "trace", "receipts"])
def test_third_agency_gets_the_same_404_as_for_a_document_that_does_not_exist(
    client: TestClient, credentials: dict, what: str
) -> None:
    document = delivered_document(client, credentials)
    file_id = document["files"][0]["id"]
    missing = "0190c0de-0000-7000-8000-000000000000"
    paths = {
        "document": "{}",
        "file": "{}/files/" + file_id,
        "trace": "{}/trace",
        "receipts": "{}/receipts",
    }
    before = snapshot(client)
    response = client.get(
        f"{DOCUMENTS}/" + paths[what].format(document["id"]), headers=auth(credentials, I01)
    )
    assert_refused(client, response, 404, "document_not_found", before)
    absent = client.get(
        f"{DOCUMENTS}/" + paths[what].format(missing), headers=auth(credentials, I01)
    )
    assert absent.status_code == 404
    assert absent.json() == response.json()


@pytest.mark.parametrize("what", ["document", "file", "trace", "receipts"])
def test_document_id_with_a_nul_byte_is_404_document_not_found(
    client: TestClient, credentials: dict, what: str
) -> None:
    suffix = {"document": "", "file": "/files/x", "trace": "/trace", "receipts": "/receipts"}
    before = snapshot(client)
    response = client.get(f"{DOCUMENTS}/%00abc{suffix[what]}", headers=auth(credentials, G22))
    assert_refused(client, response, 404, "document_not_found", before)


def test_auditor_downloading_a_file_is_404_document_not_found(
    client: TestClient, credentials: dict
) -> None:
    document = delivered_document(client, credentials)
    auditor = auth(credentials, "auditor")
    assert client.get(f"{DOCUMENTS}/{document['id']}", headers=auditor).status_code == 200
    before = snapshot(client)
    response = client.get(
        f"{DOCUMENTS}/{document['id']}/files/{document['files'][0]['id']}", headers=auditor
    )
    assert_refused(client, response, 404, "document_not_found", before)


def test_recipient_reading_a_file_before_delivery_is_404_document_not_found(
    client: TestClient, credentials: dict
) -> None:
    sent = send(client, auth(credentials, G22), envelope([H41]), pdf())
    assert sent.status_code == 201, sent.text
    url = f"{DOCUMENTS}/{sent.json()['id']}/files/{sent.json()['files'][0]['id']}"
    before = snapshot(client)
    response = client.get(url, headers=auth(credentials, H41))
    assert_refused(client, response, 404, "document_not_found", before)
    deliver(client)
    assert client.get(url, headers=auth(credentials, H41)).status_code == 200


# -- mailbox paging ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        "e30",  # {}
        encode_cursor(1, 2),
        encode_cursor("2026-01-01T00:00:00+00:00"),
        encode_cursor("yesterday", "0190c0de-0000-7000-8000-000000000000"),
        encode_cursor("0001-01-01T00:00:00+23:59", "x"),
        encode_cursor("9999-12-31T23:59:59-23:59", "x"),
    ],
    ids=[
        "garbage",
        "json-object",
        "wrong-types",
        "wrong-arity",
        "not-a-time",
        "time-before-year-1-in-utc",
        "time-after-year-9999-in-utc",
    ],
)
def test_invalid_inbox_cursor_is_400_invalid_cursor(
    client: TestClient, credentials: dict, cursor: str
) -> None:
    before = snapshot(client)
    response = client.get(
        "/api/v1/inbox", params={"cursor": cursor}, headers=auth(credentials, H41)
    )
    assert_refused(client, response, 400, "invalid_cursor", before)


@pytest.mark.parametrize(
    ("path", "cursor"),
    [
        ("/api/v1/inbox", encode_cursor("2026-01-01T00:00:00+00:00", "0190\x00")),
        ("/api/v1/outbox", encode_cursor("0190\x00")),
        ("/api/v1/outbox", encode_cursor(7)),
        ("/api/v1/outbox", "not a cursor!"),
    ],
    ids=["inbox-nul", "outbox-nul", "outbox-wrong-type", "outbox-garbage"],
)
def test_invalid_mailbox_cursor_is_400_invalid_cursor(
    client: TestClient, credentials: dict, path: str, cursor: str
) -> None:
    before = snapshot(client)
    response = client.get(path, params={"cursor": cursor}, headers=auth(credentials, G22))
    assert_refused(client, response, 400, "invalid_cursor", before)


@pytest.mark.parametrize("path", ["/api/v1/inbox", "/api/v1/outbox"])
@pytest.mark.parametrize("limit", ["0", "501", "-1", "ten"])
def test_limit_out_of_range_is_422_invalid_request(
    client: TestClient, credentials: dict, path: str, limit: str
) -> None:
    before = snapshot(client)
    response = client.get(path, params={"limit": limit}, headers=auth(credentials, H41))
    assert_refused(client, response, 422, "invalid_request", before)


# -- all of it, against one node -----------------------------------------------------------------


def test_a_batch_of_bad_requests_after_one_good_document_stores_only_that_document(
    client: TestClient, credentials: dict
) -> None:
    clerk = auth(credentials, G22)
    good = send(client, clerk, envelope(message_id="vpcp-1"), pdf())
    assert good.status_code == 201, good.text
    assert deliver(client) == 1
    doc_id, file_id = good.json()["id"], good.json()["files"][0]["id"]
    expected = {"documents": 1, "files": 1, "deliveries": 1, "receipts": 1, "blobs": 1}
    assert counts(client) == expected
    refused_before = len(audit_events(client, REFUSED))

    full = pdf(size=10_000)
    leader = auth(credentials, H41, "leader")
    recipient = auth(credentials, H41)
    rc4 = (FIXTURES / "pdf" / "minimal-rc4.pdf").read_bytes()
    bad: list[tuple[str, Callable[[], Response]]] = [
        ("missing_token", lambda: send(client, {}, envelope(), pdf())),
        ("invalid_token", lambda: send(client, {"Authorization": "Bearer no"}, envelope(), pdf())),
        ("acting_for_other_agency", lambda: send(client, clerk, envelope(sender=I01), pdf())),
        ("sender_not_settable", lambda: send(client, clerk, envelope(sender=G22), pdf())),
        ("missing_envelope", lambda: send(client, clerk, None, pdf())),
        ("missing_main", lambda: send(client, clerk, envelope(), None)),
        ("invalid_json", lambda: send(client, clerk, b"{", pdf())),
        ("invalid_envelope", lambda: send(client, clerk, "[]", pdf())),
        (
            "unknown_envelope_field",
            lambda: send(client, clerk, envelope(clasification="secret"), pdf()),
        ),
        ("invalid_envelope", lambda: send(client, clerk, envelope(urgency="asap"), pdf())),
        ("empty_recipients", lambda: send(client, clerk, envelope([]), pdf())),
        ("unknown_recipient", lambda: send(client, clerk, envelope(["000.00.00.G99"]), pdf())),
        (
            "invalid_agency_code",
            lambda: send(client, clerk, envelope([f"000.00.00.{CYRILLIC_EN}41"]), pdf()),
        ),
        ("unknown_group", lambda: send(client, clerk, envelope(["group:nowhere"]), pdf())),
        ("recipient_is_sender", lambda: send(client, clerk, envelope([G22]), pdf())),
        ("not_a_pdf", lambda: send(client, clerk, envelope(), b"<html></html>")),
        ("not_a_pdf", lambda: send(client, clerk, envelope(), _zip())),
        ("not_a_pdf", lambda: send(client, clerk, envelope(), b"")),
        ("invalid_pdf", lambda: send(client, clerk, envelope(), full[: len(full) // 2])),
        ("encrypted_pdf", lambda: send(client, clerk, envelope(), rc4)),
        ("not_multipart", lambda: client.post(DOCUMENTS, json=envelope(), headers=clerk)),
        (
            "unknown_part",
            lambda: post_raw(client, clerk, multipart(envelope_part(), part("x", b"x"))),
        ),
        (
            "malformed_multipart",
            lambda: post_raw(client, clerk, envelope_part() + main_part()[:200]),
        ),
        ("message_id_conflict", lambda: send(client, clerk, envelope(message_id="vpcp-1"), pdf())),
        ("status_not_allowed", lambda: post_status(client, leader, doc_id, code="03")),
        ("status_not_allowed", lambda: post_status(client, clerk, doc_id, code="03")),
        ("illegal_transition", lambda: post_status(client, leader, doc_id, code="04")),
        ("reason_required", lambda: post_status(client, recipient, doc_id, code="02")),
        ("invalid_status_code", lambda: post_status(client, recipient, doc_id, code="99")),
        ("invalid_status_code", lambda: post_status(client, recipient, doc_id, code="01")),
        (
            "document_not_found",
            lambda: client.get(f"{DOCUMENTS}/{doc_id}", headers=auth(credentials, I01)),
        ),
        (
            "document_not_found",
            lambda: client.get(
                f"{DOCUMENTS}/{doc_id}/files/{file_id}", headers=auth(credentials, "auditor")
            ),
        ),
        ("invalid_cursor", lambda: client.get("/api/v1/inbox?cursor=nope", headers=recipient)),
        ("invalid_request", lambda: client.get("/api/v1/inbox?limit=0", headers=recipient)),
    ]
    answered = [(request().json().get("error"), error) for error, request in bad]
    assert [got for got, _ in answered] == [want for _, want in answered]
    assert counts(client) == expected
    assert spool_files(client) == []
    refused = audit_events(client, REFUSED)[refused_before:]
    assert [e.detail["error"] for e in refused] == [error for error, _ in bad]
