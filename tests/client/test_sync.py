"""``DocexClient`` against an in-process stand-in: what it asks, and what it makes of answers."""

from __future__ import annotations

import email.utils
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from docex_client import (
    STATUS_LABELS,
    AmbiguousReferenceError,
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DocexClient,
    DocexClientError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    ResponseError,
    TransportError,
    UnavailableError,
    UnsupportedMediaError,
    __version__,
    status_label,
)
from docex_client.retry import NO_RETRY
from tests.client.helpers import BASE, DOC, TOKEN, Handler, Recorder, document_json


def make_client(handler: Handler, token: str | None = TOKEN) -> DocexClient:
    return DocexClient(BASE, token, transport=httpx.MockTransport(handler), retry=NO_RETRY)


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, PayloadTooLargeError),
        (415, UnsupportedMediaError),
        (422, InvalidRequestError),
        (429, RateLimitedError),
        (503, UnavailableError),
    ],
)
def test_error_statuses_map_to_their_exception_with_code_and_detail(
    status: int, cls: type[ApiError]
) -> None:
    body = {"error": "some_code", "detail": "Văn bản không tồn tại"}
    response = httpx.Response(status, json=body)
    with make_client(lambda _r: response) as api, pytest.raises(ApiError) as caught:
        api.document(DOC)
    assert type(caught.value) is cls
    assert (caught.value.status, caught.value.error, caught.value.detail) == (
        status,
        "some_code",
        "Văn bản không tồn tại",
    )
    assert str(caught.value) == "some_code: Văn bản không tồn tại"


def test_the_clients_errors_are_its_own_not_the_servers() -> None:
    import docex_client.errors

    assert all(
        not cls.__module__.startswith("docex.")
        for cls in vars(docex_client.errors).values()
        if isinstance(cls, type) and issubclass(cls, Exception)
    )
    assert issubclass(TransportError, DocexClientError)
    assert not issubclass(TransportError, ApiError)


def test_an_unlisted_status_with_a_non_json_body_is_a_plain_api_error() -> None:
    response = httpx.Response(502, text="<html>Bad Gateway</html>")
    with make_client(lambda _r: response) as api, pytest.raises(ApiError) as caught:
        api.me()
    assert type(caught.value) is ApiError
    assert (caught.value.status, caught.value.error) == (502, "http_502")
    assert "Bad Gateway" in caught.value.detail


def test_a_json_error_without_an_error_code_falls_back_to_http_status() -> None:
    body = {"detail": [{"loc": ["query", "limit"], "msg": "too big"}]}
    response = httpx.Response(422, json=body)
    with make_client(lambda _r: response) as api, pytest.raises(InvalidRequestError) as caught:
        api.inbox(limit=10_000)
    assert caught.value.error == "http_422"
    assert "too big" in caught.value.detail


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), ("1.5", 1.5), (None, None), ("soon", None), ("-3", 0.0)],
)
def test_unavailable_carries_retry_after_seconds(
    header: str | None, expected: float | None
) -> None:
    headers = {"Retry-After": header} if header is not None else {}
    response = httpx.Response(503, json={"error": "db_down", "detail": "x"}, headers=headers)
    with make_client(lambda _r: response) as api, pytest.raises(UnavailableError) as caught:
        api.readyz()
    assert caught.value.retry_after == expected


def test_retry_after_as_an_http_date_becomes_seconds_from_now() -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    headers = {"Retry-After": email.utils.format_datetime(when, usegmt=True)}
    response = httpx.Response(503, text="down", headers=headers)
    with make_client(lambda _r: response) as api, pytest.raises(UnavailableError) as caught:
        api.readyz()
    assert caught.value.retry_after is not None
    assert 100 < caught.value.retry_after <= 120


def test_no_answer_at_all_is_a_transport_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with make_client(refuse) as api, pytest.raises(TransportError) as caught:
        api.healthz()
    assert caught.value.error == "connection_failed"
    assert "connection refused" in caught.value.detail


