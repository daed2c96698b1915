"""Statements another node signed (JWS compact serialization, RFC 7515, ES256), verified with
that node's key as the directory lists it (:mod:`docex.federation.peers`).

Guarantee: :func:`verify_statement` returns the claims only if the JWS verifies under the PEM
public key given and its header's ``typ`` is the one expected, so a statement of one kind (a
status receipt) is never taken for another (a document's origin signature). It raises
``ValueError`` otherwise; callers turn that into their own precise refusal.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from docex.signing.jws import verify_es256


def _header(token: str) -> dict[str, Any]:
    head = token.split(".", 1)[0]
    try:
        value = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except ValueError as exc:
        raise ValueError("not a JWS") from exc
    if not isinstance(value, dict):
        raise ValueError("not a JWS")
    return value


def verify_statement(token: str, public_pem: str, *, typ: str) -> dict[str, Any]:
    """The claims of ``token`` if it is a ``typ`` statement signed by ``public_pem``'s key."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise ValueError("not a JWS compact serialization")
    if _header(token).get("typ") != typ:
        raise ValueError(f"not a {typ} statement")
    try:
        _signed_header, payload = verify_es256(token, public_pem)
        claims = json.loads(payload)
    except ValueError as exc:
        raise ValueError("the signature does not verify") from exc
    if not isinstance(claims, dict):
        raise ValueError("the payload is not an object")
    return claims


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a JWS this node verified when it received it (a relay forwarding it)."""
    payload = token.split(".")[1]
    value = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    if not isinstance(value, dict):
        raise ValueError("the payload is not an object")
    return value
