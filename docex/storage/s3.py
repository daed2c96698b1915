"""S3 blob store (MinIO, SeaweedFS, any S3-compatible object store) through the ``minio`` client.

What it guarantees, beyond the ``BlobStore`` contract in ``docex.storage.base``:

- **Acknowledged means stored.** ``put_file`` and ``put_stream`` return only once the object store
  has acknowledged the whole object: a 200 to a single ``PUT``, or to ``CompleteMultipartUpload``
  for objects larger than one part. A ``CompleteMultipartUpload`` answered 200 without an ETag (an
  S3 quirk: the error is in the body) is checked with a ``HEAD`` before the put is believed.
  The object is then durable by name too, so ``barrier()`` has nothing left to do.
  Durability past the acknowledgement is the store's: configure it to fsync (SeaweedFS:
  ``fs.configure -locationPrefix=/buckets/ -fsync``; MinIO fsyncs by default).
- **A failed put leaves no object.** A single ``PUT`` is atomic in S3; a multipart upload becomes an
  object only at ``CompleteMultipartUpload``, and a failed one is aborted (if the store is
  unreachable, the incomplete upload stays invisible until the bucket's lifecycle rule for
  incomplete uploads removes it).
- **Streamed both ways.** Uploads go in parts of ``part_size`` (16 MiB): memory is bounded by about
  two parts whatever the blob size, also for streams of unknown length, which are hashed (sha256)
  on the way through. Downloads are read in ``CHUNK_SIZE`` chunks; the HTTP connection is closed
  and released when the reader finishes, fails, is closed, or is dropped half-way.
- **A full store is not an outage.** MinIO's ``XMinioStorageFull`` or any HTTP 507 answer becomes
  ``BlobStoreFull`` (507 ``storage_full`` to the client), not ``BlobStoreUnavailable``.
- **An outage is a 503, never a 500.** Connection failures, timeouts, exhausted retries and 5xx
  answers become ``BlobStoreUnavailable``. So do a missing bucket and credentials the store refuses
  (``S3CredentialsRejected``, a subclass): the node cannot store anything until an operator acts,
  which is what "unavailable" tells a client and ``/readyz``; the message says which setting to
  check and never contains a secret. The urllib3 pool has short connect timeouts and bounded
  retries (honouring no ``Retry-After``), so a dead endpoint fails in seconds.
- Errors raised by the caller's own iterator in ``put_stream`` propagate unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Final, cast

import urllib3
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError
from minio.helpers import check_bucket_name
from urllib3.response import BaseHTTPResponse
from urllib3.util import Retry, Timeout

from docex.kit.clock import as_utc
from docex.storage.base import (
    CHUNK_SIZE,
    BlobEntry,
    BlobInfo,
    BlobNotFound,
    BlobStoreFull,
    BlobStoreUnavailable,
    check_key,
)

log = logging.getLogger(__name__)

PART_SIZE: Final = 16 * 1024 * 1024
_CREDENTIAL_CODES: Final = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken"}
)
# What an object store answers when it has no room: MinIO's code, and HTTP 507 from any store.
_FULL_CODES: Final = frozenset({"XMinioStorageFull", "StorageFull"})
_TRANSIENT_CODES: Final = frozenset(
    {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "RequestTimeTooSkewed"}
)


class S3CredentialsRejected(BlobStoreUnavailable):
    """The object store refused the node's credentials (or their permissions on the bucket)."""


