"""Strict parsing of JSON bodies: a duplicate key is refused at every level (the last
``classification`` must not silently win), numbers stay within what can be converted and
stored, strings hold no control characters nor invisible format characters that disguise text
(bidirectional overrides and isolates, zero-width spaces, tags), and values are of their own
JSON type: no string taken for a boolean or a number. Dates stay ISO 8601 strings."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.documents.test_bad_input import assert_refused, delivered_document, snapshot
from tests.helpers import G22, H41, auth, envelope, pdf, send

HUGE = "1" * 5000


def raw_envelope(*members: str) -> bytes:
    """An envelope written by hand, member by member, so that a key can appear twice."""
    base = [
        f'"recipients": ["{H41}"]',
        '"subject": "Về việc thử nghiệm"',
        '"code": {"number": "12", "notation": "VPCP-TTĐT"}',
    ]
    return ("{" + ", ".join([*base, *members]) + "}").encode()


# -- duplicate keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        raw_envelope('"classification": "secret"', '"classification": "normal"'),
        raw_envelope('"subject": "Một việc khác"'),
        raw_envelope('"urgency": "flash"', '"urgency": "flash"'),
        b'{"recipients": [], "recipients": ["000.00.00.H41"], "subject": "x"}',
        raw_envelope('"signer": {"full_name": "Nguyễn Văn A", "full_name": "Trần Văn B"}'),
        raw_envelope(
            '"promulgation": {"place": "Hà Nội", "date": "2026-01-02", "date": "2026-01-03"}'
        ),
        raw_envelope('"business": {"type": "new", "type": "replace", "refers_to": "x"}'),
        raw_envelope('"document_type": {"type": 1, "name": "Công văn", "type": 2}'),
        b'{"recipients": ["000.00.00.H41"], "subject": "x", "code": {"number": "1", '
        b'"number": "2"}, "code": {"number": "3"}}',
    ],
    ids=[
        "classification-downgraded",
        "subject-twice",
        "same-value-twice",
        "recipients-twice",
        "nested-signer",
        "nested-promulgation-date",
        "nested-business-type",
        "nested-document-type",
        "nested-and-top-level",
    ],
)
def test_envelope_with_a_duplicate_key_is_422_duplicate_key(
    client: TestClient, credentials: dict, raw: bytes
) -> None:
    before = snapshot(client)
    response = send(client, auth(credentials, G22, "leader"), raw, pdf())
    assert_refused(client, response, 422, "duplicate_key", before)


# -- numbers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env",
    [
        raw_envelope(f'"document_type": {{"type": {HUGE}, "name": "Công văn"}}'),
        raw_envelope(f'"document_type": {{"type": -{HUGE}}}'),
        raw_envelope(f'"steering": {HUGE}'),
        raw_envelope(f'"x-unknown": [{HUGE}]'),
        raw_envelope('"document_type": {"type": 1' + "0" * 30 + "}"),
    ],
    ids=["type", "negative-type", "steering", "unknown-field", "type-over-64-bits"],
)
def test_envelope_with_an_integer_too_long_to_convert_is_422_never_a_500(
    client: TestClient, credentials: dict, env: bytes
) -> None:
    before = snapshot(client)
    response = send(client, auth(credentials, G22), env, pdf())
    error = response.json().get("error")
    assert error in ("number_out_of_range", "invalid_envelope"), response.text
    assert_refused(client, response, 422, error, before)


def test_integer_of_5000_digits_is_422_number_out_of_range(
    client: TestClient, credentials: dict
) -> None:
    before = snapshot(client)
    env = raw_envelope(f'"document_type": {{"type": {HUGE}, "name": "Công văn"}}')
    response = send(client, auth(credentials, G22), env, pdf())
    assert_refused(client, response, 422, "number_out_of_range", before)


@pytest.mark.parametrize(
    "member",
    ['"document_type": {"type": NaN}', '"document_type": {"type": Infinity}', '"due": -Infinity'],
    ids=["nan", "infinity", "minus-infinity"],
)
def test_envelope_with_non_json_numbers_is_400_invalid_json(
    client: TestClient, credentials: dict, member: str
) -> None:
    """RFC 8259 has no NaN or Infinity; Python's json module accepts them unless told not to."""
    before = snapshot(client)
    response = send(client, auth(credentials, G22), raw_envelope(member), pdf())
    assert_refused(client, response, 400, "invalid_json", before)


# -- strings that disguise ------------------------------------------------------------------------

DISGUISES = {
    "rlo": "\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "lro": "\u202d",
    "rle": "\u202b",
    "pdf-pop": "\u202c",
    "lri": "\u2066",  # LEFT-TO-RIGHT ISOLATE
    "rli": "\u2067",
    "fsi": "\u2068",
    "pdi": "\u2069",
    "lrm": "\u200e",
    "rlm": "\u200f",
    "alm": "\u061c",
    "zero-width-space": "\u200b",
    "word-joiner": "\u2060",
    "bom": "\ufeff",
    "soft-hyphen": "\u00ad",
    "tag-latin-a": "\U000e0041",
    "line-separator": "\u2028",
    "paragraph-separator": "\u2029",
    "c1-next-line": "\x85",
    "escape": "\x1b",
    "lone-surrogate": "\ud800",
}


def _json(env: dict[str, Any]) -> bytes:
    # ensure_ascii: a lone surrogate travels as the \\ud800 escape, as a hostile client sends it.
    return json.dumps(env, ensure_ascii=True).encode()


def _with(where: str, text: str) -> dict[str, Any]:
    return {
        "subject": envelope(subject=text),
        "summary": envelope(summary=text),
        "signer": envelope(signer={"full_name": text}),
        "notation": envelope(code={"number": "12", "notation": text}),
        "business-reason": envelope(business={"type": "new", "reason": text}),
        "recipient": envelope(recipients=[H41 + text]),
        "key": {**envelope(), f"subject{text}": "x"},
    }[where]


