"""The envelope a sender submits with a document (API.md), validated strictly.

Unknown fields are refused rather than dropped: an integrator who misspells ``clasification``
must learn it at once, not discover months later that a secret document went out as normal.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from docex.config import Classification
from docex.errors import BadRequest, Forbidden, Unprocessable
from docex.kit.text import find_control_chars

Urgency = Literal["normal", "urgent", "very_urgent", "flash"]
URGENCY_PRIORITY: dict[str, int] = {"normal": 0, "urgent": 1, "very_urgent": 2, "flash": 3}
SENDER_FIELDS = ("sender", "sender_id", "from", "from_agency")

_Text = Field(default=None, max_length=2000)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class CodeInfo(_Strict):
    number: str = Field(min_length=1, max_length=20)
    notation: str = Field(default="", max_length=100)


class DocumentType(_Strict):
    type: int = Field(ge=0, le=999)
    name: str = Field(default="", max_length=200)


class Promulgation(_Strict):
    place: str = Field(default="", max_length=200)
    date: date


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
    classification: Classification = Classification.NORMAL
    due_date: date | None = None
    steering: bool = False
    business: Business | None = None
    in_reply_to: str | None = Field(default=None, max_length=64)


def parse_envelope(raw: bytes, *, sender_id: str) -> Envelope:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BadRequest(f"envelope is not valid UTF-8 JSON: {exc}", code="invalid_json") from exc
    if not isinstance(data, dict):
        raise Unprocessable("envelope must be a JSON object", code="invalid_envelope")
    if (where := find_control_chars(data)) is not None:
        raise Unprocessable(
            f"invalid envelope: {where} holds a control character", code="invalid_envelope"
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
