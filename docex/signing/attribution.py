"""Which agency a certificate speaks for: the one answer used by intake (``validation``, to hold
a seal or a signer to the sending agency) and by ``docex pki install`` (to refuse a certificate
that names another agency than the key it is installed for).

What is guaranteed. :func:`agency_code_in_subject` reads the subject attributes, in this order,
``organizationIdentifier`` (2.5.4.97, ETSI EN 319 412-1 §5.1.4) then ``serialNumber`` (2.5.4.5),
and returns the first value that is an agency code: the bare code (``000.00.00.G22``, ASCII, the
same grammar as ``docex.vocabulary.codes``) or the code after a registration-scheme prefix of 2 to
6 capital ASCII letters and ``:`` or ``-`` (``VN:000.00.00.G22``, ``NTRVN-000.00.00.G22``).
Look-alike Unicode is never a code. The answer is the same whether the certificate was parsed by
asn1crypto (validation, through pyHanko) or by ``cryptography`` (the PKI and the key store):
both adapters hand the same attribute values to the same function.

Against what. A seal or an installed certificate attributed to an agency because of a lenient
parse in one place and refused by a strict one in another (``pki install`` used to accept only
``VN:<code>`` in ``organizationIdentifier``, while intake accepted every form above).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Final

from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from cryptography import x509

from docex.vocabulary.codes import CODE_PATTERN

AGENCY_CODE: Final = re.compile(rf"(?:[A-Z]{{2,6}}[:\-])?(?P<code>{CODE_PATTERN})", re.ASCII)
OID_ORGANIZATION_IDENTIFIER: Final = "2.5.4.97"
OID_SERIAL_NUMBER: Final = "2.5.4.5"
_CODE_ATTRIBUTES: Final = (OID_ORGANIZATION_IDENTIFIER, OID_SERIAL_NUMBER)

SubjectAttributes = Mapping[str, Sequence[str]]
"""Dotted OID → the string values of that attribute in the subject, in order."""


def agency_code_of(value: str) -> str | None:
    """The agency code in a subject attribute value (``VN:000.00.00.G22`` → ``000.00.00.G22``)."""
    if not value.isascii():
        return None  # look-alike Unicode is never a code
    match = AGENCY_CODE.fullmatch(value.strip())
    return match.group("code") if match else None


def agency_code_in_subject(attributes: SubjectAttributes) -> str | None:
    """The agency a subject names (see the module docstring), or None."""
    return next(
        (
            found
            for oid in _CODE_ATTRIBUTES
            for value in attributes.get(oid, ())
            if (found := agency_code_of(value))
        ),
        None,
    )


def subject_attributes(cert: asn1_x509.Certificate) -> dict[str, list[str]]:
    """The string attributes of an asn1crypto certificate's subject."""
    found: dict[str, list[str]] = {}
    for rdn in cert.subject.chosen:
        for attribute in rdn:
            value = attribute["value"].native
            if isinstance(value, str):
                found.setdefault(attribute["type"].dotted, []).append(value)
    return found


def certificate_subject_attributes(cert: x509.Certificate) -> dict[str, list[str]]:
    """The string attributes of a ``cryptography`` certificate's subject."""
    found: dict[str, list[str]] = {}
    for attribute in cert.subject:
        if isinstance(attribute.value, str):
            found.setdefault(attribute.oid.dotted_string, []).append(attribute.value)
    return found


def certificate_agency_code(cert: x509.Certificate) -> str | None:
    """The agency a ``cryptography`` certificate speaks for, or None."""
    return agency_code_in_subject(certificate_subject_attributes(cert))
