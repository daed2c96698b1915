"""Public PKI services of a node that hosts the demo PKI: OCSP (RFC 6960), CRLs (RFC 5280) and
time-stamping (RFC 3161), at the URLs its certificates name. No authentication: relying
parties anywhere must reach them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from docex.api.deps import NodeDep
from docex.api.errors import error_responses
from docex.errors import NotFound
from docex.kit.bodies import read_capped

router = APIRouter(prefix="/pki", tags=["pki"])
MAX_REQUEST = 64 * 1024


async def _body(request: Request) -> bytes:
    """An OCSP or time-stamp request: a few hundred bytes, refused (413) past ``MAX_REQUEST``."""
    return await read_capped(request.headers.get("content-length"), request.stream(), MAX_REQUEST)


@router.post("/ocsp", response_class=Response, responses=error_responses(404, 413))
async def ocsp(request: Request, node: NodeDep) -> Response:
    """OCSP responder for certificates of this node's PKI."""
    answer = node.signatures.ocsp(await _body(request))
    if answer is None:
        raise NotFound("this node hosts no PKI", code="no_pki")
    return Response(answer, media_type="application/ocsp-response")


@router.get("/crl/{name}.crl", response_class=Response, responses=error_responses(404))
def crl(name: str, node: NodeDep) -> Response:
    """Certificate revocation list of the root (`root`) or issuing CA (`issuing`)."""
    answer = node.signatures.crl(name)
    if answer is None:
        raise NotFound("no such CRL", code="no_crl")
    return Response(answer, media_type="application/pkix-crl")


@router.post("/tsa", response_class=Response, responses=error_responses(404, 413))
async def tsa(request: Request, node: NodeDep) -> Response:
    """RFC 3161 time-stamping authority."""
    answer = node.signatures.timestamp(await _body(request))
    if answer is None:
        raise NotFound("this node hosts no PKI", code="no_pki")
    return Response(answer, media_type="application/timestamp-reply")
