"""The served document explains itself: every schema has a description and an example, every
request and response body is a documented schema (bytes are ``format: binary``), the multipart
bodies are schemas of their own with their encodings, and every operation lists the answers the
shared machinery can give (408 for a body that stops coming, 429 for too many connections)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from docex.api.schema_docs import SCHEMA_DOCS

METHODS = {"get", "post", "put", "patch", "delete"}
REF = "#/components/schemas/"
BINARY = {"type": "string", "format": "binary"}


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def test_every_schema_has_a_description_and_an_example(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    bare = [
        name
        for name, schema in schemas.items()
        if not schema.get("description") or ("example" not in schema and "enum" not in schema)
    ]
    assert bare == []


def test_every_schema_documented_in_the_table_is_served_and_every_field_named_exists(
    spec: dict[str, Any],
) -> None:
    schemas = spec["components"]["schemas"]
    assert set(SCHEMA_DOCS) <= set(schemas)
    for name, doc in SCHEMA_DOCS.items():
        properties = schemas[name].get("properties", {})
        assert set(doc.fields) <= set(properties), name
        for field in doc.fields:
            assert properties[field]["description"] == doc.fields[field]
        if isinstance(doc.example, dict) and properties:
            assert set(doc.example) <= set(properties), f"{name} example has unknown fields"


def test_every_body_is_a_documented_schema_or_bytes(spec: dict[str, Any]) -> None:
    problems = []
    for path, method, operation in operations(spec):
        bodies = [("request", operation.get("requestBody", {}).get("content", {}))]
        bodies += [(status, r.get("content", {})) for status, r in operation["responses"].items()]
        for where, content in bodies:
            for media_type, body in content.items():
                schema = body.get("schema")
                if schema is None:
                    problems.append(f"{method} {path} {where} {media_type}: no schema")
                elif "$ref" in schema:
                    assert schema["$ref"].removeprefix(REF) in SCHEMA_DOCS
                elif "anyOf" in schema:  # one of several documented answers (POST /edxml)
                    for choice in schema["anyOf"]:
                        assert choice["$ref"].removeprefix(REF) in SCHEMA_DOCS
                elif media_type.startswith("text/"):
                    assert schema == {"type": "string"}
                elif {k: v for k, v in schema.items() if k != "description"} != BINARY:
                    problems.append(f"{method} {path} {where} {media_type}: {schema}")
    assert problems == []


def test_every_operation_and_response_is_described(spec: dict[str, Any]) -> None:
    for path, method, operation in operations(spec):
        if method in {"post", "put", "patch"}:
            assert operation.get("requestBody", {}).get("content"), f"{method} {path}: no body"
        success = next(
            code for code in ("200", "201", "202", "204") if code in operation["responses"]
        )
        if success == "204":  # No Content: a DELETE's answer, described but bodiless
            assert method == "delete", f"{method} {path}"
            assert not operation["responses"][success].get("content"), f"{method} {path}"
        else:
            assert operation["responses"][success].get("content"), (
                f"{method} {path}: its answer has no content"
            )
        assert operation.get("description", "").strip(), f"{method} {path}"
        for status, response in operation["responses"].items():
            assert response.get("description", "").strip(), f"{method} {path} {status}"


@pytest.mark.parametrize(
    ("path", "component", "files", "encoding"),
    [
        (
            "/api/v1/documents",
            "DocumentSend",
            {"main"},
            {"envelope": "application/json", "main": "application/pdf"},
        ),
        ("/api/v1/pdf/sign", "PdfSign", {"file"}, {"file": "application/pdf"}),
    ],
)
def test_multipart_bodies_declare_their_parts_files_and_encodings(
    spec: dict[str, Any], path: str, component: str, files: set[str], encoding: dict[str, str]
) -> None:
    body = spec["paths"][path]["post"]["requestBody"]
    assert body["required"] is True
    form = body["content"]["multipart/form-data"]
    assert form["schema"] == {"$ref": REF + component}
    for part, content_type in encoding.items():
        assert form["encoding"][part]["contentType"] == content_type
    properties = spec["components"]["schemas"][component]["properties"]
    for name in files:
        assert properties[name]["type"] == "string"
        assert properties[name]["format"] == "binary"


def test_the_envelope_is_published_with_its_parts(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    envelope = schemas["Envelope"]
    assert envelope["properties"]["message_id"]["description"].startswith("your id for this send")
    assert envelope["properties"]["urgency"]["enum"] == ["normal", "urgent", "very_urgent", "flash"]
    assert envelope["properties"]["classification"]["$ref"] == REF + "Classification"
    for part in ("CodeInfo", "DocumentType", "Promulgation", "SignerInfo", "Business"):
        assert schemas[part]["additionalProperties"] is False, part


def test_every_operation_lists_too_many_connections_and_a_body_that_stops_coming(
    spec: dict[str, Any],
) -> None:
    for path, method, operation in operations(spec):
        assert "429" in operation["responses"], f"{method} {path}"
        assert "503" in operation["responses"], f"{method} {path}"
        if method in {"post", "patch"} and "requestBody" in operation:
            assert "408" in operation["responses"], f"{method} {path}"


def test_downloads_and_the_signed_pdf_are_bytes(spec: dict[str, Any]) -> None:
    binary = {"type": "string", "format": "binary"}
    download = spec["paths"]["/api/v1/documents/{document_id}/files/{file_id}"]["get"]
    for status in ("200", "206"):
        for content in download["responses"][status]["content"].values():
            assert content["schema"] == binary
    signed = spec["paths"]["/api/v1/pdf/sign"]["post"]["responses"]["200"]["content"]
    assert signed == {"application/pdf": {"schema": binary}}


def test_every_parameter_has_a_description_and_an_example(spec: dict[str, Any]) -> None:
    bare = [
        f"{method} {path} {parameter['in']} {parameter['name']}"
        for path, method, operation in operations(spec)
        for parameter in operation.get("parameters", [])
        if not parameter.get("description") or "example" not in parameter
    ]
    assert bare == []


def test_answers_that_say_when_to_retry_or_where_to_resume_declare_their_headers(
    spec: dict[str, Any],
) -> None:
    for path, method, operation in operations(spec):
        for status in ("429", "503"):
            assert "Retry-After" in operation["responses"][status]["headers"], f"{method} {path}"
    download = spec["paths"]["/api/v1/documents/{document_id}/files/{file_id}"]["get"]
    assert {"ETag", "Accept-Ranges"} <= set(download["responses"]["200"]["headers"])
    assert "Content-Range" in download["responses"]["206"]["headers"]
    assert "Content-Range" in download["responses"]["416"]["headers"]
    send = spec["paths"]["/api/v1/documents"]["post"]
    assert "Location" in send["responses"]["201"]["headers"]


def test_edxml_takes_xml_and_answers_a_document_or_a_status_and_exports_xml(
    spec: dict[str, Any],
) -> None:
    send = spec["paths"]["/api/v1/edxml"]["post"]
    assert send["requestBody"]["required"] is True
    assert send["requestBody"]["content"]["application/xml"]["schema"]["format"] == "binary"
    answers = send["responses"]["201"]["content"]["application/json"]["schema"]["anyOf"]
    assert {a["$ref"] for a in answers} == {REF + "DocumentOut", REF + "StatusOut"}
    assert "Location" in send["responses"]["201"]["headers"]
    assert {"403", "404", "409", "413", "415", "422"} <= set(send["responses"])
    for path in (
        "/api/v1/documents/{document_id}/edxml",
        "/api/v1/documents/{document_id}/receipts/{receipt_id}/edxml",
    ):
        answer = spec["paths"][path]["get"]["responses"]["200"]["content"]
        assert answer == {"application/xml": {"schema": BINARY}}