@pytest.mark.parametrize(
    "body",
    [
        {"id": DOC},  # fields the contract promises are missing
        {**document_json(), "files": [{"id": "f", "size": "big"}]},
        [1, 2],
    ],
)
def test_an_answer_off_the_contract_is_a_response_error(body: Any) -> None:
    with (
        make_client(lambda _r: httpx.Response(200, json=body)) as api,
        pytest.raises(ResponseError),
    ):
        api.document(DOC)


def test_a_non_json_answer_is_a_response_error() -> None:
    html = httpx.Response(200, text="<html>proxy login</html>")
    with make_client(lambda _r: html) as api, pytest.raises(ResponseError) as caught:
        api.me()
    assert caught.value.error == "invalid_response"


# -- who ------------------------------------------------------------------------------------


ME = {"id": "p1", "kind": "clerk", "agency_id": "000.00.00.H41", "clearance": "normal"}


def test_every_call_carries_bearer_token_and_user_agent() -> None:
    recorder = Recorder([httpx.Response(200, json={**ME, "username": "vanthu"})])
    with make_client(recorder, token="abc") as api:
        me = api.me()
    assert (me.kind, me.agency_id, me.username) == ("clerk", "000.00.00.H41", "vanthu")
    (request,) = recorder.requests
    assert request.url == f"{BASE}/api/v1/me"
    assert request.headers["Authorization"] == "Bearer abc"
    assert request.headers["User-Agent"] == f"docex-client/{__version__}"


def test_login_posts_a_form_without_old_credentials_and_keeps_the_new_token() -> None:
    recorder = Recorder(
        [
            httpx.Response(200, json={"access_token": "fresh", "expires_in": 3600}),
            httpx.Response(200, json=ME),
        ]
    )
    with make_client(recorder, token="stale") as api:
        issued = api.login("vanthu", "mật khẩu")
        api.me()
        assert api.token == "fresh"
    assert (issued.access_token, issued.expires_in) == ("fresh", 3600)
    login, me = recorder.requests
    assert login.url == f"{BASE}/api/v1/auth/token"
    assert login.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(login.content.decode()) == {"username": ["vanthu"], "password": ["mật khẩu"]}
    assert "Authorization" not in login.headers
    assert me.headers["Authorization"] == "Bearer fresh"


def test_no_token_means_no_authorization_header() -> None:
    recorder = Recorder([httpx.Response(200, json={"status": "ok"})])
    with make_client(recorder, token=None) as api:
        api.healthz()
    assert "Authorization" not in recorder.requests[0].headers


def test_base_url_path_prefix_is_kept_and_ids_cannot_add_path_segments() -> None:
    recorder = Recorder([httpx.Response(200, json=document_json())])
    transport = httpx.MockTransport(recorder)
    with DocexClient("https://hub.test/docex", "t", transport=transport) as api:
        api.document("../admin")
    assert recorder.requests[0].url.raw_path == b"/docex/api/v1/documents/..%2Fadmin"


# -- documents ------------------------------------------------------------------------------


def test_a_document_comes_back_typed_with_aware_times_and_its_raw_json() -> None:
    body = document_json(
        files=[
            {
                "id": "f1",
                "role": "main",
                "name": "../../etc/cong-van.pdf",
                "content_type": "application/pdf",
                "size": 12,
                "sha256": "ab" * 32,
            }
        ],
        recipients=[
            {
                "agency_id": "000.00.00.H41",
                "addressed_as": "group:provinces",
                "transport": "delivered",
                "status": "03",
                "incoming_number": "125",
                "updated_at": "2026-11-25T07:00:01+00:00",
                "new_field": "kept in raw",
            }
        ],
    )
    with make_client(lambda _r: httpx.Response(200, json=body)) as api:
        document = api.document(DOC)
    assert document.created_at == datetime(2026, 11, 25, 7, tzinfo=UTC)
    assert document.main_file is not None
    assert document.main_file.safe_name == "cong-van.pdf"
    (recipient,) = document.recipients
    assert (recipient.status, recipient.incoming_number) == ("03", "125")
    assert recipient.raw["new_field"] == "kept in raw"
    assert document.raw == body


