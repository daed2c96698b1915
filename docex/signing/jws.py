"""Signed statements of the node as JWS compact serialization (RFC 7515), alg ES256 (RFC 7518).

Guarantee: a statement returned by ``NodeSigner.sign`` verifies, with any conforming JOSE
library, against the public key published at ``/.well-known/jwks.json`` under its ``kid`` (the
RFC 7638 thumbprint), and any change to header or payload breaks it. The payload is canonical
JSON (sorted keys, no spaces, UTF-8) so the same claims always give the same bytes to sign.

The key signs wherever it lives: a key loaded from the data directory, or a key on a PKCS#11
token (:class:`docex.signing.hsm.TokenKey`); the JWS is assembled here (RFC 7515 §7.1) and only
the ECDSA signature comes from the key.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from joserfc.jwk import ECKey

from docex.signing.errors import JwsInvalid

RECEIPT_TYPE = "docex-receipt+jws"
# What :func:`verify_es256` reads at most: a national directory (every commune) is the largest.
MAX_JWS_BYTES = 64 * 1024 * 1024


def _b64decode(text: str) -> bytes:
    if not text.isascii() or not all(c.isalnum() or c in "-_" for c in text):
        raise JwsInvalid("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_es256(token: str, key: ec.EllipticCurvePublicKey | str) -> tuple[dict[str, Any], bytes]:
    """(header, payload) of ``token`` if it is a JWS compact serialization (RFC 7515 §7.1)
    signed with ES256 by ``key`` (a public key, or its PEM); else :class:`JwsInvalid`.

    Done by hand on ``cryptography`` (RFC 7515 §5.2): JOSE libraries bound the header far
    below what an ``x5c`` certificate chain takes, and the payload below a directory's size.
    """
    if not isinstance(token, str) or len(token) > MAX_JWS_BYTES:
        raise JwsInvalid("not a JWS compact serialization")
    parts = token.strip().split(".")
    if len(parts) != 3 or not all(parts):
        raise JwsInvalid("not a JWS compact serialization")
    try:
        header = json.loads(_b64decode(parts[0]))
        payload = _b64decode(parts[1])
        raw = _b64decode(parts[2])
    except ValueError as exc:
        raise JwsInvalid("not a JWS compact serialization") from exc
    if not isinstance(header, dict) or header.get("alg") != "ES256" or len(raw) != 64:
        raise JwsInvalid("not signed with ES256")
    if isinstance(key, str):
        try:
            loaded = serialization.load_pem_public_key(key.encode())
        except ValueError as exc:
            raise JwsInvalid("the key is not a PEM public key") from exc
        if not isinstance(loaded, ec.EllipticCurvePublicKey):
            raise JwsInvalid("the key is not an EC public key")
        key = loaded
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        key.verify(der, f"{parts[0]}.{parts[1]}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise JwsInvalid("the signature does not verify") from exc
    return header, payload


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class EcdsaKey(Protocol):
    """A P-256 private key that signs without showing itself (e.g. on a PKCS#11 token)."""

    def public_key(self) -> ec.EllipticCurvePublicKey: ...

    def sign(self, data: bytes, algorithm: str = "sha256") -> bytes:
        """DER ECDSA signature of ``data`` hashed with ``algorithm``."""
        ...


class _LoadedKey:
    """:class:`EcdsaKey` over a key loaded in this process."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()

    def sign(self, data: bytes, algorithm: str = "sha256") -> bytes:
        if algorithm != "sha256":
            raise ValueError("node statements are ES256")
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))


def ecdsa_key(key: ec.EllipticCurvePrivateKey | EcdsaKey) -> EcdsaKey:
    """The node key as an :class:`EcdsaKey`, whether loaded here or held by a token."""
    return _LoadedKey(key) if isinstance(key, ec.EllipticCurvePrivateKey) else key


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class NodeSigner:
    def __init__(
        self,
        private_key: ec.EllipticCurvePrivateKey | EcdsaKey,
        node_id: str,
        *,
        chain: Sequence[x509.Certificate] = (),
    ) -> None:
        """``chain``: the node key's certificate then its issuers; sent as ``x5c`` (RFC 7515
        §4.1.6) so a third party verifies a receipt against the national root alone."""
        key = ecdsa_key(private_key)
        public = key.public_key()
        if not isinstance(public.curve, ec.SECP256R1):
            raise ValueError("the node key must be a P-256 key (ES256)")
        self._key = key
        self._public = ECKey.import_key(
            public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        self.node_id = node_id
        self.kid = self._public.thumbprint()
        if chain and chain[0].public_key() != public:
            raise ValueError("the certificate chain is not the node key's")
        self.x5c = [
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain
        ]

    def sign(self, claims: dict[str, Any], *, typ: str = RECEIPT_TYPE) -> str:
        header: dict[str, Any] = {"alg": "ES256", "kid": self.kid, "typ": typ}
        if self.x5c:
            header["x5c"] = self.x5c
        signing_input = f"{_b64url(canonical_json(header))}.{_b64url(canonical_json(claims))}"
        r, s = decode_dss_signature(self._key.sign(signing_input.encode("ascii")))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")  # RFC 7518 §3.4
        return f"{signing_input}.{_b64url(signature)}"

    def verify(self, token: str) -> dict[str, Any]:
        """Verify a statement this node signed; raises ``ValueError`` if it does not verify."""
        _header, raw = verify_es256(token, self._key.public_key())
        payload = json.loads(raw)
        if not isinstance(payload, dict):
            raise ValueError("payload is not an object")
        return payload

    def jwks(self) -> dict[str, Any]:
        jwk = dict(self._public.as_dict(private=False))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "ES256"})
        return {"keys": [jwk]}
