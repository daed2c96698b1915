"""Signed statements of the node as JWS compact serialization (RFC 7515), alg ES256 (RFC 7518).

Guarantee: a statement returned by ``NodeSigner.sign`` verifies, with any conforming JOSE
library, against the public key published at ``/.well-known/jwks.json`` under its ``kid`` (the
RFC 7638 thumbprint), and any change to header or payload breaks it. The payload is canonical
JSON (sorted keys, no spaces, UTF-8) so the same claims always give the same bytes to sign.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws
from joserfc.jwk import ECKey

RECEIPT_TYPE = "docex-receipt+jws"


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class NodeSigner:
    def __init__(
        self,
        private_key: ec.EllipticCurvePrivateKey,
        node_id: str,
        *,
        chain: Sequence[x509.Certificate] = (),
    ) -> None:
        """``chain``: the node key's certificate then its issuers; sent as ``x5c`` (RFC 7515
        §4.1.6) so a third party verifies a receipt against the national root alone."""
        pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self._key = ECKey.import_key(pem)
        self.node_id = node_id
        self.kid = self._key.thumbprint()
        self._public = ECKey.import_key(self._key.as_dict(private=False))
        if chain and chain[0].public_key() != private_key.public_key():
            raise ValueError("the certificate chain is not the node key's")
        self.x5c = [
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain
        ]

    def sign(self, claims: dict[str, Any], *, typ: str = RECEIPT_TYPE) -> str:
        header: dict[str, Any] = {"alg": "ES256", "kid": self.kid, "typ": typ}
        if self.x5c:
            header["x5c"] = self.x5c
        return jws.serialize_compact(header, canonical_json(claims), self._key)

    def verify(self, token: str) -> dict[str, Any]:
        """Verify a statement this node signed; raises ``ValueError`` if it does not verify."""
        try:
            obj = jws.deserialize_compact(token, self._public, algorithms=["ES256"])
        except Exception as exc:  # joserfc raises several unrelated types for bad input
            raise ValueError("signature does not verify") from exc
        payload = json.loads(obj.payload)
        if not isinstance(payload, dict):
            raise ValueError("payload is not an object")
        return payload

    def jwks(self) -> dict[str, Any]:
        jwk = dict(self._key.as_dict(private=False))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "ES256"})
        return {"keys": [jwk]}