def test_post_status_sends_only_given_fields_and_is_never_retried() -> None:
    receipt = {
        "id": "r1",
        "code": "03",
        "from_agency_id": "A",
        "to_agency_id": "B",
        "incoming_number": "125",
        "created_at": "2026-11-25T07:00:00Z",
        "signed": "x.y.z",
    }
    recorder = Recorder(
        [
            httpx.Response(201, json=receipt),
            httpx.Response(503, json={"error": "database_unavailable", "detail": ""}),
        ]
    )
    transport = httpx.MockTransport(recorder)
    with DocexClient(BASE, TOKEN, transport=transport, sleep=lambda _s: None) as api:
        assert api.post_status(DOC, "03", incoming_number="125").incoming_number == "125"
        with pytest.raises(UnavailableError):
            api.post_status(DOC, "02", note="Gửi nhầm")
    first, second = recorder.requests
    assert first.url == f"{BASE}/api/v1/documents/{DOC}/statuses"
    assert json.loads(first.content) == {"code": "03", "incoming_number": "125"}
    assert json.loads(second.content) == {"code": "02", "note": "Gửi nhầm"}


def test_receipts_and_trace_return_typed_lists() -> None:
    at = "2026-11-25T07:00:00Z"
    recorder = Recorder(
        [
            httpx.Response(
                200,
                json={
                    "items": [
                        {
                            "id": "r",
                            "code": "01",
                            "from_agency_id": "A",
                            "to_agency_id": "B",
                            "created_at": at,
                            "signed": "j",
                        }
                    ]
                },
            ),
            httpx.Response(
                200,
                json={
                    "items": [
                        {"at": at, "event": "e", "node_id": "n", "detail": {}, "audit_index": 1}
                    ]
                },
            ),
        ]
    )
    with make_client(recorder) as api:
        assert [r.code for r in api.receipts(DOC)] == ["01"]
        assert [(e.event, e.audit_index) for e in api.trace(DOC)] == [("e", 1)]
    assert [r.url.path for r in recorder.requests] == [
        f"/api/v1/documents/{DOC}/receipts",
        f"/api/v1/documents/{DOC}/trace",
    ]


def _ref(document_id: str) -> dict[str, Any]:
    return {
        "id": document_id,
        "business_id": "000.00.00.G22,2026/11/25,12/VPCP-TTĐT",
        "sender_id": "000.00.00.G22",
        "subject": "s",
        "created_at": "2026-11-25T07:00:00Z",
    }


def test_resolve_takes_a_full_id_as_it_is_and_asks_the_node_for_anything_else() -> None:
    recorder = Recorder([httpx.Response(200, json={"items": [_ref(DOC)]})])
    with make_client(recorder) as api:
        assert api.resolve(DOC) == DOC
        assert api.resolve("000.00.00.G22,2026/11/25,12/VPCP-TTĐT") == DOC
    (request,) = recorder.requests
    assert request.url.path == "/api/v1/documents/lookup"
    assert request.url.params["ref"] == "000.00.00.G22,2026/11/25,12/VPCP-TTĐT"


def test_resolve_says_when_a_short_id_matches_none_or_several() -> None:
    other = DOC[:-1] + "0"
    recorder = Recorder(
        [
            httpx.Response(200, json={"items": []}),
            httpx.Response(200, json={"items": [_ref(DOC), _ref(other)]}),
        ]
    )
    with make_client(recorder) as api:
        with pytest.raises(NotFoundError):
            api.resolve(DOC[:8])
        with pytest.raises(AmbiguousReferenceError) as caught:
            api.resolve(DOC[:8])
    assert DOC in caught.value.detail
    assert other in caught.value.detail


# -- lists ----------------------------------------------------------------------------------


def inbox_item(document_id: str) -> dict[str, Any]:
    return {
        "document_id": document_id,
        "business_id": "b",
        "sender_id": "000.00.00.G22",
        "subject": "s",
        "urgency": "flash",
        "classification": "normal",
        "status": "01",
        "delivered_at": "2026-11-25T07:00:00Z",
    }


