"""Every endpoint as a :class:`Call`: what to ask, whether asking twice is safe, how to read
the answer. The sync and async clients differ only in how they send a Call (``sync.py``,
``aio.py``); nothing here does I/O.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Generic, TypeVar
from urllib.parse import quote

import httpx

from docex_client.errors import (
    AmbiguousReferenceError,
    DocexClientError,
    NotFoundError,
    ResponseError,
    TransportError,
    UnavailableError,
)
from docex_client.models import (
    Agency,
    AgencyStats,
    Document,
    DocumentRef,
    Group,
    InboxItem,
    Me,
    OutboxItem,
    OverdueItem,
    Page,
    QueuedDelivery,
    Receipt,
    Sent,
    Token,
    TraceItem,
    items_of,
)
from docex_client.multipart import FileSource, MultipartBody, content_type_for, source_name
from docex_client.retry import RetryPolicy

T = TypeVar("T")
Params = Mapping[str, str | int | None]

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
DOCUMENT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def seg(value: str) -> str:
    """One URL path segment; an id never gets to add segments of its own."""
    return quote(value, safe="")


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request to the node and how to read its answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Params = field(default_factory=dict)
    json: Any = None
    data: Mapping[str, str] | None = None
    files: Mapping[str, tuple[str, bytes, str]] | None = None
    auth: bool = True
    retry: bool | None = None
    """Safe to try again; by default, when the method is idempotent."""

    @property
    def retryable(self) -> bool:
        return self.method in IDEMPOTENT if self.retry is None else self.retry

    def request(self, http: httpx.Client | httpx.AsyncClient, token: str | None) -> httpx.Request:
        headers = {"Authorization": f"Bearer {token}"} if self.auth and token else {}
        return http.build_request(
            self.method,
            self.path,
            params={k: v for k, v in self.params.items() if v is not None},
            headers=headers,
            json=self.json,
            data=self.data,
            files=self.files,
        )


def retry_delay(policy: RetryPolicy, tries: int, error: DocexClientError) -> float | None:
    """Seconds to wait before trying again after ``error``, or None to give up."""
    if isinstance(error, UnavailableError):
        return policy.delay(tries, retry_after=error.retry_after)
    if isinstance(error, TransportError):
        return policy.delay(tries)
    return None


def transport_error(request: httpx.Request, exc: Exception) -> TransportError:
    return TransportError(f"{request.method} {request.url}: {exc or type(exc).__name__}")


# -- reading answers ------------------------------------------------------------------------


def json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        kind = response.headers.get("content-type", "no content type")
        raise ResponseError(f"expected JSON, got {kind}", status=response.status_code) from exc


def _model(parse: Callable[[Any], T]) -> Callable[[httpx.Response], T]:
    return lambda response: parse(json_body(response))


def _page(parse: Callable[[Any], T], what: str) -> Callable[[httpx.Response], Page[T]]:
    return lambda response: Page.parse(json_body(response), parse, what)


def _items(parse: Callable[[Any], T], what: str) -> Callable[[httpx.Response], list[T]]:
    return lambda response: items_of(json_body(response), parse, what)


def _probe(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"status": response.text.strip()}
    return body if isinstance(body, dict) else {"status": body}


def sent(response: httpx.Response) -> Sent:
    """201: a new document; 200: this message_id was already accepted with this content."""
    return Sent(Document.from_json(json_body(response)), created=response.status_code == 201)


# -- the endpoints --------------------------------------------------------------------------


def login(username: str, password: str) -> Call[Token]:
    return Call(
        "POST",
        "/api/v1/auth/token",
        _model(Token.from_json),
        data={"username": username, "password": password},
        auth=False,
    )


def me() -> Call[Me]:
    return Call("GET", "/api/v1/me", _model(Me.from_json))


def document(document_id: str) -> Call[Document]:
    return Call("GET", f"/api/v1/documents/{seg(document_id)}", _model(Document.from_json))


def lookup(ref: str) -> Call[list[DocumentRef]]:
    return Call(
        "GET",
        "/api/v1/documents/lookup",
        _items(DocumentRef.from_json, "lookup"),
        params={"ref": ref},
    )


def pick(ref: str, matches: Sequence[DocumentRef]) -> str:
    """The one document ``ref`` names, from the node's matches."""
    if not matches:
        raise NotFoundError(404, "document_not_found", f"no document you can see matches {ref!r}")
    if len(matches) > 1:
        raise AmbiguousReferenceError(ref, [m.raw for m in matches])
    return matches[0].id


