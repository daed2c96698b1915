"""Receipts are JWS that a third party verifies with an independent JOSE library (jwcrypto),
using only the key the node publishes — not docex's own code."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from jwcrypto import jwk, jws

from tests.helpers import G22, H41, as_sent, auth, counts, deliver, envelope, node_of, pdf, send


def _verify_independently(token: str, jwks: dict) -> dict:
    keys = jwk.JWKSet.from_json(json.dumps(jwks))
    obj = jws.JWS()
    obj.deserialize(token)
    kid = obj.jose_header["kid"]
    key = keys.get_key(kid)
    assert key is not None, "receipt names a key the node does not publish"
    obj.verify(key, alg="ES256")
    claims: dict = json.loads(obj.payload)
    return claims


def test_every_receipt_verifies_with_an_independent_jose_library(
    client: TestClient, credentials: dict
) -> None:
    main = pdf("Quyết định")
    document = send(client, auth(credentials, G22), envelope(message_id="qd-1"), main).json()
    deliver(client)
    accepted = client.post(
        f"/api/v1/documents/{document['id']}/statuses",
        json={"code": "03", "incoming_number": "125"},
        headers=auth(credentials, H41),
    )
    assert accepted.status_code == 201, accepted.text
    jwks = client.get("/.well-known/jwks.json").json()
    receipts = client.get(
        f"/api/v1/documents/{document['id']}/receipts", headers=auth(credentials, G22)
    ).json()["items"]
    assert [r["code"] for r in receipts] == ["01", "03"]
    for receipt in receipts:
        claims = _verify_independently(receipt["signed"], jwks)
        assert claims["status"] == receipt["code"]
        assert claims["message_id"] == "qd-1"
        assert claims["document_id"] == document["id"]
        assert claims["main_sha256"] == hashlib.sha256(as_sent(main)).hexdigest()
        assert claims["from"] == H41
        assert claims["to"] == G22
        assert claims["iss"] == "test-node"
        assert claims["at"].endswith("Z")
    assert _verify_independently(receipts[1]["signed"], jwks)["incoming_number"] == "125"


def test_a_tampered_receipt_does_not_verify(client: TestClient, credentials: dict) -> None:
    document = send(client, auth(credentials, G22), envelope(), pdf()).json()
    deliver(client)
    [receipt] = client.get(
        f"/api/v1/documents/{document['id']}/receipts", headers=auth(credentials, G22)
    ).json()["items"]
    header, payload, signature = receipt["signed"].split(".")
    forged_claims = json.loads(jws.base64url_decode(payload))
    forged_claims["status"] = "03"
    forged = ".".join([header, jws.base64url_encode(json.dumps(forged_claims).encode()), signature])
    with pytest.raises(jws.InvalidJWSSignature):
        _verify_independently(forged, client.get("/.well-known/jwks.json").json())


def test_incoming_numbers_run_from_one_per_agency(client: TestClient, credentials: dict) -> None:
    numbers = []
    for _ in range(3):
        document = send(client, auth(credentials, G22), envelope(), pdf()).json()
        deliver(client)
        response = client.post(
            f"/api/v1/documents/{document['id']}/statuses",
            json={"code": "03"},
            headers=auth(credentials, H41),
        )
        numbers.append(response.json()["incoming_number"])
    assert numbers == ["1", "2", "3"]


def test_a_receipt_carries_the_node_certificate_chain_to_the_root(
    client: TestClient, credentials: dict
) -> None:
    """A third party needs only the root certificate: the chain in ``x5c`` leads to it."""
    import base64
    from datetime import UTC, datetime

    from cryptography import x509

    document = send(client, auth(credentials, G22), envelope(), pdf()).json()
    deliver(client)
    [receipt] = client.get(
        f"/api/v1/documents/{document['id']}/receipts", headers=auth(credentials, G22)
    ).json()["items"]
    token = jws.JWS()
    token.deserialize(receipt["signed"])
    chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in token.jose_header["x5c"]]
    leaf, issuing, root = chain
    pki = node_of(client).signatures.pki
    assert pki is not None
    assert root == pki.root_certificate  # the relying party's own copy of the anchor
    leaf.verify_directly_issued_by(issuing)  # signature, issuer name, key identifiers
    issuing.verify_directly_issued_by(root)
    now = datetime.now(UTC)
    assert all(c.not_valid_before_utc <= now <= c.not_valid_after_utc for c in chain)
    key = jwk.JWK.from_pem(
        leaf.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    token.verify(key, alg="ES256")
    assert json.loads(token.payload)["status"] == "01"


def test_a_node_key_that_cannot_sign_gives_503_and_records_no_status(
    client: TestClient, credentials: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A receipt key on a token that fails (unplugged HSM, closed session) is an outage of the
    node, not a bad request: 503 with Retry-After, and the status is not recorded unsigned."""
    from docex.signing.keys import KeyStoreError

    document = send(client, auth(credentials, G22), envelope(), pdf()).json()
    deliver(client)
    before = counts(client)

    def unplugged(_data: bytes, _algorithm: str = "sha256") -> bytes:
        raise KeyStoreError("the PKCS#11 token failed to sign: DeviceRemoved")

    monkeypatch.setattr(node_of(client).signer._key, "sign", unplugged)
    refused = client.post(
        f"/api/v1/documents/{document['id']}/statuses",
        json={"code": "03", "incoming_number": "7"},
        headers=auth(credentials, H41),
    )
    assert refused.status_code == 503
    assert refused.json()["error"] == "key_unavailable"
    assert refused.headers["Retry-After"]
    assert "DeviceRemoved" not in refused.text
    assert counts(client) == before
    receipts = client.get(
        f"/api/v1/documents/{document['id']}/receipts", headers=auth(credentials, G22)
    ).json()["items"]
    assert [r["code"] for r in receipts] == ["01"]
