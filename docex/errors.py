"""The one exception tree of docex. Services raise these; one handler turns them into HTTP.

    DocexError                      (never raised itself)
    ├── BadRequest           400    malformed syntax: bad JSON, bad cursor, broken multipart
    ├── Unauthenticated      401    no token, unknown/expired token, wrong password
    ├── PeerUnauthenticated  401    a peer node's transfer: RFC 9421 signature missing, invalid
    │                               or stale (docex.federation)
    ├── Forbidden            403    authenticated, but the role may not do this
    ├── NotFound             404    absent *or not visible to the caller* (never leak existence)
    ├── RequestTimeout       408    the request body stopped coming, or came too slowly
    ├── Conflict             409    duplicate id with other content, illegal state transition
    ├── Gone                 410    there, but no longer for the caller (a recalled file)
    ├── PayloadTooLarge      413    body, envelope or file count over the node's limits
    ├── UnsupportedMedia     415    not multipart, main file not a PDF
    ├── RangeNotSatisfiable  416    a byte range past the end of a file; has Content-Range
    ├── Unprocessable        422    well-formed but invalid: envelope, recipients, PDF content
    ├── TooManyRequests      429    slowed down (sign-in attempts); has Retry-After
    ├── StoredFileCorrupt    500    stored bytes fail their own authentication or hash: never
    │                               served, the document's deliveries flagged
    ├── ServiceUnavailable   503    a dependency (database, blob store) is down; has Retry-After
    │    └── KeyUnavailable  503    a key is missing, locked or unreachable (key file not yet
    │                               restored, token down, wrong passphrase); nothing is flagged
    └── StorageFull          507    no room left to store the upload (disk or bucket full)

Each carries a machine-readable ``code`` (the ``error`` field of the response) and a ``detail``
written for the person reading it. A detail never contains secrets or another agency's data.
"""

from __future__ import annotations

from typing import ClassVar


class DocexError(Exception):
    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal_error"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code

    @property
    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(DocexError):
    status = 400
    default_code = "bad_request"


class Unauthenticated(DocexError):
    status = 401
    default_code = "unauthenticated"

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class PeerUnauthenticated(DocexError):
    """A transfer from a peer node whose HTTP message signature is missing, does not verify,
    or is not fresh (docex.federation.inbound); no bearer token would help, so no
    ``WWW-Authenticate: Bearer``."""

    status = 401
    default_code = "federation_signature_invalid"


class Forbidden(DocexError):
    status = 403
    default_code = "forbidden"


class NotFound(DocexError):
    status = 404
    default_code = "not_found"


class RequestTimeout(DocexError):
    status = 408
    default_code = "request_timeout"

    @property
    def headers(self) -> dict[str, str]:
        return {"Connection": "close"}


class Conflict(DocexError):
    status = 409
    default_code = "conflict"


class Gone(DocexError):
    status = 410
    default_code = "gone"


class PayloadTooLarge(DocexError):
    status = 413
    default_code = "payload_too_large"


class UnsupportedMedia(DocexError):
    status = 415
    default_code = "unsupported_media_type"


class RangeNotSatisfiable(DocexError):
    status = 416
    default_code = "range_not_satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(f"the file has {size} bytes; ask for a range inside them")
        self.size = size

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Range": f"bytes */{self.size}"}


class Unprocessable(DocexError):
    status = 422
    default_code = "unprocessable"


