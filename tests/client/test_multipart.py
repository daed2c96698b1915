"""Sends stream a multipart body whose length is announced before its first byte.

The body is parsed back with ``python_multipart`` (the parser the node's framework uses),
byte for byte, and by Starlette's own form reader for the file names.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.datastructures import UploadFile
from starlette.requests import Request

from docex_client import DocexClient, InvalidRequestError, SourceChangedError
from tests.client.helpers import BASE, TOKEN, Recorder, document_json, parse_multipart


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


def client(handler: Any) -> DocexClient:
    transport = handler if isinstance(handler, httpx.BaseTransport) else None
    return DocexClient(
        BASE, TOKEN, transport=transport or httpx.MockTransport(handler), sleep=lambda _s: None
    )


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

    with client(recorder) as api:
        sent = api.send(envelope, main, [archive, unknown])

    assert (sent.document.id, sent.created) == (document_json()["id"], True)
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


def test_a_send_without_message_id_gets_a_new_uuid_each_time(
    tmp_path: Path, envelope: dict[str, Any]
) -> None:
    main = tmp_path / "m.pdf"
    main.write_bytes(b"%PDF")
    del envelope["message_id"]
    recorder = Recorder([httpx.Response(201, json=document_json()) for _ in range(2)])
    with client(recorder) as api:
        api.send(envelope, main)
        api.send(envelope, main)
    ids = [
        json.loads(parse_multipart(r.headers["Content-Type"], r.content)[0].data)["message_id"]
        for r in recorder.requests
    ]
    assert len(set(ids)) == 2
    assert all(len(i) == 36 and i.count("-") == 4 for i in ids)
    assert "message_id" not in envelope  # the caller's envelope is left as it was


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
    with client(transport) as api:
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

    with client(recorder) as api, on_disk.open("rb") as handle:
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
    with client(recorder) as api:
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


def test_sent_tells_a_new_document_from_an_idempotent_replay(
    tmp_path: Path, envelope: dict[str, Any]
) -> None:
    main = tmp_path / "m.pdf"
    main.write_bytes(b"%PDF")
    recorder = Recorder(
        [httpx.Response(201, json=document_json()), httpx.Response(200, json=document_json())]
    )
    with client(recorder) as api:
        first, again = api.send(envelope, main), api.send(envelope, main)
    assert (first.created, again.created) == (True, False)
    assert first.document == again.document
    assert first.message_id == "msg-42"


@pytest.mark.parametrize("change", ["shrinks", "grows"])
def test_a_file_that_changes_during_upload_aborts_instead_of_lying_about_its_length(
    tmp_path: Path, pdf_bytes: bytes, envelope: dict[str, Any], change: str
) -> None:
    main = tmp_path / "m.pdf"
    main.write_bytes(pdf_bytes)

    def change_after_first_chunk(index: int, _chunk: bytes) -> None:
        if index == 0 and change == "shrinks":
            with main.open("r+b") as f:
                f.truncate(1000)
        elif index == 0:
            with main.open("ab") as f:
                f.write(b"more")

    with (
        client(StreamingTransport(change_after_first_chunk)) as api,
        pytest.raises(SourceChangedError) as caught,
    ):
        api.send(envelope, main)
    assert caught.value.error == "source_changed"


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
    with client(recorder) as api, pytest.raises(InvalidRequestError):
        api.send(envelope, main)
    assert opened
    assert all(h.closed for h in opened)


def test_sign_pdf_streams_the_file_with_its_role_and_returns_the_signed_bytes(
    tmp_path: Path, pdf_bytes: bytes
) -> None:
    source = tmp_path / "du-thao.pdf"
    source.write_bytes(pdf_bytes)
    recorder = Recorder([httpx.Response(200, content=b"%PDF signed")])
    seen: list[tuple[int, int]] = []
    with client(recorder) as api:
        signed = api.sign_pdf(source, role="signer", progress=lambda d, t: seen.append((d, t)))
    assert signed == b"%PDF signed"
    (request,) = recorder.requests
    assert request.url.path == "/api/v1/pdf/sign"
    parts = parse_multipart(request.headers["Content-Type"], request.content)
    assert [(p.name, p.filename, p.data[:8]) for p in parts] == [
        ("as", None, b"signer"),
        ("file", "du-thao.pdf", pdf_bytes[:8]),
    ]
    assert seen[-1] == (len(request.content), len(request.content))
