"""``/federation/v1/audit``: this node's audit log for the peers that witness it.

Public, like a certificate-transparency log: what is served is signed (checkpoints) or checked
against signed heads (proofs). A peer posts its cosignature of a checkpoint, accepted only from
a witness key the directory publishes for a node; a peer that saw this log fork says so, with
the evidence. ``docex.federation.witnessing`` is the witness side; docs/federation.md the
protocol.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from docex.api.bodies import LimitedRoute
from docex.api.deps import NodeDep, ReadSession
from docex.api.errors import error_responses
from docex.audit import events
from docex.audit.schemas import (
    CheckpointOut,
    ConsistencyOut,
    CosignatureIn,
    CosignatureOut,
    ForkOut,
    PeerForkIn,
)
from docex.evidence import service
from docex.federation import witnessing

router = APIRouter(
    prefix="/federation/v1/audit",
    tags=["federation"],
    route_class=LimitedRoute.capped(128 * 1024),
)

Size = Annotated[int, Query(ge=0, le=2**62)]


@router.get("/checkpoint", response_model=CheckpointOut, responses=error_responses(404, 422))
def get_peer_checkpoint(
    node: NodeDep, session: ReadSession, size: Size | None = None
) -> CheckpointOut:
    """The latest signed checkpoint (or that of ``size``), with its witnesses' cosignatures."""
    return service.checkpoint_out(session, node.audit, size)


@router.get(
    "/proofs/consistency", response_model=ConsistencyOut, responses=error_responses(404, 422)
)
def get_peer_consistency_proof(session: ReadSession, first: Size, second: Size) -> ConsistencyOut:
    """RFC 9162 consistency proof from the tree of size ``first`` to that of ``second``."""
    return service.consistency_out(session, first, second)


@router.post(
    "/cosignatures",
    status_code=201,
    response_model=CosignatureOut,
    responses={
        200: {"model": CosignatureOut, "description": "This witness had already cosigned it"},
        **error_responses(403, 404, 422),
    },
)
def post_peer_cosignature(body: CosignatureIn, node: NodeDep) -> JSONResponse:
    """A peer's cosignature of a checkpoint, by a witness key the directory publishes."""
    with node.db.write() as session:
        _, key = witnessing.witness_of(session, body.vkey, here=node.settings.node_id)
        out, created = service.store_cosignature(
            session, body.tree_size, body.signature, key, now=node.clock.now()
        )
    return JSONResponse(out.model_dump(), status_code=201 if created else 200)


@router.post("/forks", status_code=202, response_model=ForkOut, responses=error_responses(403, 422))
def post_peer_fork(body: PeerForkIn, node: NodeDep) -> ForkOut:
    """A peer saw this log fork: recorded as ``audit:fork:reported``, with its evidence."""
    with node.db.write() as session:
        peer, key = witnessing.witness_of(session, body.vkey, here=node.settings.node_id)
        head = witnessing.check_fork_report(body.cosigned, node.audit.verifier, key)
        row = events.record(
            session,
            events.FORK_REPORTED,
            at=node.clock.now(),
            witness=peer.id,
            reason=body.reason,
            seen=body.seen,
            cosigned=body.cosigned,
            cosigned_size=head.size,
        )
        session.flush()
        index = row.index
    return ForkOut(recorded=True, event_id=index)
