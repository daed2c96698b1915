"""Typed, synchronous client for the docex HTTP API v1 (``/work/shared/API.md``).

Integrating systems import :class:`DocexClient`; the ``docex`` CLI uses it too. Every method
returns the JSON the server sent, as plain dicts and lists.

Uploads are streamed: :meth:`DocexClient.send` writes the multipart body chunk by chunk with an
exact ``Content-Length`` computed up front, so a node can refuse an oversize body before reading
it and the client never holds a whole file in memory. Downloads are streamed too, hashed on the
way, and checked against the server's ``ETag`` (the file's SHA-256); a mismatch leaves no file
behind.

Every failure the client reports is a :class:`DocexError`::

    DocexError                    .status (0 = no HTTP answer), .error (machine code), .detail
     ├── BadRequest               400
     ├── Unauthorized             401
     ├── Forbidden                403
     ├── NotFound                 404  (also: exists but not visible to you)
     ├── Conflict                 409
     ├── PayloadTooLarge          413
     ├── UnsupportedMediaType     415
     ├── Unprocessable            422
     ├── ServiceUnavailable       503  .retry_after: float | None (seconds)
     ├── IntegrityMismatch        0    "integrity_mismatch": downloaded bytes != ETag sha256
     └── ConnectionFailed         0    "connection_failed": no answer (DNS, refused, timeout, TLS)

Any other non-2xx answer is a plain :class:`DocexError` with that status. When the error body
is not the server's ``{"error": code, "detail": text}`` JSON, ``error`` is ``"http_<status>"``.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import hashlib
import importlib.metadata
import io
import json
import math
import mimetypes
import os
import secrets
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, NamedTuple, Self
from urllib.parse import quote

import httpx

__all__ = [
    "STATUS_LABELS",
    "BadRequest",
    "Conflict",
    "ConnectionFailed",
    "DocexClient",
    "DocexError",
    "Forbidden",
    "IntegrityMismatch",
    "NotFound",
    "PayloadTooLarge",
    "Progress",
    "ServiceUnavailable",
    "StatusLabel",
    "Unauthorized",
    "Unprocessable",
    "UnsupportedMediaType",
    "status_label",
]

JSONObject = dict[str, Any]
Progress = Callable[[int, int], None]
"""``progress(done_bytes, total_bytes)``; ``total_bytes`` is 0 when the size is unknown."""

FileSource = str | Path | BinaryIO

CHUNK_SIZE = 64 * 1024


class StatusLabel(NamedTuple):
    """Meaning of a business status code (DOMAIN.md, "Statuses")."""

    vi: str
    en: str


STATUS_LABELS: Mapping[str, StatusLabel] = {
    "01": StatusLabel("đã đến", "arrived"),
    "02": StatusLabel("từ chối", "rejected"),
    "03": StatusLabel("đã tiếp nhận", "accepted"),
    "04": StatusLabel("phân công", "assigned"),
    "05": StatusLabel("đang xử lý", "processing"),
    "06": StatusLabel("hoàn thành", "completed"),
    "13": StatusLabel("yêu cầu thu hồi", "recall requested"),
    "15": StatusLabel("đồng ý thu hồi/cập nhật", "recall/update accepted"),
    "16": StatusLabel("từ chối thu hồi/cập nhật", "recall/update refused"),
}


def status_label(code: str | None) -> str:
    """``"01 đã đến / arrived"``; the bare code when unknown; ``""`` for no status."""
    if not code:
        return ""
    label = STATUS_LABELS.get(code)
    return f"{code} {label.vi} / {label.en}" if label else code


# --------------------------------------------------------------------------------------------
# Errors


class DocexError(Exception):
    """A request the client could not complete; see the module docstring for the tree."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str = "",
        *,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(f"{error}: {detail}" if detail else error)
        self.status = status
        self.error = error
        self.detail = detail
        self.response = response


class BadRequest(DocexError):
    """400: the request is malformed."""


class Unauthorized(DocexError):
    """401: no credentials, or invalid/expired ones."""


class Forbidden(DocexError):
    """403: authenticated, but not allowed."""


class NotFound(DocexError):
    """404: absent, or not visible to the caller."""


class Conflict(DocexError):
    """409: duplicate id with other content, or an illegal state transition."""


class PayloadTooLarge(DocexError):
    """413: the body exceeds the node's limits."""


class UnsupportedMediaType(DocexError):
    """415: wrong content type."""


class Unprocessable(DocexError):
    """422: well-formed but invalid (bad signature, unknown recipient, ...)."""


