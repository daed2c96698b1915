"""edXML field readers: dates and timestamps in the formats seen in service, required and
optional values with ``edxml_*`` refusals, and the generic JSON form of elements docex has no
field for."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime
from typing import Any

from docex.interop.errors import EdxmlInvalid
from docex.interop.safexml import Element
from docex.kit.clock import VIETNAM_TZ

_DATE_FORMATS = ("%Y/%m/%d", "%Y-%m-%d")
_TIME_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S")


def generic(element: Element) -> Any:
    """An element as JSON: text if it has neither children nor attributes, else an object of
    ``@attribute``s, ``#text`` (mixed content) and children by name (repeated → a list)."""
    text = element.text.strip()
    if not element.children and not element.attrs:
        return text
    out: dict[str, Any] = {f"@{k}": v for k, v in element.attrs.items()}
    if text:
        out["#text"] = text
    for child in element.children:
        value = generic(child)
        if child.name not in out:
            out[child.name] = value
        elif isinstance(out[child.name], list):
            out[child.name].append(value)
        else:
            out[child.name] = [out[child.name], value]
    return out


def missing(where: str) -> EdxmlInvalid:
    return EdxmlInvalid(f"<{where}> is required", code="edxml_missing_element")


def invalid(where: str, why: str) -> EdxmlInvalid:
    return EdxmlInvalid(f"<{where}>: {why}", code="edxml_invalid_value")


def parse_date(text: str, where: str) -> date:
    for fmt in _DATE_FORMATS:
        with contextlib.suppress(ValueError):
            return datetime.strptime(text, fmt).date()  # noqa: DTZ007 (a date, no time of day)
    raise EdxmlInvalid(f"<{where}> {text!r} is not a date (yyyy/MM/dd)", code="edxml_invalid_date")


def parse_timestamp(text: str, where: str) -> datetime:
    """``yyyy/MM/dd HH:mm:ss`` in Vietnam time (or ISO 8601) → aware UTC."""
    moment: datetime | None = None
    for fmt in _TIME_FORMATS:
        with contextlib.suppress(ValueError):
            moment = datetime.strptime(text, fmt)  # noqa: DTZ007 (zone set just below)
            break
    if moment is None:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise EdxmlInvalid(
                f"<{where}> {text!r} is not a timestamp (yyyy/MM/dd HH:mm:ss)",
                code="edxml_invalid_date",
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=VIETNAM_TZ)
    return moment.astimezone(UTC)


class Fields:
    """The children of one element in generic form, taken one by one; what is left over is
    what docex has no field for."""

    def __init__(self, value: Any, where: str) -> None:
        if isinstance(value, list):
            raise EdxmlInvalid(f"<{where}> appears more than once", code="edxml_duplicate_element")
        if isinstance(value, str):
            if value:
                raise invalid(where, "holds text where elements were expected")
            value = {}
        self.values: dict[str, Any] = dict(value)
        self.where = where

    def _path(self, name: str) -> str:
        return f"{self.where}/{name}"

    def text(
        self, name: str, *, required: bool = False, max_chars: int | None = None
    ) -> str | None:
        value = self.values.pop(name, None)
        if isinstance(value, list):
            raise EdxmlInvalid(
                f"<{self._path(name)}> appears more than once", code="edxml_duplicate_element"
            )
        if isinstance(value, dict):
            raise invalid(self._path(name), "holds elements where text was expected")
        if not value:
            if required:
                raise missing(self._path(name))
            return None
        if max_chars is not None and len(value) > max_chars:
            raise invalid(self._path(name), f"longer than {max_chars} characters")
        return str(value)

    def need(self, name: str, *, max_chars: int | None = None) -> str:
        value = self.text(name, required=True, max_chars=max_chars)
        if value is None:  # pragma: no cover - text(required=True) raised
            raise missing(self._path(name))
        return value

    def date(self, name: str, *, required: bool = False) -> date | None:
        value = self.text(name, required=required)
        return parse_date(value, self._path(name)) if value is not None else None

    def timestamp(self, name: str) -> datetime:
        return parse_timestamp(self.need(name), self._path(name))

    def group(self, name: str, *, required: bool = False) -> Fields | None:
        if name not in self.values:
            if required:
                raise missing(self._path(name))
            return None
        return Fields(self.values.pop(name), self._path(name))

    def need_group(self, name: str) -> Fields:
        if name not in self.values:
            raise missing(self._path(name))
        return Fields(self.values.pop(name), self._path(name))

    def groups(self, name: str) -> list[Fields]:
        value = self.values.pop(name, None)
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        return [Fields(item, self._path(name)) for item in items]

    def rest(self) -> dict[str, Any]:
        return self.values
