"""The signing service: ``POST /api/v1/pdf/sign`` (keys held by the node, API.md).

The caller is authenticated, and must be one who may sign or seal, before a byte of the body
is read; the PDF then streams through the intake's multipart parser into the node's spool
directory under the body limit, and its spool file is removed when the request ends. The
signing itself, its names, errors and audit event: ``docex.keys.pdf_signing``."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from docex.api.deps import ActorDep, NodeDep
from docex.api.errors import error_responses
from docex.auth.policy import Action, allowed, authorize
from docex.documents.upload import FormShape, receive_form
from docex.errors import Unprocessable
from docex.keys.pdf_signing import ROLE_ACTIONS, Role, sign_pdf

router = APIRouter(tags=["signing"])

_MULTIPART = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "the PDF to sign",
                        },
                        "as": {
                            "type": "string",
                            "enum": list(ROLE_ACTIONS),
                            "default": "seal",
                            "description": "your own signature (signer) or your agency's seal",
                        },
                    },
                },
            }
        },
    }
}


@router.post(
    "/pdf/sign",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The PDF, signed once more"},
        **error_responses(400, 401, 403, 404, 413, 415, 422, 503),
    },
    openapi_extra=_MULTIPART,
)
async def sign(request: Request, actor: ActorDep, node: NodeDep) -> Response:
    """Add one incremental PAdES signature: your own (`as=signer`) or your agency's seal."""
    if not any(allowed(actor, action) for action in ROLE_ACTIONS.values()):
        authorize(actor, Action.SEAL)  # refuses, with the policy's own words
    limits = node.settings.limits
    form = await receive_form(
        request.headers.get("content-type"),
        request.headers.get("content-length"),
        request.stream(),
        shape=FormShape(
            fields={"as": 16},
            files={"file": 1},
            max_files=1,
            max_body_bytes=limits.max_body_bytes,
            max_file_name_chars=limits.max_file_name_chars,
            typed_by_content=frozenset({"file"}),
        ),
        spool_dir=node.settings.spool_dir,
    )
    try:
        role = form.fields.get("as", b"seal").decode("ascii", "replace")
        if role not in ROLE_ACTIONS:
            raise Unprocessable("as: 'signer' or 'seal'", code="invalid_request")
        authorize(actor, ROLE_ACTIONS[role])
        pdf = form.first("file")
        if pdf is None:
            raise Unprocessable("file: the PDF to sign is missing", code="invalid_request")
        signed = await run_in_threadpool(
            lambda: sign_pdf(
                node.db,
                node.signatures,
                actor,
                pdf.path,
                role=cast(Role, role),
                now=node.clock.now(),
            )
        )
    finally:
        form.discard()
    return Response(signed, media_type="application/pdf")
