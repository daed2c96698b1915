"""Streamed multipart/form-data bodies (RFC 7578) whose exact length is known up front.

A send announces ``Content-Length`` before its first byte, so a node can refuse an oversize
body at once, and the client never holds a whole file in memory: files are read in 64 KiB
chunks as the connection takes them. A file that grows or shrinks while it is sent aborts the
upload (``SourceChangedError``) instead of sending a body that contradicts its length.

The same body can be sent again (a retry): each pass seeks every file back to where it
started.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import mimetypes
import os
import secrets
import stat
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from docex_client.errors import SourceChangedError

__all__ = ["CHUNK_SIZE", "FileSource", "MultipartBody", "Progress", "content_type_for"]

CHUNK_SIZE = 64 * 1024

Progress = Callable[[int, int], None]
"""``progress(done_bytes, total_bytes)``; ``total_bytes`` is 0 when the size is unknown."""

FileSource = str | Path | BinaryIO
"""A path, or a binary file object read from its current position (regular file or seekable:
the body's length is announced before it is sent)."""


def content_type_for(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _quote_param(value: str) -> str:
    # HTML5 form encoding, as browsers and Starlette expect: the raw UTF-8 name in quotes, with
    # only the characters that would break the quoted-string percent-escaped.
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _remaining_size(stream: BinaryIO) -> int:
    """Bytes left to read in ``stream`` from its current position, without reading them."""
    position = stream.tell()
    with contextlib.suppress(AttributeError, OSError, io.UnsupportedOperation):
        info = os.fstat(stream.fileno())
        if stat.S_ISREG(info.st_mode):
            return max(0, info.st_size - position)
    end = stream.seek(0, os.SEEK_END)
    stream.seek(position)
    return max(0, end - position)


def source_name(source: FileSource, fallback: str) -> str:
    if isinstance(source, str | Path):
        return Path(source).name or fallback
    name = getattr(source, "name", None)
    if isinstance(name, str) and name:
        return Path(name).name or fallback
    return fallback


@dataclass
class _Part:
    head: bytes
    size: int
    data: bytes | None = None
    stream: BinaryIO | None = None
    start: int = 0


class MultipartBody:
    """A multipart/form-data body; ``len()`` is its exact length in bytes."""

    def __init__(self) -> None:
        self.boundary = f"docex-{secrets.token_hex(16)}"
        self._parts: list[_Part] = []

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type, "Content-Length": str(len(self))}

    def _head(self, name: str, filename: str | None, content_type: str) -> bytes:
        disposition = f'form-data; name="{_quote_param(name)}"'
        if filename is not None:
            disposition += f'; filename="{_quote_param(filename)}"'
        return (
            f"--{self.boundary}\r\n"
            f"Content-Disposition: {disposition}\r\n"
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()

    def add_bytes(self, name: str, data: bytes, content_type: str) -> None:
        self._parts.append(_Part(self._head(name, None, content_type), len(data), data=data))

    def add_stream(self, name: str, filename: str, content_type: str, stream: BinaryIO) -> None:
        head = self._head(name, filename, content_type)
        start = stream.tell()
        self._parts.append(_Part(head, _remaining_size(stream), stream=stream, start=start))

    @property
    def _tail(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode()

    def __len__(self) -> int:
        return sum(len(p.head) + p.size + 2 for p in self._parts) + len(self._tail)

    def _pieces(self) -> Iterator[bytes | _Reader]:
        for part in self._parts:
            yield part.head
            if part.stream is not None:
                yield _Reader(part.stream, part.start, part.size)
            else:
                yield part.data or b""
            yield b"\r\n"
        yield self._tail

    def chunks(self, progress: Progress | None = None) -> Iterator[bytes]:
        """The body, chunk by chunk; ``progress`` runs once each chunk has gone out."""
        meter = _Meter(len(self), progress)
        for piece in self._pieces():
            if isinstance(piece, bytes):
                yield piece
                meter.add(len(piece))
                continue
            while (chunk := piece.read()) is not None:
                yield chunk
                meter.add(len(chunk))

    async def achunks(self, progress: Progress | None = None) -> AsyncIterator[bytes]:
        """The same, for an async client: file reads run in a worker thread."""
        meter = _Meter(len(self), progress)
        for piece in self._pieces():
            if isinstance(piece, bytes):
                yield piece
                meter.add(len(piece))
                continue
            while (chunk := await asyncio.to_thread(piece.read)) is not None:
                yield chunk
                meter.add(len(chunk))


class _Meter:
    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total, self.done, self.progress = total, 0, progress
        if progress is not None:
            progress(0, total)

    def add(self, n: int) -> None:
        # Called when the transport asks for the next chunk, i.e. after this one went out.
        self.done += n
        if self.progress is not None:
            self.progress(self.done, self.total)


class _Reader:
    """Reads exactly ``size`` bytes of a file from ``start``."""

    def __init__(self, stream: BinaryIO, start: int, size: int) -> None:
        self.stream, self.start, self.left = stream, start, size
        self.done = self.started = False

    def read(self) -> bytes | None:
        if not self.started:  # lazily: a body sent again seeks back when it gets here
            self.stream.seek(self.start)
            self.started = True
        if self.left > 0:
            chunk = self.stream.read(min(CHUNK_SIZE, self.left))
            if not chunk:
                raise SourceChangedError(f"file ended {self.left} bytes early during upload")
            self.left -= len(chunk)
            return chunk
        if not self.done:
            self.done = True
            if self.stream.read(1):
                raise SourceChangedError("file grew during upload")
        return None
