from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime

from docex.api.bodies import LimitedRoute
from docex.api.deps import ActorDep, CursorDep, LimitDep, NodeDep, ReadSession
from docex.api.errors import error_responses
from docex.audit.schemas import (
    CheckpointOut,
    ConsistencyOut,
    CosignatureIn,
    CosignatureOut,
    EntryPage,
    ForkIn,
    ForkOut,
    InclusionOut,
    SearchPage,
)
from docex.evidence import service

# A fork report carries two checkpoints (ForkIn: at most ~41 KB of text, escaped in JSON).
router = APIRouter(prefix="/audit", tags=["audit"], route_class=LimitedRoute.capped(128 * 1024))

Position = Annotated[int, Query(ge=0, le=2**62)]
Size = Annotated[int, Query(ge=0, le=2**62)]
Text = Annotated[str | None, Query(min_length=1, max_length=64)]


@router.get(
    "/checkpoint", response_model=CheckpointOut, responses=error_responses(401, 403, 404, 422)
)
def get_checkpoint(
    actor: ActorDep, node: NodeDep, session: ReadSession, size: Size | None = None
) -> CheckpointOut:
    """The latest signed checkpoint (or the one of ``size``), with its witnesses' cosignatures."""
    return service.checkpoint_view(session, actor, node.audit, size)


@router.get("/entries", response_model=EntryPage, responses=error_responses(401, 403, 422))
def get_entries(
    actor: ActorDep, session: ReadSession, start: Position = 0, end: Position | None = None
) -> EntryPage:
    """Log entries [start, end), at most 1000: position, leaf hash, leaf bytes and event."""
    return service.entries(session, actor, start, end)


@router.get(
    "/proofs/inclusion",
    response_model=InclusionOut,
    responses=error_responses(401, 403, 404, 422),
)
def get_inclusion_proof(
    actor: ActorDep, session: ReadSession, index: Position, tree_size: Size
) -> InclusionOut:
    """RFC 9162 inclusion proof of the entry at ``index`` in the tree of ``tree_size``."""
    return service.inclusion(session, actor, index, tree_size)


@router.get(
    "/proofs/consistency",
    response_model=ConsistencyOut,
    responses=error_responses(401, 403, 404, 422),
)
def get_consistency_proof(
    actor: ActorDep, session: ReadSession, first: Size, second: Size
) -> ConsistencyOut:
    """RFC 9162 consistency proof from the tree of size ``first`` to that of ``second``."""
    return service.consistency(session, actor, first, second)


@router.get("/search", response_model=SearchPage, responses=error_responses(400, 401, 403, 422))
def search(
    actor: ActorDep,
    session: ReadSession,
    limit: LimitDep,
    cursor: CursorDep,
    document: Text = None,
    agency: Text = None,
    principal: Text = None,
    event: Text = None,
    since: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    until: Annotated[AwareDatetime | None, Query(alias="to")] = None,
) -> SearchPage:
    """Events by document, agency, principal (id or username), event name, time [from, to)."""
    where = service.SearchFilter(document, agency, principal, event, since, until)
    return service.search(session, actor, where, limit=limit, cursor=cursor)


@router.post(
    "/cosignatures",
    status_code=201,
    response_model=CosignatureOut,
    responses={
        200: {"model": CosignatureOut, "description": "This witness had already cosigned it"},
        **error_responses(401, 403, 404, 422),
    },
)
def post_cosignature(body: CosignatureIn, actor: ActorDep, node: NodeDep) -> JSONResponse:
    """A witness's Ed25519 cosignature (c2sp.org/tlog-cosignature) of a stored checkpoint."""
    # The transaction opens and commits inside this (threadpool) call: see api/deps.py.
    with node.db.write() as session:
        out, created = service.add_cosignature(
            session, actor, body.tree_size, body.signature, body.vkey, now=node.clock.now()
        )
    return JSONResponse(out.model_dump(), status_code=201 if created else 200)


@router.post(
    "/forks", status_code=202, response_model=ForkOut, responses=error_responses(401, 403, 422)
)
def post_fork(body: ForkIn, actor: ActorDep, node: NodeDep) -> ForkOut:
    """A witness reports two inconsistent views of this log; recorded as an audit event."""
    with node.db.write() as session:
        row = service.report_fork(
            session,
            actor,
            reason=body.reason,
            seen=body.seen,
            cosigned=body.cosigned,
            now=node.clock.now(),
        )
        session.flush()
        index = row.index
    return ForkOut(recorded=True, event_id=index)
