from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from docex.api.bodies import LimitedRoute
from docex.api.deps import ActorDep, NodeDep, ReadSession
from docex.api.errors import error_responses
from docex.kit.clock import VIETNAM_TZ
from docex.routing import receipts
from docex.routing.receipts import StatusRequest
from docex.routing.schemas import ReceiptList, StatusIn, StatusOut

router = APIRouter(tags=["receipts"], route_class=LimitedRoute)


IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:@/+-]+$"),
]


@router.post(
    "/documents/{document_id}/statuses",
    status_code=201,
    response_model=StatusOut,
    responses={
        200: {"model": StatusOut, "description": "Replay: the receipt(s) recorded before"},
        **error_responses(400, 401, 403, 404, 409, 422),
    },
)
def post_status(
    document_id: str,
    body: StatusIn,
    actor: ActorDep,
    node: NodeDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> StatusOut:
    """Report a status (02..06, 15, 16 as recipient; 13 as sender); returns the signed receipt."""
    with node.db.write() as session:
        now = node.clock.now()
        out, created = receipts.report_status(
            session,
            node.signer,
            actor,
            document_id,
            StatusRequest(
                body.code, body.note, body.incoming_number, body.recipients, idempotency_key
            ),
            now=now,
            local_year=now.astimezone(VIETNAM_TZ).year,
        )
    if not created:
        response.status_code = 200
    return out


@router.get(
    "/documents/{document_id}/receipts",
    response_model=ReceiptList,
    responses=error_responses(401, 404),
)
def list_receipts(document_id: str, actor: ActorDep, session: ReadSession) -> ReceiptList:
    """Signed receipts: all of them for the sender and auditors, its own for a recipient."""
    return receipts.list_receipts(session, actor, document_id)