def receipts(document_id: str) -> Call[list[Receipt]]:
    path = f"/api/v1/documents/{seg(document_id)}/receipts"
    return Call("GET", path, _items(Receipt.from_json, "receipts"))


def trace(document_id: str) -> Call[list[TraceItem]]:
    path = f"/api/v1/documents/{seg(document_id)}/trace"
    return Call("GET", path, _items(TraceItem.from_json, "trace"))


def post_status(
    document_id: str, code: str, *, note: str | None, incoming_number: str | None
) -> Call[Receipt]:
    payload: dict[str, Any] = {"code": code}
    if note is not None:
        payload["note"] = note
    if incoming_number is not None:
        payload["incoming_number"] = incoming_number
    path = f"/api/v1/documents/{seg(document_id)}/statuses"
    return Call("POST", path, _model(Receipt.from_json), json=payload)


def inbox(
    *, status: str | None, urgency: str | None, limit: int | None, cursor: str | None
) -> Call[Page[InboxItem]]:
    params = {"status": status, "urgency": urgency, "limit": limit, "cursor": cursor}
    return Call("GET", "/api/v1/inbox", _page(InboxItem.from_json, "inbox"), params=params)


def outbox(*, limit: int | None, cursor: str | None) -> Call[Page[OutboxItem]]:
    params = {"limit": limit, "cursor": cursor}
    return Call("GET", "/api/v1/outbox", _page(OutboxItem.from_json, "outbox"), params=params)


def overdue(
    *, answered: bool | None, limit: int | None, cursor: str | None
) -> Call[Page[OverdueItem]]:
    params = {
        "answered": None if answered is None else str(answered).lower(),
        "limit": limit,
        "cursor": cursor,
    }
    return Call("GET", "/api/v1/overdue", _page(OverdueItem.from_json, "overdue"), params=params)


def agency_stats(
    *,
    start: str | None,
    end: str | None,
    group: str | None,
    province: str | None,
    agency: str | None,
) -> Call[list[AgencyStats]]:
    params = {"from": start, "to": end, "group": group, "province": province, "agency": agency}
    return Call(
        "GET", "/api/v1/stats/agencies", _items(AgencyStats.from_json, "stats"), params=params
    )


def agencies(
    *, q: str | None, parent: str | None, limit: int | None, cursor: str | None
) -> Call[Page[Agency]]:
    params = {"q": q, "parent": parent, "limit": limit, "cursor": cursor}
    return Call("GET", "/api/v1/agencies", _page(Agency.from_json, "agencies"), params=params)


def agency(agency_id: str) -> Call[Agency]:
    return Call("GET", f"/api/v1/agencies/{seg(agency_id)}", _model(Agency.from_json))


def groups() -> Call[list[Group]]:
    return Call("GET", "/api/v1/groups", _items(Group.from_json, "groups"))


def deliveries(
    *, transport: str | None, limit: int | None, cursor: str | None
) -> Call[Page[QueuedDelivery]]:
    params = {"transport": transport, "limit": limit, "cursor": cursor}
    parse = _page(QueuedDelivery.from_json, "deliveries")
    return Call("GET", "/api/v1/admin/deliveries", parse, params=params)


