"""Downloads that survive a cut connection and never leave unchecked bytes behind.

What is guaranteed
------------------
- A download to a path is written to a partial file beside it, ``.<name>.<sha256>.part``
  (named after the ETag, the file's SHA-256), and renamed to the path only once the whole
  file's SHA-256 equals the ETag and, if given, the SHA-256 the caller expected. Until then an
  existing file at the path is untouched.
- A cut connection (or Ctrl-C) keeps the partial file. The next try, in the same call (a
  retry) or a later one, asks only for the rest: ``Range: bytes=<size>-`` with
  ``If-Range: "<sha256>"`` (RFC 9110 §14), so if the file changed on the node it is sent whole
  again rather than spliced. The SHA-256 covers the bytes already on disk too.
- Any other failure (a hash mismatch, an error answer, a full disk) removes the partial file.
  A full disk is the ``OSError`` it is, not an integrity error.

The node side: ``GET /api/v1/documents/{id}/files/{file_id}`` answers ``Accept-Ranges:
bytes``, a single range with ``206`` and ``Content-Range``, ``416`` with ``Content-Range:
bytes */<size>`` past the end (docs/api.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import BinaryIO

import httpx

from docex_client.errors import IntegrityError, ResponseError
from docex_client.multipart import Progress

__all__ = ["Destination", "Receiver", "normalize_etag"]

_SHA256 = re.compile(r"[0-9a-f]{64}")
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def normalize_etag(value: str | None) -> str | None:
    """``W/"ABC"`` → ``abc``: the SHA-256 hex an ETag carries."""
    if value is None:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"').lower() or None


class Destination:
    """Where a download goes: a path (through a partial file) or a caller's file object."""

    def __init__(self, dest: str | Path | BinaryIO, *, expected_sha256: str | None) -> None:
        self.path: Path | None = None
        self.partial: Path | None = None
        self._stream: BinaryIO | None = None
        self._owned = False
        if isinstance(dest, str | Path):
            self.path = Path(dest)
            self.partial = _find_partial(self.path, expected_sha256)
        else:
            self._stream = dest

    @property
    def resume_tag(self) -> str | None:
        """The ETag (SHA-256) of the partial file found, if any."""
        tag = self.partial.name.rsplit(".", 2)[-2] if self.partial is not None else ""
        return tag if _SHA256.fullmatch(tag) else None

    def open(self) -> BinaryIO:
        """The stream to write to, positioned after what is already there."""
        if self._stream is not None:
            return self._stream
        if self.partial is None:
            if self.path is None:
                raise TypeError("a destination is a path or a file object")
            self.partial = _partial_for(self.path, f"tmp-{secrets.token_hex(4)}")
        self._stream = self.partial.open("ab")
        self._owned = True
        return self._stream

    def written(self) -> int:
        """Bytes of this download already at the destination (a caller's stream: none)."""
        if not self._owned or self.partial is None:
            return 0
        self.open().flush()
        return self.partial.stat().st_size

    def existing_digest(self, length: int) -> hashlib._Hash:
        """A SHA-256 already fed with the first ``length`` bytes at the destination."""
        hasher = hashlib.sha256()
        if length == 0:
            return hasher
        if self.partial is None:
            raise ResponseError("cannot resume into a file object")
        with self.partial.open("rb") as existing:
            while length > 0 and (block := existing.read(min(1 << 20, length))):
                hasher.update(block)
                length -= len(block)
        return hasher

    def restart(self, tag: str | None, *, written: int) -> None:
        """Throw away the ``written`` bytes there; name the partial file after the new ETag."""
        if not self._owned:
            if written:
                raise ResponseError("the file changed on the node while it was being received")
            return
        stream = self.open()
        stream.seek(0)
        stream.truncate()
        if self.partial is not None and self.path is not None and tag and _SHA256.fullmatch(tag):
            target = _partial_for(self.path, tag)
            if target != self.partial:
                self.partial.replace(target)
                self.partial = target

    def commit(self) -> Path | None:
        """The download is whole and checked: put it in place."""
        if not self._owned or self._stream is None or self.partial is None or self.path is None:
            return None
        self._stream.flush()
        os.fsync(self._stream.fileno())
        self._stream.close()
        self.partial.replace(self.path)
        return self.path

    def abandon(self, *, keep: bool) -> None:
        """The download failed; keep the partial file (to resume) or remove it."""
        if not self._owned or self._stream is None:
            return
        with contextlib.suppress(OSError):
            self._stream.close()
        if self.partial is not None and not (keep and self.resume_tag):
            self.partial.unlink(missing_ok=True)


