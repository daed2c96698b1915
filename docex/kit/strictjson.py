"""JSON read strictly (RFC 8259 and the I-JSON profile of RFC 7493), for every body docex takes.

Python's ``json.loads`` is lenient where leniency is an attack surface:

- a key repeated in an object silently keeps its last value, so
  ``{"classification": "secret", ..., "classification": "normal"}`` reads as a normal document
  to docex and as a secret one to a reviewer or a tool that keeps the first. Here any repeated
  key, at any depth, is refused (``422 duplicate_key``, RFC 7493 §2.3);
- an integer literal of more than 4,300 digits raises a ``ValueError`` that is not a
  ``JSONDecodeError`` (CPython's integer-string conversion limit), which escaped as a 500.
  Here an integer outside the signed 64-bit range — what any column or peer can hold — is
  refused before it is converted (``422 number_out_of_range``); so is a float that overflows;
- ``NaN``, ``Infinity`` and ``-Infinity`` are accepted although they are not JSON. Here they
  are a syntax error (``400 invalid_json``), as are invalid UTF-8 and nesting too deep to parse.

What the values mean (types, lengths, characters) is for the schema that reads the result.
"""

from __future__ import annotations

import json
import math
from typing import Any

from docex.errors import BadRequest, Unprocessable

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
_MAX_INT_CHARS = len(str(INT_MIN))  # "-9223372036854775808": longer literals are out of range


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise Unprocessable(
                f"the key {key[:100]!r} appears twice in one object", code="duplicate_key"
            )
        result[key] = value
    return result


def _int(literal: str) -> int:
    value = int(literal) if len(literal) <= _MAX_INT_CHARS else None
    if value is None or not INT_MIN <= value <= INT_MAX:
        shown = literal if len(literal) <= 30 else f"{literal[:12]}… ({len(literal)} digits)"
        raise Unprocessable(
            f"the integer {shown} is outside the signed 64-bit range", code="number_out_of_range"
        )
    return value


def _float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise Unprocessable(
            f"the number {literal[:30]} overflows a double", code="number_out_of_range"
        )
    return value


def _constant(name: str) -> Any:
    raise BadRequest(f"{name} is not a JSON value (RFC 8259)", code="invalid_json")


def loads(raw: bytes) -> Any:
    """``raw`` (UTF-8 JSON text) as Python values, or a refusal as described above."""
    try:
        return json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=_object,
            parse_int=_int,
            parse_float=_float,
            parse_constant=_constant,
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BadRequest(f"not valid UTF-8 JSON: {exc}", code="invalid_json") from exc