def retry_delivery(delivery_id: str, *, note: str | None) -> Call[QueuedDelivery]:
    """Asking twice is safe: the second is 409 delivery_not_failed, nothing changes."""
    path = f"/api/v1/admin/deliveries/{seg(delivery_id)}/retry"
    payload = {"note": note} if note else {}
    return Call("POST", path, _model(QueuedDelivery.from_json), json=payload)


# -- edXML (QCVN 102:2016) ------------------------------------------------------------------

EDXML_PATH = "/api/v1/edxml"
EDXML_HEADERS = {"Content-Type": "application/xml"}


def edxml_package(source: bytes | FileSource) -> bytes:
    """The bytes of an edXML package given as bytes, a path or a binary file."""
    if isinstance(source, bytes):
        return source
    if isinstance(source, str | Path):
        return Path(source).read_bytes()
    return source.read()


def edxml_sent(response: httpx.Response) -> Sent | Receipt:
    """A document package's answer is the document (as a send's), a status package's the
    signed receipt (as a status post's)."""
    body = json_body(response)
    if isinstance(body, dict) and "receipts" in body:
        return Receipt.from_json(body)
    return Sent(Document.from_json(body), created=response.status_code == 201)


def _content(response: httpx.Response) -> bytes:
    return response.content


def document_edxml(document_id: str) -> Call[bytes]:
    return Call("GET", f"/api/v1/documents/{seg(document_id)}/edxml", _content)


def receipt_edxml(document_id: str, receipt_id: str) -> Call[bytes]:
    path = f"/api/v1/documents/{seg(document_id)}/receipts/{seg(receipt_id)}/edxml"
    return Call("GET", path, _content)


def probe(path: str) -> Call[dict[str, Any]]:
    return Call("GET", path, _probe, auth=False, retry=False)  # a probe reports, not waits


def file_path(document_id: str, file_id: str, *, sealed: bool = False) -> str:
    path = f"/api/v1/documents/{seg(document_id)}/files/{seg(file_id)}"
    return f"{path}/sealed" if sealed else path


# -- sends ----------------------------------------------------------------------------------


def with_message_id(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """The envelope with a ``message_id``: the caller's, or a new UUID. Sending it again with
    the same id is the same send (the node answers with the original document), which is what
    makes retrying a send safe."""
    result = dict(envelope)
    if not result.get("message_id"):
        result["message_id"] = str(uuid.uuid4())
    return result


def opener(files: contextlib.ExitStack) -> Callable[[FileSource], BinaryIO]:
    """Opens a path for reading (closed with ``files``); a file object is used as it is."""

    def opened(source: FileSource) -> BinaryIO:
        if isinstance(source, str | Path):
            return files.enter_context(Path(source).open("rb"))
        return source

    return opened


def send_body(
    envelope: Mapping[str, Any],
    main: FileSource,
    attachments: Sequence[FileSource],
    opened: Callable[[FileSource], BinaryIO],
) -> MultipartBody:
    """The multipart body of ``POST /api/v1/documents``; files are opened with ``opened``."""
    body = MultipartBody()
    payload = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
    body.add_bytes("envelope", payload.encode(), "application/json")
    body.add_stream("main", source_name(main, "main.pdf"), "application/pdf", opened(main))
    for index, source in enumerate(attachments, start=1):
        name = source_name(source, f"attachment-{index}")
        body.add_stream("attachment", name, content_type_for(name), opened(source))
    return body


def sign_body(
    pdf: bytes | FileSource, role: str, opened: Callable[[FileSource], BinaryIO]
) -> MultipartBody:
    """The multipart body of ``POST /api/v1/pdf/sign``: the PDF and ``as`` (signer or seal)."""
    body = MultipartBody()
    body.add_bytes("as", role.encode(), "text/plain; charset=utf-8")
    if isinstance(pdf, bytes):
        body.add_stream("file", "document.pdf", "application/pdf", io.BytesIO(pdf))
    else:
        body.add_stream("file", source_name(pdf, "document.pdf"), "application/pdf", opened(pdf))
    return body
