"""Streaming intake of ``multipart/form-data``: limits enforced while the bytes arrive.

Nothing is buffered whole: text parts are capped (the envelope by ``max_envelope_bytes``), file
parts stream into spool files in the node's spool directory while their SHA-256 is computed, and
the request is refused with 413 the moment the body, a text part or the number of files exceeds
the limits — before the rest of the body is read. Which parts a body may hold is a
:class:`FormShape`: a document (envelope, main, attachments) or a PDF to sign (``file``, ``as``).

Spool files are not blobs: they are removed when the request ends, however it ends — accepted
ones are *moved* into the blob store, refused, failed or abandoned ones deleted. Each is held
under an exclusive ``flock`` while its request lives, so that after a crash
:func:`sweep_spool` can tell the orphans (no lock) from the files of a live process.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import tempfile
import time
import unicodedata
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from docex.config import LimitSettings
from docex.documents.media_types import accepted_type
from docex.errors import BadRequest, PayloadTooLarge, Unprocessable, UnsupportedMedia
from docex.kit.bodies import capped, check_declared_length

log = logging.getLogger(__name__)
FILE_PARTS = ("main", "attachment")
SPOOL_PREFIX = "upload-"


@dataclass(frozen=True)
class FormShape:
    """The parts a multipart body may hold, and its limits."""

    fields: Mapping[str, int]  # text parts: name -> most bytes
    files: Mapping[str, int]  # file parts: name -> how many at most
    max_files: int
    max_body_bytes: int
    max_file_name_chars: int
    # File parts whose type is their content (a PDF, checked as one): their declared
    # Content-Type is checked for form only, not against the attachments' allow-list.
    typed_by_content: frozenset[str] = frozenset({"main"})

    @property
    def parts(self) -> str:
        return ", ".join([*self.fields, *self.files])


def document_form(limits: LimitSettings) -> FormShape:
    """A document: an envelope, one main file, attachments."""
    return FormShape(
        fields={"envelope": limits.max_envelope_bytes},
        files={"main": 1, "attachment": limits.max_files},
        max_files=limits.max_files,
        max_body_bytes=limits.max_body_bytes,
        max_file_name_chars=limits.max_file_name_chars,
    )


@dataclass
class SpooledFile:
    role: str
    name: str
    content_type: str
    path: Path
    size: int = 0
    sha256: str = ""
    # Open (and flock-ed) from creation to discard: the lock says "a live request owns this".
    handle: BinaryIO | None = field(default=None, repr=False)


@dataclass
class Upload:
    fields: dict[str, bytes] = field(default_factory=dict)
    files: list[SpooledFile] = field(default_factory=list)

    @property
    def envelope(self) -> bytes | None:
        return self.fields.get("envelope")

    @property
    def main(self) -> SpooledFile | None:
        return self.first("main")

    def first(self, role: str) -> SpooledFile | None:
        return next((f for f in self.files if f.role == role), None)

    def discard(self) -> None:
        """Remove every spool file (those moved into the blob store are gone already)."""
        for spooled in self.files:
            with contextlib.suppress(FileNotFoundError):
                spooled.path.unlink()
            if spooled.handle is not None:
                spooled.handle.close()
                spooled.handle = None


def _spool_file(spool_dir: Path) -> tuple[BinaryIO, Path]:
    fd, tmp = tempfile.mkstemp(dir=spool_dir, prefix=SPOOL_PREFIX)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # new and unnamed elsewhere: never blocks
    return os.fdopen(fd, "wb"), Path(tmp)


def sweep_spool(spool_dir: Path, *, min_age_seconds: float = 10) -> int:
    """Delete spool files no live request holds (left by a process that was killed); returns
    how many. Files younger than ``min_age_seconds`` are left alone: one may have been
    created an instant ago and not be locked yet."""
    removed = 0
    if not spool_dir.is_dir():
        return 0
    cutoff = time.time() - min_age_seconds
    for path in spool_dir.iterdir():
        if not path.name.startswith(SPOOL_PREFIX):
            continue
        try:
            if path.stat().st_mtime > cutoff:
                continue
            with path.open("rb") as handle:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live request's
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    if removed:
        log.warning("removed %d spool file(s) left by a process that did not finish", removed)
    return removed


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

    def __init__(self, shape: FormShape, spool_dir: Path) -> None:
        self.shape = shape
        self.spool_dir = spool_dir
        self.upload = Upload()
        self._headers: dict[str, str] = {}
        self._field = b""
        self._value = b""
        self._part: str | None = None
        self._text = bytearray()
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
        if name in self.shape.fields:
            if name in self.upload.fields:
                raise BadRequest(f"more than one {name} part", code="malformed_multipart")
            self._text = bytearray()
        elif name in self.shape.files:
            if sum(f.role == name for f in self.upload.files) >= self.shape.files[name]:
                raise Unprocessable(f"more than one {name} file", code=f"duplicate_{name}")
            if len(self.upload.files) >= self.shape.max_files:
                raise PayloadTooLarge(
                    f"at most {self.shape.max_files} files per document", code="too_many_files"
                )
            role = "main" if name in self.shape.typed_by_content else name
            content_type = accepted_type(self._headers.get("content-type"), role=role)
            self._file, tmp = _spool_file(self.spool_dir)
            self._hash = hashlib.sha256()
            self._current = SpooledFile(
                role=name,
                name=sanitize_filename(filename or name, max_chars=self.shape.max_file_name_chars),
                content_type=content_type,
                path=tmp,
                handle=self._file,
            )
            self.upload.files.append(self._current)
        else:
            raise Unprocessable(
                f"unexpected part {name!r}; parts are {self.shape.parts}", code="unknown_part"
            )

    def part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        part = self._part
        if part is not None and part in self.shape.fields:
            self._text += chunk
            cap = self.shape.fields[part]
            if len(self._text) > cap:
                raise PayloadTooLarge(f"{part} over {cap} bytes", code=f"{part}_too_large")
        elif self._file is not None and self._hash is not None and self._current is not None:
            self._file.write(chunk)
            self._hash.update(chunk)
            self._current.size += len(chunk)

    def part_end(self) -> None:
        part = self._part
        if part is not None and part in self.shape.fields:
            self.upload.fields[part] = bytes(self._text)
        elif self._file is not None and self._hash is not None and self._current is not None:
            self._file.flush()  # complete on disk; the handle stays open, holding the lock
            self._current.sha256 = self._hash.hexdigest()
            self._file = self._hash = self._current = None


async def receive_upload(
    content_type: str | None,
    content_length: str | None,
    body: AsyncIterator[bytes],
    *,
    limits: LimitSettings,
    spool_dir: Path,
) -> Upload:
    """A document's envelope and files (:func:`document_form`)."""
    return await receive_form(
        content_type, content_length, body, shape=document_form(limits), spool_dir=spool_dir
    )