class S3BlobStore:
    """One bucket of an S3-compatible store; object name = blob key (no prefix, no sharding)."""

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        *,
        access_key: str,
        secret_key: str,
        secure: bool = False,
        region: str | None = None,
        part_size: int = PART_SIZE,
        connect_timeout: float = 3.0,
        read_timeout: float = 60.0,
        retries: int = 2,
    ) -> None:
        if "://" in endpoint or "/" in endpoint:
            raise ValueError(
                f"S3 endpoint must be host:port, got {endpoint!r} (use s3_secure for https)"
            )
        check_bucket_name(bucket)
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self.part_size = part_size

        def client(read: float) -> Minio:
            pool = urllib3.PoolManager(
                timeout=Timeout(connect=connect_timeout, read=read),
                maxsize=10,
                retries=Retry(
                    total=retries,
                    connect=retries,
                    # Once, for idempotent requests only: a keep-alive connection the store
                    # closed just as it was reused must not become a 503.
                    read=1,
                    status=retries,
                    other=0,
                    backoff_factor=0.25,
                    backoff_max=2.0,
                    status_forcelist=(500, 502, 503, 504),
                    respect_retry_after_header=False,  # a Retry-After of minutes would hang us
                ),
            )
            return Minio(
                endpoint,
                access_key=access_key,
                secret_key=secret_key,
                secure=secure,
                region=region,
                http_client=pool,
            )

        self._client = client(read_timeout)
        # Readiness probes must answer fast even when the store accepts connections but hangs.
        self._probe = client(connect_timeout)

    def __repr__(self) -> str:
        return f"S3BlobStore(endpoint={self.endpoint!r}, bucket={self.bucket!r})"

    # -- writes ------------------------------------------------------------------------------

    def put_file(self, key: str, path: Path, *, sha256: str, size: int) -> BlobInfo:
        check_key(key)
        if path.stat().st_size != size:
            raise ValueError(f"blob {key}: size changed while stored")
        with self._s3_errors("upload", key):
            result = self._client.fput_object(
                self.bucket, key, str(path), part_size=self.part_size, num_parallel_uploads=1
            )
            if result.etag is None:
                self._confirm(key, size)
        path.unlink(missing_ok=True)
        return BlobInfo(key=key, size=size, sha256=sha256)

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> BlobInfo:
        check_key(key)
        reader = _HashingReader(chunks)
        with self._s3_errors("upload", key, keep=reader.raised):
            result = self._client.put_object(
                self.bucket,
                key,
                cast(BinaryIO, reader),
                length=-1,
                part_size=self.part_size,
                num_parallel_uploads=1,
            )
            if result.etag is None:
                self._confirm(key, reader.size)
        return BlobInfo(key=key, size=reader.size, sha256=reader.hexdigest())

    def barrier(self) -> None:
        """Nothing to do: an acknowledged put is already durable by name in the object store."""

    def _confirm(self, key: str, size: int) -> None:
        try:
            stored: int | None = self._client.stat_object(self.bucket, key).size
        except S3Error as exc:
            if exc.code != "NoSuchKey":
                raise
            stored = None
        if stored != size:
            with contextlib.suppress(Exception):
                self._client.remove_object(self.bucket, key)
            raise BlobStoreUnavailable(
                f"S3 acknowledged blob {key} without storing it whole ({stored} of {size} bytes)"
            )

    # -- reads -------------------------------------------------------------------------------

    def open(self, key: str) -> Iterator[bytes]:
        check_key(key)
        # The request is made now, so a missing blob or an outage is raised before any byte
        # of the answer is sent; only the body is streamed lazily.
        with self._s3_errors("download", key):
            response = self._client.get_object(self.bucket, key)
        return _Download(response, key, self._s3_errors)

    def exists(self, key: str) -> bool:
        check_key(key)
        try:
            with self._s3_errors("stat", key):
                self._client.stat_object(self.bucket, key)
        except BlobNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        check_key(key)
        with contextlib.suppress(BlobNotFound), self._s3_errors("delete", key):
            self._client.remove_object(self.bucket, key)  # S3 answers 204 for a missing key too

    def iter_keys(self) -> Iterator[str]:
        for entry in self.iter_blobs():
            yield entry.key

    def iter_blobs(self) -> Iterator[BlobEntry]:
        with self._s3_errors("list"):
            for obj in self._client.list_objects(self.bucket, recursive=True):
                name = obj.object_name
                if name and not obj.is_dir and _is_key(name):
                    modified = obj.last_modified or datetime.now(UTC)
                    yield BlobEntry(name, as_utc(modified))

    def create_bucket_if_missing(self) -> bool:
        """``docex init``: make the bucket if it is not there yet. Returns True if created."""
        with self._s3_errors("create bucket"):
            if self._client.bucket_exists(self.bucket):
                return False
            if self.region:
                self._client.make_bucket(self.bucket, location=self.region)
            else:
                self._client.make_bucket(self.bucket)
            return True

    def check(self) -> None:
        with self._s3_errors("check"):
            found = self._probe.bucket_exists(self.bucket)
        if not found:
            raise BlobStoreUnavailable(
                f"S3 bucket {self.bucket!r} does not exist at {self.endpoint}"
                " (create it, or set DOCEX_STORAGE__S3_BUCKET)"
            )

    # -- errors ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _s3_errors(
        self,
        action: str,
        key: str | None = None,
        *,
        keep: Callable[[BaseException], bool] | None = None,
    ) -> Iterator[None]:
        """Translate client and transport errors into the ``BlobStore`` vocabulary."""
        try:
            yield
        except Exception as exc:
            if keep is not None and keep(exc):
                raise
            mapped = self._translate(exc, action, key)
            if mapped is exc:
                raise
            if isinstance(mapped, BlobStoreUnavailable):
                log.warning("%s", mapped)
            raise mapped from exc

    def _translate(self, exc: Exception, action: str, key: str | None) -> Exception:
        where = f"S3 {action} at {self.endpoint}/{self.bucket}"
        if isinstance(exc, S3Error):
            code = exc.code or ""
            if code == "NoSuchKey":
                return BlobNotFound(key) if key is not None else exc
            if code == "NoSuchBucket":
                return BlobStoreUnavailable(
                    f"{where}: bucket does not exist (create it, or set DOCEX_STORAGE__S3_BUCKET)"
                )
            if code in _CREDENTIAL_CODES:
                return S3CredentialsRejected(
                    f"{where}: the store refused the node's credentials ({code}); check "
                    "DOCEX_STORAGE__S3_ACCESS_KEY, DOCEX_STORAGE__S3_SECRET_KEY and their "
                    "permissions on the bucket"
                )
            if code in _FULL_CODES or exc.response.status == 507:
                return BlobStoreFull(f"{where}: the store is full ({code or 'HTTP 507'})")
            if code in _TRANSIENT_CODES or exc.response.status >= 500:
                return BlobStoreUnavailable(f"{where}: the store answered {code or 'an error'}")
            return exc
        if isinstance(exc, ServerError) and exc.status_code == 507:
            return BlobStoreFull(f"{where}: the store is full (HTTP 507)")
        if isinstance(exc, ServerError | InvalidResponseError):
            return BlobStoreUnavailable(f"{where}: unexpected answer ({exc})")
        if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError):
            return BlobStoreUnavailable(f"{where}: unreachable ({type(exc).__name__})")
        return exc


