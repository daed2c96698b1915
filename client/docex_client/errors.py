"""What can go wrong when talking to a docex node, as one exception tree.

The names are the client's own: they describe what the caller sees (an HTTP answer, or none),
not the server's internal classes (``docex.errors``), and a caller needs nothing of the server
to catch them::

    DocexClientError                .error (machine code), .detail (text for people)
     ├── ApiError                   the node answered with an error  .status, .response
     │    ├── BadRequestError       400
     │    ├── AuthenticationError   401  no token, or an invalid or expired one
     │    ├── PermissionDeniedError 403
     │    ├── NotFoundError         404  absent, or not visible to you (the same answer)
     │    ├── ConflictError         409  message_id reused for other content, illegal transition
     │    ├── PayloadTooLargeError  413
     │    ├── UnsupportedMediaError 415
     │    ├── InvalidRequestError   422  well-formed but refused: signature, recipient, envelope
     │    ├── RangeNotSatisfiableError 416
     │    ├── RateLimitedError      429  too many attempts or connections; .retry_after
     │    └── UnavailableError      503  .retry_after: seconds the node asked to wait, or None
     ├── TransportError             no answer: refused, reset, timed out, TLS ("connection_failed")
     ├── IntegrityError             the bytes received do not hash to the SHA-256 announced
     ├── ResponseError              an answer the client cannot read as the contract says
     ├── AmbiguousReferenceError    a short id or business id matches several documents
     └── SourceChangedError         a file being uploaded changed size while it was sent

Any other non-2xx answer is a plain :class:`ApiError`. When the error body is not the node's
``{"error": code, "detail": text}``, ``error`` is ``"http_<status>"``.

Local file problems are not client errors: a full disk while downloading, a file that cannot
be read for an upload, raise :class:`OSError` as any file operation would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from docex_client.retry import parse_retry_after

__all__ = [
    "AmbiguousReferenceError",
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "DocexClientError",
    "IntegrityError",
    "InvalidRequestError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RangeNotSatisfiableError",
    "RateLimitedError",
    "ResponseError",
    "SourceChangedError",
    "TransportError",
    "UnavailableError",
    "UnsupportedMediaError",
    "error_from_response",
]


class DocexClientError(Exception):
    """Base of every error the client raises; see the module docstring for the tree."""

    def __init__(self, error: str, detail: str = "") -> None:
        super().__init__(f"{error}: {detail}" if detail else error)
        self.error = error
        self.detail = detail


class ApiError(DocexClientError):
    """The node answered with a non-2xx status."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str = "",
        *,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(error, detail)
        self.status = status
        self.response = response


class BadRequestError(ApiError):
    """400: the request is malformed."""


class AuthenticationError(ApiError):
    """401: no credentials, or invalid or expired ones."""


class PermissionDeniedError(ApiError):
    """403: authenticated, but this role may not do this."""


class NotFoundError(ApiError):
    """404: absent, or not visible to the caller."""


class ConflictError(ApiError):
    """409: a message_id reused for other content, or an illegal status transition."""


class PayloadTooLargeError(ApiError):
    """413: over the node's limits (body, envelope, number of files)."""


class UnsupportedMediaError(ApiError):
    """415: wrong content type (e.g. the main file is not a PDF)."""


class RangeNotSatisfiableError(ApiError):
    """416: the byte range asked for lies outside the file."""


class InvalidRequestError(ApiError):
    """422: well-formed but refused (bad signature, unknown recipient, invalid envelope)."""


class _WaitAndRetry(ApiError):
    """An answer that says how long to wait (``Retry-After``) before trying again."""

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


class RateLimitedError(_WaitAndRetry):
    """429: too many sign-in attempts (``too_many_attempts``) or connections; not retried
    automatically: ``retry_after`` says when the node will listen again."""


class UnavailableError(_WaitAndRetry):
    """503: the node or one of its dependencies is down; ``retry_after`` in seconds, if sent."""


class TransportError(DocexClientError):
    """No HTTP answer: DNS failure, connection refused or reset, timeout, TLS error."""

    def __init__(self, detail: str) -> None:
        super().__init__("connection_failed", detail)


class IntegrityError(DocexClientError):
    """The bytes received do not hash to the SHA-256 the node announced (ETag) or the caller
    expected. Nothing is left behind at the destination."""

    def __init__(self, detail: str) -> None:
        super().__init__("integrity_mismatch", detail)


class ResponseError(DocexClientError):
    """A 2xx answer that is not what the contract promises (not JSON, a field missing...)."""

    def __init__(self, detail: str, *, status: int = 0) -> None:
        super().__init__("invalid_response", detail)
        self.status = status


class AmbiguousReferenceError(DocexClientError):
    """A short id or business id that matches more than one document you can see."""

    def __init__(self, ref: str, candidates: Sequence[Mapping[str, Any]]) -> None:
        lines = ", ".join(
            f"{c.get('id')} ({c.get('business_id')})" for c in candidates if isinstance(c, Mapping)
        )
        super().__init__("ambiguous_reference", f"{ref!r} matches {len(candidates)}: {lines}")
        self.ref = ref
        self.candidates = list(candidates)


class SourceChangedError(DocexClientError):
    """A file grew or shrank while it was uploaded: its length was already announced."""

    def __init__(self, detail: str) -> None:
        super().__init__("source_changed", detail)


_BY_STATUS: Mapping[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaError,
    416: RangeNotSatisfiableError,
    422: InvalidRequestError,
}


def error_from_response(response: httpx.Response) -> ApiError:
    """The exception for a non-2xx answer whose body has been read."""
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
    if status in (429, 503):
        return (RateLimitedError if status == 429 else UnavailableError)(
            status,
            error,
            detail,
            response=response,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    return _BY_STATUS.get(status, ApiError)(status, error, detail, response=response)
