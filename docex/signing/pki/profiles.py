"""The certificate profiles of the PKI (RFC 5280; ETSI EN 319 412-2 and -3): subjects of seals and
people, key usages, CRL distribution points and OCSP locations, and the constants they use."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from docex.signing.attribution import certificate_agency_code
from docex.signing.errors import PkiError

INDEX_FILE = "pki.json"
INDEX_VERSION = 1
ROOT_NAME = "docex Demo Root CA"
ISSUING_NAME = "docex Demo Issuing CA"
TSA_NAME = "docex Demo Time-Stamping Authority"
OCSP_NAME = "docex Demo OCSP Responder"
ORG_NAME = "docex demo PKI"
COUNTRY = "VN"
ORGANIZATION_IDENTIFIER_PREFIX = "VN:"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"

CRL_NAMES = ("root", "issuing")
UB_COMMON_NAME = 64
CLOCK_SKEW = timedelta(minutes=5)
ROOT_VALIDITY = timedelta(days=20 * 365)
ISSUING_VALIDITY = timedelta(days=10 * 365)
SERVICE_VALIDITY = timedelta(days=5 * 365)  # TSA and OCSP responder
SUBJECT_VALIDITY = timedelta(days=3 * 365)  # seals and people
CRL_VALIDITY = timedelta(days=7)
CRL_REFRESH = timedelta(days=1)  # re-issue a CRL older than this when it is asked for

Role = Literal["root", "issuing", "tsa", "ocsp", "seal", "person"]
CaName = Literal["root", "issuing"]
PrivateKey = ec.EllipticCurvePrivateKey

_REASONS = {flag.name: flag for flag in x509.ReasonFlags}


class UnencryptedKeysWarning(UserWarning):
    """Private keys are being written without a passphrase (acceptable for tests only)."""


def organization_identifier(agency_code: str) -> str:
    """The organizationIdentifier value that binds a certificate to ``agency_code``."""
    return f"{ORGANIZATION_IDENTIFIER_PREFIX}{agency_code}"


def agency_code_of(certificate: x509.Certificate) -> str | None:
    """The agency ``certificate`` speaks for: the same answer as intake's
    (``docex.signing.attribution``), so ``docex pki install`` accepts what intake accepts."""
    return certificate_agency_code(certificate)


def seal_subject(agency_code: str, agency_name: str) -> x509.Name:
    """The subject of an agency's seal certificate (see the table above)."""
    return _name(
        (NameOID.COUNTRY_NAME, COUNTRY),
        (NameOID.ORGANIZATION_NAME, agency_name),
        (NameOID.ORGANIZATION_IDENTIFIER, organization_identifier(agency_code)),
        (NameOID.COMMON_NAME, _common_name(agency_name)),
    )


def person_subject(full_name: str, agency_code: str, agency_name: str) -> x509.Name:
    """The subject of a personal signer's certificate (see the table above)."""
    surname, given = _split_person_name(full_name)
    return _name(
        (NameOID.COUNTRY_NAME, COUNTRY),
        (NameOID.ORGANIZATION_NAME, agency_name),
        (NameOID.ORGANIZATION_IDENTIFIER, organization_identifier(agency_code)),
        (NameOID.SURNAME, surname),
        (NameOID.GIVEN_NAME, given),
        (NameOID.COMMON_NAME, _common_name(full_name)),
    )


def seal_key_id(agency_code: str) -> str:
    return f"seal:{agency_code}"


def person_key_id(username: str) -> str:
    return f"person:{username}"


# -- certificate profiles ----------------------------------------------------------------------


def _name(*attributes: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])


def _common_name(text: str) -> str:
    """``text`` cut at a word to the X.520 upper bound of a commonName (64, which
    ``cryptography`` counts in UTF-8 bytes). organizationName and the names keep the full text."""
    if len(text.encode()) <= UB_COMMON_NAME:
        return text
    words, out = text.split(), ""
    for word in words:
        candidate = f"{out} {word}" if out else word
        if len(candidate.encode()) > UB_COMMON_NAME - len("…".encode()):
            break
        out = candidate
    if not out:  # one enormous word
        out = text.encode()[: UB_COMMON_NAME - 3].decode(errors="ignore")
    return f"{out}…"


def _split_person_name(full_name: str) -> tuple[str, str]:
    """(surname, given names): a Vietnamese name puts the family name (họ) first."""
    parts = full_name.split()
    if len(parts) < 2:
        return full_name.strip() or full_name, full_name.strip() or full_name
    return parts[0], " ".join(parts[1:])


def _key_usage(*, ca: bool = False, non_repudiation: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _certificate(
    *,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer_cert: x509.Certificate | None,
    issuer_key: PrivateKey,
    serial: int,
    now: datetime,
    validity: timedelta,
    extensions: Sequence[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    issuer_name = issuer_cert.subject if issuer_cert is not None else subject
    not_after = now + validity
    if issuer_cert is not None:
        # RFC 5280 §6.1.3: a certificate outliving its issuer fails validation afterwards.
        not_after = min(not_after, issuer_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return value.astimezone(UTC)


def _attr(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    values = cert.subject.get_attributes_for_oid(oid)
    if not values:
        raise PkiError(f"certificate has no {oid.dotted_string} in its subject")
    value = values[0].value
    return value if isinstance(value, str) else value.decode()


def _full_name(cert: x509.Certificate) -> str:
    """The person's whole name (the commonName may have been shortened)."""
    surname, given = _attr(cert, NameOID.SURNAME), _attr(cert, NameOID.GIVEN_NAME)
    return surname if surname == given else f"{surname} {given}"


def _cdp(base_url: str, issuer: CaName) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(f"{base_url}/pki/crl/{issuer}.crl")],
                relative_name=None,
                reasons=None,
                crl_issuer=None,
            )
        ]
    )


def _ee_revocation_exts(base_url: str) -> list[tuple[x509.ExtensionType, bool]]:
    aia = x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(
                x509.oid.AuthorityInformationAccessOID.OCSP,
                x509.UniformResourceIdentifier(f"{base_url}/pki/ocsp"),
            )
        ]
    )
    return [(_cdp(base_url, "issuing"), False), (aia, False)]


def _signer_exts(base_url: str) -> list[tuple[x509.ExtensionType, bool]]:
    return [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (_key_usage(non_repudiation=True), True),
        *_ee_revocation_exts(base_url),
    ]
