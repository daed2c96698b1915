"""Unit tests of ``docex.client`` against in-process transports (no sockets, no server).

The multipart body the client streams is parsed back with ``python_multipart`` (the parser the
server's framework uses), byte for byte, and its length compared with the announced
``Content-Length``.
"""

from __future__ import annotations

import email.utils
import hashlib
import importlib.metadata
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio
import httpx
import pytest
from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header
from starlette.datastructures import UploadFile
from starlette.requests import Request

from docex.client import (
    STATUS_LABELS,
    BadRequest,
    Conflict,
    ConnectionFailed,
    DocexClient,
    DocexError,
    Forbidden,
    IntegrityMismatch,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
    status_label,
)

BASE = "http://node.test"
Handler = Callable[[httpx.Request], httpx.Response]


# ------------------------------------------------------------------------------------------
# helpers


@dataclass
class Part:
    headers: dict[str, str]
    data: bytes

    @property
    def name(self) -> str:
        return self._disposition()[1][b"name"].decode()

    @property
    def filename(self) -> str | None:
        raw = self._disposition()[1].get(b"filename")
        return None if raw is None else raw.decode()

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    def _disposition(self) -> tuple[bytes, dict[bytes, bytes]]:
        return parse_options_header(self.headers["content-disposition"])


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    """Parse a multipart/form-data body with python_multipart, keeping every part's headers."""
    kind, options = parse_options_header(content_type)
    assert kind == b"multipart/form-data"
    parts: list[Part] = []
    field_name = bytearray()
    field_value = bytearray()
    current: dict[str, Any] = {}

    def on_part_begin() -> None:
        current.clear()
        current.update(headers={}, data=bytearray())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        field_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        field_value.extend(data[start:end])

    def on_header_end() -> None:
        current["headers"][field_name.decode().lower()] = field_value.decode("latin-1")
        field_name.clear()
        field_value.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        current["data"].extend(data[start:end])

    def on_part_end() -> None:
        parts.append(Part(dict(current["headers"]), bytes(current["data"])))

    parser = MultipartParser(
        options[b"boundary"],
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    assert parser.write(body) == len(body)
    parser.finalize()
    return parts


@dataclass
class Recorder:
    """A MockTransport handler that records requests and answers from a queue."""

    responses: list[httpx.Response]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.responses.pop(0)


TOKEN = "tok-123"


def make_client(handler: Handler, token: str | None = TOKEN) -> DocexClient:
    return DocexClient(BASE, token, transport=httpx.MockTransport(handler))


def document_json(**extra: Any) -> dict[str, Any]:
    return {"id": "doc-1", "business_id": "biz-1", "files": [], "recipients": [], **extra}


class StreamingTransport(httpx.BaseTransport):
    """Consumes the request body chunk by chunk, like a socket would, recording what it sees.

    ``MockTransport`` reads the whole body before its handler runs, which hides whether the
    client streams at all.
    """

    def __init__(self, on_chunk: Callable[[int, bytes], None] | None = None) -> None:
        self.chunks: list[bytes] = []
        self.headers: httpx.Headers | None = None
        self.on_chunk = on_chunk

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.headers = request.headers
        assert isinstance(request.stream, httpx.SyncByteStream)
        for chunk in request.stream:
            if self.on_chunk is not None:
                self.on_chunk(len(self.chunks), chunk)
            self.chunks.append(chunk)
        return httpx.Response(201, json=document_json())


@pytest.fixture
def pdf_bytes() -> bytes:
    # Larger than several 64 KiB chunks and not a multiple of the chunk size.
    return b"%PDF-1.7\n" + os.urandom(3 * 65536 + 1234) + b"\n%%EOF\n"


@pytest.fixture
def envelope() -> dict[str, Any]:
    return {
        "message_id": "msg-42",
        "recipients": ["000.00.00.H41", "group:provinces"],
        "subject": "Về việc triển khai Nghị định 30/2020/NĐ-CP",
        "document_type": {"type": 1, "name": "Công văn"},
        "urgency": "flash",
    }


# ------------------------------------------------------------------------------------------
# send


def test_send_streams_a_multipart_body_that_parses_back_part_for_part(
    tmp_path: Path, pdf_bytes: bytes, envelope: dict[str, Any]
) -> None:
    main = tmp_path / "7816-VPCP.pdf"
    main.write_bytes(pdf_bytes)
    archive = tmp_path / "phu-luc.zip"
    archive.write_bytes(b"PK\x03\x04" + os.urandom(70_000))
    unknown = tmp_path / "notes.docexunknown"
    unknown.write_bytes(b"")
    recorder = Recorder([httpx.Response(201, json=document_json())])

    with make_client(recorder) as api:
        document = api.send(envelope, main, [archive, unknown])

    assert document["id"] == "doc-1"
    (request,) = recorder.requests
    assert request.method == "POST"
    assert request.url == f"{BASE}/api/v1/documents"
    body = request.content
    assert int(request.headers["Content-Length"]) == len(body)
    assert "Transfer-Encoding" not in request.headers
    parts = parse_multipart(request.headers["Content-Type"], body)

    assert [(p.name, p.filename, p.content_type) for p in parts] == [
        ("envelope", None, "application/json"),
        ("main", "7816-VPCP.pdf", "application/pdf"),
        ("attachment", "phu-luc.zip", "application/zip"),
        ("attachment", "notes.docexunknown", "application/octet-stream"),
    ]
    assert json.loads(parts[0].data.decode("utf-8")) == envelope
    assert parts[1].data == pdf_bytes
    assert parts[2].data == archive.read_bytes()
    assert parts[3].data == b""


def test_send_writes_files_in_64k_chunks_and_reports_progress_as_they_go(
    tmp_path: Path, pdf_bytes: bytes, envelope: dict[str, Any]
) -> None:
    main = tmp_path / "main.pdf"
    main.write_bytes(pdf_bytes)
    calls: list[tuple[int, int]] = []
    reported_when_first_chunk_left: list[tuple[int, int]] = []

    def on_chunk(index: int, _chunk: bytes) -> None:
        if index == 0:
            reported_when_first_chunk_left.extend(calls)

    transport = StreamingTransport(on_chunk)
    with DocexClient(BASE, "t", transport=transport) as api:
        api.send(envelope, main, progress=lambda done, total: calls.append((done, total)))

    assert transport.headers is not None
    sent = b"".join(transport.chunks)
    total = int(transport.headers["Content-Length"])
    assert total == len(sent)
    assert max(len(c) for c in transport.chunks) <= 64 * 1024
    assert sum(len(c) == 64 * 1024 for c in transport.chunks) == 3  # the PDF, chunk by chunk
    # Lazy: when the first chunk reached the wire, nothing but the start had been reported.
    assert reported_when_first_chunk_left == [(0, total)]
    assert calls[-1] == (total, total)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert {t for _, t in calls} == {total}
    parts = parse_multipart(transport.headers["Content-Type"], sent)
    assert parts[1].data == pdf_bytes


def test_send_accepts_file_objects_from_their_current_position(
    tmp_path: Path, pdf_bytes: bytes, envelope: dict[str, Any]
) -> None:
    in_memory = io.BytesIO(b"skip-me:" + pdf_bytes)
    in_memory.seek(len(b"skip-me:"))
    on_disk = tmp_path / "Phụ lục 1.txt"
    on_disk.write_bytes(b"hello appendix")
    recorder = Recorder([httpx.Response(201, json=document_json())])

    with make_client(recorder) as api, on_disk.open("rb") as handle:
        api.send(envelope, in_memory, [handle])

    (request,) = recorder.requests
    assert int(request.headers["Content-Length"]) == len(request.content)
    parts = parse_multipart(request.headers["Content-Type"], request.content)
    assert (parts[1].filename, parts[1].data) == ("main.pdf", pdf_bytes)
    assert (parts[2].filename, parts[2].content_type) == ("Phụ lục 1.txt", "text/plain")
    assert parts[2].data == b"hello appendix"


def test_vietnamese_and_quoted_file_names_survive_the_servers_form_parser(
    tmp_path: Path, envelope: dict[str, Any]
) -> None:
    name = 'Công văn "khẩn" số 7816.pdf'
    main = tmp_path / name
    main.write_bytes(b"%PDF-1.7 tiny")
    recorder = Recorder([httpx.Response(201, json=document_json())])
    with make_client(recorder) as api:
        api.send(envelope, main)
    (request,) = recorder.requests

    async def read_form() -> tuple[str | None, bytes, str]:
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/",
            "query_string": b"",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": request.content, "more_body": False}

        form = await Request(scope, receive).form()
        upload = form["main"]
        assert isinstance(upload, UploadFile)
        envelope_field = form["envelope"]
        assert isinstance(envelope_field, str)
        return upload.filename, await upload.read(), envelope_field

    filename, data, envelope_text = anyio.run(read_form)
    # HTML5 form encoding escapes the quote; Starlette hands the rest back as UTF-8.
    assert filename == name.replace('"', "%22")
    assert data == b"%PDF-1.7 tiny"
    assert json.loads(envelope_text)["subject"] == envelope["subject"]


def test_send_ex_tells_a_new_document_from_an_idempotent_replay(
    tmp_path: Path, envelope: dict[str, Any]
) -> None:
    main = tmp_path / "m.pdf"
    main.write_bytes(b"%PDF")
    recorder = Recorder(
        [httpx.Response(201, json=document_json()), httpx.Response(200, json=document_json())]
    )
    with make_client(recorder) as api:
        assert api.send_ex(envelope, main) == (document_json(), True)
        assert api.send_ex(envelope, main) == (document_json(), False)


def test_a_file_that_shrinks_during_upload_aborts_instead_of_lying_about_its_length(
    tmp_path: Path, pdf_bytes: bytes, envelope: dict[str, Any]
) -> None:
    main = tmp_path / "m.pdf"
    main.write_bytes(pdf_bytes)

    def truncate_after_first_chunk(index: int, _chunk: bytes) -> None:
        if index == 0:
            with main.open("r+b") as f:
                f.truncate(1000)

    with (
        DocexClient(BASE, "t", transport=StreamingTransport(truncate_after_first_chunk)) as api,
        pytest.raises(DocexError) as caught,
    ):
        api.send(envelope, main)
    assert (caught.value.status, caught.value.error) == (0, "source_changed")


def test_a_file_that_grows_during_upload_aborts_too(
    tmp_path: Path, pdf_bytes: bytes, envelope: dict[str, Any]
) -> None:
    main = tmp_path / "m.pdf"
    main.write_bytes(pdf_bytes)

    def append_after_first_chunk(index: int, _chunk: bytes) -> None:
        if index == 0:
            with main.open("ab") as f:
                f.write(b"more")

    with (
        DocexClient(BASE, "t", transport=StreamingTransport(append_after_first_chunk)) as api,
        pytest.raises(DocexError) as caught,
    ):
        api.send(envelope, main)
    assert (caught.value.status, caught.value.error) == (0, "source_changed")


def test_send_closes_the_files_it_opened(
    tmp_path: Path, envelope: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    main = tmp_path / "m.pdf"
    main.write_bytes(b"%PDF")
    opened: list[io.BufferedReader] = []
    real_open = Path.open

    def spy_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        handle = real_open(self, *args, **kwargs)
        opened.append(handle)
        return handle

    monkeypatch.setattr(Path, "open", spy_open)
    recorder = Recorder([httpx.Response(422, json={"error": "bad_signature", "detail": "x"})])
    with make_client(recorder) as api, pytest.raises(Unprocessable):
        api.send(envelope, main)
    assert opened
    assert all(h.closed for h in opened)


# ------------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequest),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (409, Conflict),
        (413, PayloadTooLarge),
        (415, UnsupportedMediaType),
        (422, Unprocessable),
        (503, ServiceUnavailable),
    ],
)
def test_error_statuses_map_to_their_exception_with_code_and_detail(
    status: int, cls: type[DocexError]
) -> None:
    body = {"error": "some_code", "detail": "Văn bản không tồn tại"}
    response = httpx.Response(status, json=body)
    with make_client(lambda _r: response) as api, pytest.raises(DocexError) as caught:
        api.document("doc-1")
    assert type(caught.value) is cls
    assert (caught.value.status, caught.value.error, caught.value.detail) == (
        status,
        "some_code",
        "Văn bản không tồn tại",
    )
    assert str(caught.value) == "some_code: Văn bản không tồn tại"


