"""Byte ranges of a download (RFC 9110 §14): what a client may ask for, and the bytes sent.

The node serves one range per request, which is what resuming a cut download needs:
``Range: bytes=<first>-``, ``bytes=<first>-<last>`` or ``bytes=-<suffix length>``. Several
ranges, another unit or a malformed header are ignored and the whole file is sent (§14.2
allows it). ``If-Range`` must carry the file's strong ETag (its SHA-256, quoted): any other
validator means the client holds bytes of something else, so it gets the whole file. A range
that starts past the end is ``416`` with ``Content-Range: bytes */<size>``.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass

from docex.errors import RangeNotSatisfiable

_SINGLE = re.compile(r"bytes=(\d*)-(\d*)", re.ASCII | re.IGNORECASE)


@dataclass(frozen=True)
class ByteRange:
    first: int
    last: int
    """Inclusive, as in the header."""
    size: int
    """The whole file's size."""

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.first}-{self.last}/{self.size}"


def requested_range(
    range_header: str | None, if_range: str | None, *, size: int, etag: str
) -> ByteRange | None:
    """The one range to send, or None for the whole file; ``RangeNotSatisfiable`` past the end.

    ``etag`` is the file's ETag as sent (quoted)."""
    if range_header is None:
        return None
    if if_range is not None and if_range.strip() != etag:
        return None
    match = _SINGLE.fullmatch(range_header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first_text, last_text = match.groups()
    if first_text == "":  # a suffix: the last N bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return ByteRange(max(0, size - suffix), size - 1, size)
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # invalid: ignored, as §14.1.1 says
    if first >= size:
        raise RangeNotSatisfiable(size)
    last = min(int(last_text), size - 1) if last_text else size - 1
    return ByteRange(first, last, size)


def sliced(chunks: Iterator[bytes], wanted: ByteRange) -> Iterator[bytes]:
    """The bytes of ``wanted`` out of the whole file's ``chunks``."""
    position = 0
    try:
        for chunk in chunks:
            end = position + len(chunk)
            if end > wanted.first:
                yield chunk[max(0, wanted.first - position) : wanted.last + 1 - position]
            position = end
            if position > wanted.last:
                return
    finally:
        if isinstance(chunks, Generator):  # stop reading (and decrypting) the rest now
            chunks.close()
