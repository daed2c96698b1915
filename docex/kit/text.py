"""Text that is safe to store and to carry in edXML: no control characters.

A NUL byte cannot be stored by PostgreSQL in a text column and cannot be carried by XML 1.0;
other C0/C1 controls only hide things from the people who read documents. Tabs and line breaks
are allowed in multi-line fields only.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator

_LINE_BREAKS = frozenset("\t\n\r")


def has_control_chars(value: str, *, multiline: bool = False) -> bool:
    allowed = _LINE_BREAKS if multiline else frozenset()
    return any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in value)


def _single_line(value: str) -> str:
    if has_control_chars(value):
        raise ValueError("control characters are not allowed")
    return value


def _multi_line(value: str) -> str:
    if has_control_chars(value, multiline=True):
        raise ValueError("control characters other than line breaks are not allowed")
    return value


Line = Annotated[str, AfterValidator(_single_line)]
Paragraph = Annotated[str, AfterValidator(_multi_line)]


def find_control_chars(data: Any, path: str = "") -> str | None:
    """The JSON path of the first string (key or value) holding a control character."""
    if isinstance(data, str):
        return path or "." if has_control_chars(data, multiline=True) else None
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and has_control_chars(key):
                return where
            if (found := find_control_chars(value, where)) is not None:
                return found
    if isinstance(data, list):
        for index, value in enumerate(data):
            if (found := find_control_chars(value, f"{path}[{index}]")) is not None:
                return found
    return None


def fold(value: str) -> str:
    """Case- and accent-insensitive form for search: "Nghệ An" and "NGHE AN" both → "nghe an".

    Done in Python, not with the database's lower()/ILIKE, so SQLite (ASCII-only folding) and
    PostgreSQL find the same agencies.
    """
    return " ".join(strip_diacritics(value).casefold().split())


def strip_diacritics(value: str) -> str:
    """Vietnamese without its diacritics: "Công văn Đà Nẵng" → "Cong van Da Nang"."""
    decomposed = unicodedata.normalize("NFKD", value.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
