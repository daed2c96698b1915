"""The wire format as docs/federation.md states it: its worked example is what the reference
implementation produces, and a signature it makes verifies by the RFC alone (the signature
base rebuilt by hand, ECDSA checked with the public key)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from http_message_signatures import HTTPMessageSigner
from http_message_signatures.algorithms import ECDSA_P256_SHA256

from docex.federation import wire
from docex.federation.kinds import Part
from docex.signing.hsm import Pkcs11KeyStore
from docex.signing.jws import NodeSigner, ecdsa_key
from tests.signing.softhsm import Token

DOC = Path(__file__).resolve().parents[2] / "docs" / "federation.md"
TRANSFER_ID = "01a21529-e968-73dc-acb3-7ca2365763f2"
URL = "https://hue.docex.example/federation/v1/transfers"
CREATED = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
PDF = b"%PDF-1.7 ...\n"


def _example() -> wire.Body:
    manifest = b'{"document_id":"01a21529-e968-73dc-acb3-7ca2365763f2"}'
    part = Part("file:01a21529-e968-73dd-9a35-d0ccf70cd0db", "application/pdf", len(PDF), _pdf)
    return wire.Body(TRANSFER_ID, manifest, [part])


def _pdf() -> Iterator[bytes]:
    return iter([PDF])


def _blocks() -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)\n```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_documented_example_is_what_the_implementation_produces() -> None:
    body = _example()
    data = b"".join(body.chunks())
    assert len(data) == body.length == 438
    documented_body, documented_headers, documented_base = (
        next(b for b in _blocks() if b.startswith(start))
        for start in ("--docex-transfer-", "Content-Type:", '"@method"')
    )
    assert data == (documented_body + "\n").replace("\n", "\r\n").encode().replace(
        b"...\r\n\r\n", b"...\n\r\n", 1
    )
    digest = wire.content_digest(iter([data]))
    headers = wire.headers_for(TRANSFER_ID, "document", body, digest)
    assert "\n".join(f"{k}: {v}" for k, v in headers.items()) == documented_headers
    prepared = HTTPMessageSigner(signature_algorithm=ECDSA_P256_SHA256).prepare(
        wire.Message("POST", URL, dict(headers)),
        key_id="hanoi",
        created=CREATED,
        label=wire.LABEL,
        tag=wire.TAG,
        covered_component_ids=wire.COVERED,
        use_existing_digest=True,
    )
    assert prepared.signature_base.decode() == documented_base


def test_a_signature_verifies_by_the_rfc_alone_and_by_the_receiver() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    body = _example()
    data = b"".join(body.chunks())
    digest = wire.content_digest(iter([data]))
    headers = wire.sign(
        ecdsa_key(private),
        "hanoi",
        URL,
        wire.headers_for(TRANSFER_ID, "document", body, digest),
        created=CREATED,
    )
    params = headers["Signature-Input"].removeprefix("docex=")
    base = "\n".join(
        [
            '"@method": POST',
            f'"@target-uri": {URL}',
            f'"content-type": {headers["Content-Type"]}',
            f'"content-digest": {digest}',
            f'"docex-transfer-id": {TRANSFER_ID}',
            '"docex-transfer-kind": document',
            f'"@signature-params": {params}',
        ]
    )
    raw = base64.b64decode(headers["Signature"].removeprefix("docex=:").removesuffix(":"))
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    private.public_key().verify(der, base.encode(), ec.ECDSA(hashes.SHA256()))

    items = list(headers.items())
    signed = wire.verify("POST", URL, items, node_id="hanoi", key=private.public_key())
    assert signed["content-digest"] == digest
    assert signed["docex-transfer-id"] == TRANSFER_ID
    with pytest.raises(wire.SignatureInvalid):  # another URL: another node
        wire.verify("POST", URL + "x", items, node_id="hanoi", key=private.public_key())
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(wire.SignatureInvalid):
        wire.verify("POST", URL, items, node_id="hanoi", key=other)
    tampered = [(k, "status" if k == "Docex-Transfer-Kind" else v) for k, v in items]
    with pytest.raises(wire.SignatureInvalid):
        wire.verify("POST", URL, tampered, node_id="hanoi", key=private.public_key())


def test_a_receipt_binds_the_transfer_its_digest_and_its_parts() -> None:
    from cryptography.hazmat.primitives import serialization

    private = ec.generate_private_key(ec.SECP256R1())
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    claims = wire.receipt_claims(
        transfer_id=TRANSFER_ID,
        kind="document",
        from_node="hanoi",
        to_node="hue",
        digest="sha-256=:AAAA:",
        parts={"manifest": "ab", "file:1": "cd"},
        received_at="2026-11-26T01:00:01Z",
        document_id=None,
        accepted={},
    )
    token = NodeSigner(private, "hue").sign(claims, typ=wire.RECEIPT_TYPE)
    binding: dict[str, Any] = {
        "transfer_id": TRANSFER_ID,
        "kind": "document",
        "from_node": "hanoi",
        "to_node": "hue",
        "digest": "sha-256=:AAAA:",
    }
    parts = {"manifest": "ab", "file:1": "cd"}
    assert wire.verify_receipt(token, peer_key_pem=pem, parts=parts, **binding) == claims
    for name, value in [("digest", "sha-256=:BBBB:"), ("to_node", "hub"), ("kind", "status")]:
        with pytest.raises(wire.ReceiptInvalid):
            wire.verify_receipt(token, peer_key_pem=pem, **{**binding, name: value})
    with pytest.raises(wire.ReceiptInvalid):
        wire.verify_receipt(token, peer_key_pem=pem, parts={**parts, "file:1": "ce"}, **binding)
    statement = NodeSigner(private, "hue").sign(claims)  # a node receipt, not a transfer's
    with pytest.raises(wire.ReceiptInvalid):
        wire.verify_receipt(statement, peer_key_pem=pem, **binding)


def test_a_node_key_on_a_pkcs11_token_signs_transfers(hsm_token: Token) -> None:
    store = Pkcs11KeyStore(hsm_token.module, hsm_token.label, hsm_token.pin)
    try:
        key = store.node_key()  # never leaves the token: it signs through its sign method
        body = _example()
        digest = wire.content_digest(body.chunks())
        headers = wire.sign(
            key,
            "hanoi",
            URL,
            wire.headers_for(TRANSFER_ID, "document", body, digest),
            created=CREATED,
        )
        signed = wire.verify(
            "POST", URL, list(headers.items()), node_id="hanoi", key=key.public_key()
        )
        assert signed["content-digest"] == digest
    finally:
        store.close()
