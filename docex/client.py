"""``docex.client``: the ``docex_client`` package, plus what needs docex's own cryptography.

Integrators import ``docex_client`` (its own small distribution, httpx alone). This module
keeps the old import path working and adds :meth:`DocexClient.download_decrypted`: reading a
classified file with an agency's own private key needs the DXB1 format and HPKE unwrapping of
``docex.documents.protection``, which the client package does not carry.
"""

from __future__ import annotations

import base64
from pathlib import Path

import docex_client
from docex_client import (
    NO_RETRY,
    STATUS_LABELS,
    Agency,
    AmbiguousReferenceError,
    ApiError,
    AsyncDocexClient,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DocexClientError,
    Document,
    DocumentRef,
    Download,
    FileInfo,
    Group,
    InboxItem,
    IntegrityError,
    InvalidRequestError,
    Me,
    NotFoundError,
    OutboxItem,
    Page,
    PayloadTooLargeError,
    PermissionDeniedError,
    Progress,
    RangeNotSatisfiableError,
    RateLimitedError,
    Receipt,
    Recipient,
    ResponseError,
    RetryPolicy,
    Sent,
    Signature,
    SourceChangedError,
    Token,
    TraceItem,
    TransportError,
    UnavailableError,
    UnsupportedMediaError,
    __version__,
    status_label,
)

__all__ = [
    "NO_RETRY",
    "STATUS_LABELS",
    "Agency",
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
    "FileInfo",
    "Group",
    "InboxItem",
    "IntegrityError",
    "InvalidRequestError",
    "Me",
    "NotFoundError",
    "OutboxItem",
    "Page",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Progress",
    "RangeNotSatisfiableError",
    "RateLimitedError",
    "Receipt",
    "Recipient",
    "ResponseError",
    "RetryPolicy",
    "SealedFileError",
    "Sent",
    "Signature",
    "SourceChangedError",
    "Token",
    "TraceItem",
    "TransportError",
    "UnavailableError",
    "UnsupportedMediaError",
    "__version__",
    "status_label",
]


class SealedFileError(DocexClientError):
    """A sealed file that the key given cannot open, or whose bytes fail their checks."""


class DocexClient(docex_client.DocexClient):
    """:class:`docex_client.DocexClient` that can also decrypt sealed files locally."""

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
        Checked against the SHA-256 recorded at intake; returns it. No partial file is left;
        a local file problem (a full disk) is the ``OSError`` it is."""
        from docex.documents.protection import open_sealed
        from docex.errors import KeyUnavailable, StoredFileCorrupt
        from docex.vocabulary.levels import Classification

        meta = self.document(document_id).file(file_id)
        if meta is None:
            raise NotFoundError(404, "file_not_found", f"no file {file_id} in {document_id}")
        response = self.fetch_sealed(document_id, file_id)
        target = Path(dest)
        partial = target.with_name(f".{target.name}.part")
        try:
            try:
                wrap = base64.b64decode(response.headers["X-Docex-Key-Wrap"])
                classification = Classification(response.headers["X-Docex-Classification"])
            except (KeyError, ValueError) as exc:
                raise ResponseError(f"sealed file without its key headers: {exc}") from exc
            plaintext = open_sealed(
                response.iter_bytes(256 * 1024),
                private_pem=private_key_pem,
                agency_id=agency_id,
                agency_wrap=wrap,
                document_id=document_id,
                file_id=file_id,
                classification=classification,
                sha256=meta.sha256,
                size=meta.size,
                passphrase=passphrase,
            )
            with partial.open("wb") as out:
                for chunk in plaintext:
                    out.write(chunk)
            partial.replace(target)
        except (StoredFileCorrupt, KeyUnavailable) as exc:
            partial.unlink(missing_ok=True)
            raise SealedFileError(exc.code, exc.detail) from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        finally:
            response.close()
        return meta.sha256