async def receive_form(
    content_type: str | None,
    content_length: str | None,
    body: AsyncIterator[bytes],
    *,
    shape: FormShape,
    spool_dir: Path,
) -> Upload:
    """The parts of a multipart body, files spooled; the caller must ``discard()`` it."""
    kind, params = parse_options_header(content_type or "")
    if kind != b"multipart/form-data" or not params.get(b"boundary"):
        raise UnsupportedMedia(
            f"send multipart/form-data with parts {shape.parts}", code="not_multipart"
        )
    check_declared_length(content_length, shape.max_body_bytes)
    receiver = _Receiver(shape, spool_dir)
    try:
        parser = MultipartParser(params[b"boundary"], receiver.callbacks())  # type: ignore[arg-type]
    except Exception as exc:
        raise BadRequest("invalid multipart boundary", code="malformed_multipart") from exc
    try:
        async for chunk in capped(body, shape.max_body_bytes):
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        receiver.upload.discard()
        raise BadRequest(f"malformed multipart body: {exc}", code="malformed_multipart") from exc
    except BaseException:  # refused, failed, client gone, task cancelled (server stopping)
        receiver.upload.discard()
        raise
    upload = receiver.upload
    if parser.state != MultipartState.END or any(not f.sha256 for f in upload.files):
        upload.discard()
        raise BadRequest("multipart body ended inside a part", code="malformed_multipart")
    return upload
