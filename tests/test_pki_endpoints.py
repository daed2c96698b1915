"""The public PKI services a demo node serves at the URLs its certificates name."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from fastapi.testclient import TestClient

from tests.helpers import node_of


def test_ocsp_answers_good_for_a_seal_certificate(client: TestClient) -> None:
    pki = node_of(client).signatures.pki
    assert pki is not None
    seal = pki.certificate(pki.current("seal:000.00.00.G22"))  # type: ignore[arg-type]
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(seal, pki.issuing_certificate, hashes.SHA256())
        .build()
    )
    response = client.post(
        "/pki/ocsp",
        content=request.public_bytes(Encoding.DER),
        headers={"Content-Type": "application/ocsp-request"},
    )
    assert response.status_code == 200
    answer = ocsp.load_der_ocsp_response(response.content)
    assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert answer.certificate_status is ocsp.OCSPCertStatus.GOOD


def test_garbage_to_the_ocsp_responder_gets_an_ocsp_error_not_a_crash(client: TestClient) -> None:
    response = client.post("/pki/ocsp", content=b"not der")
    assert response.status_code == 200
    answer = ocsp.load_der_ocsp_response(response.content)
    assert answer.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_crls_are_served_and_unknown_ones_are_404(client: TestClient) -> None:
    crl = client.get("/pki/crl/issuing.crl")
    assert crl.status_code == 200
    assert x509.load_der_x509_crl(crl.content).issuer == (
        node_of(client).signatures.pki.issuing_certificate.subject  # type: ignore[union-attr]
    )
    missing = client.get("/pki/crl/other.crl")
    assert (missing.status_code, missing.json()["error"]) == (404, "no_crl")
