"""Operations: liveness, readiness, metrics, and the node's public signing keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from docex import __version__
from docex.api.deps import NodeDep

router = APIRouter(tags=["operations"])


# async, and touching nothing: liveness must not wait for a worker thread, which a flood of
# requests can all occupy.
@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok", "version": __version__}


@router.get("/readyz", responses={503: {"description": "database or blob store unreachable"}})
def readyz(node: NodeDep) -> JSONResponse:
    """Ready to serve: the database answers and the blob store is writable."""
    checks: dict[str, str] = {}
    try:
        with node.db.read() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = type(exc).__name__
    try:
        node.store.check()
        checks["blob_store"] = "ok"
    except Exception as exc:
        checks["blob_store"] = type(exc).__name__
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
        headers=None if ready else {"Retry-After": "5"},
    )


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(node: NodeDep) -> PlainTextResponse:
    """Prometheus metrics: requests, refusals, deliveries by state, oldest queued delivery."""
    return PlainTextResponse(generate_latest(node.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/.well-known/jwks.json")
def jwks(node: NodeDep) -> dict[str, Any]:
    """The node's public signing keys (JWK Set); receipts name theirs in the JWS `kid`."""
    return node.signer.jwks()


@router.get("/api/v1/node")
def node_info(node: NodeDep) -> dict[str, Any]:
    """This node's identity and public keys."""
    return {"node_id": node.settings.node_id, "version": __version__, "jwks": node.signer.jwks()}
