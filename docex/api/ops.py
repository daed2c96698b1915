"""Operations: liveness, readiness, metrics, and the node's public signing keys."""

from __future__ import annotations

import hmac
from ipaddress import IPv6Address, ip_address
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from docex import __version__
from docex.api.deps import NodeDep
from docex.api.errors import error_responses
from docex.config import MetricsSettings
from docex.errors import Forbidden
from docex.federation import directory
from docex.federation.witnessing import published_audit_key
from docex.kit.clock import rfc3339

router = APIRouter(tags=["operations"])


# async, and touching nothing: liveness must not wait for a worker thread, which a flood of
# requests can all occupy.
@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok", "version": __version__}


@router.get("/readyz", responses={503: {"description": "database or blob store unreachable"}})
def readyz(node: NodeDep) -> JSONResponse:
    """Ready to serve: the database answers and the blob store is writable. A federated node
    also says which directory version it works on, and whether it is stale (it keeps working on
    the last good one: not a reason to be unready)."""
    checks: dict[str, str] = {}
    federation = node.settings.federation
    federated = federation.directory_url is not None or federation.publisher
    found: directory.DirectoryState | None = None
    try:
        with node.db.read() as session:
            session.execute(text("SELECT 1"))
            if federated:
                found = directory.state(
                    session, now=node.clock.now(), max_age_seconds=federation.max_age_seconds
                )
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = type(exc).__name__
    try:
        node.store.check()
        checks["blob_store"] = "ok"
    except Exception as exc:
        checks["blob_store"] = type(exc).__name__
    ready = all(v == "ok" for v in checks.values())
    body: dict[str, Any] = {"status": "ready" if ready else "unavailable", "checks": checks}
    if federated:
        body["directory"] = (
            None
            if found is None
            else {
                "version": found.version,
                "issued_at": rfc3339(found.issued_at),
                "age_seconds": round(found.age_seconds, 3),
                "stale": found.stale,
            }
        )
    return JSONResponse(
        body,
        status_code=200 if ready else 503,
        headers=None if ready else {"Retry-After": "5"},
    )


# A request relayed by a proxy comes from the proxy's address, whoever sent it.
_FORWARDING = ("forwarded", "x-forwarded-for", "x-real-ip")


def may_scrape(request: Request, settings: MetricsSettings) -> bool:
    """``/metrics`` is for an address of ``settings.allow`` (the socket's peer, and only if no
    proxy relayed the request) or for whoever presents ``settings.token``."""
    if settings.token is not None:
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            secret.strip().encode(), settings.token.get_secret_value().encode()
        ):
            return True
    if request.client is None or any(name in request.headers for name in _FORWARDING):
        return False
    try:
        peer = ip_address(request.client.host)
    except ValueError:
        return False
    if isinstance(peer, IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped
    return any(peer in network for network in settings.allow)


@router.get("/metrics", response_class=PlainTextResponse, responses=error_responses(403))
def metrics(request: Request, node: NodeDep) -> PlainTextResponse:
    """Prometheus metrics: requests, refusals, deliveries by state, oldest queued delivery."""
    if not may_scrape(request, node.settings.metrics):
        raise Forbidden(
            "metrics are for the addresses in DOCEX_METRICS__ALLOW, or the metrics token",
            code="metrics_forbidden",
        )
    return PlainTextResponse(generate_latest(node.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/.well-known/jwks.json")
def jwks(node: NodeDep) -> dict[str, Any]:
    """The node's public signing keys (JWK Set); receipts name theirs in the JWS `kid`."""
    return node.signer.jwks()


@router.get("/api/v1/node")
def node_info(node: NodeDep) -> dict[str, Any]:
    """This node's identity and public keys (``audit_key``: what the directory publishes as this
    node's audit keys, its log's vkey and its witness's, docs/federation.md)."""
    out: dict[str, Any] = {
        "node_id": node.settings.node_id,
        "version": __version__,
        "jwks": node.signer.jwks(),
    }
    if node.witnessing is not None:
        out["audit_key"] = published_audit_key(
            node.audit.verifier, node.witnessing.cosigner.verifier
        )
    return out
