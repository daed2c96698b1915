"""docs/api.md and the served /openapi.json say the same thing, and it is the whole API:
every documented endpoint is served and every served one documented, every operation has its
id from the one table, and every error code docex raises is listed with its meaning."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import docex
from docex.api import errors as api_errors
from docex.api import protocol
from docex.api.openapi import OPERATION_IDS, SUMMARIES
from docex.signing.validation import Indication

ROOT = Path(__file__).resolve().parents[2]
API_MD = ROOT / "docs" / "api.md"
SOURCE = Path(docex.__file__).parent
METHODS = {"get", "post", "put", "patch", "delete"}
ENDPOINT = re.compile(r"^### (GET|POST|PUT|PATCH|DELETE) (/\S*)$", re.MULTILINE)
# Codes built with an f-string, and every value each can take (the multipart shapes of
# documents/upload.py: fields envelope and as; single files main and file).
DYNAMIC_CODES = {
    "f'{part}_too_large'": {"envelope_too_large", "as_too_large"},
    "f'duplicate_{name}'": {"duplicate_main", "duplicate_file"},
}


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method.upper(), operation


def documented_endpoints() -> set[tuple[str, str]]:
    return {(m, p) for m, p in ENDPOINT.findall(API_MD.read_text(encoding="utf-8"))}


def test_every_documented_endpoint_is_served_and_every_served_one_documented(
    spec: dict[str, Any],
) -> None:
    served = {(method, path) for path, method, _ in operations(spec)}
    documented = documented_endpoints()
    assert len(documented) >= 25
    assert documented - served == set(), "documented in docs/api.md but not served"
    assert served - documented == set(), "served but not documented in docs/api.md"


def test_every_operation_has_its_id_from_the_table(spec: dict[str, Any]) -> None:
    ids = {
        (method, path): operation.get("operationId") for path, method, operation in operations(spec)
    }
    assert ids == OPERATION_IDS
    assert len(set(OPERATION_IDS.values())) == len(OPERATION_IDS), "operation ids are unique"
    assert set(SUMMARIES) == set(OPERATION_IDS.values()), "every operation has its summary"
    for path, method, operation in operations(spec):
        assert operation["summary"] == SUMMARIES[OPERATION_IDS[(method, path)]]
    for operation_id in OPERATION_IDS.values():
        assert re.fullmatch(r"[a-z]+(_[a-z]+)+", operation_id), operation_id


def _raised_codes() -> tuple[set[str], set[str]]:
    """Codes in docex's source: ``code="..."`` arguments, ``default_code = "..."`` classes,
    ``SigningError("...", ...)``; and the f-string codes, as written. The CLI's own codes
    (what it prints about itself) are not the API's."""
    codes: set[str] = set()
    templates: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        if "cli" in path.relative_to(SOURCE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg == "code" and isinstance(keyword.value, ast.Constant):
                        codes.add(str(keyword.value.value))
                    elif keyword.arg == "code" and isinstance(keyword.value, ast.JoinedStr):
                        templates.add(ast.unparse(keyword.value))
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name == "SigningError" and node.args and isinstance(node.args[0], ast.Constant):
                    codes.add(str(node.args[0].value))
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id == "default_code":
                        codes.add(str(node.value.value))
    return codes, templates


def test_the_source_scan_finds_the_codes_it_should() -> None:
    codes, templates = _raised_codes()
    # One of each way a code is written: an argument, a class default, a signing failure.
    assert {"metrics_forbidden", "request_timeout", "locked_pdf", "invalid_cursor"} <= codes
    assert len(codes) > 80
    assert templates == set(DYNAMIC_CODES)


def test_every_error_code_docex_raises_is_in_docs_api_md() -> None:
    codes, templates = _raised_codes()
    for template in templates:
        codes |= DYNAMIC_CODES[template]
    codes |= set(api_errors._HTTP_CODES.values()) | set(protocol._CODES.values())
    codes |= {indication.value for indication in Indication}
    text = API_MD.read_text(encoding="utf-8")
    missing = sorted(code for code in codes if f"`{code}`" not in text)
    assert missing == []


def test_the_error_code_table_gives_each_code_a_status_and_a_meaning() -> None:
    rows = re.findall(
        r"^\| `([a-z0-9_]+)` \| (\d{3}) \| (.+) \|$", API_MD.read_text(encoding="utf-8"), re.M
    )
    assert len(rows) > 90
    codes = [code for code, _, _ in rows]
    assert len(codes) == len(set(codes)), "each code once"
    for code, status, meaning in rows:
        assert 400 <= int(status) <= 599, code
        assert len(meaning.strip()) > 10, code
