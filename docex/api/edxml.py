"""edXML (QCVN 102:2016) over HTTP: a package in, a document or a receipt out.

The body of ``POST /edxml`` is streamed to a spool file under the node's body limit, then read
by ``docex.interop`` (no DTD, bounded) off the event loop; the service decides the rest.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from python_multipart.multipart import parse_options_header
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from docex.api.deps import ActorDep, NodeDep
from docex.api.errors import error_responses
from docex.api.openapi import EDXML_BODY
from docex.documents import views
from docex.documents.schemas import DocumentOut
from docex.documents.upload import SPOOL_PREFIX
from docex.errors import PayloadTooLarge, StorageFull, UnsupportedMedia
from docex.interop import service
from docex.kit.bodies import check_declared_length
from docex.routing.schemas import StatusOut
from docex.storage.base import NO_SPACE_ERRNOS

router = APIRouter(tags=["edxml"])

EDXML_TYPES = frozenset({"application/xml", "text/xml"})
EDXML_MEDIA_TYPE = "application/xml"
_CHUNK = 1024 * 1024


async def _spool_body(request: Request, spool_dir: Path, cap: int) -> tuple[Path, BinaryIO]:
    """The request body in a spool file, refused with 413 ``body_too_large`` (as every body
    of the node) the moment it passes ``cap``. The file is held open and locked while the
    request lives, as an upload's (``documents/upload.py``), so that only a dead process's
    spool is ever swept."""
    kind, _ = parse_options_header(request.headers.get("content-type") or "")
    if kind.decode("latin-1").lower() not in EDXML_TYPES:
        raise UnsupportedMedia("send an edXML package as application/xml", code="edxml_not_xml")
    check_declared_length(request.headers.get("content-length"), cap)
    spool_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=spool_dir, prefix=SPOOL_PREFIX)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # new and unnamed elsewhere: never blocks
    path, handle = Path(name), os.fdopen(fd, "wb")
    try:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > cap:  # the request limits (api/limits.py) stop it first
                raise PayloadTooLarge(f"body over the limit of {cap} bytes", code="body_too_large")
            await run_in_threadpool(handle.write, chunk)
        handle.flush()
    except OSError as exc:
        _drop(path, handle)
        if exc.errno in NO_SPACE_ERRNOS:
            raise StorageFull(
                f"the node's spool directory is full ({exc.strerror}); nothing was stored"
            ) from exc
        raise
    except BaseException:  # refused, client gone, task cancelled
        _drop(path, handle)
        raise
    return path, handle


def _drop(path: Path, handle: BinaryIO) -> None:
    path.unlink(missing_ok=True)
    handle.close()


@router.post(
    "/edxml",
    status_code=201,
    response_model=DocumentOut | StatusOut,
    responses={
        200: {
            "model": DocumentOut | StatusOut,
            "description": "Replay: the package was accepted before (the same document or receipt)",
        },
        **error_responses(400, 401, 403, 404, 409, 413, 415, 422, 503),
    },
    openapi_extra=EDXML_BODY,
)
async def post_edxml(request: Request, actor: ActorDep, node: NodeDep) -> JSONResponse:
    """Send an edXML package: a document (as `POST /documents` takes one) or a status (as
    `POST /documents/{id}/statuses`), from your own agency; the answer is theirs."""
    settings = node.settings
    path, handle = await _spool_body(request, settings.spool_dir, settings.limits.max_body_bytes)
    try:
        accepted = await run_in_threadpool(service.accept, node, actor, path, now=node.clock.now())
    finally:
        _drop(path, handle)
    if isinstance(accepted, service.AcceptedStatus):
        return JSONResponse(
            accepted.status.model_dump(mode="json"), status_code=201 if accepted.created else 200
        )
    result = accepted.submitted
    if result.created:
        node.worker.wake()
    view = views.document_view(actor, result.document, result.deliveries)
    return JSONResponse(
        view.model_dump(mode="json"),
        status_code=201 if result.created else 200,
        headers={"Location": f"/api/v1/documents/{view.id}"},
    )


_XML_ANSWER: dict[str, Any] = {"content": {EDXML_MEDIA_TYPE: {}}}


def _chunks(path: Path) -> Iterator[bytes]:
    """The export's bytes, its spool file removed once they are sent or the client is gone."""
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                yield chunk
    finally:
        service.discard(path)


@router.get(
    "/documents/{document_id}/edxml",
    response_class=StreamingResponse,
    responses={
        200: {
            **_XML_ANSWER,
            "description": "The document as an edXML package, its files as attachments",
        },
        **error_responses(401, 404, 410, 422, 503),
    },
)
def get_document_edxml(document_id: str, actor: ActorDep, node: NodeDep) -> StreamingResponse:
    """The document as edXML (QCVN 102:2016), for whoever may read its files."""
    path = service.export_document(node, actor, document_id, now=node.clock.now())
    return StreamingResponse(
        _chunks(path),
        media_type=EDXML_MEDIA_TYPE,
        headers={
            "Content-Length": str(path.stat().st_size),
            "Content-Disposition": f'attachment; filename="{document_id}.edxml"',
            "Cache-Control": "private, no-store",
        },
        background=BackgroundTask(service.discard, path),
    )


@router.get(
    "/documents/{document_id}/receipts/{receipt_id}/edxml",
    response_class=Response,
    responses={
        200: {**_XML_ANSWER, "description": "The receipt as an edXML status package"},
        **error_responses(401, 404, 422),
    },
)
def get_receipt_edxml(
    document_id: str, receipt_id: str, actor: ActorDep, node: NodeDep
) -> Response:
    """One receipt of the document as an edXML status package (StatusCode 01–16)."""
    data = service.export_status(node, actor, document_id, receipt_id)
    return Response(
        data,
        media_type=EDXML_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{receipt_id}.edxml"',
            "Cache-Control": "private, no-store",
        },
    )
