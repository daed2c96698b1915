"""Request bodies under a cap: the declared length is checked before a byte is read, the
streamed length while the bytes arrive, so a body over the cap is refused (413) having cost at
most one chunk more than the cap. Framework-free: chunks are any ``AsyncIterator[bytes]``."""

from __future__ import annotations

from collections.abc import AsyncIterator

from docex.errors import BadRequest, PayloadTooLarge


def check_declared_length(content_length: str | None, cap: int) -> int | None:
    """The body size a ``Content-Length`` header announces, refused if over ``cap``."""
    if content_length is None:
        return None
    value = content_length.strip()
    if not value.isdigit() or len(value) > 20:
        raise BadRequest("invalid Content-Length", code="bad_request")
    declared = int(value)
    if declared > cap:
        raise PayloadTooLarge(
            f"body of {declared} bytes is over the limit of {cap}", code="body_too_large"
        )
    return declared


async def capped(chunks: AsyncIterator[bytes], cap: int) -> AsyncIterator[bytes]:
    """``chunks`` as they come, until their total passes ``cap``: then 413."""
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > cap:
            raise PayloadTooLarge(f"body over the limit of {cap} bytes", code="body_too_large")
        yield chunk


async def read_capped(content_length: str | None, chunks: AsyncIterator[bytes], cap: int) -> bytes:
    """A whole (small) body: declared length first, then streamed length."""
    check_declared_length(content_length, cap)
    body = bytearray()
    async for chunk in capped(chunks, cap):
        body += chunk
    return bytes(body)