def _partial_for(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{tag}.part")


def _find_partial(path: Path, expected: str | None) -> Path | None:
    """The partial file an interrupted download to ``path`` left, if any."""
    if expected is not None:
        candidate = _partial_for(path, expected.lower())
        return candidate if candidate.is_file() else None
    prefix, suffix = f".{path.name}.", ".part"
    with contextlib.suppress(OSError):
        for entry in path.parent.iterdir():
            tag = entry.name[len(prefix) : -len(suffix)]
            if (
                entry.name.startswith(prefix)
                and entry.name.endswith(suffix)
                and _SHA256.fullmatch(tag)
                and entry.is_file()
            ):
                return entry
    return None


class Receiver:
    """Writes one file's bytes as they arrive, over as many responses as it takes."""

    def __init__(
        self,
        destination: Destination,
        *,
        expected_sha256: str | None,
        progress: Progress | None,
    ) -> None:
        self.destination = destination
        self.expected = expected_sha256.lower() if expected_sha256 else None
        self.progress = progress
        self.etag: str | None = destination.resume_tag
        self.sink = destination.open()
        self.received = destination.written()
        self.resumed_from = self.received
        self.hasher = destination.existing_digest(self.received)
        self.total = 0

    def request_headers(self) -> dict[str, str]:
        if self.received > 0 and self.etag:
            return {"Range": f"bytes={self.received}-", "If-Range": f'"{self.etag}"'}
        return {}

    def begin(self, response: httpx.Response) -> None:
        """Take a 200 (the whole file: start over) or a 206 (the rest, from where we are)."""
        etag = normalize_etag(response.headers.get("ETag"))
        if response.status_code == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if match is None or int(match.group(1)) != self.received:
                raise ResponseError(
                    f"asked for bytes from {self.received}, got "
                    f"{response.headers.get('Content-Range')!r}",
                    status=206,
                )
            if match.group(3) != "*":
                self.total = int(match.group(3))
            if etag and self.etag and etag != self.etag:
                raise ResponseError("the rest of the file came with another ETag", status=206)
        else:
            self.destination.restart(etag, written=self.received)
            self.received = self.resumed_from = 0
            self.hasher = hashlib.sha256()
            length = response.headers.get("Content-Length", "")
            # A compressed transfer's length says nothing about the bytes we count.
            encoded = response.headers.get("Content-Encoding", "identity") != "identity"
            self.total = int(length) if length.isdigit() and not encoded else 0
        self.etag = etag or self.etag
        if self.progress is not None:
            self.progress(self.received, self.total)

    def forget(self) -> dict[str, str]:
        """The node cannot serve the rest (416): start over; the headers for a whole file."""
        self.destination.restart(None, written=self.received)
        self.received = self.resumed_from = 0
        self.hasher = hashlib.sha256()
        self.etag = None
        return {}

    def write(self, chunk: bytes) -> None:
        self.sink.write(chunk)
        self.hasher.update(chunk)
        self.received += len(chunk)
        if self.progress is not None:
            self.progress(self.received, self.total)

    def finish(self) -> str:
        """Check the whole file; return its SHA-256."""
        digest = self.hasher.hexdigest()
        if self.total and self.received != self.total:
            raise IntegrityError(f"received {self.received} bytes, the file has {self.total}")
        for source, claimed in (("ETag", self.etag), ("expected sha256", self.expected)):
            if claimed is not None and claimed != digest:
                raise IntegrityError(f"received bytes hash to {digest}, {source} says {claimed}")
        return digest
