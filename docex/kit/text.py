"""Text that is safe to store, to show and to carry in edXML: nothing hidden in it.

A NUL byte cannot be stored by PostgreSQL in a text column and cannot be carried by XML 1.0;
other C0/C1 controls only hide things from the people who read documents. So do the invisible
format characters: a RIGHT-TO-LEFT OVERRIDE (U+202E) shows "Về việc phê duyệt gpj.exe" as
"...exe.jpg", bidirectional isolates reorder what follows them, zero-width spaces and joiners
split or glue words a search or a reviewer relies on, tag characters (U+E0000 block) carry
invisible ASCII. Text fields refuse them all (Unicode general categories Cc, Cf, Zl, Zp, Cs and
the noncharacters), with two exceptions: ZERO WIDTH NON-JOINER and ZERO WIDTH JOINER (U+200C,
U+200D), which are part of the spelling of some scripts and of emoji sequences. Tabs and line
breaks are allowed in multi-line fields only. Vietnamese in NFD (combining marks, category Mn)
is ordinary text.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator

_LINE_BREAKS = frozenset("\t\n\r")
_JOINERS = frozenset("\u200c\u200d")
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def has_control_chars(value: str, *, multiline: bool = False) -> bool:
    allowed = _LINE_BREAKS if multiline else frozenset()
    return any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in value)


def _is_noncharacter(ch: str) -> bool:
    code = ord(ch)
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def hidden_char(value: str, *, multiline: bool = False) -> str | None:
    """The first character of ``value`` that hides or disguises text (see above), or None."""
    for ch in value:
        if ch in _JOINERS or (multiline and ch in _LINE_BREAKS):
            continue
        if unicodedata.category(ch) in _HIDDEN_CATEGORIES or _is_noncharacter(ch):
            return ch
    return None


def describe(ch: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE``: how a refusal names a character."""
    return f"U+{ord(ch):04X} {unicodedata.name(ch, '(unnamed)')}"


def _refuse(ch: str) -> ValueError:
    return ValueError(f"{describe(ch)} is not allowed (a control or invisible character)")


def _single_line(value: str) -> str:
    if (ch := hidden_char(value)) is not None:
        raise _refuse(ch)
    return value


def _multi_line(value: str) -> str:
    if (ch := hidden_char(value, multiline=True)) is not None:
        raise _refuse(ch)
    return value


Line = Annotated[str, AfterValidator(_single_line)]
Paragraph = Annotated[str, AfterValidator(_multi_line)]


def find_hidden_chars(data: Any, path: str = "") -> tuple[str, str] | None:
    """The JSON path of the first string (key or value) holding a hidden character, and that
    character; keys are single-line, values may hold line breaks."""
    if isinstance(data, str):
        ch = hidden_char(data, multiline=True)
        return (path or ".", ch) if ch is not None else None
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and (ch := hidden_char(key)) is not None:
                return where, ch
            if (found := find_hidden_chars(value, where)) is not None:
                return found
    if isinstance(data, list):
        for index, value in enumerate(data):
            if (found := find_hidden_chars(value, f"{path}[{index}]")) is not None:
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
