"""The transfer protocol's endpoint, ``POST /federation/v1/transfers`` (docs/federation.md,
"Transfer protocol"): a peer node's signed transfer, verified before anything is stored,
streamed to the spool, answered with this node's signed transport receipt
(:mod:`docex.federation.inbound`). No bearer token: the RFC 9421 signature of a node of the
directory is the credential.

The ``/federation/v1`` prefix is shared with the directory's routes (``api/directory.py``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from docex.api.deps import NodeDep
from docex.api.errors import error_responses
from docex.api.openapi import TRANSFER_BODY
from docex.federation.inbound import Inbox

router = APIRouter(prefix="/federation/v1", tags=["federation"])


class TransferReceipt(BaseModel):
    transfer_id: str
    receipt: str


@router.post(
    "/transfers",
    status_code=201,
    response_model=TransferReceipt,
    responses={
        200: {"model": TransferReceipt, "description": "Accepted before: the original receipt"},
        **error_responses(400, 401, 403, 409, 413),
    },
    openapi_extra=TRANSFER_BODY,
)
async def receive_transfer(request: Request, node: NodeDep) -> JSONResponse:
    """Receive a transfer from a peer node: the RFC 9421 signature, the body's Content-Digest,
    deduplication by transfer id; 201 with the signed transport receipt (200 with the same
    receipt for a transfer accepted before)."""
    inbox = Inbox(node.db, node.signer, node.kinds, node.settings, node.clock)
    answer = await inbox.receive(
        request.method, str(request.url), request.headers.items(), request.stream()
    )
    if answer.status == 201:
        node.worker.wake()  # what it brought (deliveries, a relay's transfers) moves now
    return JSONResponse(
        {"transfer_id": answer.transfer_id, "receipt": answer.receipt},
        status_code=answer.status,
    )
