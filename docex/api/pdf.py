"""The signing service's HTTP face: ``POST /api/v1/pdf/sign`` (keys held by the node, docs/api.md).

The caller is authenticated, and must be one who may sign or seal, before a byte of the body
is read; the PDF then streams through the intake's multipart parser into the node's spool
directory under the body limit, and its spool file is removed when the request ends. The rules
(which key, the names on the stamp, the audit event) are the service's
(``docex.signing.service``); its errors are mapped to HTTP by ``docex.api.errors``."""

from __future__ import annotations

from typing import Literal, cast

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from docex.api.deps import ActorDep, NodeDep
from docex.api.errors import error_responses
from docex.api.openapi import SIGN_BODY
from docex.auth.policy import Action, acting_agency, allowed, authorize
from docex.documents.upload import FormShape, receive_form
from docex.errors import Unprocessable

router = APIRouter(tags=["signing"])

_ROLES = {"signer": Action.SIGN_AS_SIGNER, "seal": Action.SEAL}


@router.post(
    "/pdf/sign",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The PDF, signed once more"},
        **error_responses(400, 401, 403, 404, 413, 415, 422, 503),
    },
    openapi_extra=SIGN_BODY,
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
            with pdf.path.open("rb") as source:
                return node.signatures.sign(
                    source,
                    role=cast(Literal["signer", "seal"], role),
                    agency_id=agency_id,
                    username=actor.username,
                    now=node.clock.now(),
                    actor_id=actor.id,
                ).data

        signed = await run_in_threadpool(work)
    finally:
        form.discard()
    return Response(signed, media_type="application/pdf")
