"""The certificates a node works with, and how close each is to its end: what the operator's
console lists under "keys and certificates".

Read only: the node's PKI index (``pki.json``, through ``docex.signing.pki.Pki``: the CAs, the
time-stamping and OCSP units, every agency seal and personal signer in use, superseded ones
left out) and the certificate of the node's receipt-signing key (``certs/node.pem``). No
private key is opened.

``expiry`` is the one rule for the warning: a certificate is ``expiring`` when it ends within
``EXPIRY_WARNING`` (30 days), ``expired`` once its ``notAfter`` has passed, ``not_yet_valid``
before its ``notBefore``; ``valid`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Final

from cryptography import x509

from docex.kit.clock import as_utc
from docex.signing.pki import Pki, agency_code_of

EXPIRY_WARNING: Final = timedelta(days=30)
NODE_KEY_ID: Final = "node"


class Expiry(StrEnum):
    VALID = "valid"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"


def expiry(not_before: datetime, not_after: datetime, now: datetime) -> Expiry:
    """Where ``now`` stands in a certificate's validity period."""
    now, not_before, not_after = as_utc(now), as_utc(not_before), as_utc(not_after)
    if now >= not_after:
        return Expiry.EXPIRED
    if now < not_before:
        return Expiry.NOT_YET_VALID
    if not_after - now <= EXPIRY_WARNING:
        return Expiry.EXPIRING
    return Expiry.VALID


@dataclass(frozen=True)
class CertificateLine:
    key_id: str
    """``node`` (the receipt-signing key), ``ca:root``, ``ca:issuing``, ``tsa``, ``ocsp``,
    ``seal:<code>`` or ``person:<username>``."""
    role: str
    """``node``, ``root``, ``issuing``, ``tsa``, ``ocsp``, ``seal`` or ``person``."""
    subject: str
    agency_id: str | None
    """The agency a seal or a personal certificate names; None for the node's own."""
    serial: str
    not_before: datetime
    not_after: datetime
    expiry: Expiry
    days_left: int
    """Whole days until ``not_after`` (negative once past)."""


def _line(
    key_id: str,
    role: str,
    subject: str,
    agency_id: str | None,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    now: datetime,
) -> CertificateLine:
    return CertificateLine(
        key_id=key_id,
        role=role,
        subject=subject,
        agency_id=agency_id,
        serial=format(serial, "x"),
        not_before=as_utc(not_before),
        not_after=as_utc(not_after),
        expiry=expiry(not_before, not_after, now),
        days_left=(as_utc(not_after) - as_utc(now)) // timedelta(days=1),
    )


def certificates(pki: Pki | None, node_certificate: Path, now: datetime) -> list[CertificateLine]:
    """The node's receipt certificate (if it has one), then the PKI's certificates in use, in
    the index's order."""
    lines: list[CertificateLine] = []
    if node_certificate.exists():
        found = x509.load_pem_x509_certificates(node_certificate.read_bytes())
        if found:
            cert = found[0]
            lines.append(
                _line(
                    NODE_KEY_ID,
                    "node",
                    cert.subject.rfc4514_string(),
                    None,
                    cert.serial_number,
                    cert.not_valid_before_utc,
                    cert.not_valid_after_utc,
                    now,
                )
            )
    if pki is None:
        return lines
    for rec in pki.records():
        if rec.superseded_at is not None:
            continue
        agency_id = None
        if rec.role in ("seal", "person"):
            agency_id = agency_code_of(pki.certificate(rec))
        lines.append(
            _line(
                rec.key_id,
                rec.role,
                rec.subject,
                agency_id,
                rec.serial,
                rec.not_before,
                rec.not_after,
                now,
            )
        )
    return lines
