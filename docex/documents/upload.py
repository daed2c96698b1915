"""Streaming intake of ``multipart/form-data``: limits enforced while the bytes arrive.

Nothing is buffered whole: the envelope part is capped (``max_envelope_bytes``), file parts
stream into spool files in the node's spool directory while their SHA-256 is computed, and the
request is refused with 413 the moment the body, the envelope or the number of files exceeds
the node's limits — before the rest of the body is read. Spool files are not blobs: they are
removed when the request ends, accepted or not (accepted ones are *moved* into the blob store).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.concurrency import run_in_threadpool

from docex.config import LimitSettings
from docex.documents.media_types import accepted_type
from docex.errors import BadRequest, PayloadTooLarge, Unprocessable, UnsupportedMedia

FILE_PARTS = ("main", "attachment")


@dataclass
class SpooledFile:
    role: str
    name: str
    content_type: str
    path: Path
    size: int = 0
    sha256: str = ""


@dataclass
class Upload:
    envelope: bytes | None = None
    files: list[SpooledFile] = field(default_factory=list)

    @property
    def main(self) -> SpooledFile | None:
        return next((f for f in self.files if f.role == "main"), None)

    def discard(self) -> None:
        for spooled in self.files:
            with contextlib.suppress(FileNotFoundError):
                spooled.path.unlink()


_UNSAFE = re.compile(r"[^\w.\- ()]+", re.UNICODE)


def sanitize_filename(raw: str, *, max_chars: int) -> str:
    """Keep only a display name: no directories, no control or path characters, NFC, bounded."""
    name = unicodedata.normalize("NFC", raw.replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = _UNSAFE.sub("_", name).strip(" .")
    return (name or "file")[:max_chars]


def _disposition(value: str) -> tuple[str, str | None]:
    kind, params = parse_options_header(value)
    if kind != b"form-data" or b"name" not in params:
        raise BadRequest(
            "each part needs Content-Disposition: form-data; name=...", code="malformed_multipart"
        )
    name = params[b"name"].decode("utf-8", "replace")
    filename = params.get(b"filename")
    return name, filename.decode("utf-8", "replace") if filename is not None else None


class _Receiver:
    """Callbacks for python-multipart's push parser; enforces part-level limits."""

    def __init__(self, limits: LimitSettings, spool_dir: Path) -> None:
        self.limits = limits
        self.spool_dir = spool_dir
        self.upload = Upload()
        self._headers: dict[str, str] = {}
        self._field = b""
        self._value = b""
        self._part: str | None = None
        self._envelope = bytearray()
        self._file: BinaryIO | None = None
        self._hash: hashlib._Hash | None = None
        self._current: SpooledFile | None = None
        self.error: Exception | None = None

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": self.header_field,
            "on_header_value": self.header_value,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def part_begin(self) -> None:
        self._headers = {}
        self._part = None

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def header_end(self) -> None:
        # Latin-1 round-trips every byte; the filename is decoded as UTF-8 in _disposition.
        self._headers[self._field.decode("latin-1").lower()] = self._value.decode("latin-1")
        self._field = self._value = b""

    def headers_finished(self) -> None:
        name, filename = _disposition(self._headers.get("content-disposition", ""))
        self._part = name
        if name == "envelope":
            if self.upload.envelope is not None:
                raise BadRequest("more than one envelope part", code="malformed_multipart")
            self._envelope = bytearray()
        elif name in FILE_PARTS:
            if name == "main" and self.upload.main is not None:
                raise Unprocessable("more than one main file", code="duplicate_main")
            if len(self.upload.files) >= self.limits.max_files:
                raise PayloadTooLarge(
                    f"at most {self.limits.max_files} files per document", code="too_many_files"
                )
            content_type = accepted_type(self._headers.get("content-type"), role=name)
            fd, tmp = tempfile.mkstemp(dir=self.spool_dir, prefix="upload-")
            self._file = os.fdopen(fd, "wb")
            self._hash = hashlib.sha256()
            self._current = SpooledFile(
                role=name,
                name=sanitize_filename(filename or name, max_chars=self.limits.max_file_name_chars),
                content_type=content_type,
                path=Path(tmp),
            )
            self.upload.files.append(self._current)
        else:
            raise Unprocessable(
                f"unexpected part {name!r}; parts are envelope, main, attachment",
                code="unknown_part",
            )

    def part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._part == "envelope":
            self._envelope += chunk
            if len(self._envelope) > self.limits.max_envelope_bytes:
                raise PayloadTooLarge(
                    f"envelope over {self.limits.max_envelope_bytes} bytes",
                    code="envelope_too_large",
                )
        elif self._file is not None and self._hash is not None and self._current is not None:
            self._file.write(chunk)
            self._hash.update(chunk)
            self._current.size += len(chunk)

    def part_end(self) -> None:
        if self._part == "envelope":
            self.upload.envelope = bytes(self._envelope)
        elif self._file is not None and self._hash is not None and self._current is not None:
            self._file.close()
            self._current.sha256 = self._hash.hexdigest()
            self._file = self._hash = self._current = None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


async def receive_upload(
    content_type: str | None,
    content_length: str | None,
    body: AsyncIterator[bytes],
    *,
    limits: LimitSettings,
    spool_dir: Path,
) -> Upload:
    kind, params = parse_options_header(content_type or "")
    if kind != b"multipart/form-data" or not params.get(b"boundary"):
        raise UnsupportedMedia(
            "send multipart/form-data with parts envelope, main, attachment", code="not_multipart"
        )
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError as exc:
            raise BadRequest("invalid Content-Length", code="bad_request") from exc
        if declared > limits.max_body_bytes:
            raise PayloadTooLarge(
                f"body of {declared} bytes is over the limit of {limits.max_body_bytes}",
                code="body_too_large",
            )
    receiver = _Receiver(limits, spool_dir)
    try:
        parser = MultipartParser(params[b"boundary"], receiver.callbacks())  # type: ignore[arg-type]
    except Exception as exc:
        raise BadRequest("invalid multipart boundary", code="malformed_multipart") from exc
    received = 0
    try:
        async for chunk in body:
            received += len(chunk)
            if received > limits.max_body_bytes:
                raise PayloadTooLarge(
                    f"body over the limit of {limits.max_body_bytes} bytes", code="body_too_large"
                )
            # The parser's callbacks write the spool files: disk I/O, off the event loop.
            await run_in_threadpool(parser.write, chunk)
        await run_in_threadpool(parser.finalize)
    except MultipartParseError as exc:
        receiver.close()
        receiver.upload.discard()
        raise BadRequest(f"malformed multipart body: {exc}", code="malformed_multipart") from exc
    except BaseException:
        receiver.close()
        receiver.upload.discard()
        raise
    receiver.close()
    upload = receiver.upload
    if parser.state != MultipartState.END or any(not f.sha256 for f in upload.files):
        upload.discard()
        raise BadRequest("multipart body ended inside a part", code="malformed_multipart")
    return upload