def test_an_unlisted_status_with_a_non_json_body_is_a_plain_docex_error() -> None:
    response = httpx.Response(502, text="<html>Bad Gateway</html>")
    with make_client(lambda _r: response) as api, pytest.raises(DocexError) as caught:
        api.me()
    assert type(caught.value) is DocexError
    assert (caught.value.status, caught.value.error) == (502, "http_502")
    assert "Bad Gateway" in caught.value.detail


def test_a_json_error_without_an_error_code_falls_back_to_http_status() -> None:
    body = {"detail": [{"loc": ["query", "limit"], "msg": "too big"}]}
    response = httpx.Response(422, json=body)
    with make_client(lambda _r: response) as api, pytest.raises(Unprocessable) as caught:
        api.inbox(limit=10_000)
    assert caught.value.error == "http_422"
    assert "too big" in caught.value.detail


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), ("1.5", 1.5), (None, None), ("soon", None), ("-3", 0.0)],
)
def test_service_unavailable_carries_retry_after_seconds(
    header: str | None, expected: float | None
) -> None:
    headers = {"Retry-After": header} if header is not None else {}
    response = httpx.Response(503, json={"error": "db_down", "detail": "x"}, headers=headers)
    with make_client(lambda _r: response) as api, pytest.raises(ServiceUnavailable) as caught:
        api.readyz()
    assert caught.value.retry_after == expected


