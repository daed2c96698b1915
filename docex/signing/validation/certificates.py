"""What a certificate stands for under Decree 30: a person's signature or an agency's seal, and
which agency (``docex.signing.attribution`` reads the agency code)."""

from __future__ import annotations

import re
from typing import Final

from asn1crypto import x509  # type: ignore[import-untyped]
from cryptography import x509 as pyca_x509

from docex.signing.attribution import (
    OID_SERIAL_NUMBER,
    agency_code_in_subject,
    agency_code_of,
    subject_attributes,
)
from docex.signing.validation.report import Role

__all__ = ["agency_code_of", "classify"]

_OID_USER_ID: Final = "0.9.2342.19200300.100.1.1"
_OID_PERSON_NAMES: Final = frozenset({"2.5.4.42", "2.5.4.4", "2.5.4.65"})  # given, sur, pseudonym
# A natural person's identifier in serialNumber or UID: Vietnamese identity card or passport
# numbers (CMND:, CCCD:, HC:) or ETSI EN 319 412-1 semantics (PNOVN-, IDCVN-, PASVN-).
_PERSONAL_ID = re.compile(r"(?:CMND|CCCD|HC|(?:PNO|IDC|PAS)[A-Z]{2})[:\-]\S+", re.ASCII)


def classify(cert: x509.Certificate) -> tuple[Role, str | None]:
    """Role of a certificate under Decree 30, and the agency code its subject carries.

    A *person* has givenName, surname or pseudonym in the subject (ETSI EN 319 412-2), or,
    failing those, a personal identifier (``CCCD:…``, ``CMND:…``, ``PNOVN-…``) in serialNumber
    or UID. A person with nonRepudiation (contentCommitment) is a *signer*; the code returned
    for a person is the agency the certificate says they work for
    (``docex.signing.attribution``), None when it names none. Anything else naming an agency,
    with
    digitalSignature or nonRepudiation, is an agency *seal*. The rest is ``unknown``.

    A personal identifier makes a person even beside an agency code: a leader's certificate
    naming their agency must never pass for the agency's seal.
    """
    attributes = subject_attributes(cert)
    code = agency_code_in_subject(attributes)
    key_usage = cert.key_usage_value
    usages: set[str] = set(key_usage.native) if key_usage is not None else set()
    personal_id = any(
        _PERSONAL_ID.fullmatch(value)
        for oid in (OID_SERIAL_NUMBER, _OID_USER_ID)
        for value in attributes.get(oid, ())
    )
    if _OID_PERSON_NAMES & attributes.keys() or personal_id:
        return (Role.SIGNER if "non_repudiation" in usages else Role.UNKNOWN), code
    if code is not None and usages & {"digital_signature", "non_repudiation"}:
        return Role.SEAL, code
    return Role.UNKNOWN, code


_RFC4514_NAMES: Final = {
    pyca_x509.NameOID.GIVEN_NAME: "GN",
    pyca_x509.NameOID.SURNAME: "SN",
    pyca_x509.NameOID.SERIAL_NUMBER: "serialNumber",
    pyca_x509.NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
    pyca_x509.NameOID.PSEUDONYM: "pseudonym",
}


def _rfc4514(cert: x509.Certificate) -> str | None:
    try:
        subject = pyca_x509.load_der_x509_certificate(cert.dump()).subject
        return subject.rfc4514_string(_RFC4514_NAMES)
    except ValueError:
        return cert.subject.human_friendly  # type: ignore[no-any-return]


def _describe(cert: x509.Certificate | None) -> str:
    if cert is None:
        return "unknown signer"
    attributes = subject_attributes(cert)
    names = attributes.get("2.5.4.3") or attributes.get("2.5.4.10") or ["unnamed signer"]
    return names[0]