@pytest.mark.parametrize("char", DISGUISES.values(), ids=DISGUISES.keys())
def test_subject_with_a_disguising_character_is_422_invalid_envelope_naming_it(
    client: TestClient, credentials: dict, char: str
) -> None:
    before = snapshot(client)
    env = _with("subject", f"Về việc{char} phê duyệt gpj.exe")
    response = send(client, auth(credentials, G22), _json(env), pdf())
    assert_refused(client, response, 422, "invalid_envelope", before)
    if char != "\ud800":
        assert f"U+{ord(char):04X}" in response.json()["detail"]


@pytest.mark.parametrize(
    "where", ["summary", "signer", "notation", "business-reason", "recipient", "key"]
)
@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\u200b"], ids=["rlo", "lri", "zwsp"])
def test_every_envelope_string_refuses_disguising_characters(
    client: TestClient, credentials: dict, where: str, char: str
) -> None:
    before = snapshot(client)
    response = send(client, auth(credentials, G22), _json(_with(where, f"VPCP{char}")), pdf())
    assert_refused(client, response, 422, "invalid_envelope", before)


@pytest.mark.parametrize(
    "subject",
    [
        "Về việc triển khai",  # NFC
        "Ve\u0302\u0300 vie\u0323\u0302c trie\u0302\u0309n khai",  # NFD: combining marks are text
        "Báo cáo\tquý I\r\nnăm 2026",  # line breaks in a multi-line field
        "نامه\u200cها",  # ZWNJ is part of Persian spelling
        "\U0001f468\u200d\U0001f4bc",  # ZWJ joins an emoji sequence
    ],
    ids=["nfc", "nfd", "line-breaks", "zwnj", "zwj"],
)
def test_envelope_text_that_only_looks_unusual_is_accepted(
    client: TestClient, credentials: dict, subject: str
) -> None:
    response = send(client, auth(credentials, G22), envelope(summary=subject), pdf())
    assert response.status_code == 201, response.text


# -- types: no coercion ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"steering": "yes"},
        {"steering": "true"},
        {"steering": "false"},
        {"steering": "on"},
        {"steering": 1},
        {"steering": 0},
        {"steering": 1.0},
        {"document_type": {"type": "1"}},
        {"document_type": {"type": 1.0}},
        {"document_type": {"type": True}},
        {"code": {"number": 7816}},
        {"subject": 42},
        {"recipients": [H41, 41]},
        {"due_date": 20260701},
        {"due_date": 1782864000},
        {"due_date": "2026-07-01T00:00:00"},
        {"due_date": "2026-07-01T00:00:00Z"},
        {"due_date": "20260701"},
        {"due_date": "2026-W27-3"},
        {"promulgation": {"place": "Hà Nội", "date": 1782864000}},
        {"urgency": ["normal"]},
        {"classification": {"value": "normal"}},
    ],
    ids=lambda fields: json.dumps(fields),
)
def test_envelope_value_of_the_wrong_json_type_is_refused_not_coerced(
    client: TestClient, credentials: dict, fields: dict[str, Any]
) -> None:
    before = snapshot(client)
    response = send(client, auth(credentials, G22), envelope(**fields), pdf())
    assert_refused(client, response, 422, "invalid_envelope", before)


def test_envelope_with_booleans_and_iso_dates_is_accepted(
    client: TestClient, credentials: dict
) -> None:
    env = envelope(
        steering=True,
        due_date="2026-07-01",
        promulgation={"place": "Hà Nội", "date": "2026-06-19"},
        document_type={"type": 1, "name": "Công văn"},
    )
    response = send(client, auth(credentials, G22), env, pdf())
    assert response.status_code == 201, response.text
    stored = response.json()["envelope"]
    assert (stored["steering"], stored["due_date"]) == (True, "2026-07-01")
    assert stored["document_type"]["type"] == 1


# -- the other JSON bodies ------------------------------------------------------------------------


def _post_json(client: TestClient, path: str, raw: bytes, headers: dict[str, str]) -> Any:
    return client.post(path, content=raw, headers={**headers, "Content-Type": "application/json"})


def test_status_with_a_duplicate_key_is_422_duplicate_key(
    client: TestClient, credentials: dict
) -> None:
    document = delivered_document(client, credentials)
    before = snapshot(client)
    response = _post_json(
        client,
        f"/api/v1/documents/{document['id']}/statuses",
        b'{"code": "02", "note": "Sai n\xc6\xa1i nh\xe1\xba\xadn", "code": "03"}',
        auth(credentials, H41),
    )
    assert_refused(client, response, 422, "duplicate_key", before)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (f'{{"code": "03", "incoming_number": {HUGE}}}'.encode(), "number_out_of_range"),
        (b'{"code": "03", "incoming_number": NaN}', "invalid_json"),
        (b'{"code": "02", "note": "Sai n\\u202eoi nh\\u1eadn"}', "invalid_request"),
        (b'{"code": "03", "incoming_number": 12}', "invalid_request"),
        (b'{"code": 3}', "invalid_request"),
    ],
    ids=["huge-integer", "nan", "bidi-in-note", "number-for-a-string", "code-as-number"],
)
def test_status_body_that_is_not_strict_json_is_refused_precisely(
    client: TestClient, credentials: dict, raw: bytes, error: str
) -> None:
    document = delivered_document(client, credentials)
    before = snapshot(client)
    response = _post_json(
        client, f"/api/v1/documents/{document['id']}/statuses", raw, auth(credentials, H41)
    )
    status = 400 if error == "invalid_json" else 422
    assert_refused(client, response, status, error, before)
