"""What the client tests share: an in-process node stand-in and a multipart parser.

The stand-in answers from a queue (``Recorder``) or serves one file with HTTP ranges
(``FileServer``); the real node's answers are tested in tests/functional and tests/documents.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header

BASE = "http://node.test"
TOKEN = "tok-123"
DOC = "01a21488-bb0b-7108-9819-0a80661a572f"
Handler = Callable[[httpx.Request], httpx.Response]


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
    """A MockTransport handler that records requests and answers from a queue; an exception
    in the queue is raised instead, as a broken connection would."""

    responses: list[httpx.Response | Exception]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.responses.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def document_json(**extra: Any) -> dict[str, Any]:
    return {
        "id": DOC,
        "message_id": "msg-42",
        "business_id": "000.00.00.G22,2026/11/25,12/VPCP-TTĐT",
        "sender_id": "000.00.00.G22",
        "envelope": {"subject": "Về việc thử nghiệm"},
        "files": [],
        "signatures": [],
        "recipients": [],
        "created_at": "2026-11-25T07:00:00Z",
        **extra,
    }


class CutStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that breaks off after ``cut`` bytes, as a dropped connection does."""

    def __init__(self, data: bytes, cut: int | None) -> None:
        self.data, self.cut = data, cut

    def __iter__(self) -> Iterator[bytes]:
        end = len(self.data) if self.cut is None else self.cut
        for start in range(0, end, 10_000):
            yield self.data[start : min(end, start + 10_000)]
        if self.cut is not None:
            raise httpx.ReadError("peer closed connection without sending complete message body")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self:
            yield chunk


@dataclass
class FileServer:
    """Serves one file at any path with the node's Range rules; ``cuts`` are the byte counts
    after which successive answers break off (None: the whole answer)."""

    content: bytes
    cuts: list[int | None] = field(default_factory=list)
    etag: str | None = None
    requests: list[httpx.Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.etag is None:
            self.etag = hashlib.sha256(self.content).hexdigest()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        cut = self.cuts.pop(0) if self.cuts else None
        size = len(self.content)
        headers = {"ETag": f'"{self.etag}"', "Accept-Ranges": "bytes"}
        wanted = request.headers.get("Range")
        validator = request.headers.get("If-Range")
        match = re.fullmatch(r"bytes=(\d+)-", wanted or "")
        if match and (validator is None or validator == f'"{self.etag}"'):
            first = int(match.group(1))
            if first >= size:
                headers["Content-Range"] = f"bytes */{size}"
                return httpx.Response(416, headers=headers, json={"error": "range", "detail": ""})
            body = self.content[first:]
            headers["Content-Range"] = f"bytes {first}-{size - 1}/{size}"
            headers["Content-Length"] = str(len(body))
            return httpx.Response(206, headers=headers, stream=CutStream(body, cut))
        headers["Content-Length"] = str(size)
        return httpx.Response(200, headers=headers, stream=CutStream(self.content, cut))