class TooManyRequests(DocexError):
    status = 429
    default_code = "too_many_attempts"

    def __init__(self, detail: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.retry_after = max(1, retry_after)

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ServiceUnavailable(DocexError):
    status = 503
    default_code = "service_unavailable"

    def __init__(self, detail: str, *, code: str | None = None, retry_after: int = 5) -> None:
        super().__init__(detail, code=code)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class StorageFull(DocexError):
    """The node has no room left for what it was asked to store; nothing was stored. Not
    retried by clients on their own (it does not clear in seconds): an operator frees space."""

    status = 507
    default_code = "storage_full"


# Named errors services raise where the outcome has a name of its own.


class StoredFileCorrupt(DocexError):
    """The stored bytes do not decrypt or do not match their recorded hash: never served."""

    status = 500
    default_code = "stored_file_corrupt"


class KeyUnavailable(ServiceUnavailable):
    """A key the operation needs is not usable now (a key file missing or not yet restored, a
    passphrase that does not open it, a token that does not answer). The data is intact: try
    again once the key is back."""

    default_code = "key_unavailable"

    def __init__(self, detail: str, *, retry_after: int = 30) -> None:
        super().__init__(detail, retry_after=retry_after)


class DocumentNotFound(NotFound):
    default_code = "document_not_found"

    def __init__(self, detail: str = "no such document") -> None:
        super().__init__(detail)


class SignatureRejected(Unprocessable):
    """The PDF's signatures fail the node's policy; ``code`` is the validation indication."""

    def __init__(self, indication: str, detail: str) -> None:
        super().__init__(detail, code=indication)


class IllegalTransition(Conflict):
    default_code = "illegal_transition"


class MessageIdConflict(Conflict):
    default_code = "message_id_conflict"


class IdempotencyKeyConflict(Conflict):
    """An ``Idempotency-Key`` already used on this document with another request body."""

    default_code = "idempotency_key_conflict"


class Recalled(Gone):
    """The sender recalled the document and the recipient agreed (15): its files are no longer
    served to that recipient (the sender and the record keep them)."""

    default_code = "recalled"

    def __init__(self, detail: str = "the sender recalled this document") -> None:
        super().__init__(detail)


class WebhookNotFound(NotFound):
    default_code = "webhook_not_found"

    def __init__(self, detail: str = "no such webhook endpoint") -> None:
        super().__init__(detail)


class WebhookTargetForbidden(Unprocessable):
    """A webhook URL that is not http(s), or whose host resolves to a private, loopback,
    link-local or otherwise non-public address (SSRF), and the operator does not allow those."""

    default_code = "webhook_target_forbidden"


class AlertNotFound(NotFound):
    default_code = "alert_not_found"

    def __init__(self, detail: str = "no such alert") -> None:
        super().__init__(detail)


class AlertNotOpen(Conflict):
    """Acknowledging an alert that is already acknowledged or resolved."""

    default_code = "alert_not_open"


# -- federation: what a peer's document or status transfer is refused for (docex.federation) ---


class OriginSignatureInvalid(Forbidden):
    """A document whose origin signature does not verify against the origin node's key in the
    directory, or does not cover what the manifest carries: a relay altered it, or a forgery."""

    default_code = "origin_signature_invalid"


class OriginNotHost(Forbidden):
    """A document whose origin node, per the directory, does not host its sender agency (or a
    node the directory does not list)."""

    default_code = "origin_not_host"


class RecipientNotAddressed(Forbidden):
    """A document transfer carrying a recipient the origin did not address."""

    default_code = "recipient_not_addressed"


class ReceiptSignatureInvalid(Forbidden):
    """A status whose receipt does not verify against its issuing node's key, or whose issuing
    node does not host the agency the status is from."""

    default_code = "receipt_signature_invalid"


class NoticeNotOnRoute(Forbidden):
    """A relay's transport notice from a node that is not on the way to the deliveries it
    speaks of."""

    default_code = "notice_not_on_route"


class StatsStatementInvalid(Forbidden):
    """A node's statistics statement that does not verify against its key in the directory, or
    reports an agency that node does not host."""

    default_code = "stats_statement_invalid"


class ManifestInvalid(Unprocessable):
    """A document or status manifest that is not what its kind describes."""

    default_code = "invalid_manifest"


class TransferFileMismatch(Unprocessable):
    """A file part missing from a document transfer, or whose size or SHA-256 is not the one
    the signed manifest states."""

    default_code = "file_digest_mismatch"
