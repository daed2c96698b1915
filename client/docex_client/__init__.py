"""docex-client: the Python client of a docex node's HTTP API (the contract: docs/api.md).

Depends on httpx alone; nothing of the server is needed. Read it in this order:

- ``sync.py``      ``DocexClient``, the synchronous client
- ``aio.py``       ``AsyncDocexClient``, the same for asyncio
- ``calls.py``     every endpoint as a request both clients send, and how its answer is read
- ``models.py``    the typed results (frozen dataclasses): Document, InboxItem, Receipt, ...
- ``errors.py``    the exception tree, drawn in its docstring
- ``retry.py``     what is retried (reads; sends, which always carry a message_id) and when
- ``multipart.py`` streamed uploads with an exact Content-Length
- ``downloads.py`` resumable downloads (HTTP Range), checked against the SHA-256 ETag
- ``labels.py``    what status, urgency and classification codes mean, in Vietnamese and English
"""

from docex_client.aio import AsyncDocexClient
from docex_client.errors import (
    AmbiguousReferenceError,
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DocexClientError,
    IntegrityError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RangeNotSatisfiableError,
    RateLimitedError,
    ResponseError,
    SourceChangedError,
    TransportError,
    UnavailableError,
    UnsupportedMediaError,
)
from docex_client.labels import STATUS_LABELS, status_label
from docex_client.models import (
    Agency,
    AgencyStats,
    Document,
    DocumentRef,
    Download,
    FailedRecipient,
    FileInfo,
    Group,
    InboxItem,
    Me,
    OutboxItem,
    OverdueItem,
    Page,
    QueuedDelivery,
    Receipt,
    Recipient,
    Sent,
    Signature,
    Token,
    TraceItem,
    WaitingRecipient,
)
from docex_client.multipart import Progress
from docex_client.retry import NO_RETRY, RetryPolicy
from docex_client.sync import DocexClient
from docex_client.version import __version__

__all__ = [
    "NO_RETRY",
    "STATUS_LABELS",
    "Agency",
    "AgencyStats",
    "AmbiguousReferenceError",
    "ApiError",
    "AsyncDocexClient",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "DocexClient",
    "DocexClientError",
    "Document",
    "DocumentRef",
    "Download",
    "FailedRecipient",
    "FileInfo",
    "Group",
    "InboxItem",
    "IntegrityError",
    "InvalidRequestError",
    "Me",
    "NotFoundError",
    "OutboxItem",
    "OverdueItem",
    "Page",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Progress",
    "QueuedDelivery",
    "RangeNotSatisfiableError",
    "RateLimitedError",
    "Receipt",
    "Recipient",
    "ResponseError",
    "RetryPolicy",
    "Sent",
    "Signature",
    "SourceChangedError",
    "Token",
    "TraceItem",
    "TransportError",
    "UnavailableError",
    "UnsupportedMediaError",
    "WaitingRecipient",
    "__version__",
    "status_label",
]