def test_retry_after_as_an_http_date_becomes_seconds_from_now() -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    headers = {"Retry-After": email.utils.format_datetime(when, usegmt=True)}
    response = httpx.Response(503, text="down", headers=headers)
    with make_client(lambda _r: response) as api, pytest.raises(ServiceUnavailable) as caught:
        api.readyz()
    assert caught.value.retry_after is not None
    assert 100 < caught.value.retry_after <= 120


def test_no_answer_at_all_is_connection_failed() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with make_client(refuse) as api, pytest.raises(ConnectionFailed) as caught:
        api.healthz()
    assert (caught.value.status, caught.value.error) == (0, "connection_failed")
    assert isinstance(caught.value, DocexError)


# ------------------------------------------------------------------------------------------
# auth and headers


def test_every_call_carries_bearer_token_and_user_agent() -> None:
    recorder = Recorder([httpx.Response(200, json={"kind": "clerk"})])
    with make_client(recorder, token="abc") as api:
        assert api.me() == {"kind": "clerk"}
    (request,) = recorder.requests
    assert request.url == f"{BASE}/api/v1/me"
    assert request.headers["Authorization"] == "Bearer abc"
    assert request.headers["User-Agent"].startswith("docex-client/")


def test_login_posts_a_form_without_old_credentials_and_keeps_the_new_token() -> None:
    recorder = Recorder(
        [
            httpx.Response(200, json={"access_token": "fresh", "token_type": "bearer"}),
            httpx.Response(200, json={"kind": "leader"}),
        ]
    )
    with make_client(recorder, token="stale") as api:
        assert api.login("vanthu", "mật khẩu") == "fresh"
        api.me()
        assert api.token == "fresh"
    login, me = recorder.requests
    assert login.url == f"{BASE}/api/v1/auth/token"
    assert login.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(login.content.decode()) == {"username": ["vanthu"], "password": ["mật khẩu"]}
    assert "Authorization" not in login.headers
    assert me.headers["Authorization"] == "Bearer fresh"


