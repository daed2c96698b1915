"""Opaque cursors for keyset pagination: ``?limit=&cursor=`` → ``{"items", "next_cursor"}``."""

from __future__ import annotations

import base64
import json
from typing import Any

from docex.errors import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class InvalidCursor(BadRequest):
    default_code = "invalid_cursor"

    def __init__(self, detail: str = "invalid cursor") -> None:
        super().__init__(detail)


def encode_cursor(*values: Any) -> str:
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *types: type) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor() from exc
    if (
        not isinstance(values, list)
        or any(isinstance(v, str) and "\x00" in v for v in values)
        or len(values) != len(types)
        or not all(isinstance(v, t) for v, t in zip(values, types, strict=True))
    ):
        raise InvalidCursor()
    return values
