from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from docex.api.bodies import LimitedRoute
from docex.api.deps import ActorDep, NodeDep, ReadSession, WriteSession
from docex.api.errors import error_responses
from docex.documents.service import load_visible
from docex.kit.clock import VIETNAM_TZ, rfc3339
from docex.routing.models import Receipt
from docex.routing.receipts import StatusRequest, record_status
from docex.routing.schemas import ReceiptList, ReceiptOut, StatusIn, StatusOut

router = APIRouter(tags=["receipts"], route_class=LimitedRoute)


def _out(r: Receipt) -> ReceiptOut:
    return ReceiptOut(
        id=r.id,
        code=r.code,
        from_agency_id=r.from_agency_id,
        to_agency_id=r.to_agency_id,
        note=r.note,
        incoming_number=r.incoming_number,
        created_at=rfc3339(r.created_at),
        signed=r.signed,
    )


@router.post(
    "/documents/{document_id}/statuses",
    status_code=201,
    response_model=StatusOut,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def post_status(
    document_id: str, body: StatusIn, actor: ActorDep, node: NodeDep, session: WriteSession
) -> StatusOut:
    """Report a status (02..06, 15, 16 as recipient; 13 as sender); returns the signed receipt."""
    document, deliveries = load_visible(session, actor, document_id)
    now = node.clock.now()
    receipts = record_status(
        session,
        node.signer,
        actor,
        document,
        deliveries,
        StatusRequest(body.code, body.note, body.incoming_number, body.recipients),
        now=now,
        local_year=now.astimezone(VIETNAM_TZ).year,
    )
    outs = [_out(r) for r in receipts]
    return StatusOut(**outs[0].model_dump(), receipts=outs)


@router.get(
    "/documents/{document_id}/receipts",
    response_model=ReceiptList,
    responses=error_responses(401, 404),
)
def list_receipts(document_id: str, actor: ActorDep, session: ReadSession) -> ReceiptList:
    """Signed receipts: all of them for the sender and auditors, its own for a recipient."""
    document, _ = load_visible(session, actor, document_id)
    query = select(Receipt).where(Receipt.document_id == document_id)
    if actor.agency_id not in (None, document.sender_id):
        query = query.where(
            (Receipt.from_agency_id == actor.agency_id) | (Receipt.to_agency_id == actor.agency_id)
        )
    return ReceiptList(items=[_out(r) for r in session.scalars(query.order_by(Receipt.id))])