def test_no_token_means_no_authorization_header() -> None:
    recorder = Recorder([httpx.Response(200, json={"status": "ok"})])
    with make_client(recorder, token=None) as api:
        api.healthz()
    assert "Authorization" not in recorder.requests[0].headers


def test_base_url_path_prefix_is_kept_and_ids_cannot_add_path_segments() -> None:
    recorder = Recorder([httpx.Response(200, json=document_json())])
    with DocexClient("https://hub.test/docex", "t", transport=httpx.MockTransport(recorder)) as api:
        api.document("../admin")
    assert recorder.requests[0].url.raw_path == b"/docex/api/v1/documents/..%2Fadmin"


# ------------------------------------------------------------------------------------------
# documents


def test_post_status_sends_only_given_fields_and_returns_the_receipt() -> None:
    receipt = {"id": "r1", "code": "03", "from_agency_id": "A", "to_agency_id": "B"}
    recorder = Recorder([httpx.Response(201, json=receipt), httpx.Response(201, json=receipt)])
    with make_client(recorder) as api:
        assert api.post_status("doc-1", "03", incoming_number="125") == receipt
        api.post_status("doc-1", "02", note="Gửi nhầm")
    first, second = recorder.requests
    assert first.url == f"{BASE}/api/v1/documents/doc-1/statuses"
    assert json.loads(first.content) == {"code": "03", "incoming_number": "125"}
    assert json.loads(second.content) == {"code": "02", "note": "Gửi nhầm"}


