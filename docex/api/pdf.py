"""The signing service: ``POST /api/v1/pdf/sign`` (keys held by the node, API.md).

The caller is authenticated, and must be one who may sign or seal, before a byte of the body
is read; the PDF then streams through the intake's multipart parser into the node's spool
directory under the body limit, and its spool file is removed when the request ends."""

from __future__ import annotations

from typing import Literal, cast

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from docex.agencies.service import get_agency
from docex.api.deps import ActorDep, NodeDep
from docex.api.errors import error_responses
from docex.auth.policy import Action, acting_agency, allowed, authorize
from docex.auth.service import full_name_of
from docex.documents.upload import FormShape, receive_form
from docex.errors import NotFound, ServiceUnavailable, Unprocessable, UnsupportedMedia
from docex.signing.pades import SigningError

router = APIRouter(tags=["signing"])

_NOT_FOUND_CODES = {"unknown_key"}
_MEDIA_CODES = {"not_a_pdf"}
# The key's token or the time-stamping authority failed: nothing is wrong with the request.
_UNAVAILABLE_CODES = {"key_unavailable", "timestamp_unavailable"}
_ROLES = {"signer": Action.SIGN_AS_SIGNER, "seal": Action.SEAL}

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
                            "enum": list(_ROLES),
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
    if not any(allowed(actor, action) for action in _ROLES.values()):
        authorize(actor, Action.SEAL)  # refuses, with the policy's own words
    agency_id = acting_agency(actor)
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
        if role not in _ROLES:
            raise Unprocessable("as: 'signer' or 'seal'", code="invalid_request")
        authorize(actor, _ROLES[role])
        pdf = form.first("file")
        if pdf is None:
            raise Unprocessable("file: the PDF to sign is missing", code="invalid_request")

        def work() -> bytes:
            with node.db.read() as session:
                agency_name = get_agency(session, agency_id).name
                signer_name = full_name_of(session, actor.id)
            with pdf.path.open("rb") as source:
                return node.signatures.sign(
                    source,
                    role=cast(Literal["signer", "seal"], role),
                    agency_id=agency_id,
                    username=actor.username,
                    signer_name=signer_name,
                    agency_name=agency_name,
                    now=node.clock.now(),
                )

        signed = await run_in_threadpool(work)
    except SigningError as exc:
        if exc.code in _NOT_FOUND_CODES:
            raise NotFound(exc.detail, code=exc.code) from exc
        if exc.code in _MEDIA_CODES:
            raise UnsupportedMedia(exc.detail, code=exc.code) from exc
        if exc.code in _UNAVAILABLE_CODES:
            raise ServiceUnavailable(exc.detail, code=exc.code) from exc
        raise Unprocessable(exc.detail, code=exc.code) from exc
    finally:
        form.discard()
    return Response(signed, media_type="application/pdf")