class ServiceUnavailable(DocexError):
    """503: a dependency of the node is down; retry after ``retry_after`` seconds if given."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str = "",
        *,
        response: httpx.Response | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, error, detail, response=response)
        self.retry_after = retry_after


class IntegrityMismatch(DocexError):
    """The downloaded bytes do not hash to the SHA-256 the server announced."""


class ConnectionFailed(DocexError):
    """No HTTP answer at all: DNS failure, connection refused, timeout, TLS error."""


_ERRORS_BY_STATUS: Mapping[int, type[DocexError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: Unprocessable,
}


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_from_response(response: httpx.Response) -> DocexError:
    """Map a non-2xx response (body already read) to the matching exception."""
    status = response.status_code
    error = f"http_{status}"
    detail = response.reason_phrase
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        if text:
            detail = text[:500]
    else:
        if isinstance(body, dict):
            if isinstance(body.get("error"), str) and body["error"]:
                error = body["error"]
            raw = body.get("detail")
            if isinstance(raw, str):
                detail = raw
            elif raw is not None:  # e.g. a list of validation problems
                detail = json.dumps(raw, ensure_ascii=False)
    if status == 503:
        return ServiceUnavailable(
            status,
            error,
            detail,
            response=response,
            retry_after=_parse_retry_after(response.headers.get("Retry-After")),
        )
    cls = _ERRORS_BY_STATUS.get(status, DocexError)
    return cls(status, error, detail, response=response)


# --------------------------------------------------------------------------------------------
# Streaming multipart/form-data (RFC 7578)


def _quote_param(value: str) -> str:
    # HTML5 form encoding, as browsers and Starlette expect: the raw UTF-8 name in quotes, with
    # only the characters that would break the quoted-string percent-escaped.
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _remaining_size(stream: BinaryIO) -> int:
    """Bytes left to read in ``stream`` from its current position, without reading them."""
    position = stream.tell()
    with contextlib.suppress(AttributeError, OSError, io.UnsupportedOperation):
        info = os.fstat(stream.fileno())
        if stat.S_ISREG(info.st_mode):
            return max(0, info.st_size - position)
    end = stream.seek(0, os.SEEK_END)
    stream.seek(position)
    return max(0, end - position)


def _source_name(source: FileSource, fallback: str) -> str:
    if isinstance(source, str | Path):
        return Path(source).name or fallback
    name = getattr(source, "name", None)
    if isinstance(name, str) and name:
        return Path(name).name or fallback
    return fallback


@dataclass
class _Part:
    head: bytes
    size: int
    data: bytes | None = None
    stream: BinaryIO | None = None


class _MultipartBody:
    """A multipart/form-data body whose exact length is known before the first byte is sent."""

    def __init__(self) -> None:
        self.boundary = f"docex-{secrets.token_hex(16)}"
        self._parts: list[_Part] = []

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _head(self, name: str, filename: str | None, content_type: str) -> bytes:
        disposition = f'form-data; name="{_quote_param(name)}"'
        if filename is not None:
            disposition += f'; filename="{_quote_param(filename)}"'
        return (
            f"--{self.boundary}\r\n"
            f"Content-Disposition: {disposition}\r\n"
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()

    def add_bytes(self, name: str, data: bytes, content_type: str) -> None:
        self._parts.append(_Part(self._head(name, None, content_type), len(data), data=data))

    def add_stream(self, name: str, filename: str, content_type: str, stream: BinaryIO) -> None:
        head = self._head(name, filename, content_type)
        self._parts.append(_Part(head, _remaining_size(stream), stream=stream))

    @property
    def _tail(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode()

    def __len__(self) -> int:
        return sum(len(p.head) + p.size + 2 for p in self._parts) + len(self._tail)

    def chunks(self, progress: Progress | None = None) -> Iterator[bytes]:
        total = len(self)
        sent = 0

        def emit(chunk: bytes) -> Iterator[bytes]:
            nonlocal sent
            yield chunk
            # Runs once the transport asks for the next chunk, i.e. after this one went out.
            sent += len(chunk)
            if progress is not None:
                progress(sent, total)

        if progress is not None:
            progress(0, total)
        for part in self._parts:
            yield from emit(part.head)
            if part.data is not None:
                yield from emit(part.data)
            elif part.stream is not None:
                for chunk in _read_exactly(part.stream, part.size):
                    yield from emit(chunk)
            yield from emit(b"\r\n")
        yield from emit(self._tail)


def _read_exactly(stream: BinaryIO, size: int) -> Iterator[bytes]:
    # The Content-Length is already on the wire: a file that shrank or grew since must abort
    # the upload rather than send a body that disagrees with it.
    left = size
    while left > 0:
        chunk = stream.read(min(CHUNK_SIZE, left))
        if not chunk:
            raise DocexError(0, "source_changed", f"file ended {left} bytes early during upload")
        left -= len(chunk)
        yield chunk
    if stream.read(1):
        raise DocexError(0, "source_changed", "file grew during upload")


# --------------------------------------------------------------------------------------------
# Client


def _client_version() -> str:
    try:
        return importlib.metadata.version("docex")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def _seg(value: str) -> str:
    """One URL path segment; ids never get to add segments of their own."""
    return quote(value, safe="")


def _normalize_etag(value: str) -> str:
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"').lower()


class DocexClient:
    """Synchronous client of one docex node.

    ``base_url`` may carry a path prefix (``https://hub.example/docex``). ``transport`` lets a
    test or an embedding application route requests in-process (``httpx.MockTransport``).
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._token = token
        self._http = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"User-Agent": f"docex-client/{_client_version()}"},
        )

    # ----- lifecycle -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)

    @property
    def token(self) -> str | None:
        return self._token

    @token.setter
    def token(self, value: str | None) -> None:
        self._token = value

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ----- plumbing ------------------------------------------------------------------------

    def _headers(
        self, extra: Mapping[str, str] | None = None, *, auth: bool = True
    ) -> dict[str, str]:
        headers = dict(extra or {})
        if auth and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def _build(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | None] | None = None,
        auth: bool = True,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Request:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        return self._http.build_request(
            method, path, params=query, headers=self._headers(headers, auth=auth), **kwargs
        )

    def _send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        try:
            response = self._http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise ConnectionFailed(0, "connection_failed", f"{request.url}: {exc}") from exc
        if not response.is_success:
            try:
                response.read()
            except httpx.TransportError:
                pass  # the status alone still says what went wrong
            finally:
                response.close()
            raise _error_from_response(response)
        return response

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | None] | None = None,
        auth: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        return self._send(self._build(method, path, params=params, auth=auth, **kwargs))

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise DocexError(
                response.status_code,
                "invalid_response",
                f"expected JSON, got {response.headers.get('content-type', 'no content type')}",
                response=response,
            ) from exc

    def _object(self, response: httpx.Response) -> JSONObject:
        body = self._json(response)
        if not isinstance(body, dict):
            raise DocexError(
                response.status_code,
                "invalid_response",
                "expected a JSON object",
                response=response,
            )
        return body

    def _get(self, path: str, **params: str | int | None) -> JSONObject:
        return self._object(self._request("GET", path, params=params))

    def _items(self, path: str) -> list[JSONObject]:
        response = self._request("GET", path)
        body = self._json(response)
        items = body.get("items") if isinstance(body, dict) else body
        if not isinstance(items, list):
            raise DocexError(
                response.status_code,
                "invalid_response",
                "expected a list of items",
                response=response,
            )
        return items

    def _pages(self, path: str, params: Mapping[str, str | int | None]) -> Iterator[JSONObject]:
        cursor = params.get("cursor")
        seen: set[str] = set()
        while True:
            page = self._get(path, **{**params, "cursor": cursor})
            yield from page.get("items") or []
            cursor = page.get("next_cursor")
            if not cursor:
                return
            if cursor in seen:  # a server bug must not turn into an endless loop
                raise DocexError(0, "pagination_loop", f"{path} returned cursor {cursor!r} twice")
            seen.add(cursor)

    # ----- auth ----------------------------------------------------------------------------

    def login(self, username: str, password: str) -> str:
        """Exchange a person's password for a bearer token; keep it for later calls."""
        response = self._request(
            "POST",
            "/api/v1/auth/token",
            auth=False,
            data={"username": username, "password": password},
        )
        token = self._object(response).get("access_token")
        if not isinstance(token, str) or not token:
            raise DocexError(response.status_code, "invalid_response", "no access_token in answer")
        self._token = token
        return token

    def me(self) -> JSONObject:
        """The calling principal: ``kind``, ``agency_id``, ``clearance``, ``username``."""
        return self._get("/api/v1/me")

    # ----- documents -----------------------------------------------------------------------

    def send_ex(
        self,
        envelope: Mapping[str, Any],
        main: FileSource,
        attachments: Sequence[FileSource] = (),
        *,
        progress: Progress | None = None,
    ) -> tuple[JSONObject, bool]:
        """Send a document; return ``(document, created)``.

        ``created`` is False when the node answered 200: the same ``message_id`` with the same
        content was already accepted and this is the original document.

        Files are paths or binary file objects, sent from their current position; a file object
        must be a regular file or seekable, because the body's length is announced up front.
        """
        with contextlib.ExitStack() as stack:

            def opened(source: FileSource) -> BinaryIO:
                if isinstance(source, str | Path):
                    return stack.enter_context(Path(source).open("rb"))
                return source

            body = _MultipartBody()
            payload = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
            body.add_bytes("envelope", payload.encode(), "application/json")
            body.add_stream("main", _source_name(main, "main.pdf"), "application/pdf", opened(main))
            for index, source in enumerate(attachments, start=1):
                name = _source_name(source, f"attachment-{index}")
                content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
                body.add_stream("attachment", name, content_type, opened(source))

            request = self._build(
                "POST",
                "/api/v1/documents",
                headers={"Content-Type": body.content_type, "Content-Length": str(len(body))},
                content=body.chunks(progress),
            )
            response = self._send(request)
        return self._object(response), response.status_code == 201

    def send(
        self,
        envelope: Mapping[str, Any],
        main: FileSource,
        attachments: Sequence[FileSource] = (),
        *,
        progress: Progress | None = None,
    ) -> JSONObject:
        """Send a document (signed PDF ``main`` plus appendices); return the Document."""
        document, _created = self.send_ex(envelope, main, attachments, progress=progress)
        return document

    def document(self, document_id: str) -> JSONObject:
        return self._get(f"/api/v1/documents/{_seg(document_id)}")

    def receipts(self, document_id: str) -> list[JSONObject]:
        return self._items(f"/api/v1/documents/{_seg(document_id)}/receipts")

    def trace(self, document_id: str) -> list[JSONObject]:
        return self._items(f"/api/v1/documents/{_seg(document_id)}/trace")

    def post_status(
        self,
        document_id: str,
        code: str,
        *,
        note: str | None = None,
        incoming_number: str | None = None,
    ) -> JSONObject:
        """Report a business status (02, 03, ...) to the sender; return the signed receipt."""
        payload: JSONObject = {"code": code}
        if note is not None:
            payload["note"] = note
        if incoming_number is not None:
            payload["incoming_number"] = incoming_number
        response = self._request(
            "POST", f"/api/v1/documents/{_seg(document_id)}/statuses", json=payload
        )
        return self._object(response)

    def download(
        self,
        document_id: str,
        file_id: str,
        dest: str | Path | BinaryIO,
        *,
        progress: Progress | None = None,
        expected_sha256: str | None = None,
    ) -> str:
        """Stream a file of a document to ``dest``; return its SHA-256 (hex).

        The hash is checked against the ``ETag`` the server sends and, if given, against
        ``expected_sha256`` (e.g. from the Document's ``files``). For a path, bytes go to a
        temporary file beside it that replaces ``dest`` only once verified; on any failure
        nothing is left behind. A file object is written in place and left to the caller.
        """
        request = self._build("GET", f"/api/v1/documents/{_seg(document_id)}/files/{_seg(file_id)}")
        response = self._send(request, stream=True)
        try:
            if not isinstance(dest, str | Path):
                return self._receive(response, dest, progress, expected_sha256)
            target = Path(dest)
            partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
            try:
                with partial.open("wb") as out:
                    digest = self._receive(response, out, progress, expected_sha256)
                partial.replace(target)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            return digest
        finally:
            response.close()

    @staticmethod
    def _receive(
        response: httpx.Response,
        out: BinaryIO,
        progress: Progress | None,
        expected_sha256: str | None,
    ) -> str:
        length = response.headers.get("Content-Length", "")
        # A compressed transfer's length says nothing about the bytes we count.
        encoded = response.headers.get("Content-Encoding", "identity") != "identity"
        total = int(length) if length.isdigit() and not encoded else 0
        hasher = hashlib.sha256()
        received = 0
        try:
            for chunk in response.iter_bytes(CHUNK_SIZE):
                hasher.update(chunk)
                out.write(chunk)
                received += len(chunk)
                if progress is not None:
                    progress(received, total)
        except httpx.TransportError as exc:
            raise ConnectionFailed(0, "connection_failed", f"download interrupted: {exc}") from exc
        digest = hasher.hexdigest()
        claims = {"ETag": response.headers.get("ETag"), "expected_sha256": expected_sha256}
        for source, claimed in claims.items():
            if claimed is not None and _normalize_etag(claimed) != digest:
                raise IntegrityMismatch(
                    0,
                    "integrity_mismatch",
                    f"received bytes hash to {digest}, {source} says {claimed}",
                    response=response,
                )
        return digest

    # ----- lists ---------------------------------------------------------------------------

    def inbox(
        self,
        *,
        status: str | None = None,
        urgency: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JSONObject:
        """One page of deliveries to the caller's agency, newest first."""
        return self._get(
            "/api/v1/inbox", status=status, urgency=urgency, limit=limit, cursor=cursor
        )

    def iter_inbox(
        self,
        *,
        status: str | None = None,
        urgency: str | None = None,
        limit: int | None = None,
    ) -> Iterator[JSONObject]:
        """Every delivery matching the filters, fetching ``limit`` per page."""
        return self._pages("/api/v1/inbox", {"status": status, "urgency": urgency, "limit": limit})

    def outbox(self, *, limit: int | None = None, cursor: str | None = None) -> JSONObject:
        """One page of documents the caller's agency sent."""
        return self._get("/api/v1/outbox", limit=limit, cursor=cursor)

    def iter_outbox(self, *, limit: int | None = None) -> Iterator[JSONObject]:
        return self._pages("/api/v1/outbox", {"limit": limit})

    def agencies(
        self,
        q: str | None = None,
        parent: str | None = None,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JSONObject:
        """One page of the agency registry, optionally searched (``q``) or under ``parent``."""
        return self._get("/api/v1/agencies", q=q, parent=parent, limit=limit, cursor=cursor)

    def iter_agencies(
        self,
        q: str | None = None,
        parent: str | None = None,
        *,
        limit: int | None = None,
    ) -> Iterator[JSONObject]:
        return self._pages("/api/v1/agencies", {"q": q, "parent": parent, "limit": limit})

    def agency(self, agency_id: str) -> JSONObject:
        return self._get(f"/api/v1/agencies/{_seg(agency_id)}")

    def groups(self) -> list[JSONObject]:
        """Named recipient groups (usable as ``group:<name>`` recipients)."""
        return self._items("/api/v1/groups")

    # ----- operations ----------------------------------------------------------------------

    def download_decrypted(
        self,
        document_id: str,
        file_id: str,
        dest: str | Path,
        *,
        private_key_pem: bytes,
        agency_id: str,
        passphrase: str | None = None,
    ) -> str:
        """For an agency that keeps its private key itself: fetch a classified file still
        encrypted (``/sealed``) and decrypt it here with that key; the node never sees it.
        Checks the SHA-256 recorded at intake; returns it. A partial file is never left."""
        from docex.config import Classification
        from docex.documents.protection import open_sealed

        document = self.document(document_id)
        meta = next((f for f in document.get("files") or [] if f.get("id") == file_id), None)
        if meta is None:
            raise DocexError(404, "file_not_found", f"no file {file_id} in {document_id}")
        path = f"/api/v1/documents/{_seg(document_id)}/files/{_seg(file_id)}/sealed"
        response = self._send(self._build("GET", path), stream=True)
        target = Path(dest)
        partial = target.with_name(target.name + ".part")
        try:
            wrap = base64.b64decode(response.headers["X-Docex-Key-Wrap"])
            plaintext = open_sealed(
                response.iter_bytes(256 * 1024),
                private_pem=private_key_pem,
                agency_id=agency_id,
                agency_wrap=wrap,
                document_id=document_id,
                file_id=file_id,
                classification=Classification(response.headers["X-Docex-Classification"]),
                sha256=str(meta["sha256"]),
                size=int(meta["size"]),
                passphrase=passphrase,
            )
            with partial.open("wb") as fh:
                for chunk in plaintext:
                    fh.write(chunk)
            partial.replace(target)
        except Exception as exc:
            partial.unlink(missing_ok=True)
            if isinstance(exc, DocexError):
                raise
            code = getattr(exc, "code", "integrity_mismatch")
            raise IntegrityMismatch(0, str(code), str(exc)) from exc
        finally:
            response.close()
        return str(meta["sha256"])

    def sign_pdf(self, pdf: bytes, *, role: str = "seal") -> bytes:
        """The node's signing service: ``pdf`` with one more PAdES signature, your own
        (``role="signer"``) or your agency's seal (``role="seal"``)."""
        response = self._request(
            "POST",
            "/api/v1/pdf/sign",
            files={"file": ("document.pdf", pdf, "application/pdf")},
            data={"as": role},
        )
        return response.content

    def healthz(self) -> JSONObject:
        return self._probe("/healthz")

    def readyz(self) -> JSONObject:
        """Raises :class:`ServiceUnavailable` when the node's database or blob store is down."""
        return self._probe("/readyz")

    def _probe(self, path: str) -> JSONObject:
        response = self._request("GET", path, auth=False)
        try:
            body = response.json()
        except ValueError:
            return {"status": response.text.strip()}
        return body if isinstance(body, dict) else {"status": body}