def paged(pages: dict[str | None, dict[str, Any]], seen: list[httpx.Request]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) > 10:  # fail, rather than hang, if the client never stops
            pytest.fail("the client kept asking for pages")
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    return handler


def test_iter_inbox_follows_next_cursor_with_the_same_filters() -> None:
    pages: dict[str | None, dict[str, Any]] = {
        None: {"items": [inbox_item("1"), inbox_item("2")], "next_cursor": "c2"},
        "c2": {"items": [inbox_item("3")], "next_cursor": "c3"},
        "c3": {"items": [], "next_cursor": None},
    }
    seen: list[httpx.Request] = []
    with make_client(paged(pages, seen)) as api:
        items = api.iter_inbox(status="01", urgency="flash", limit=2)
        assert [i.document_id for i in items] == ["1", "2", "3"]
    assert [dict(r.url.params) for r in seen] == [
        {"status": "01", "urgency": "flash", "limit": "2"},
        {"status": "01", "urgency": "flash", "limit": "2", "cursor": "c2"},
        {"status": "01", "urgency": "flash", "limit": "2", "cursor": "c3"},
    ]
    assert {r.url.path for r in seen} == {"/api/v1/inbox"}


def test_single_pages_pass_filters_and_omit_unset_ones() -> None:
    seen: list[httpx.Request] = []
    page: dict[str, Any] = {"items": [], "next_cursor": None}
    with make_client(paged({None: page, "x": page}, seen)) as api:
        assert len(api.outbox(limit=5)) == 0
        api.agencies(q="Nghệ An", cursor="x")
        api.inbox()
    assert [(r.url.path, dict(r.url.params)) for r in seen] == [
        ("/api/v1/outbox", {"limit": "5"}),
        ("/api/v1/agencies", {"q": "Nghệ An", "cursor": "x"}),
        ("/api/v1/inbox", {}),
    ]


def agency(code: str) -> dict[str, Any]:
    return {"id": code, "name": code, "kind": "state", "node_id": "n", "status": "active"}


def test_iter_agencies_walks_all_pages_and_a_repeated_cursor_is_an_error() -> None:
    pages: dict[str | None, dict[str, Any]] = {
        None: {"items": [agency("a")], "next_cursor": "n"},
        "n": {"items": [agency("b")], "next_cursor": None},
    }
    with make_client(paged(pages, [])) as api:
        assert [a.id for a in api.iter_agencies(parent="000.00.00.H41")] == ["a", "b"]
    looping: dict[str | None, dict[str, Any]] = {
        None: {"items": [agency("a")], "next_cursor": "same"},
        "same": {"items": [agency("b")], "next_cursor": "same"},
    }
    with make_client(paged(looping, [])) as api, pytest.raises(ResponseError):
        list(api.iter_agencies())


def test_groups_come_back_typed() -> None:
    groups = [{"name": "provinces", "description": "", "members": ["000.00.00.H41"]}]
    with make_client(lambda _r: httpx.Response(200, json={"items": groups})) as api:
        assert [(g.name, g.members) for g in api.groups()] == [("provinces", ["000.00.00.H41"])]


def test_status_labels_cover_every_business_code() -> None:
    assert sorted(STATUS_LABELS) == ["01", "02", "03", "04", "05", "06", "13", "15", "16"]
    assert status_label("01") == "01 đã đến / arrived"
    assert status_label("99") == "99"
    assert status_label(None) == ""


def test_docex_client_is_still_importable_from_docex() -> None:
    import docex.client
    import docex_client

    assert issubclass(docex.client.DocexClient, docex_client.DocexClient)
    assert docex.client.NotFoundError is docex_client.NotFoundError


def test_a_429_says_when_to_try_again() -> None:
    response = httpx.Response(
        429, json={"error": "too_many_attempts", "detail": "wait"}, headers={"Retry-After": "7"}
    )
    with make_client(lambda _r: response) as api, pytest.raises(RateLimitedError) as caught:
        api.document(DOC)
    assert caught.value.retry_after == 7
