from __future__ import annotations

import base64
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import AwareDatetime
from starlette.concurrency import run_in_threadpool

from docex.api.deps import ActorDep, CursorDep, LimitDep, NodeDep, ReadSession
from docex.api.errors import ErrorBody, error_responses
from docex.api.openapi import SEND_BODY
from docex.documents import files, intake, mailbox, views
from docex.documents.media_types import served_type
from docex.documents.schemas import (
    DocumentOut,
    DocumentRefList,
    InboxPage,
    OutboxPage,
    TracePage,
)
from docex.documents.upload import receive_upload
from docex.evidence import bundle

router = APIRouter(tags=["documents"])


@router.post(
    "/documents",
    status_code=201,
    response_model=DocumentOut,
    responses={
        200: {"model": DocumentOut, "description": "Replay of an already accepted message_id"},
        **error_responses(400, 401, 403, 409, 413, 415, 422, 503),
    },
    openapi_extra=SEND_BODY,
)
async def submit_document(request: Request, actor: ActorDep, node: NodeDep) -> JSONResponse:
    """Send a document: envelope + main PDF + attachments, streamed and checked on the way in."""
    settings = node.settings
    upload = await receive_upload(
        request.headers.get("content-type"),
        request.headers.get("content-length"),
        request.stream(),
        limits=settings.limits,
        spool_dir=settings.spool_dir,
    )
    try:
        result = await run_in_threadpool(intake.submit, node, actor, upload, now=node.clock.now())
    finally:
        upload.discard()
    if result.created:
        node.worker.wake()
    view = views.document_view(actor, result.document, result.deliveries)
    return JSONResponse(
        view.model_dump(mode="json"),
        status_code=201 if result.created else 200,
        headers={"Location": f"/api/v1/documents/{view.id}"},
    )


@router.get(
    "/documents/lookup", response_model=DocumentRefList, responses=error_responses(401, 422)
)
def lookup_documents(
    actor: ActorDep,
    session: ReadSession,
    ref: Annotated[str, Query(min_length=1, max_length=300)],
) -> DocumentRefList:
    """The documents you can see that a short id (first 8+ characters) or a business id names."""
    return DocumentRefList(items=views.lookup(session, actor, ref))


@router.get(
    "/documents/{document_id}", response_model=DocumentOut, responses=error_responses(401, 404)
)
def get_document(document_id: str, actor: ActorDep, session: ReadSession) -> DocumentOut:
    """A document, as the caller may see it (a recipient sees only its own delivery)."""
    return views.read_document(session, actor, document_id)


@router.get(
    "/documents/{document_id}/files/{file_id}",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/pdf": {}, "application/octet-stream": {}},
            "description": "The file's bytes; ETag is their SHA-256",
        },
        206: {
            "content": {"application/pdf": {}, "application/octet-stream": {}},
            "description": "The byte range asked for (Range, If-Range), with Content-Range",
        },
        **error_responses(401, 404, 410, 416, 503),
        500: {
            "model": ErrorBody,
            "description": "stored_file_corrupt: the stored bytes "
            "failed authentication; never served",
        },
    },
)
def download_file(
    document_id: str,
    file_id: str,
    actor: ActorDep,
    node: NodeDep,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_range: Annotated[str | None, Header(alias="If-Range")] = None,
) -> StreamingResponse:
    """Download one file, decrypted and checked against its SHA-256 (octet-stream unless its
    type is safe to show); one byte range (`Range: bytes=<first>-`) resumes a cut download."""
    now = node.clock.now()
    file, chunks, part = files.open_file(
        node, actor, document_id, file_id, now=now, range_header=range_header, if_range=if_range
    )

    ascii_name = file.name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file.name)}"
    response = StreamingResponse(
        chunks,
        media_type=served_type(file.content_type),
        headers={
            "ETag": f'"{file.sha256}"',
            "Content-Length": str(file.size),
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
    response.headers["Accept-Ranges"] = "bytes"
    if part is not None:
        response.status_code = 206
        response.headers["Content-Range"] = part.content_range
        response.headers["Content-Length"] = str(part.length)
    return response


@router.get(
    "/documents/{document_id}/files/{file_id}/sealed",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/octet-stream": {}},
            "description": "The stored ciphertext (DXB1); headers X-Docex-Key-Wrap (base64) and "
            "X-Docex-Classification carry what the agency's private key needs to open it",
        },
        **error_responses(401, 404, 409, 410, 503),
    },
)
def download_sealed(
    document_id: str, file_id: str, actor: ActorDep, node: NodeDep
) -> StreamingResponse:
    """A classified file still encrypted, for an agency that decrypts in its own system."""
    file, sealed = files.open_sealed_file(node, actor, document_id, file_id, now=node.clock.now())
    return StreamingResponse(
        sealed.chunks,
        media_type="application/octet-stream",
        headers={
            "X-Docex-Key-Wrap": base64.b64encode(sealed.agency_wrap).decode(),
            "X-Docex-Classification": sealed.classification.value,
            "X-Docex-Sha256": file.sha256,
            "X-Docex-Size": str(file.size),
            "Content-Length": str(file.stored_size),
            "Cache-Control": "private, no-store",
        },
    )


@router.get(
    "/documents/{document_id}/trace", response_model=TracePage, responses=error_responses(401, 404)
)
def get_trace(document_id: str, actor: ActorDep, node: NodeDep, session: ReadSession) -> TracePage:
    """What happened to the document, in order, from the audit log."""
    items = views.trace(session, actor, document_id, node_id=node.settings.node_id)
    return TracePage(items=items)


@router.get(
    "/documents/{document_id}/evidence",
    response_class=Response,
    responses={
        200: {
            "content": {"application/zip": {}},
            "description": "The evidence bundle (layout in docs/audit-log.md): no file contents",
        },
        **error_responses(401, 404),
    },
)
def get_evidence(
    document_id: str, actor: ActorDep, node: NodeDep, session: ReadSession
) -> Response:
    """The document's evidence bundle, verifiable offline (`docex audit verify-bundle`)."""
    now = node.clock.now()
    data = bundle.build(session, actor, document_id, signer=node.signer, audit=node.audit, now=now)
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="evidence-{document_id}.zip"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/inbox", response_model=InboxPage, responses=error_responses(400, 401, 403))
def get_inbox(
    actor: ActorDep,
    session: ReadSession,
    limit: LimitDep,
    cursor: CursorDep,
    status: Annotated[str | None, Query(pattern=r"^[0-9]{2}$")] = None,
    urgency: Literal["normal", "urgent", "very_urgent", "flash"] | None = None,
    sender: Annotated[str | None, Query(max_length=64)] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="words in the number/notation or (where you may read it) the subject",
        ),
    ] = None,
) -> InboxPage:
    """Documents delivered to the caller's agency, newest first."""
    return mailbox.inbox(
        session,
        actor,
        status=status,
        urgency=urgency,
        limit=limit,
        cursor=cursor,
        sender=sender,
        since=since,
        until=until,
        q=q,
    )


@router.get("/outbox", response_model=OutboxPage, responses=error_responses(400, 401, 403))
def get_outbox(
    actor: ActorDep, session: ReadSession, limit: LimitDep, cursor: CursorDep
) -> OutboxPage:
    """Documents the caller's agency sent, with per-recipient transport and status counts."""
    return mailbox.outbox(session, actor, limit=limit, cursor=cursor)
