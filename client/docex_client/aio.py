"""``AsyncDocexClient``: the same client for asyncio code; every method is awaited.

    async with AsyncDocexClient(url, token) as docex:
        sent = await docex.send(envelope, "cong-van.pdf")
        async for item in docex.iter_inbox(status="01"):
            ...

Requests, retries, resumable downloads and errors are those of :mod:`docex_client.sync`
(both send the :class:`~docex_client.calls.Call` objects of :mod:`docex_client.calls`); files
are read and written in a worker thread, so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
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

__all__ = ["AsyncDocexClient"]

T = TypeVar("T")


class AsyncDocexClient:
    """Asynchronous client of one docex node; the arguments are those of ``DocexClient``."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.token = token
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"User-Agent": USER_AGENT},
        )

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- plumbing ---------------------------------------------------------------------------

    async def _send_once(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        try:
            response = await self._http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise calls.transport_error(request, exc) from exc
        if response.is_success:
            return response
        try:
            await response.aread()
        except httpx.TransportError as exc:
            raise calls.transport_error(request, exc) from exc
        finally:
            await response.aclose()
        raise error_from_response(response)

    async def _retrying(self, attempt: Callable[[], Awaitable[T]], *, retry: bool) -> T:
        tries = 0
        while True:
            tries += 1
            try:
                return await attempt()
            except (TransportError, UnavailableError) as error:
                delay = calls.retry_delay(self.retry, tries, error) if retry else None
                if delay is None:
                    raise
                await self._sleep(delay)

    async def call(self, call: Call[T]) -> T:
        """Send one :class:`~docex_client.calls.Call`, retrying if it is safe to."""
        response = await self._retrying(
            lambda: self._send_once(call.request(self._http, self.token)), retry=call.retryable
        )
        return call.parse(response)

    async def _pages(self, page: Callable[[str | None], Call[Page[T]]]) -> AsyncIterator[T]:
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            result = await self.call(page(cursor))
            for item in result.items:
                yield item
            cursor = result.next_cursor
            if not cursor:
                return
            if cursor in seen:
                raise ResponseError(f"the node returned cursor {cursor!r} twice")
            seen.add(cursor)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    # -- who ---------------------------------------------------------------------------------

    async def login(self, username: str, password: str) -> Token:
        issued = await self.call(calls.login(username, password))
        self.token = issued.access_token
        return issued

    async def me(self) -> Me:
        return await self.call(calls.me())

    # -- documents ---------------------------------------------------------------------------

    async def send(
        self,
        envelope: Mapping[str, Any],
        main: FileSource,
        attachments: Sequence[FileSource] = (),
        *,
        progress: Progress | None = None,
    ) -> Sent:
        """See ``DocexClient.send``."""
        envelope = calls.with_message_id(envelope)
        with contextlib.ExitStack() as files:
            body = calls.send_body(envelope, main, attachments, calls.opener(files))

            async def attempt() -> httpx.Response:
                request = self._http.build_request(
                    "POST",
                    "/api/v1/documents",
                    headers={**body.headers, **self._auth()},
                    content=body.achunks(progress),
                )
                return await self._send_once(request)

            response = await self._retrying(attempt, retry=True)
        return calls.sent(response)

    async def document(self, document_id: str) -> Document:
        return await self.call(calls.document(document_id))

    async def lookup(self, ref: str) -> list[DocumentRef]:
        return await self.call(calls.lookup(ref))

    async def resolve(self, ref: str) -> str:
        """See ``DocexClient.resolve``."""
        if calls.DOCUMENT_ID.fullmatch(ref):
            return ref
        return calls.pick(ref, await self.lookup(ref))

    async def receipts(self, document_id: str) -> list[Receipt]:
        return await self.call(calls.receipts(document_id))

    async def trace(self, document_id: str) -> list[TraceItem]:
        return await self.call(calls.trace(document_id))

    async def post_status(
        self,
        document_id: str,
        code: str,
        *,
        note: str | None = None,
        incoming_number: str | None = None,
    ) -> Receipt:
        call = calls.post_status(document_id, code, note=note, incoming_number=incoming_number)
        return await self.call(call)

    async def download(
        self,
        document_id: str,
        file_id: str,
        dest: str | Path | BinaryIO,
        *,
        progress: Progress | None = None,
        expected_sha256: str | None = None,
    ) -> Download:
        """See ``DocexClient.download``."""
        destination = Destination(dest, expected_sha256=expected_sha256)
        path = calls.file_path(document_id, file_id)
        try:
            receiver = await asyncio.to_thread(
                Receiver, destination, expected_sha256=expected_sha256, progress=progress
            )

            async def fetch(headers: Mapping[str, str]) -> httpx.Response:
                request = self._http.build_request("GET", path, headers={**headers, **self._auth()})
                return await self._send_once(request, stream=True)

            async def attempt() -> None:
                try:
                    response = await fetch(receiver.request_headers())
                except RangeNotSatisfiableError:
                    if not receiver.received:
                        raise
                    response = await fetch(await asyncio.to_thread(receiver.forget))
                try:
                    await asyncio.to_thread(receiver.begin, response)
                    async for chunk in response.aiter_bytes():
                        await asyncio.to_thread(receiver.write, chunk)
                except httpx.TransportError as exc:
                    raise calls.transport_error(response.request, exc) from exc
                finally:
                    await response.aclose()

            await self._retrying(attempt, retry=True)
            digest = receiver.finish()
        except BaseException as exc:
            destination.abandon(keep=isinstance(exc, TransportError | KeyboardInterrupt))
            raise
        written = await asyncio.to_thread(destination.commit)
        return Download(written, receiver.received, digest, receiver.resumed_from)

    # -- lists ------------------------------------------------------------------------------

    async def inbox(
        self,
        *,
        status: str | None = None,
        urgency: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[InboxItem]:
        return await self.call(
            calls.inbox(status=status, urgency=urgency, limit=limit, cursor=cursor)
        )

    def iter_inbox(
        self, *, status: str | None = None, urgency: str | None = None, limit: int | None = None
    ) -> AsyncIterator[InboxItem]:
        return self._pages(
            lambda cursor: calls.inbox(status=status, urgency=urgency, limit=limit, cursor=cursor)
        )

    async def outbox(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[OutboxItem]:
        return await self.call(calls.outbox(limit=limit, cursor=cursor))

    def iter_outbox(self, *, limit: int | None = None) -> AsyncIterator[OutboxItem]:
        return self._pages(lambda cursor: calls.outbox(limit=limit, cursor=cursor))

    async def overdue(
        self,
        *,
        answered: bool | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[OverdueItem]:
        return await self.call(calls.overdue(answered=answered, limit=limit, cursor=cursor))

    def iter_overdue(
        self, *, answered: bool | None = None, limit: int | None = None
    ) -> AsyncIterator[OverdueItem]:
        return self._pages(
            lambda cursor: calls.overdue(answered=answered, limit=limit, cursor=cursor)
        )

    async def agencies(
        self,
        q: str | None = None,
        parent: str | None = None,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Agency]:
        return await self.call(calls.agencies(q=q, parent=parent, limit=limit, cursor=cursor))

    def iter_agencies(
        self, q: str | None = None, parent: str | None = None, *, limit: int | None = None
    ) -> AsyncIterator[Agency]:
        return self._pages(
            lambda cursor: calls.agencies(q=q, parent=parent, limit=limit, cursor=cursor)
        )

    async def agency(self, agency_id: str) -> Agency:
        return await self.call(calls.agency(agency_id))

    async def agency_stats(
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
        return await self.call(
            calls.agency_stats(start=start, end=end, group=group, province=province, agency=agency)
        )

    async def groups(self) -> list[Group]:
        return await self.call(calls.groups())

    # -- the node's operator (admin) --------------------------------------------------------

    async def deliveries(
        self,
        transport: str | None = None,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[QueuedDelivery]:
        """One page of deliveries ``failed`` or ``queued`` (both when None), oldest first."""
        return await self.call(calls.deliveries(transport=transport, limit=limit, cursor=cursor))

    def iter_deliveries(
        self, transport: str | None = None, *, limit: int | None = None
    ) -> AsyncIterator[QueuedDelivery]:
        return self._pages(
            lambda cursor: calls.deliveries(transport=transport, limit=limit, cursor=cursor)
        )

    async def retry_delivery(self, delivery_id: str, *, note: str | None = None) -> QueuedDelivery:
        """Re-queue a failed delivery (fresh attempts); ``ConflictError`` if it is not failed."""
        return await self.call(calls.retry_delivery(delivery_id, note=note))

    # -- services ----------------------------------------------------------------------------

    async def sign_pdf(
        self, pdf: bytes | FileSource, *, role: str = "seal", progress: Progress | None = None
    ) -> bytes:
        """See ``DocexClient.sign_pdf``."""
        with contextlib.ExitStack() as files:
            body = calls.sign_body(pdf, role, calls.opener(files))
            request = self._http.build_request(
                "POST",
                "/api/v1/pdf/sign",
                headers={**body.headers, **self._auth()},
                content=body.achunks(progress),
            )
            response = await self._send_once(request)
        return response.content

    # -- edXML (QCVN 102:2016) ----------------------------------------------------------------

    async def send_edxml(self, package: bytes | FileSource) -> Sent | Receipt:
        """Send an edXML package in your agency's name (``POST /api/v1/edxml``): a document
        (answered as :meth:`send` is, a :class:`Sent`) or a status (the signed
        :class:`Receipt`). Sending the same package again is safe, and retried: the node
        answers with what it recorded the first time."""
        data = calls.edxml_package(package)

        async def attempt() -> httpx.Response:
            request = self._http.build_request(
                "POST",
                calls.EDXML_PATH,
                headers={**calls.EDXML_HEADERS, **self._auth()},
                content=data,
            )
            return await self._send_once(request)

        response = await self._retrying(attempt, retry=True)
        return calls.edxml_sent(response)

    async def document_edxml(self, document_id: str) -> bytes:
        """The document as an edXML package (its files inside, base64)."""
        return await self.call(calls.document_edxml(document_id))

    async def receipt_edxml(self, document_id: str, receipt_id: str) -> bytes:
        """One receipt of the document as an edXML status package."""
        return await self.call(calls.receipt_edxml(document_id, receipt_id))

    async def healthz(self) -> dict[str, Any]:
        return await self.call(calls.probe("/healthz"))

    async def readyz(self) -> dict[str, Any]:
        return await self.call(calls.probe("/readyz"))
