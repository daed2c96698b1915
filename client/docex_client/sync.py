"""``DocexClient``: the synchronous client of one docex node.

    with DocexClient("https://docex.example.gov.vn", token) as docex:
        sent = docex.send({"recipients": ["000.00.00.H41"], "subject": "..."}, "cong-van.pdf")
        print(sent.document.id, sent.message_id)   # keep message_id: resending it is safe
        for item in docex.iter_inbox(status="01"):
            docex.download(item.document_id, file_id, "received.pdf")

Every send carries a ``message_id`` (a new UUID unless the envelope has one), so a send whose
answer was lost is retried as the same send. Reads and sends are retried on a lost connection
and on ``503`` (see :mod:`docex_client.retry`); downloads resume where they were cut
(:mod:`docex_client.downloads`). Errors: :mod:`docex_client.errors`. The contract: docs/api.md.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Self, TypeVar

import httpx

from docex_client import calls
from docex_client.calls import Call
from docex_client.downloads import Destination, Receiver
from docex_client.errors import (
    RangeNotSatisfiableError,
    ResponseError,
    TransportError,
    UnavailableError,
    error_from_response,
)
from docex_client.models import (
    Agency,
    AgencyStats,
    Document,
    DocumentRef,
    Download,
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
)
from docex_client.multipart import FileSource, Progress
from docex_client.retry import RetryPolicy
from docex_client.version import USER_AGENT

__all__ = ["DocexClient"]

T = TypeVar("T")


class DocexClient:
    """Synchronous client of one docex node.

    ``base_url`` may carry a path prefix (``https://hub.example/docex``). ``retry`` says how
    often and how long to retry (``NO_RETRY`` to never); ``sleep`` is how the client waits
    between tries. ``transport`` routes requests elsewhere (``httpx.MockTransport``, an
    in-process app).
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.token = token
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"User-Agent": USER_AGENT},
        )

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)

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

    # -- plumbing ---------------------------------------------------------------------------

    def _send_once(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        """One request; any non-2xx answer is raised as its error, the body read first."""
        try:
            response = self._http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise calls.transport_error(request, exc) from exc
        if response.is_success:
            return response
        try:
            response.read()
        except httpx.TransportError as exc:
            raise calls.transport_error(request, exc) from exc
        finally:
            response.close()
        raise error_from_response(response)

    def _retrying(self, attempt: Callable[[], T], *, retry: bool) -> T:
        tries = 0
        while True:
            tries += 1
            try:
                return attempt()
            except (TransportError, UnavailableError) as error:
                delay = calls.retry_delay(self.retry, tries, error) if retry else None
                if delay is None:
                    raise
                self._sleep(delay)

    def call(self, call: Call[T]) -> T:
        """Send one :class:`~docex_client.calls.Call`, retrying if it is safe to."""
        response = self._retrying(
            lambda: self._send_once(call.request(self._http, self.token)), retry=call.retryable
        )
        return call.parse(response)

    def _pages(self, page: Callable[[str | None], Call[Page[T]]]) -> Iterator[T]:
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            result = self.call(page(cursor))
            yield from result.items
            cursor = result.next_cursor
            if not cursor:
                return
            if cursor in seen:  # a server bug must not turn into an endless loop
                raise ResponseError(f"the node returned cursor {cursor!r} twice")
            seen.add(cursor)

    # -- who ---------------------------------------------------------------------------------

    def login(self, username: str, password: str) -> Token:
        """Exchange a person's password for a bearer token, used by later calls; return it."""
        issued = self.call(calls.login(username, password))
        self.token = issued.access_token
        return issued

    def me(self) -> Me:
        return self.call(calls.me())

    # -- documents ---------------------------------------------------------------------------

    def send(
        self,
        envelope: Mapping[str, Any],
        main: FileSource,
        attachments: Sequence[FileSource] = (),
        *,
        progress: Progress | None = None,
    ) -> Sent:
        """Send a signed PDF (``main``) with its appendices; ``sent.message_id`` is the id that
        makes sending again safe (the node answers with the original document)."""
        envelope = calls.with_message_id(envelope)
        with contextlib.ExitStack() as files:
            body = calls.send_body(envelope, main, attachments, calls.opener(files))

            def attempt() -> httpx.Response:
                request = self._http.build_request(
                    "POST",
                    "/api/v1/documents",
                    headers={**body.headers, **self._auth()},
                    content=body.chunks(progress),
                )
                return self._send_once(request)

            response = self._retrying(attempt, retry=True)
        return calls.sent(response)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def document(self, document_id: str) -> Document:
        return self.call(calls.document(document_id))

    def lookup(self, ref: str) -> list[DocumentRef]:
        """Documents you can see whose id starts with ``ref`` (8 characters or more) or whose
        business id is ``ref``."""
        return self.call(calls.lookup(ref))

    def resolve(self, ref: str) -> str:
        """The full id of the one document ``ref`` names: a full id, a unique prefix of one,
        or a business id. ``NotFoundError`` for none, ``AmbiguousReferenceError`` for several."""
        if calls.DOCUMENT_ID.fullmatch(ref):
            return ref
        return calls.pick(ref, self.lookup(ref))

    def receipts(self, document_id: str) -> list[Receipt]:
        return self.call(calls.receipts(document_id))

    def trace(self, document_id: str) -> list[TraceItem]:
        return self.call(calls.trace(document_id))

    def post_status(
        self,
        document_id: str,
        code: str,
        *,
        note: str | None = None,
        incoming_number: str | None = None,
    ) -> Receipt:
        """Report a business status (02, 03 with ``incoming_number``...) to the sender; return
        the signed receipt. Not retried: a status is reported once."""
        call = calls.post_status(document_id, code, note=note, incoming_number=incoming_number)
        return self.call(call)

    def download(
        self,
        document_id: str,
        file_id: str,
        dest: str | Path | BinaryIO,
        *,
        progress: Progress | None = None,
        expected_sha256: str | None = None,
    ) -> Download:
        """Stream a file to ``dest`` and check its SHA-256; resume a cut download."""
        destination = Destination(dest, expected_sha256=expected_sha256)
        path = calls.file_path(document_id, file_id)
        try:
            receiver = Receiver(destination, expected_sha256=expected_sha256, progress=progress)

            def fetch(headers: Mapping[str, str]) -> httpx.Response:
                request = self._http.build_request("GET", path, headers={**headers, **self._auth()})
                return self._send_once(request, stream=True)

            def attempt() -> None:
                try:
                    response = fetch(receiver.request_headers())
                except RangeNotSatisfiableError:
                    if not receiver.received:
                        raise
                    response = fetch(receiver.forget())
                try:
                    receiver.begin(response)
                    for chunk in response.iter_bytes():
                        receiver.write(chunk)
                except httpx.TransportError as exc:
                    raise calls.transport_error(response.request, exc) from exc
                finally:
                    response.close()

            self._retrying(attempt, retry=True)
            digest = receiver.finish()
        except BaseException as exc:
            destination.abandon(keep=isinstance(exc, TransportError | KeyboardInterrupt))
            raise
        written = destination.commit()
        return Download(written, receiver.received, digest, receiver.resumed_from)

    def fetch_sealed(self, document_id: str, file_id: str) -> httpx.Response:
        """A classified file still encrypted (``.../sealed``), as a streamed response to read
        and close: for an agency that decrypts with its own key. Headers ``X-Docex-Key-Wrap``
        and ``X-Docex-Classification`` carry what that key needs."""
        request = self._http.build_request(
            "GET", calls.file_path(document_id, file_id, sealed=True), headers=self._auth()
        )
        return self._retrying(lambda: self._send_once(request, stream=True), retry=True)

    # -- lists ------------------------------------------------------------------------------

    def inbox(
        self,
        *,
        status: str | None = None,
        urgency: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[InboxItem]:
        """One page of deliveries to the caller's agency, newest first."""
        return self.call(calls.inbox(status=status, urgency=urgency, limit=limit, cursor=cursor))

    def iter_inbox(
        self, *, status: str | None = None, urgency: str | None = None, limit: int | None = None
    ) -> Iterator[InboxItem]:
        """Every delivery matching the filters, ``limit`` per request."""
        return self._pages(
            lambda cursor: calls.inbox(status=status, urgency=urgency, limit=limit, cursor=cursor)
        )

    def outbox(self, *, limit: int | None = None, cursor: str | None = None) -> Page[OutboxItem]:
        """One page of documents the caller's agency sent, newest first."""
        return self.call(calls.outbox(limit=limit, cursor=cursor))

    def iter_outbox(self, *, limit: int | None = None) -> Iterator[OutboxItem]:
        return self._pages(lambda cursor: calls.outbox(limit=limit, cursor=cursor))

    def overdue(
        self,
        *,
        answered: bool | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[OverdueItem]:
        """One page of deliveries not answered by their due time (the agency's own; the
        node's for admins and auditors), latest due first."""
        return self.call(calls.overdue(answered=answered, limit=limit, cursor=cursor))

    def iter_overdue(
        self, *, answered: bool | None = None, limit: int | None = None
    ) -> Iterator[OverdueItem]:
        return self._pages(
            lambda cursor: calls.overdue(answered=answered, limit=limit, cursor=cursor)
        )

    def agencies(
        self,
        q: str | None = None,
        parent: str | None = None,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Agency]:
        """One page of the directory, searched by code or name (``q``) or under ``parent``."""
        return self.call(calls.agencies(q=q, parent=parent, limit=limit, cursor=cursor))

    def iter_agencies(
        self, q: str | None = None, parent: str | None = None, *, limit: int | None = None
    ) -> Iterator[Agency]:
        return self._pages(
            lambda cursor: calls.agencies(q=q, parent=parent, limit=limit, cursor=cursor)
        )

    def agency(self, agency_id: str) -> Agency:
        return self.call(calls.agency(agency_id))

    def agency_stats(
        self,
        *,
        start: str | None = None,
        end: str | None = None,
        group: str | None = None,
        province: str | None = None,
        agency: str | None = None,
    ) -> list[AgencyStats]:
        """Each agency's figures over the Vietnam days start..end (YYYY-MM-DD): every agency's
        for supervisors, auditors and admins, one's own agency's row otherwise."""
        return self.call(
            calls.agency_stats(start=start, end=end, group=group, province=province, agency=agency)
        )

    def groups(self) -> list[Group]:
        """Named recipient groups (``group:<name>`` as a recipient)."""
        return self.call(calls.groups())

    # -- the node's operator (admin) --------------------------------------------------------

    def deliveries(
        self,
        transport: str | None = None,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[QueuedDelivery]:
        """One page of deliveries ``failed`` or ``queued`` (both when None), oldest first."""
        return self.call(calls.deliveries(transport=transport, limit=limit, cursor=cursor))

    def iter_deliveries(
        self, transport: str | None = None, *, limit: int | None = None
    ) -> Iterator[QueuedDelivery]:
        return self._pages(
            lambda cursor: calls.deliveries(transport=transport, limit=limit, cursor=cursor)
        )

    def retry_delivery(self, delivery_id: str, *, note: str | None = None) -> QueuedDelivery:
        """Re-queue a failed delivery (fresh attempts); ``ConflictError`` if it is not failed."""
        return self.call(calls.retry_delivery(delivery_id, note=note))

    # -- services ----------------------------------------------------------------------------

    def sign_pdf(
        self, pdf: bytes | FileSource, *, role: str = "seal", progress: Progress | None = None
    ) -> bytes:
        """The node's signing service: ``pdf`` (bytes, a path or a file) with one more PAdES
        signature, the caller's own (``role="signer"``) or its agency's seal (``"seal"``).
        The upload is streamed (``progress`` as for a send); not retried."""
        with contextlib.ExitStack() as files:
            body = calls.sign_body(pdf, role, calls.opener(files))
            request = self._http.build_request(
                "POST",
                "/api/v1/pdf/sign",
                headers={**body.headers, **self._auth()},
                content=body.chunks(progress),
            )
            response = self._send_once(request)
        return response.content

    # -- edXML (QCVN 102:2016) ----------------------------------------------------------------

    def send_edxml(self, package: bytes | FileSource) -> Sent | Receipt:
        """Send an edXML package in your agency's name (``POST /api/v1/edxml``): a document
        (answered as :meth:`send` is, a :class:`Sent`) or a status (the signed
        :class:`Receipt`). Sending the same package again is safe, and retried: the node
        answers with what it recorded the first time."""
        data = calls.edxml_package(package)

        def attempt() -> httpx.Response:
            request = self._http.build_request(
                "POST",
                calls.EDXML_PATH,
                headers={**calls.EDXML_HEADERS, **self._auth()},
                content=data,
            )
            return self._send_once(request)

        response = self._retrying(attempt, retry=True)
        return calls.edxml_sent(response)

    def document_edxml(self, document_id: str) -> bytes:
        """The document as an edXML package (its files inside, base64)."""
        return self.call(calls.document_edxml(document_id))

    def receipt_edxml(self, document_id: str, receipt_id: str) -> bytes:
        """One receipt of the document as an edXML status package."""
        return self.call(calls.receipt_edxml(document_id, receipt_id))

    def healthz(self) -> dict[str, Any]:
        return self.call(calls.probe("/healthz"))

    def readyz(self) -> dict[str, Any]:
        """Raises ``UnavailableError`` when the node's database or blob store is down."""
        return self.call(calls.probe("/readyz"))
