"""The signing service: ``POST /api/v1/pdf/sign`` (keys held by the node, API.md)."""

from __future__ import annotations

import tempfile
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from docex.agencies.service import get_agency
from docex.api.deps import ActorDep, NodeDep
from docex.api.errors import error_responses
from docex.auth.policy import Action, acting_agency, authorize
from docex.auth.service import full_name_of
from docex.errors import (
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    Unprocessable,
    UnsupportedMedia,
)
from docex.signing.pades import SigningError

router = APIRouter(tags=["signing"])

_NOT_FOUND_CODES = {"unknown_key"}
_MEDIA_CODES = {"not_a_pdf"}
# The key's token or the time-stamping authority failed: nothing is wrong with the request.
_UNAVAILABLE_CODES = {"key_unavailable", "timestamp_unavailable"}


@router.post(
    "/pdf/sign",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The PDF, signed once more"},
        **error_responses(400, 401, 403, 404, 413, 415, 422, 503),
    },
)
async def sign(
    actor: ActorDep,
    node: NodeDep,
    file: Annotated[UploadFile, File(description="the PDF to sign")],
    as_: Annotated[Literal["signer", "seal"], Form(alias="as")] = "seal",
) -> Response:
    """Add one incremental PAdES signature: your own (`as=signer`) or your agency's seal."""
    authorize(actor, Action.SIGN_AS_SIGNER if as_ == "signer" else Action.SEAL)
    agency_id = acting_agency(actor)
    limit = node.settings.limits.max_body_bytes
    if file.size is not None and file.size > limit:
        raise PayloadTooLarge(f"the PDF is over {limit} bytes", code="body_too_large")

    def work() -> bytes:
        with node.db.read() as session:
            agency_name = get_agency(session, agency_id).name
            signer_name = full_name_of(session, actor.id)
        with tempfile.SpooledTemporaryFile(max_size=8 << 20) as source:
            while chunk := file.file.read(1 << 20):
                source.write(chunk)
            source.seek(0)
            return node.signatures.sign(
                source,  # type: ignore[arg-type]
                role=as_,
                agency_id=agency_id,
                username=actor.username,
                signer_name=signer_name,
                agency_name=agency_name,
                now=node.clock.now(),
            )

    try:
        signed = await run_in_threadpool(work)
    except SigningError as exc:
        if exc.code in _NOT_FOUND_CODES:
            raise NotFound(exc.detail, code=exc.code) from exc
        if exc.code in _MEDIA_CODES:
            raise UnsupportedMedia(exc.detail, code=exc.code) from exc
        if exc.code in _UNAVAILABLE_CODES:
            raise ServiceUnavailable(exc.detail, code=exc.code) from exc
        raise Unprocessable(exc.detail, code=exc.code) from exc
    return Response(signed, media_type="application/pdf")
