"""Limits before bytes: every endpoint that takes a body authenticates the caller and checks the
declared and the streamed size before it reads, or while it reads, the body; a body goes to
the node's spool directory and nowhere else, and its spool file is gone when the request ends,
however it ends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from docex.app import create_app
from docex.config import LimitSettings, Settings
from docex.kit.samplepdf import sample_pdf
from docex.signing.sandbox import ValidatorPool
from tests.helpers import G22, H41, audit_events, auth, counts
from tests.security.conftest import (
    MULTIPART,
    chunks_of,
    drive,
    multipart,
    part,
    spool_files,
)

SIGN = "/api/v1/pdf/sign"
TOKEN = "/api/v1/auth/token"
REFUSED = "api:request:refused"
BIG = 4 * 1024 * 1024
SMALL_NODE_BODY = 256 * 1024


@pytest.fixture
def small_client(settings: Settings, validator_pool: ValidatorPool) -> Iterator[TestClient]:
    """A node whose bodies may not pass 256 KiB."""
    settings.limits = LimitSettings(max_body_bytes=SMALL_NODE_BODY)
    with TestClient(
        create_app(settings, validators=validator_pool), raise_server_exceptions=False
    ) as test_client:
        yield test_client


def sign_body(pdf: bytes, role: str = "seal") -> bytes:
    return multipart(
        part("as", role.encode()),
        part("file", pdf, filename="cv.pdf", ctype="application/pdf"),
    )


def headers(body: bytes | None, **more: str) -> dict[str, str]:
    """Multipart headers; Content-Length when ``body`` is given, else chunked."""
    framing = {"content-length": str(len(body))} if body else {"transfer-encoding": "chunked"}
    return {"content-type": MULTIPART, **framing, **more}


def assert_nothing_left(client: TestClient, system_tmp: Path) -> None:
    assert spool_files(client) == [], "a spool file outlived its request"
    assert list(system_tmp.iterdir()) == [], "the body was written to the system /tmp"


# -- POST /api/v1/pdf/sign ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "error"),
    [(None, "missing_token"), ("Bearer dxt_not-a-token", "invalid_token")],
    ids=["no-token", "bad-token"],
)
def test_sign_without_a_valid_token_is_401_before_a_byte_of_the_body_is_read(
    client: TestClient, system_tmp: Path, authorization: str | None, error: str
) -> None:
    body = sign_body(b"%PDF-1.7\n" + bytes(BIG))
    extra = {"authorization": authorization} if authorization else {}
    result = drive(
        client, "POST", SIGN, headers(body, **extra), chunks_of(body), system_tmp=system_tmp
    )
    assert (result.status, result.json()["error"]) == (401, error)
    assert result.chunks_read == 0, f"read {result.chunks_read} of {result.chunks} chunks"
    assert (result.spool_seen, result.tmp_seen) == (0, 0)
    assert result.headers.get("connection") == "close"  # the rest of the body is not wanted


def test_sign_by_someone_who_may_neither_sign_nor_seal_is_403_before_the_body_is_read(
    client: TestClient, credentials: dict, system_tmp: Path
) -> None:
    body = sign_body(b"%PDF-1.7\n" + bytes(BIG))
    auditor = auth(credentials, "auditor")["Authorization"]
    result = drive(
        client,
        "POST",
        SIGN,
        headers(body, authorization=auditor),
        chunks_of(body),
        system_tmp=system_tmp,
    )
    assert (result.status, result.json()["error"]) == (403, "forbidden")
    assert result.chunks_read == 0
    assert (result.spool_seen, result.tmp_seen) == (0, 0)


def test_sign_with_a_declared_length_over_the_limit_is_413_before_the_body_is_read(
    small_client: TestClient, credentials: dict, system_tmp: Path
) -> None:
    body = sign_body(b"%PDF-1.7\n" + bytes(BIG))
    clerk = auth(credentials, G22)["Authorization"]
    result = drive(
        small_client,
        "POST",
        SIGN,
        headers(body, authorization=clerk),
        chunks_of(body),
        system_tmp=system_tmp,
    )
    assert (result.status, result.json()["error"]) == (413, "body_too_large")
    assert result.chunks_read == 0
    assert (result.spool_seen, result.tmp_seen) == (0, 0)
    assert audit_events(small_client, REFUSED)[-1].detail["error"] == "body_too_large"


def test_sign_streamed_over_the_limit_is_413_mid_stream_and_leaves_no_file(
    small_client: TestClient, credentials: dict, system_tmp: Path
) -> None:
    body = sign_body(b"%PDF-1.7\n" + bytes(BIG))
    clerk = auth(credentials, G22)["Authorization"]
    result = drive(
        small_client,
        "POST",
        SIGN,
        headers(None, authorization=clerk),
        chunks_of(body),
        system_tmp=system_tmp,
    )
    assert (result.status, result.json()["error"]) == (413, "body_too_large")
    assert result.chunks_read <= SMALL_NODE_BODY // (64 * 1024) + 1
    assert result.spool_seen == 1, "the PDF did not stream into the node's spool directory"
    assert result.tmp_seen == 0
    assert_nothing_left(small_client, system_tmp)


def test_sign_streams_the_pdf_through_the_node_spool_and_removes_it(
    client: TestClient, credentials: dict, system_tmp: Path
) -> None:
    body = sign_body(sample_pdf("Quyết định"))
    clerk = auth(credentials, G22)["Authorization"]
    result = drive(
        client,
        "POST",
        SIGN,
        headers(body, authorization=clerk),
        chunks_of(body, 256),
        system_tmp=system_tmp,
    )
    assert result.status == 200, result.body[:300]
    assert result.headers["content-type"] == "application/pdf"
    assert result.body.startswith(b"%PDF")
    assert result.spool_seen == 1
    assert result.tmp_seen == 0
    assert_nothing_left(client, system_tmp)


def test_sign_whose_client_goes_away_mid_body_leaves_no_spool_file(
    client: TestClient, credentials: dict, system_tmp: Path
) -> None:
    body = sign_body(b"%PDF-1.7\n" + bytes(BIG))
    clerk = auth(credentials, G22)["Authorization"]
    result = drive(
        client,
        "POST",
        SIGN,
        headers(body, authorization=clerk),
        chunks_of(body),
        disconnect_after=10,
        system_tmp=system_tmp,
    )
    assert result.spool_seen == 1
    assert result.status is None or result.status < 500, result.body
    assert_nothing_left(client, system_tmp)


# -- POST /api/v1/auth/token ----------------------------------------------------------------------


def login_form(size: int) -> bytes:
    return b"username=vanthu.vpcp&password=" + b"x" * size


def test_login_form_declared_over_its_cap_is_413_before_the_body_is_read(
    client: TestClient,
) -> None:
    body = login_form(BIG)
    result = drive(
        client,
        "POST",
        TOKEN,
        {"content-type": "application/x-www-form-urlencoded", "content-length": str(len(body))},
        chunks_of(body),
    )
    assert (result.status, result.json()["error"]) == (413, "body_too_large")
    assert result.chunks_read == 0


def test_login_form_streamed_over_its_cap_is_413_mid_stream(client: TestClient) -> None:
    body = login_form(BIG)
    result = drive(
        client,
        "POST",
        TOKEN,
        {"content-type": "application/x-www-form-urlencoded", "transfer-encoding": "chunked"},
        chunks_of(body, 4096),
    )
    assert (result.status, result.json()["error"]) == (413, "body_too_large")
    assert result.chunks_read <= 3, f"read {result.chunks_read} of {result.chunks} chunks"


def test_login_within_its_cap_still_works(client: TestClient, credentials: dict) -> None:
    person = credentials["agencies"][G22]["clerk"]
    body = f"username={person['username']}&password={person['password']}".encode()
    result = drive(
        client,
        "POST",
        TOKEN,
        {"content-type": "application/x-www-form-urlencoded", "content-length": str(len(body))},
        chunks_of(body, 7),
    )
    assert result.status == 200, result.body
    assert result.json()["access_token"]


# -- JSON bodies: agencies, statuses --------------------------------------------------------------

JSON_ENDPOINTS = [
    ("POST", "/api/v1/agencies", "admin"),
    ("PATCH", f"/api/v1/agencies/{G22}", "admin"),
    ("POST", "/api/v1/documents/no-such-document/statuses", H41),
]


def big_json() -> bytes:
    return json.dumps({"name": "x" * BIG}).encode()


@pytest.mark.parametrize(("method", "path", "who"), JSON_ENDPOINTS)
def test_json_body_without_a_token_is_401_before_the_body_is_read(
    client: TestClient, method: str, path: str, who: str
) -> None:
    body = big_json()
    result = drive(
        client,
        method,
        path,
        {"content-type": "application/json", "content-length": str(len(body))},
        chunks_of(body),
    )
    assert (result.status, result.json()["error"]) == (401, "missing_token")
    assert result.chunks_read == 0


@pytest.mark.parametrize(("method", "path", "who"), JSON_ENDPOINTS)
@pytest.mark.parametrize("declared", [True, False], ids=["declared", "streamed"])
def test_json_body_over_the_small_cap_is_413(
    client: TestClient, credentials: dict, method: str, path: str, who: str, declared: bool
) -> None:
    body = big_json()
    framing = {"content-length": str(len(body))} if declared else {"transfer-encoding": "chunked"}
    before = counts(client)
    result = drive(
        client,
        method,
        path,
        {"content-type": "application/json", **framing, **auth(credentials, who, "clerk")},
        chunks_of(body),
    )
    assert (result.status, result.json()["error"]) == (413, "body_too_large")
    cap = node_cap(client)
    assert result.chunks_read <= (0 if declared else cap // (64 * 1024) + 1)
    assert counts(client) == before
    assert audit_events(client, REFUSED)[-1].detail["error"] == "body_too_large"


def node_cap(client: TestClient) -> int:
    cap: int = client.app.state.node.settings.limits.max_small_body_bytes  # type: ignore[attr-defined]
    return cap


def test_a_json_body_within_the_cap_is_still_read_and_validated(
    client: TestClient, credentials: dict
) -> None:
    response = client.patch(
        f"/api/v1/agencies/{G22}",
        json={"name": "Văn phòng Chính phủ (mới)"},
        headers=auth(credentials, "admin"),
    )
    assert response.status_code == 200, response.text
    refused = client.patch(
        f"/api/v1/agencies/{G22}", json={"nam": "x"}, headers=auth(credentials, "admin")
    )
    assert (refused.status_code, refused.json()["error"]) == (422, "invalid_request")


# -- the public PKI services ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/pki/ocsp", "/pki/tsa"])
def test_pki_request_over_its_cap_is_413(client: TestClient, path: str) -> None:
    body = bytes(BIG)
    result = drive(
        client, "POST", path, {"content-type": "application/ocsp-request"}, chunks_of(body)
    )
    assert (result.status, result.json()["error"]) == (413, "body_too_large")
    assert result.chunks_read <= 2


# -- every endpoint -------------------------------------------------------------------------------


def body_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every served route that can take a body."""
    from fastapi.routing import iter_route_contexts

    found = []
    for context in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        if not isinstance(context.original_route, APIRoute):
            continue
        for method in context.methods or ():
            if method in ("POST", "PUT", "PATCH", "DELETE"):
                found.append((method, str(context.path)))
    return found


