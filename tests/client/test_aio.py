"""``AsyncDocexClient`` sends the same Calls as the sync client: the same requests, retries,
resumable downloads and errors, awaited."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from docex_client import (
    AsyncDocexClient,
    IntegrityError,
    NotFoundError,
    RetryPolicy,
    UnavailableError,
)
from tests.client.helpers import (
    BASE,
    DOC,
    TOKEN,
    FileServer,
    Recorder,
    document_json,
    parse_multipart,
)

CONTENT = os.urandom(200_000)
DIGEST = hashlib.sha256(CONTENT).hexdigest()


def client(handler: Any, waits: list[float] | None = None, **policy: Any) -> AsyncDocexClient:
    async def sleep(seconds: float) -> None:
        (waits if waits is not None else []).append(seconds)

    return AsyncDocexClient(
        BASE,
        TOKEN,
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(**policy),
        sleep=sleep,
    )


def test_async_send_streams_the_same_body_and_retries_with_the_same_message_id(
    tmp_path: Path,
) -> None:
    main = tmp_path / "cong-van.pdf"
    main.write_bytes(b"%PDF-1.7 " + CONTENT)
    recorder = Recorder([httpx.ConnectError("refused"), httpx.Response(201, json=document_json())])
    waits: list[float] = []

    async def run() -> Any:
        async with client(recorder, waits) as api:
            return await api.send({"recipients": ["000.00.00.H41"], "subject": "Thử"}, main)

    sent = asyncio.run(run())
    assert sent.created
    assert len(waits) == 1
    bodies = [parse_multipart(r.headers["Content-Type"], r.content) for r in recorder.requests]
    assert len({json.loads(parts[0].data)["message_id"] for parts in bodies}) == 1
    assert all(parts[1].data == main.read_bytes() for parts in bodies)
    assert all(int(r.headers["Content-Length"]) == len(r.content) for r in recorder.requests)


def test_async_download_resumes_after_a_cut_and_checks_the_hash(tmp_path: Path) -> None:
    server = FileServer(CONTENT, cuts=[70_000, None])
    dest = tmp_path / "out.bin"

    async def run() -> Any:
        async with client(server) as api:
            return await api.download(DOC, "f", dest, expected_sha256=DIGEST)

    result = asyncio.run(run())
    assert (result.sha256, result.size) == (DIGEST, len(CONTENT))
    assert [r.headers.get("Range") for r in server.requests] == [None, "bytes=70000-"]
    assert dest.read_bytes() == CONTENT
    assert os.listdir(tmp_path) == ["out.bin"]


def test_async_download_of_wrong_bytes_leaves_nothing(tmp_path: Path) -> None:
    server = FileServer(CONTENT, etag="ab" * 32)

    async def run() -> None:
        async with client(server) as api:
            await api.download(DOC, "f", tmp_path / "out.bin")

    with pytest.raises(IntegrityError):
        asyncio.run(run())
    assert os.listdir(tmp_path) == []


def test_async_reads_retry_503_and_map_errors_like_the_sync_client() -> None:
    down = httpx.Response(503, json={"error": "database_unavailable", "detail": "x"})
    me = {"id": "p", "kind": "leader", "agency_id": "000.00.00.G22", "clearance": "secret"}
    missing = httpx.Response(404, json={"error": "document_not_found", "detail": "no such"})
    recorder = Recorder([down, httpx.Response(200, json=me), missing, down, down])
    waits: list[float] = []

    async def run() -> None:
        async with client(recorder, waits, attempts=2) as api:
            assert (await api.me()).clearance == "secret"
            with pytest.raises(NotFoundError):
                await api.document(DOC)
            with pytest.raises(UnavailableError):
                await api.document(DOC)

    asyncio.run(run())
    assert len(recorder.requests) == 5
    assert len(waits) == 2


def test_async_iteration_follows_cursors() -> None:
    item = {
        "document_id": DOC,
        "business_id": "b",
        "sender_id": "s",
        "subject": "",
        "urgency": "normal",
        "classification": "secret",
        "status": None,
        "delivered_at": None,
    }
    pages = {None: {"items": [item], "next_cursor": "2"}, "2": {"items": [item]}}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    async def run() -> list[str]:
        async with client(handler) as api:
            return [i.document_id async for i in api.iter_inbox(limit=1)]

    assert asyncio.run(run()) == [DOC, DOC]


def test_async_overdue_asks_for_the_open_ones_and_follows_the_pages() -> None:
    item = {
        "document_id": DOC,
        "business_id": "000.00.00.G22,2026/11/25,12/VPCP-TTĐT",
        "sender_id": "000.00.00.G22",
        "recipient_id": "000.00.00.H41",
        "side": "recipient",
        "subject": "Về việc thử nghiệm",
        "content_withheld": False,
        "urgency": "flash",
        "classification": "normal",
        "status": "01",
        "answered": False,
        "delivered_at": "2026-11-26T09:00:00Z",
        "due_at": "2026-11-26T10:00:00Z",
        "overdue_at": "2026-11-26T10:00:41Z",
    }
    recorder = Recorder(
        [
            httpx.Response(200, json={"items": [item], "next_cursor": "Wy0xXQ"}),
            httpx.Response(200, json={"items": [item], "next_cursor": None}),
        ]
    )

    async def run() -> list[Any]:
        async with client(recorder) as api:
            return [i async for i in api.iter_overdue(answered=False, limit=1)]

    items = asyncio.run(run())
    assert [(i.side, i.answered, i.due_at.isoformat()) for i in items] == [
        ("recipient", False, "2026-11-26T10:00:00+00:00")
    ] * 2
    assert [dict(r.url.params) for r in recorder.requests] == [
        {"answered": "false", "limit": "1"},
        {"answered": "false", "limit": "1", "cursor": "Wy0xXQ"},
    ]


def test_async_edxml_sends_xml_retries_the_same_bytes_and_reads_both_answers(
    tmp_path: Path,
) -> None:
    package = tmp_path / "van-ban.edxml"
    package.write_bytes(b'<?xml version="1.0"?><edXML/>')
    receipt: dict[str, Any] = {
        "id": "r1",
        "code": "03",
        "from_agency_id": "A",
        "to_agency_id": "B",
        "note": None,
        "incoming_number": "7",
        "created_at": "2026-11-25T07:00:00Z",
        "signed": "x.y.z",
        "receipts": [],
    }
    recorder = Recorder(
        [
            httpx.ConnectError("refused"),
            httpx.Response(201, json=document_json()),
            httpx.Response(200, json=receipt),
            httpx.Response(200, content=b"<edXML/>", headers={"Content-Type": "application/xml"}),
            httpx.Response(200, content=b"<edXML/>", headers={"Content-Type": "application/xml"}),
        ]
    )

    async def run() -> Any:
        async with client(recorder) as api:
            return (
                await api.send_edxml(package),
                await api.send_edxml(package.read_bytes()),
                await api.document_edxml(DOC),
                await api.receipt_edxml(DOC, "r1"),
            )

    document, status, exported, status_xml = asyncio.run(run())
    assert document.created
    assert document.document.id == DOC
    assert (status.code, status.incoming_number) == ("03", "7")
    assert exported == status_xml == b"<edXML/>"
    first, second, third, fourth, fifth = recorder.requests
    assert first.content == second.content == third.content == package.read_bytes()
    assert second.headers["content-type"] == "application/xml"
    assert second.url == f"{BASE}/api/v1/edxml"
    assert fourth.url == f"{BASE}/api/v1/documents/{DOC}/edxml"
    assert fifth.url == f"{BASE}/api/v1/documents/{DOC}/receipts/r1/edxml"