def test_receipts_and_trace_return_the_item_lists() -> None:
    recorder = Recorder(
        [
            httpx.Response(200, json={"items": [{"code": "01"}]}),
            httpx.Response(200, json={"items": [{"event": "accepted"}, {"event": "delivered"}]}),
        ]
    )
    with make_client(recorder) as api:
        assert api.receipts("d") == [{"code": "01"}]
        assert api.trace("d") == [{"event": "accepted"}, {"event": "delivered"}]
    assert [r.url.path for r in recorder.requests] == [
        "/api/v1/documents/d/receipts",
        "/api/v1/documents/d/trace",
    ]


def file_response(content: bytes, etag: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/pdf"}
    if etag is not None:
        headers["ETag"] = etag
    return httpx.Response(200, content=content, headers=headers)


@pytest.mark.parametrize(
    "etag_form",
    ['"{}"', "{}", 'W/"{}"'],
    ids=["quoted", "bare", "weak"],
)
def test_download_streams_to_a_path_and_checks_the_etag(
    tmp_path: Path, pdf_bytes: bytes, etag_form: str
) -> None:
    digest = hashlib.sha256(pdf_bytes).hexdigest()
    recorder = Recorder([file_response(pdf_bytes, etag_form.format(digest))])
    calls: list[tuple[int, int]] = []
    dest = tmp_path / "out.pdf"
    with make_client(recorder) as api:
        result = api.download("doc-1", "f-1", dest, progress=lambda d, t: calls.append((d, t)))
    assert result == digest
    assert dest.read_bytes() == pdf_bytes
    assert recorder.requests[0].url.path == "/api/v1/documents/doc-1/files/f-1"
    assert calls[-1] == (len(pdf_bytes), len(pdf_bytes))
    assert len(calls) >= 4  # one per 64 KiB chunk, not one at the end
    assert os.listdir(tmp_path) == ["out.pdf"]


def test_etag_mismatch_raises_and_leaves_no_partial_file(tmp_path: Path, pdf_bytes: bytes) -> None:
    wrong = hashlib.sha256(b"something else").hexdigest()
    recorder = Recorder([file_response(pdf_bytes, f'"{wrong}"')])
    dest = tmp_path / "out.pdf"
    with make_client(recorder) as api, pytest.raises(IntegrityMismatch) as caught:
        api.download("doc-1", "f-1", dest)
    assert (caught.value.status, caught.value.error) == (0, "integrity_mismatch")
    assert os.listdir(tmp_path) == []


def test_failed_download_keeps_an_existing_file_untouched(tmp_path: Path, pdf_bytes: bytes) -> None:
    dest = tmp_path / "out.pdf"
    dest.write_bytes(b"previous version")
    recorder = Recorder([file_response(pdf_bytes, "0" * 64)])
    with make_client(recorder) as api, pytest.raises(IntegrityMismatch):
        api.download("doc-1", "f-1", dest)
    assert dest.read_bytes() == b"previous version"
    assert os.listdir(tmp_path) == ["out.pdf"]


def test_download_checks_an_expected_hash_and_writes_to_file_objects(pdf_bytes: bytes) -> None:
    digest = hashlib.sha256(pdf_bytes).hexdigest()
    recorder = Recorder([file_response(pdf_bytes, None), file_response(pdf_bytes, digest)])
    with make_client(recorder) as api:
        sink = io.BytesIO()
        assert api.download("d", "f", sink, expected_sha256=digest.upper()) == digest
        assert sink.getvalue() == pdf_bytes
        with pytest.raises(IntegrityMismatch):
            api.download("d", "f", io.BytesIO(), expected_sha256="ab" * 32)


def test_download_of_an_invisible_file_is_not_found_and_creates_nothing(tmp_path: Path) -> None:
    response = httpx.Response(404, json={"error": "document_not_found", "detail": "no such"})
    with make_client(lambda _r: response) as api, pytest.raises(NotFound):
        api.download("d", "f", tmp_path / "x.pdf")
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------------------------
# lists


def paged(pages: dict[str | None, dict[str, Any]], seen: list[httpx.Request]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) > 10:  # fail, rather than hang, if the client never stops
            pytest.fail("the client kept asking for pages")
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    return handler


def test_iter_inbox_follows_next_cursor_with_the_same_filters() -> None:
    pages: dict[str | None, dict[str, Any]] = {
        None: {"items": [{"document_id": "1"}, {"document_id": "2"}], "next_cursor": "c2"},
        "c2": {"items": [{"document_id": "3"}], "next_cursor": "c3"},
        "c3": {"items": [], "next_cursor": None},
    }
    seen: list[httpx.Request] = []
    with make_client(paged(pages, seen)) as api:
        items: Iterator[dict[str, Any]] = api.iter_inbox(status="01", urgency="flash", limit=2)
        assert [i["document_id"] for i in items] == ["1", "2", "3"]
    assert [dict(r.url.params) for r in seen] == [
        {"status": "01", "urgency": "flash", "limit": "2"},
        {"status": "01", "urgency": "flash", "limit": "2", "cursor": "c2"},
        {"status": "01", "urgency": "flash", "limit": "2", "cursor": "c3"},
    ]
    assert {r.url.path for r in seen} == {"/api/v1/inbox"}


def test_single_pages_pass_filters_and_omit_unset_ones() -> None:
    seen: list[httpx.Request] = []
    page: dict[str, Any] = {"items": [], "next_cursor": None}
    with make_client(paged({None: page, "x": page}, seen)) as api:
        assert api.outbox(limit=5) == page
        api.agencies(q="Nghệ An", cursor="x")
        api.inbox()
    assert [(r.url.path, dict(r.url.params)) for r in seen] == [
        ("/api/v1/outbox", {"limit": "5"}),
        ("/api/v1/agencies", {"q": "Nghệ An", "cursor": "x"}),
        ("/api/v1/inbox", {}),
    ]


def test_iter_agencies_and_outbox_walk_all_pages() -> None:
    pages: dict[str | None, dict[str, Any]] = {
        None: {"items": [{"id": "a"}], "next_cursor": "n"},
        "n": {"items": [{"id": "b"}], "next_cursor": None},
    }
    with make_client(paged(pages, [])) as api:
        assert [a["id"] for a in api.iter_agencies(parent="000.00.00.H41")] == ["a", "b"]
        assert [a["id"] for a in api.iter_outbox()] == ["a", "b"]


def test_a_cursor_that_repeats_stops_iteration_with_an_error() -> None:
    pages: dict[str | None, dict[str, Any]] = {
        None: {"items": [{"id": "a"}], "next_cursor": "same"},
        "same": {"items": [{"id": "b"}], "next_cursor": "same"},
    }
    with make_client(paged(pages, [])) as api, pytest.raises(DocexError) as caught:
        list(api.iter_agencies())
    assert caught.value.error == "pagination_loop"


def test_groups_accepts_an_items_page() -> None:
    groups = [{"name": "provinces", "members": ["000.00.00.H41"]}]
    with make_client(lambda _r: httpx.Response(200, json={"items": groups})) as api:
        assert api.groups() == groups


# ------------------------------------------------------------------------------------------
# labels


def test_status_labels_cover_every_business_code() -> None:
    assert sorted(STATUS_LABELS) == ["01", "02", "03", "04", "05", "06", "13", "15", "16"]
    assert status_label("01") == "01 đã đến / arrived"
    assert status_label("99") == "99"
    assert status_label(None) == ""


def test_user_agent_version_falls_back_when_docex_is_not_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing(_name: str) -> str:
        raise importlib.metadata.PackageNotFoundError("docex")

    monkeypatch.setattr(importlib.metadata, "version", missing)
    recorder = Recorder([httpx.Response(200, json={})])
    with make_client(recorder) as api:
        api.healthz()
    assert recorder.requests[0].headers["User-Agent"] == "docex-client/0"
