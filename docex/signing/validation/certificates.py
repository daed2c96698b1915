"""What a certificate stands for under Decree 30: a person's signature or an agency's seal, and
which agency (``docex.signing.attribution`` reads the agency code)."""

from __future__ import annotations

import re
from typing import Final

from asn1crypto import x509  # type: ignore[import-untyped]
from cryptography import x509 as pyca_x509

from docex.signing.validation.report import Role

# Same grammar as docex.agencies.codes (signing imports no other domain package).
_AGENCY_CODE = re.compile(
    r"(?:[A-Z]{2,6}[:\-])?(?P<code>(?:[0-9]{2,3}\.){1,3}[A-Z]{1,2}[0-9]{2})", re.ASCII
)
_OID_ORGANIZATION_IDENTIFIER: Final = "2.5.4.97"
_OID_SERIAL_NUMBER: Final = "2.5.4.5"
_OID_USER_ID: Final = "0.9.2342.19200300.100.1.1"
_OID_PERSON_NAMES: Final = frozenset({"2.5.4.42", "2.5.4.4", "2.5.4.65"})  # given, sur, pseudonym
# A natural person's identifier in serialNumber or UID: Vietnamese identity card or passport
# numbers (CMND:, CCCD:, HC:) or ETSI EN 319 412-1 semantics (PNOVN-, IDCVN-, PASVN-).
_PERSONAL_ID = re.compile(r"(?:CMND|CCCD|HC|(?:PNO|IDC|PAS)[A-Z]{2})[:\-]\S+", re.ASCII)


def _subject_attributes(cert: x509.Certificate) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for rdn in cert.subject.chosen:
        for attribute in rdn:
            value = attribute["value"].native
            if isinstance(value, str):
                found.setdefault(attribute["type"].dotted, []).append(value)
    return found


def agency_code_of(value: str) -> str | None:
    """The agency code in a subject attribute value (``VN:000.00.00.G22`` → ``000.00.00.G22``)."""
    if not value.isascii():
        return None  # look-alike Unicode is never a code
    match = _AGENCY_CODE.fullmatch(value.strip())
    return match.group("code") if match else None


def classify(cert: x509.Certificate) -> tuple[Role, str | None]:
    """Role of a certificate under Decree 30, and the agency code its subject carries.

    A *person* has givenName, surname or pseudonym in the subject (ETSI EN 319 412-2), or,
    failing those, a personal identifier (``CCCD:…``, ``CMND:…``, ``PNOVN-…``) in serialNumber
    or UID. A person with nonRepudiation (contentCommitment) is a *signer*; the code returned
    for a person is the agency the certificate says they work for (``organizationIdentifier``
    ``VN:<code>``, as ``docex.signing.pki`` issues them), None when it names none. Anything
    else carrying an agency code in organizationIdentifier or serialNumber, with
    digitalSignature or nonRepudiation, is an agency *seal*. The rest is ``unknown``.

    A personal identifier makes a person even beside an agency code: a leader's certificate
    naming their agency must never pass for the agency's seal.
    """
    attributes = _subject_attributes(cert)
    code = next(
        (
            found
            for oid in (_OID_ORGANIZATION_IDENTIFIER, _OID_SERIAL_NUMBER)
            for value in attributes.get(oid, ())
            if (found := agency_code_of(value))
        ),
        None,
    )
    key_usage = cert.key_usage_value
    usages: set[str] = set(key_usage.native) if key_usage is not None else set()
    personal_id = any(
        _PERSONAL_ID.fullmatch(value)
        for oid in (_OID_SERIAL_NUMBER, _OID_USER_ID)
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
    attributes = _subject_attributes(cert)
    names = attributes.get("2.5.4.3") or attributes.get("2.5.4.10") or ["unnamed signer"]
    return names[0]
