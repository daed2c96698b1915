"""The envelope a sender submits with a document (API.md), validated strictly.

Unknown fields are refused rather than dropped: an integrator who misspells ``clasification``
must learn it at once, not discover months later that a secret document went out as normal.
For the same reason the JSON is read strictly (``kit.strictjson``: a repeated key, say a second
``classification``, is ``duplicate_key``, not "the last one wins"), every string is free of
control and invisible characters (``kit.text``: no bidirectional override can disguise a
subject), and every value must already be of its own JSON type: ``"steering": "yes"`` or
``"type": "1"`` is refused, never coerced (pydantic strict mode). Dates are ISO 8601 calendar
dates written as strings (``"2026-07-01"``), nothing else: no timestamps, no date-times.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from docex.config import Classification
from docex.errors import Forbidden, Unprocessable
from docex.kit import strictjson
from docex.kit.text import describe, find_hidden_chars, hidden_char

Urgency = Literal["normal", "urgent", "very_urgent", "flash"]
URGENCY_PRIORITY: dict[str, int] = {"normal": 0, "urgent": 1, "very_urgent": 2, "flash": 3}
SENDER_FIELDS = ("sender", "sender_id", "from", "from_agency")

_Text = Field(default=None, max_length=2000)


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def _iso_date(value: Any) -> Any:
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return date.fromisoformat(value)  # ValueError (2026-02-30) → a validation error
    raise ValueError("a date is a string YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True, strict=True)


class CodeInfo(_Strict):
    number: str = Field(min_length=1, max_length=20)
    notation: str = Field(default="", max_length=100)


class DocumentType(_Strict):
    type: int = Field(ge=0, le=999)
    name: str = Field(default="", max_length=200)


class Promulgation(_Strict):
    place: str = Field(default="", max_length=200)
    date: IsoDate


class SignerInfo(_Strict):
    competence: str = Field(default="", max_length=200)
    position: str = Field(default="", max_length=200)
    full_name: str = Field(default="", max_length=200)


class Business(_Strict):
    type: Literal["new", "revoke", "update", "replace"] = "new"
    refers_to: str | None = Field(default=None, max_length=64)
    reason: str | None = _Text


class Envelope(_Strict):
    message_id: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/+-]*$"
    )
    recipients: list[str] = Field(max_length=10_000)
    code: CodeInfo | None = None
    document_type: DocumentType | None = None
    subject: str = Field(min_length=1, max_length=1000)
    summary: str | None = _Text
    promulgation: Promulgation | None = None
    signer: SignerInfo | None = None
    urgency: Urgency = "normal"
    # Lax for the enum only: strict mode wants an enum instance, JSON has its value.
    classification: Classification = Field(default=Classification.NORMAL, strict=False)
    due_date: IsoDate | None = None
    steering: bool = False
    business: Business | None = None
    in_reply_to: str | None = Field(default=None, max_length=64)


def parse_envelope(raw: bytes, *, sender_id: str) -> Envelope:
    data = strictjson.loads(raw)
    if not isinstance(data, dict):
        raise Unprocessable("envelope must be a JSON object", code="invalid_envelope")
    if (found := find_hidden_chars(data)) is not None:
        where, ch = found
        raise Unprocessable(
            f"invalid envelope: {_visible(where)} holds {describe(ch)}, a control or invisible "
            "character",
            code="invalid_envelope",
        )
    for name in SENDER_FIELDS:
        if name in data:
            if data[name] not in (None, sender_id):
                raise Forbidden(
                    "you act for your own agency only; the sender is the authenticated agency",
                    code="acting_for_other_agency",
                )
            raise Unprocessable(
                f"'{name}' cannot be set: the sender is the authenticated agency",
                code="sender_not_settable",
            )
    try:
        return Envelope.model_validate(data)
    except ValidationError as exc:
        unknown = [
            ".".join(map(str, e["loc"])) for e in exc.errors() if e["type"] == "extra_forbidden"
        ]
        if unknown:
            raise Unprocessable(
                f"unknown envelope field(s): {', '.join(unknown)}", code="unknown_envelope_field"
            ) from exc
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'envelope'}: {e['msg']}" for e in exc.errors()
        )
        raise Unprocessable(f"invalid envelope: {problems}", code="invalid_envelope") from exc


def _visible(text: str) -> str:
    """``text`` with its hidden characters written as escapes, so a refusal cannot disguise."""
    return "".join(f"\\u{ord(ch):04x}" if hidden_char(ch) else ch for ch in text)
