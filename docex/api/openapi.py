"""The served OpenAPI document, made to say what the node really answers, so that a client
generated from it alone works (``tests/functional/test_generated_client.py`` proves it).

- **Operation ids** are stable and named by noun and verb (``documents_send``, ``inbox_list``):
  :data:`OPERATION_IDS` is the one table, applied through FastAPI's
  ``generate_unique_id_function``; a route missing from it is a failing test, not a FastAPI
  default such as ``get_inbox_api_v1_inbox_get``.
- **Multipart bodies** are components of their own (``DocumentSend``, ``PdfSign``): the
  ``envelope`` part is the ``Envelope`` schema sent as ``application/json``, files are
  ``format: binary`` so that generators upload them.
- **Errors.** FastAPI documents its own 422 shape (``{"detail": [...]}``) and only the statuses
  an endpoint lists. docex answers every error as ``{"error", "detail"}`` (``ErrorBody``), and
  some refusals come from the machinery every operation shares rather than from the endpoint:
  a body that is not what the operation takes (400, 413, 415, 422), one that stops coming (408),
  credentials (401), too many connections from one address (429), a database that is down
  (503). Those are added here once, for every operation they can happen to.
- **Descriptions and examples** of every schema come from :mod:`docex.api.schema_docs`.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from typing import Any

from fastapi.routing import APIRoute
from fastapi.utils import generate_unique_id
from pydantic import BaseModel, Field

from docex.api.errors import ERROR_TEXTS, ErrorBody
from docex.api.schema_docs import PARAMETER_DOCS, RESPONSE_HEADERS, SCHEMA_DOCS
from docex.documents.envelope import Envelope

OPERATION_IDS: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/auth/token"): "tokens_issue",
    ("GET", "/api/v1/me"): "me_get",
    ("GET", "/api/v1/agencies"): "agencies_list",
    ("POST", "/api/v1/agencies"): "agencies_create",
    ("GET", "/api/v1/agencies/{agency_id}"): "agencies_get",
    ("PATCH", "/api/v1/agencies/{agency_id}"): "agencies_update",
    ("GET", "/api/v1/groups"): "groups_list",
    ("POST", "/api/v1/groups"): "groups_create",
    ("PATCH", "/api/v1/groups/{group_name}"): "groups_update",
    ("POST", "/api/v1/documents"): "documents_send",
    ("GET", "/api/v1/documents/lookup"): "documents_lookup",
    ("GET", "/api/v1/documents/{document_id}"): "documents_get",
    ("GET", "/api/v1/documents/{document_id}/files/{file_id}"): "files_download",
    ("GET", "/api/v1/documents/{document_id}/files/{file_id}/sealed"): "files_download_sealed",
    ("GET", "/api/v1/documents/{document_id}/trace"): "documents_trace",
    ("GET", "/api/v1/documents/{document_id}/evidence"): "documents_evidence",
    ("POST", "/api/v1/documents/{document_id}/statuses"): "statuses_create",
    ("GET", "/api/v1/documents/{document_id}/receipts"): "receipts_list",
    ("GET", "/api/v1/inbox"): "inbox_list",
    ("GET", "/api/v1/outbox"): "outbox_list",
    ("GET", "/api/v1/overdue"): "overdue_list",
    ("GET", "/api/v1/stats/agencies"): "stats_agencies",
    ("POST", "/api/v1/pdf/sign"): "pdf_sign",
    ("GET", "/api/v1/node"): "node_get",
    ("GET", "/.well-known/jwks.json"): "jwks_get",
    ("GET", "/healthz"): "health_get",
    ("GET", "/readyz"): "readiness_get",
    ("GET", "/metrics"): "metrics_get",
    ("POST", "/pki/ocsp"): "ocsp_query",
    ("GET", "/pki/crl/{name}.crl"): "crl_get",
    ("POST", "/pki/tsa"): "timestamps_create",
    ("GET", "/api/v1/audit/checkpoint"): "audit_checkpoint_get",
    ("GET", "/api/v1/audit/entries"): "audit_entries_list",
    ("GET", "/api/v1/audit/proofs/inclusion"): "audit_inclusion_proof_get",
    ("GET", "/api/v1/audit/proofs/consistency"): "audit_consistency_proof_get",
    ("GET", "/api/v1/audit/search"): "audit_events_search",
    ("POST", "/api/v1/audit/cosignatures"): "audit_cosignatures_create",
    ("POST", "/api/v1/audit/forks"): "audit_forks_report",
    ("GET", "/federation/v1/audit/checkpoint"): "peer_audit_checkpoint_get",
    ("GET", "/federation/v1/audit/proofs/consistency"): "peer_audit_consistency_proof_get",
    ("POST", "/federation/v1/audit/cosignatures"): "peer_audit_cosignatures_create",
    ("POST", "/federation/v1/audit/forks"): "peer_audit_forks_report",
    ("GET", "/api/v1/admin/deliveries"): "deliveries_list",
    ("POST", "/api/v1/admin/deliveries/{delivery_id}/retry"): "deliveries_retry",
    (
        "POST",
        "/api/v1/documents/{document_id}/deliveries/{recipient_id}/retry",
    ): "deliveries_resend",
    ("POST", "/api/v1/webhooks"): "webhooks_create",
    ("GET", "/api/v1/webhooks"): "webhooks_list",
    ("PATCH", "/api/v1/webhooks/{webhook_id}"): "webhooks_update",
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): "webhooks_delete",
    ("GET", "/api/v1/alerts"): "alerts_list",
    ("POST", "/api/v1/alerts/{alert_id}/acknowledge"): "alerts_acknowledge",
    ("POST", "/federation/v1/transfers"): "transfers_receive",
    # edXML (docs/edxml.md)
    ("POST", "/api/v1/edxml"): "edxml_send",
    ("GET", "/api/v1/documents/{document_id}/edxml"): "edxml_export_document",
    ("GET", "/api/v1/documents/{document_id}/receipts/{receipt_id}/edxml"): "edxml_export_status",
    ("GET", "/federation/v1/directory"): "directory_get",
    # The supervision centre (issue 15)
    ("GET", "/api/v1/reports/daily"): "reports_daily_get",
}


# What each operation does, in a few words: Swagger UI's line and a generated function's title.
SUMMARIES: dict[str, str] = {
    "tokens_issue": "Sign in: a token for a username and password",
    "me_get": "Who the token belongs to",
    "agencies_list": "List and search the agency directory",
    "agencies_create": "Add an agency (admin)",
    "agencies_get": "One agency",
    "agencies_update": "Change an agency (admin)",
    "groups_list": "List the recipient groups",
    "groups_create": "Create a recipient group (admin)",
    "groups_update": "Change a group's title or members (admin)",
    "documents_send": "Send a document",
    "documents_lookup": "Find documents by short id or business id",
    "documents_get": "One document",
    "files_download": "Download a file (resumable)",
    "files_download_sealed": "Download a classified file still encrypted",
    "documents_trace": "What happened to a document",
    "documents_evidence": "A document's evidence bundle (zip), verifiable offline",
    "statuses_create": "Report a status; get the signed receipt",
    "receipts_list": "The signed receipts of a document",
    "inbox_list": "List the documents delivered to your agency",
    "outbox_list": "List the documents your agency sent",
    "overdue_list": "List deliveries not answered by their due time",
    "stats_agencies": "Each agency's figures over a period",
    "pdf_sign": "Sign or seal a PDF with a key the node holds",
    "node_get": "This node's identity and public keys",
    "jwks_get": "The node's public signing keys (JWKS)",
    "health_get": "Liveness",
    "readiness_get": "Readiness: database and blob store",
    "metrics_get": "Prometheus metrics",
    "ocsp_query": "OCSP responder",
    "crl_get": "Certificate revocation list",
    "timestamps_create": "RFC 3161 time-stamping",
    "audit_checkpoint_get": "The audit log's signed checkpoint, with cosignatures",
    "audit_entries_list": "Audit log entries by position",
    "audit_inclusion_proof_get": "Proof that an entry is in the log",
    "audit_consistency_proof_get": "Proof that one log state extends another",
    "audit_events_search": "Search audit events",
    "audit_cosignatures_create": "A witness cosigns a checkpoint",
    "audit_forks_report": "A witness reports a fork of the log",
    "peer_audit_checkpoint_get": "The audit checkpoint, for peers witnessing this node",
    "peer_audit_consistency_proof_get": "A consistency proof, for peers witnessing this node",
    "peer_audit_cosignatures_create": "A peer node cosigns a checkpoint",
    "peer_audit_forks_report": "A peer node reports a fork of this log",
    "deliveries_list": "Deliveries failed or waiting: the dead-letter view (admin)",
    "deliveries_retry": "Re-queue a failed delivery (admin)",
    "deliveries_resend": "Re-send a failed delivery of your agency's document",
    "webhooks_create": "Register a webhook endpoint; its secret is shown once",
    "webhooks_list": "List webhook endpoints",
    "webhooks_update": "Disable or enable a webhook endpoint",
    "webhooks_delete": "Delete a webhook endpoint",
    "alerts_list": "List early-warning alerts",
    "alerts_acknowledge": "Acknowledge an open alert",
    "transfers_receive": "Receive a signed transfer from a peer node",
    "edxml_send": "Send an edXML package (a document or a status)",
    "edxml_export_document": "A document as edXML",
    "edxml_export_status": "A receipt as an edXML status package",
    "directory_get": "The network's signed directory (JWS)",
    "reports_daily_get": "The daily data report of one day, XLSX or PDF (watchers)",
}


def operation_id(route: APIRoute) -> str:
    """``generate_unique_id_function`` of the app: the id :data:`OPERATION_IDS` gives the
    route. FastAPI also asks for routes outside the document (``/docs``) and, in some versions,
    for a route under a router's own path before its prefixes are known: those keep FastAPI's
    default, and a served operation without an entry fails ``tests/api/test_contract.py``."""
    methods = sorted(route.methods or ())
    if len(methods) == 1:
        found = OPERATION_IDS.get((methods[0], route.path_format))
        if found is not None:
            return found
    return generate_unique_id(route)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_BINARY: dict[str, Any] = {"type": "string", "format": "binary"}
_SEND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["envelope", "main"],
    "properties": {
        "envelope": _ref("Envelope"),
        "main": {**_BINARY, "description": "the signed and sealed PDF"},
        "attachment": {
            "type": "array",
            "items": _BINARY,
            "description": "appendices (0..n), each its own part named attachment",
        },
    },
}
_SIGN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {**_BINARY, "description": "the PDF to sign"},
        "as": {
            "type": "string",
            "enum": ["signer", "seal"],
            "default": "seal",
            "description": "your own signature (signer) or your agency's seal",
        },
    },
}


def _multipart(component: str, encoding: dict[str, str]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": _ref(component),
                    "encoding": {part: {"contentType": ct} for part, ct in encoding.items()},
                }
            },
        }
    }


# ``openapi_extra`` of POST /api/v1/documents and POST /api/v1/pdf/sign: the endpoints read
# their bodies as streams, so FastAPI cannot infer them.
SEND_BODY = _multipart("DocumentSend", {"envelope": "application/json", "main": "application/pdf"})
SIGN_BODY = _multipart("PdfSign", {"file": "application/pdf", "as": "text/plain"})
# POST /federation/v1/transfers: multipart/mixed, the manifest first (docs/federation.md).
TRANSFER_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": 'multipart/mixed; boundary="docex-transfer-<transfer id>": the part '
        "`manifest` (application/json) first, then the kind's files; signed per RFC 9421 "
        "with a Content-Digest (RFC 9530), see docs/federation.md",
        "content": {"multipart/mixed": {"schema": _BINARY}},
    }
}
# ``openapi_extra`` of POST /api/v1/edxml: an edXML package (QCVN 102:2016), streamed.
EDXML_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/xml": {
                "schema": {
                    **_BINARY,
                    "description": "an edXML document or status package (docs/edxml.md)",
                }
            }
        },
    }
}


class Health(BaseModel):
    status: str
    version: str


class DirectoryStatus(BaseModel):
    version: int
    issued_at: str
    age_seconds: float
    stale: bool


class Readiness(BaseModel):
    status: str = Field(description="ready, or unavailable (with 503 and Retry-After)")
    checks: dict[str, str]
    directory: DirectoryStatus | None = None


class Jwks(BaseModel):
    keys: list[dict[str, Any]]


class NodeInfo(BaseModel):
    node_id: str
    version: str
    jwks: Jwks


# Operations whose endpoint returns a plain dict: the schema of their 200 answer.
_JSON_ANSWERS: dict[str, type[BaseModel]] = {
    "health_get": Health,
    "readiness_get": Readiness,
    "jwks_get": Jwks,
    "node_get": NodeInfo,
}
_RENAMED = {"Body_tokens_issue": "TokenIssue"}

_ERROR_SCHEMA = {"application/json": {"schema": _ref("ErrorBody")}}
_BODY_ERRORS = (400, 408, 413, 415, 422)
_ALWAYS = (429, 503)
_PUBLIC = frozenset({"/api/v1/auth/token", "/api/v1/node"})
_SHARED_TEXTS = {
    408: "Request timeout: the request head or body stopped coming, or came too slowly; the "
    "connection is closed (request_timeout)",
    429: "Too many connections open from your address; the connection is closed "
    "(too_many_connections)",
}
CONVENTIONS = """

