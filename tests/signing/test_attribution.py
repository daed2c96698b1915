"""Which agency a certificate speaks for has one answer (docex.signing.attribution): intake's
classification and ``docex pki install``'s check agree, on the certificates where they used to
differ (install accepted only ``VN:<code>`` in organizationIdentifier)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from docex.signing.attribution import agency_code_of, certificate_agency_code
from docex.signing.pki import agency_code_of as pki_agency_code_of
from docex.signing.validation import Role, classify

CODE = "000.00.00.G22"
ORG_ID = NameOID.ORGANIZATION_IDENTIFIER


def _seal(*attributes: tuple[x509.ObjectIdentifier, str]) -> x509.Certificate:
    """A self-signed agency certificate (digitalSignature, nonRepudiation) with ``attributes``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Văn phòng Chính phủ"),
            *(x509.NameAttribute(oid, value) for oid, value in attributes),
        ]
    )
    now = datetime.now(UTC)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )


def _intake(cert: x509.Certificate) -> tuple[Role, str | None]:
    return classify(asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)))


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ([(ORG_ID, f"VN:{CODE}")], CODE),  # as docex's PKI issues them: both accepted before
        ([(ORG_ID, CODE)], CODE),  # bare code: install refused it
        ([(ORG_ID, f"NTRVN-{CODE}")], CODE),  # ETSI scheme prefix: install refused it
        ([(NameOID.SERIAL_NUMBER, CODE)], CODE),  # code in serialNumber: install refused it
        ([(ORG_ID, "VN:"), (NameOID.SERIAL_NUMBER, CODE)], CODE),
        ([(ORG_ID, "VN:000.00.00.Ｇ22")], None),  # a fullwidth look-alike is never a code
        ([(ORG_ID, "VN:not a code")], None),
        ([], None),
    ],
    ids=[
        "vn-prefix",
        "bare",
        "ntrvn",
        "serial-number",
        "empty-org-id",
        "look-alike",
        "junk",
        "none",
    ],
)
def test_intake_and_pki_install_read_the_same_agency(
    attributes: list[tuple[x509.ObjectIdentifier, str]], expected: str | None
) -> None:
    cert = _seal(*attributes)
    role, intake_code = _intake(cert)
    assert intake_code == expected
    assert pki_agency_code_of(cert) == expected  # what `docex pki install` compares
    assert certificate_agency_code(cert) == expected
    assert role is (Role.SEAL if expected else Role.UNKNOWN)


def test_the_code_grammar() -> None:
    assert agency_code_of(f" VN:{CODE} ") == CODE
    assert agency_code_of("vn:000.00.00.G22") is None  # the scheme prefix is capitals
    assert agency_code_of(f"TOOLONGX:{CODE}") is None
