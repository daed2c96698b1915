"""This node as the directory describes it: its key (through the key store, possibly on a
PKCS#11 token), its certificates and audit key, the agencies it hosts. What ``docex federation
describe|publish`` and ``docex network demo`` need of the node they run on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session

from docex.audit.notes import Cosigner, EcdsaVerifier
from docex.config import Settings
from docex.federation.directory import NodeDescription, describe, public_pem
from docex.federation.witnessing import WITNESS_NAME, published_audit_key
from docex.keys.node import node_key, node_signer, open_token, witness_key
from docex.keys.paths import KeyPaths
from docex.signing.jws import NodeSigner


@contextmanager
def node_keys(settings: Settings) -> Iterator[tuple[NodeSigner, ec.EllipticCurvePublicKey]]:
    """The node's signer (the directory is signed with it) and its public key."""
    token = open_token(settings)
    try:
        key = node_key(settings, token)
        yield node_signer(settings, key), key.public_key()
    finally:
        if token is not None:
            token.close()


def describe_self(
    session: Session,
    settings: Settings,
    public: ec.EllipticCurvePublicKey,
    *,
    base_url: str | None = None,
    upstream: str | None = None,
) -> NodeDescription:
    chain = KeyPaths.of(settings).node_certificate
    return describe(
        session,
        node_id=settings.node_id,
        base_url=base_url or settings.base_url,
        upstream=upstream,
        signing_key=public_pem(public),
        certificates=chain.read_text() if chain.exists() else None,
        # The log's key and the witness key peers check this node's cosignatures with.
        audit_key=published_audit_key(
            EcdsaVerifier(settings.audit_origin, public),
            Cosigner(WITNESS_NAME.format(node=settings.node_id), witness_key(settings)).verifier,
        ),
    )