The full contract, with every error code and its meaning, is `docs/api.md` in the docex
repository. In short:

- **Authentication**: `Authorization: Bearer <token>` on every `/api/v1` call but
  `POST /api/v1/auth/token` (people sign in there) and `GET /api/v1/node`.
- **Errors**: every error is `{"error": "<code>", "detail": "<text>"}` (`ErrorBody`); branch
  on `error`. 404 means absent *or not visible to you*; 429 and 503 carry `Retry-After`.
- **Lists**: `?limit=` (1-500, default 50) and `?cursor=`; answers are
  `{"items": [...], "next_cursor": "..." | null}`.
- **Idempotency**: give every send a `message_id` and reuse it on retry: the same id and
  content answers 200 with the original document, other content 409 `message_id_conflict`.
  A status post retried answers 200 with the original receipt; `Idempotency-Key` binds one
  to its body (another body: 409 `idempotency_key_conflict`).
- **Times** are RFC 3339 in UTC (`Z`); dates are `YYYY-MM-DD`.
"""


def _error(status: int) -> dict[str, Any]:
    return {
        "description": _SHARED_TEXTS.get(status) or ERROR_TEXTS[status],
        "content": _ERROR_SCHEMA,
    }


def _shared_errors(path: str, operation: dict[str, Any]) -> list[int]:
    statuses: list[int] = list(_ALWAYS)
    if "requestBody" in operation:
        statuses += _BODY_ERRORS
    if operation.get("parameters"):
        statuses.append(422)
    if operation.get("security") or (path.startswith("/api/v1/") and path not in _PUBLIC):
        statuses.append(401)
    return statuses


def _components_of(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    found: dict[str, Any] = schema.pop("$defs", {})
    found[model.__name__] = schema
    return found


def _rename(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (
                _ref(_RENAMED[v.rsplit("/", 1)[-1]])["$ref"]
                if k == "$ref" and isinstance(v, str) and v.rsplit("/", 1)[-1] in _RENAMED
                else _rename(v)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rename(v) for v in node]
    return node


def _document_schemas(components: dict[str, Any]) -> None:
    for name, doc in SCHEMA_DOCS.items():
        schema = components.get(name)
        if schema is None:
            continue
        schema["description"] = doc.description
        schema["example"] = deepcopy(doc.example)
        properties = schema.get("properties", {})
        for field, text in doc.fields.items():
            if field in properties:
                properties[field]["description"] = text


def _describe_answers(operation: dict[str, Any]) -> None:
    """Non-JSON answers are bytes (``format: binary``) or text; JSON answers of dict-returning
    operations get their schema."""
    model = _JSON_ANSWERS.get(operation.get("operationId", ""))
    for status, response in operation.get("responses", {}).items():
        for media_type, content in response.get("content", {}).items():
            if media_type == "application/json":
                if model is not None and status == "200":
                    content["schema"] = _ref(model.__name__)
            elif media_type.startswith("text/"):
                content["schema"] = {"type": "string"}
            elif not content.get("schema") or content["schema"] == {"type": "string"}:
                content["schema"] = dict(_BINARY)


def _document_parameters(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        found = PARAMETER_DOCS.get((parameter["name"], parameter["in"]))
        if found is not None:
            parameter.setdefault("description", found[0])
            parameter.setdefault("example", found[1])


def _document_headers(operation: dict[str, Any]) -> None:
    for status, response in operation.get("responses", {}).items():
        headers = {
            **RESPONSE_HEADERS.get(("*", status), {}),
            **RESPONSE_HEADERS.get((operation.get("operationId", ""), status), {}),
        }
        for name, (text, example) in headers.items():
            response.setdefault("headers", {})[name] = {
                "description": text,
                "schema": {"type": "string"},
                "example": example,
            }


def truthful(generate: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """Wrap FastAPI's ``app.openapi`` so the document it returns lists the real error answers,
    the multipart bodies, and the descriptions and examples of every schema."""
    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if "schema" in cache:
            return cache["schema"]  # type: ignore[no-any-return]
        schema: dict[str, Any] = _rename(generate())
        info = schema.setdefault("info", {})
        info["description"] = info.get("description", "") + CONVENTIONS
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for old, new in _RENAMED.items():
            if old in components:
                components[new] = components.pop(old)
        models: list[type[BaseModel]] = [ErrorBody, Envelope, *_JSON_ANSWERS.values()]
        for model in models:
            components.update(_components_of(model))
        components["DocumentSend"] = deepcopy(_SEND_SCHEMA)
        components["PdfSign"] = deepcopy(_SIGN_SCHEMA)
        for path, item in schema.get("paths", {}).items():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                for status in _shared_errors(path, operation):
                    responses.setdefault(str(status), _error(status))
                if "422" in responses:
                    responses["422"] = {
                        "description": "Well-formed but invalid (error: invalid_request, ...)",
                        "content": _ERROR_SCHEMA,
                    }
                _describe_answers(operation)
                operation["summary"] = SUMMARIES.get(
                    operation.get("operationId", ""), operation.get("summary", "")
                )
                _document_parameters(operation)
                _document_headers(operation)
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        _document_schemas(components)
        cache["schema"] = schema
        return schema

    return openapi