def test_no_endpoint_reads_a_body_before_authenticating_or_past_its_declared_cap(
    client: TestClient,
) -> None:
    """A 2 GiB body announced to every endpoint that takes one, with no token: each refuses it
    (401 if it needs a caller, else 413) without reading a byte of it."""
    routes = body_routes(client)
    assert len(routes) >= 8
    declared = {"content-type": MULTIPART, "content-length": str(2 * 1024**3)}
    for method, path in routes:
        concrete = path.replace("{", "").replace("}", "")
        result = drive(client, method, concrete, declared, [bytes(64 * 1024)] * 4)
        assert result.status in (401, 413), (method, path, result.status, result.body[:200])
        assert result.chunks_read == 0, (method, path, result.chunks_read)
        assert result.headers.get("x-content-type-options") == "nosniff"


def test_every_route_whose_body_fastapi_parses_is_a_limited_route(client: TestClient) -> None:
    """A route declaring ``body: Model`` (or Form fields) gets its body read by FastAPI before
    its dependencies run; only a LimitedRoute authenticates and caps first."""
    from fastapi.routing import iter_route_contexts

    from docex.api.bodies import LimitedRoute

    parsed = [
        c.original_route
        for c in iter_route_contexts(client.app.routes)  # type: ignore[attr-defined]
        if isinstance(c.original_route, APIRoute) and c.original_route.body_field is not None
    ]
    assert len(parsed) >= 4
    for route in parsed:
        assert isinstance(route, LimitedRoute), route.path


def test_a_refused_document_upload_still_leaves_no_spool_file(
    small_client: TestClient, credentials: dict, system_tmp: Path
) -> None:
    """The intake (already streaming) keeps doing so through the shared parser."""
    envelope = json.dumps({"recipients": [H41], "subject": "x", "code": {"number": "1"}})
    body = multipart(
        part("envelope", envelope.encode(), ctype="application/json"),
        part("main", b"%PDF-1.7\n" + bytes(BIG), filename="cv.pdf", ctype="application/pdf"),
    )
    clerk = auth(credentials, G22)["Authorization"]
    result = drive(
        small_client,
        "POST",
        "/api/v1/documents",
        headers(None, authorization=clerk),
        chunks_of(body),
        system_tmp=system_tmp,
    )
    assert (result.status, result.json()["error"]) == (413, "body_too_large")
    assert result.spool_seen == 1
    assert_nothing_left(small_client, system_tmp)