class _HashingReader:
    """The file-like face ``put_object`` reads from, over an iterator of chunks.

    ``read(n)`` returns exactly ``n`` bytes (fewer only at the end) in one piece, so the client
    does not grow a part by repeated concatenation; each byte is hashed once as it passes.
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""
        self._digest = hashlib.sha256()
        self._done = False
        self._error: BaseException | None = None
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            raise ValueError("unbounded read: a blob is never read whole into memory")
        parts: list[bytes] = []
        have = 0
        if self._pending:
            parts.append(self._pending[:size])
            self._pending = self._pending[size:]
            have = len(parts[0])
        while have < size and not self._done:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self._done = True
                break
            except BaseException as exc:
                self._error = exc
                raise
            if not chunk:
                continue
            self._digest.update(chunk)
            self.size += len(chunk)
            room = size - have
            if len(chunk) > room:
                self._pending = chunk[room:]
                chunk = chunk[:room]
            parts.append(chunk)
            have += len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def raised(self, exc: BaseException) -> bool:
        """Whether ``exc`` came from the caller's iterator (it then propagates unchanged)."""
        return exc is self._error

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


_ErrorScope = Callable[[str, str | None], contextlib.AbstractContextManager[None]]


class _Download:
    """Iterator over an object's body that always gives its connection back.

    The body is read by a generator whose ``finally`` releases the response; ``close`` and garbage
    collection also release it when the consumer stops before the generator ever ran. A body read
    to the end returns its keep-alive connection to the pool; one abandoned half-way is closed,
    since the rest of the body would otherwise be read as the next answer.
    """

    def __init__(self, response: BaseHTTPResponse, key: str, errors: _ErrorScope) -> None:
        # The generator gets the response, not ``self``: no reference cycle, so dropping the
        # iterator releases the connection at once rather than at the next garbage collection.
        self._conn = _Connection(response)
        self._body = self._read(self._conn, key, errors)

    @staticmethod
    def _read(conn: _Connection, key: str, errors: _ErrorScope) -> Generator[bytes, None, None]:
        complete = False
        try:
            with errors("download", key):
                # decode_content=False: the stored bytes exactly, whatever Content-Encoding says.
                yield from conn.response.stream(CHUNK_SIZE, decode_content=False)
            complete = True
        finally:
            conn.release(complete=complete)

    def __iter__(self) -> _Download:
        return self

    def __next__(self) -> bytes:
        return next(self._body)

    def close(self) -> None:
        self._body.close()
        self._conn.release(complete=False)

    def __del__(self) -> None:
        self.close()


class _Connection:
    def __init__(self, response: BaseHTTPResponse) -> None:
        self.response = response
        self.released = False

    def release(self, *, complete: bool) -> None:
        if self.released:
            return
        self.released = True
        if not complete:
            self.response.close()
        self.response.release_conn()


def _is_key(name: str) -> bool:
    try:
        check_key(name)
    except ValueError:
        return False
    return True
