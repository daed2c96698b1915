"""PAdES signature validation on intake: is this PDF what it claims to be, and from whom?

What is guaranteed. ``validate_pdf`` returns a frozen ``ValidationReport`` and never raises for
bad input. The report ``passed`` only if all of the following hold:

- the file is a PDF that pyHanko parses strictly (ISO 32000-2 §7.5), is not encrypted, has a
  page tree that is a tree (every node reached once, no cycle: §7.7.3.2) with at least one page
  (``ValidationReport.pages``), and carries at least one filled signature field;
- **every** signature (ISO 32000-2 §12.8, ETSI EN 319 142-1 PAdES; CMS per RFC 5652) is
  *intact* (the ``/ByteRange`` digest matches the signed ``messageDigest``) and *valid* (the
  signature over the signed attributes verifies with the signer's public key);
- every ``/ByteRange`` is ``[0 a b c]``, its gap is exactly the ``/Contents`` string, and it covers
  the whole file (last signature) or the whole revision it signs (earlier ones);
- every signer certificate chains to a configured trust root (RFC 5280 path validation, key usage
  ``digitalSignature`` or ``nonRepudiation``), and neither it nor any CA certificate on the path
  is expired, not yet valid or revoked at the *signature time* — the time of the signature's
  RFC 3161 timestamp token when it carries a trusted one, the validation time otherwise;
- revocation information (CRL, RFC 5280 §5, or OCSP, RFC 6960) is *required* for every
  non-root certificate on the path in the default ``hard-fail`` mode. Embedded information is
  accepted — the DSS (ETSI EN 319 142-1 §5.4) and Adobe's ``adbe-revocationInfoArchival``
  signed attribute — when it is usable at the signature time (its ``nextUpdate`` not before it,
  with the clock-skew tolerance; information issued after the signature time counts, as in
  PAdES B-LT). Fetching from CRL distribution points and OCSP responders happens only when
  ``TrustConfig.fetch`` is set; unreachable revocation data is never silently accepted;
- a signature timestamp token, when present, is itself intact, valid and trusted (same trust
  roots, same rules, at its own time), not later than now + skew, and not earlier than the
  signer's claimed signing time − skew;
- no algorithm is weak: MD5 and SHA-1 digests (in signatures, certificates, CRLs, OCSP
  responses and timestamps), RSA keys under 2048 bits and EC keys under 256 bits are refused;
- nothing was changed after the last signature except what pyHanko's difference analysis rates
  ``LTA_UPDATES`` (DSS and document timestamps); between signatures only ``FORM_FILLING``
  (adding the next signature); DocMDP permissions of a certification signature hold;
- Decree 30/2020/NĐ-CP: a *signer* signature (a natural person's certificate, ETSI EN 319 412-2:
  ``givenName``/``surname``/``pseudonym`` in the subject, ``nonRepudiation`` key usage) and an
  agency *seal* (an organisation's certificate, ETSI EN 319 412-3: no personal name attributes,
  an agency code in ``organizationIdentifier`` (2.5.4.97) or ``serialNumber`` (2.5.4.5)) are
  both present; a seal carries the *sender's* code; every signer's certificate carries the
  *sender's* code too (the competent person signs for their own agency: a leader of another
  agency is ``signer_not_of_sender``, a personal certificate naming no agency code at all is
  ``signer_agency_unknown``, since nothing attributes it to the sender); and the seal was
  applied after the signer's signature (its ``/ByteRange`` ends later in the file).

Agency codes accepted in a certificate: the bare code (``000.00.00.G22``, ASCII, the same grammar
as ``docex.agencies.codes``) or the code after a registration-scheme prefix of 2 to 6 capital
ASCII letters and ``:`` or ``-`` (``VN:000.00.00.G22``, ``NTRVN-000.00.00.G22``).

Against what. A document altered after signing (a flipped byte, an incremental saving attack, a
shadow attack that swaps content in after signing), a forged or stripped signature dictionary,
signers outside the national PKI (self-signed, another root), revoked or expired certificates,
backdating by a revoked signer (the claimed signing time is never trusted, only a timestamp),
downgrade to weak algorithms, a seal lifted from another agency, a document signed by another
agency's leader (or a letter received from another agency) re-sealed and sent as the sender's
own, malformed or encrypted files.

Not covered here. Bounded time and memory: run ``validate_pdf`` through ``docex.signing.sandbox``
on untrusted input. The later compromise of a TSA key is detected only by a later document
timestamp (PAdES-LTA); a timestamp is trusted at its own time, as pyHanko does. Revocation with
``certificateHold`` that is later lifted is treated as revocation.
"""

from __future__ import annotations

import asyncio
import binascii
import functools
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Literal

from asn1crypto import cms, ocsp, pem, x509  # type: ignore[import-untyped]
from asn1crypto import crl as asn1_crl
from asn1crypto import keys as asn1_keys
from cryptography import x509 as pyca_x509
from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESSubIndic
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, ModificationLevel
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.general import (
    MultivaluedAttributeError,
    NonexistentAttributeError,
    find_unique_cms_attribute,
)
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    EmbeddedPdfSignature,
    PdfSignatureStatus,
    SignatureCoverageLevel,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.utils import CMSAlgorithmUsagePolicy
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    DisallowedAlgorithmError,
    ExpiredError,
    InsufficientRevinfoError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    RevokedError,
    ValidationError,
)
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.policy_decl import (
    LEGACY_POLICY_MAP,
    REQUIRE_REVINFO,
    AlgorithmUsageConstraint,
    CertRevTrustPolicy,
    DisallowWeakAlgorithmsPolicy,
)

logger = logging.getLogger(__name__)


HEADER_WINDOW: Final = 1024  # ISO 32000-2 §7.5.2: readers look for the header in the first KiB
_TAIL_WINDOW: Final = 64 * 1024  # a trailer, startxref and %%EOF: far less than this
_MAX_CAUSE: Final = 300  # characters of technical cause appended to a report's detail

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


class Indication(StrEnum):
    """Machine-readable outcome codes, for a signature and for the whole document.

    ``ORDER`` lists the failures from the most to the least fundamental; the overall verdict of a
    document is the first failure in that order found among its signatures and the policy.
    """

    OK = "ok"
    NOT_A_PDF = "not_a_pdf"
    INVALID_PDF = "invalid_pdf"
    ENCRYPTED_PDF = "encrypted_pdf"
    UNSIGNED = "unsigned"
    SIGNATURE_INVALID = "signature_invalid"
    BYTE_RANGE_INVALID = "byte_range_invalid"
    UNTRUSTED_SIGNER = "untrusted_signer"
    REVOKED = "revoked"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    MODIFIED_AFTER_SIGNING = "modified_after_signing"
    WEAK_ALGORITHM = "weak_algorithm"
    TIMESTAMP_INVALID = "timestamp_invalid"
    REVOCATION_UNAVAILABLE = "revocation_unavailable"
    MISSING_SIGNER = "missing_signer"
    MISSING_SEAL = "missing_seal"
    SEAL_AGENCY_MISMATCH = "seal_agency_mismatch"
    SIGNER_NOT_OF_SENDER = "signer_not_of_sender"
    SIGNER_AGENCY_UNKNOWN = "signer_agency_unknown"
    SEAL_BEFORE_SIGNER = "seal_before_signer"
    RESOURCE_LIMIT = "resource_limit"


ORDER: Final[tuple[Indication, ...]] = tuple(i for i in Indication if i is not Indication.OK)


class Role(StrEnum):
    """What a signature stands for under Decree 30."""

    SIGNER = "signer"  # the competent person's signature
    SEAL = "seal"  # the issuing agency's signature
    TIMESTAMP = "timestamp"  # a document timestamp (/DocTimeStamp), part of PAdES-LTA
    UNKNOWN = "unknown"  # neither, or unreadable


class Revocation(StrEnum):
    GOOD = "good"  # revocation information was found and says not revoked at signature time
    REVOKED = "revoked"  # revoked at or before the signature time
    UNKNOWN = "unknown"  # required information was missing, stale or unreachable
    NOT_CHECKED = "not_checked"  # validation stopped before revocation (or soft-fail mode)


_MESSAGES: Final[dict[Indication, tuple[str, str]]] = {
    Indication.OK: (
        "The signatures are valid: the competent signer's and the sending agency's seal.",
        "Chữ ký số hợp lệ: chữ ký của người có thẩm quyền và chữ ký số của cơ quan gửi.",
    ),
    Indication.NOT_A_PDF: ("The file is not a PDF.", "Tệp không phải là tệp PDF."),
    Indication.INVALID_PDF: (
        "The PDF is damaged and cannot be read.",
        "Tệp PDF bị hỏng, không đọc được.",
    ),
    Indication.ENCRYPTED_PDF: (
        "The PDF is encrypted or password-protected; send it without encryption.",
        "Tệp PDF bị mã hóa hoặc đặt mật khẩu; hãy gửi bản không mã hóa.",
    ),
    Indication.UNSIGNED: (
        "The PDF carries no digital signature.",
        "Tệp PDF không có chữ ký số.",
    ),
    Indication.SIGNATURE_INVALID: (
        "A digital signature is broken: the document was altered after signing "
        "or the signature is damaged.",
        "Chữ ký số không hợp lệ: văn bản đã bị thay đổi sau khi ký hoặc chữ ký bị hỏng.",
    ),
    Indication.BYTE_RANGE_INVALID: (
        "A digital signature does not cover the whole document.",
        "Chữ ký số không bao phủ toàn bộ văn bản.",
    ),
    Indication.UNTRUSTED_SIGNER: (
        "A signing certificate was not issued by a trusted certification authority.",
        "Chứng thư số của người ký không do tổ chức chứng thực tin cậy cấp.",
    ),
    Indication.REVOKED: (
        "A signing certificate had been revoked when the document was signed.",
        "Chứng thư số đã bị thu hồi trước thời điểm ký.",
    ),
    Indication.EXPIRED: (
        "A signing certificate had expired when the document was signed.",
        "Chứng thư số đã hết hạn tại thời điểm ký.",
    ),
    Indication.NOT_YET_VALID: (
        "A signing certificate was not yet valid when the document was signed.",
        "Chứng thư số chưa có hiệu lực tại thời điểm ký.",
    ),
    Indication.MODIFIED_AFTER_SIGNING: (
        "The document was changed after it was signed.",
        "Văn bản đã bị chỉnh sửa sau khi ký.",
    ),
    Indication.WEAK_ALGORITHM: (
        "A signature uses a weak algorithm (SHA-1, MD5 or a key that is too short).",
        "Chữ ký số dùng thuật toán yếu (SHA-1, MD5 hoặc khóa quá ngắn).",
    ),
    Indication.TIMESTAMP_INVALID: (
        "A signature's timestamp is invalid or contradicts the signing time.",
        "Dấu thời gian của chữ ký không hợp lệ hoặc mâu thuẫn với thời gian ký.",
    ),
    Indication.REVOCATION_UNAVAILABLE: (
        "The revocation status of a signing certificate could not be checked: the document "
        "carries no usable revocation data and none could be obtained.",
        "Không kiểm tra được tình trạng thu hồi của chứng thư số: văn bản không kèm thông tin "
        "thu hồi dùng được và không lấy được thông tin này.",
    ),
    Indication.MISSING_SIGNER: (
        "The competent signer's digital signature is missing.",
        "Thiếu chữ ký số của người có thẩm quyền.",
    ),
    Indication.MISSING_SEAL: (
        "The agency's digital signature (seal) is missing.",
        "Thiếu chữ ký số của cơ quan, tổ chức.",
    ),
    Indication.SEAL_AGENCY_MISMATCH: (
        "The agency seal belongs to an agency other than the sender.",
        "Chữ ký số của cơ quan không phải của cơ quan gửi văn bản.",
    ),
    Indication.SIGNER_NOT_OF_SENDER: (
        "The competent signer's certificate belongs to an agency other than the sender.",
        "Chứng thư số của người ký thuộc cơ quan khác, không phải cơ quan gửi văn bản.",
    ),
    Indication.SIGNER_AGENCY_UNKNOWN: (
        "The competent signer's certificate names no agency, so the signature cannot be "
        "attributed to the sender.",
        "Chứng thư số của người ký không ghi mã định danh của cơ quan nên không xác định được "
        "người ký thuộc cơ quan gửi văn bản.",
    ),
    Indication.SEAL_BEFORE_SIGNER: (
        "The agency seal was applied before the signer's signature; it must come after.",
        "Chữ ký số của cơ quan phải được ký sau chữ ký của người có thẩm quyền.",
    ),
    Indication.RESOURCE_LIMIT: (
        "The PDF needs too much time or memory to check, so it was refused.",
        "Tệp PDF cần quá nhiều thời gian hoặc bộ nhớ để kiểm tra nên bị từ chối.",
    ),
}


# --------------------------------------------------------------------------- configuration


def _load_certificate(data: bytes) -> x509.Certificate:
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    return x509.Certificate.load(data)


@dataclass(frozen=True)
class TrustConfig:
    """What the node trusts. Built once from settings; hashable, picklable (sent to workers).

    ``roots`` and ``intermediates`` take DER or PEM certificates (lists are accepted and kept as
    tuples). ``revocation_mode``: ``hard-fail`` (default) requires CRL or OCSP information for
    every non-root certificate of each path, embedded in the PDF or fetched; ``soft-fail``
    checks what it finds and passes otherwise (revocation reported ``unknown``; development
    only). ``fetch`` allows fetching CRLs and OCSP responses over HTTP (``fetch_timeout_s`` per
    request) when the document carries none. ``clock_skew_s`` is the tolerance on every time
    comparison. ``weak_digests``, ``min_rsa_bits`` and ``min_ec_bits`` define weak algorithms,
    for signatures, certificates, CRLs, OCSP responses and timestamps alike.
    """

    roots: tuple[bytes, ...]
    intermediates: tuple[bytes, ...] = ()
    revocation_mode: Literal["hard-fail", "soft-fail"] = "hard-fail"
    fetch: bool = False
    fetch_timeout_s: float = 5.0
    clock_skew_s: int = 300
    weak_digests: frozenset[str] = frozenset({"md2", "md5", "sha1"})
    min_rsa_bits: int = 2048
    min_ec_bits: int = 256

    def __post_init__(self) -> None:
        object.__setattr__(self, "roots", tuple(self.roots))
        object.__setattr__(self, "intermediates", tuple(self.intermediates))
        object.__setattr__(self, "weak_digests", frozenset(self.weak_digests))
        if not self.roots:
            raise ValueError("TrustConfig needs at least one trust root; none trusts nothing")
        if self.revocation_mode not in ("hard-fail", "soft-fail"):
            raise ValueError(f"unknown revocation mode {self.revocation_mode!r}")
        if self.clock_skew_s < 0:
            raise ValueError("clock_skew_s must not be negative")
        for der in (*self.roots, *self.intermediates):
            _load_certificate(der).native  # noqa: B018 - parse fully now: fail at start-up


@dataclass(frozen=True)
class SignaturePolicy:
    """What a document must carry. ``STRICT_DECREE_30`` is the legal default.

    ``seal_agency_must_match_sender``: at least one seal carries the sender's code.
    ``signer_agency_must_match_sender``: every signer's certificate carries the sender's code
    (a joint document signed by the leaders of several agencies needs this off).

    ``allowed_modifications`` caps what may follow the *last* signature (pyHanko's
    ``ModificationLevel``; ``LTA_UPDATES`` = DSS and document timestamps only).
    ``allowed_between_signatures`` caps what may follow an *earlier* signature: adding the next
    signature is ``FORM_FILLING`` in pyHanko's terms.
    """

    require_signer: bool = True
    require_seal: bool = True
    seal_agency_must_match_sender: bool = True
    signer_agency_must_match_sender: bool = True
    seal_after_signer: bool = True
    allowed_modifications: ModificationLevel = ModificationLevel.LTA_UPDATES
    allowed_between_signatures: ModificationLevel = ModificationLevel.FORM_FILLING

    def __post_init__(self) -> None:
        if self.allowed_modifications > self.allowed_between_signatures:
            raise ValueError("the last signature cannot be looser than the earlier ones")
        if self.allowed_between_signatures >= ModificationLevel.OTHER:
            raise ValueError("ModificationLevel.OTHER would accept any change after signing")


STRICT_DECREE_30: Final = SignaturePolicy()


class _AlgorithmPolicy(DisallowWeakAlgorithmsPolicy):
    """pyHanko's weak-algorithm policy plus a floor on EC key sizes."""

    def __init__(self, weak_digests: frozenset[str], min_rsa_bits: int, min_ec_bits: int):
        super().__init__(weak_hash_algos=weak_digests, rsa_key_size_threshold=min_rsa_bits)
        self.min_ec_bits = min_ec_bits

    def signature_algorithm_allowed(
        self,
        algo: Any,
        moment: datetime | None,
        public_key: asn1_keys.PublicKeyInfo | None,
    ) -> AlgorithmUsageConstraint:
        verdict: AlgorithmUsageConstraint = super().signature_algorithm_allowed(
            algo, moment, public_key
        )
        if verdict and public_key is not None and public_key.algorithm == "ec":
            size = public_key.bit_size
            if size < self.min_ec_bits:
                return AlgorithmUsageConstraint(
                    allowed=False,
                    failure_reason=f"EC key of {size} bits; policy requires {self.min_ec_bits}",
                )
        return verdict


@dataclass(frozen=True)
class _Trust:
    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...]
    algorithms: _AlgorithmPolicy
    cms_algorithms: CMSAlgorithmUsagePolicy
    revinfo_policy: CertRevTrustPolicy
    hard_fail: bool


@functools.lru_cache(maxsize=16)
def _trust(config: TrustConfig) -> _Trust:
    algorithms = _AlgorithmPolicy(config.weak_digests, config.min_rsa_bits, config.min_ec_bits)
    checking = (
        REQUIRE_REVINFO if config.revocation_mode == "hard-fail" else LEGACY_POLICY_MAP["soft-fail"]
    )
    return _Trust(
        roots=tuple(_load_certificate(c) for c in config.roots),
        intermediates=tuple(_load_certificate(c) for c in config.intermediates),
        algorithms=algorithms,
        cms_algorithms=CMSAlgorithmUsagePolicy.lift_policy(algorithms),
        # Retroactive: revocation data fetched just after signing (B-LT) speaks for the
        # signature time; a revocation dated after that time does not void the signature.
        revinfo_policy=CertRevTrustPolicy(checking, retroactive_revinfo=True),
        hard_fail=config.revocation_mode == "hard-fail",
    )


# --------------------------------------------------------------------------- reports


@dataclass(frozen=True)
class SignatureReport:
    """The validation of one signature field."""

    role: Role
    """signer, seal, timestamp (a document timestamp) or unknown."""
    field_name: str
    """Fully qualified name of the signature form field."""
    intact: bool
    """The digest of the bytes in ``/ByteRange`` matches the signed message digest."""
    valid: bool
    """The cryptographic signature verifies with the certificate's public key."""
    trusted: bool
    """The certificate chains to a trust root and passed path validation at signature time."""
    revocation: Revocation
    """Revocation status of the signer's certificate at signature time."""
    modification_level: str | None
    """pyHanko ModificationLevel after this signature (NONE, LTA_UPDATES, FORM_FILLING,
    ANNOTATIONS, OTHER), None when it could not be determined."""
    coverage: str | None
    """pyHanko SignatureCoverageLevel (ENTIRE_FILE, ENTIRE_REVISION, CONTIGUOUS_BLOCK_FROM_START,
    UNCLEAR), None when it could not be computed."""
    signer_subject: str | None
    """Subject of the signing certificate, RFC 4514."""
    agency_code: str | None
    """Agency code read from the certificate subject (seal: required), or None."""
    signing_time: datetime | None
    """Claimed signing time (signingTime signed attribute, else the /M entry), aware UTC. Never
    trusted for validation: a revoked signer can backdate it."""
    timestamp_time: datetime | None
    """genTime of the signature's RFC 3161 timestamp token, aware UTC, or None."""
    digest_algorithm: str | None
    """Message digest algorithm (e.g. sha256)."""
    signature_algorithm: str | None
    """Signature mechanism (e.g. sha256_rsa, rsassa_pkcs1v15, ecdsa)."""
    indication: Indication
    """``ok`` or the first failure of this signature in ``ORDER``."""
    detail: str
    """What went wrong with this signature, in English, for logs and support."""
    certificate_sha256: str | None = None
    """SHA-256 fingerprint (hex) of the signing certificate."""
    byte_range_end: int = 0
    """Offset of the end of the signed bytes: a later signature ends later."""
    failures: tuple[Indication, ...] = ()
    """Every failure found, in ``ORDER`` (``indication`` is the first)."""

    @property
    def ok(self) -> bool:
        return self.indication is Indication.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": str(self.role),
            "field_name": self.field_name,
            "intact": self.intact,
            "valid": self.valid,
            "trusted": self.trusted,
            "revocation": str(self.revocation),
            "modification_level": self.modification_level,
            "coverage": self.coverage,
            "signer_subject": self.signer_subject,
            "agency_code": self.agency_code,
            "signing_time": _iso(self.signing_time),
            "timestamp_time": _iso(self.timestamp_time),
            "digest_algorithm": self.digest_algorithm,
            "signature_algorithm": self.signature_algorithm,
            "indication": str(self.indication),
            "detail": self.detail,
            "certificate_sha256": self.certificate_sha256,
            "byte_range_end": self.byte_range_end,
            "failures": [str(f) for f in self.failures],
        }


@dataclass(frozen=True)
class ValidationReport:
    """The verdict on one PDF: one machine code, two sentences for people, one report per
    signature in signing order."""

    indication: Indication
    """``ok`` or the first failure in ``ORDER`` among the signatures and the policy."""
    detail: str
    """A sentence a clerk understands, in English."""
    detail_vi: str
    """The same, in Vietnamese."""
    signatures: tuple[SignatureReport, ...] = ()
    """One report per filled signature field (and document timestamp), in signing order."""
    validated_at: datetime | None = None
    """The validation time (aware UTC)."""
    pages: int | None = None
    """Pages in the document's page tree; None when the file was refused before counting."""

    @property
    def passed(self) -> bool:
        return self.indication is Indication.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "indication": str(self.indication),
            "passed": self.passed,
            "detail": self.detail,
            "detail_vi": self.detail_vi,
            "validated_at": _iso(self.validated_at),
            "pages": self.pages,
            "signatures": [s.to_dict() for s in self.signatures],
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def first_failure(failures: Iterable[Indication]) -> Indication:
    """The most fundamental failure among ``failures`` (``ok`` when there is none)."""
    found = set(failures) - {Indication.OK}
    return next((i for i in ORDER if i in found), Indication.OK)


def failure_report(
    indication: Indication, note: str | None = None, *, now: datetime | None = None
) -> ValidationReport:
    """A report for a document refused before (or without) looking at its signatures."""
    english, vietnamese = _MESSAGES[indication]
    return ValidationReport(
        indication=indication,
        detail=f"{english} ({note})" if note else english,
        detail_vi=vietnamese,
        validated_at=now,
    )


# --------------------------------------------------------------------------- certificates


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


# --------------------------------------------------------------------------- parser fast path

_read_hex_string_slowly = generic.read_hex_string_from_stream
_HEX_DIGITS = re.compile(rb"[0-9A-Fa-f]*")


def _read_hex_string(stream: Any) -> generic.ByteStringObject | generic.TextStringObject:
    """pyHanko's hex-string reader, at C speed for the common case.

    pyHanko reads ``<...>`` strings one byte per Python call; a signature's ``/Contents`` is
    16-64 KB of hex, so that loop was half of the validation time. This reads up to the ``>``
    in blocks and decodes in one call when the string holds only hex digits and PDF whitespace;
    anything else (a ``%``, a bad character, no ``>`` before the end) goes to pyHanko's own
    reader from the same position, so results and errors are pyHanko's.
    """
    start = stream.tell()
    stream.read(1)  # the "<"
    blocks: list[bytes] = []
    while True:
        block = stream.read(65536)
        if not block:
            stream.seek(start)
            return _read_hex_string_slowly(stream)
        end = block.find(b">")
        if end >= 0:
            blocks.append(block[:end])
            break
        blocks.append(block)
    body = b"".join(blocks)
    del blocks
    if b"%" in body:
        stream.seek(start)
        return _read_hex_string_slowly(stream)
    length = len(body)
    digits = body.translate(None, misc.PDF_WHITESPACE)
    del body
    if not _HEX_DIGITS.fullmatch(digits):
        stream.seek(start)
        return _read_hex_string_slowly(stream)
    stream.seek(start + length + 2)
    if len(digits) % 2:
        digits += b"0"
    return generic.pdf_string(binascii.unhexlify(digits))


generic.read_hex_string_from_stream = _read_hex_string

# asn1crypto compares and hashes names (RFC 5280 §7.1) by running every attribute through LDAP
# string preparation (RFC 4518) on each call. Matching a signer by issuer and serial, building
# paths and looking up CRLs do that thousands of times per document: a fifth of the validation
# time. Both results are functions of the names' DER alone, so they are computed once per
# distinct encoding and remembered (bounded in entries, and encodings over 1 KiB, which no
# real name reaches, are not remembered). Results are asn1crypto's own (tested).
_names_equal_slowly = x509.Name.__eq__
_name_hashable_slowly = x509.Name.hashable.fget
_rdn_values_slowly = x509.RelativeDistinguishedName._get_values
_NAME_CACHE_ENTRIES = 4096
_NAME_CACHE_MAX_DER = 1024
_NAME_KEYS: dict[bytes, str] = {}
_RDN_VALUES: dict[bytes, dict[str, str]] = {}


def _remember(cache: dict[bytes, Any], der: bytes, value: Any) -> None:
    if len(der) <= _NAME_CACHE_MAX_DER:
        if len(cache) >= _NAME_CACHE_ENTRIES:
            cache.clear()
        cache[der] = value


def _name_hashable(self: x509.Name) -> str:
    """``Name.hashable`` (the prepared form registries key certificates by), remembered."""
    der = self.dump()
    key = _NAME_KEYS.get(der)
    if key is None:
        key = _name_hashable_slowly(self)
        _remember(_NAME_KEYS, der, key)
    return key


def _names_equal(self: x509.Name, other: object) -> bool:
    """``Name.__eq__``: the same DER is the same name; different prepared forms are different
    names (equal names prepare equally); only what remains goes to asn1crypto's comparison."""
    if not isinstance(other, x509.Name):
        return False
    if self.dump() == other.dump():
        return True
    if _name_hashable(self) != _name_hashable(other):
        return False
    return bool(_names_equal_slowly(self, other))


def _rdn_values(self: x509.RelativeDistinguishedName, rdn: Any) -> dict[str, str]:
    """The prepared values of one RDN (used by RDN comparison), remembered."""
    der = rdn.dump()
    cached = _RDN_VALUES.get(der)
    if cached is None:
        cached = _rdn_values_slowly(self, rdn)
        _remember(_RDN_VALUES, der, cached)
    return dict(cached)


x509.Name.__eq__ = _names_equal
x509.Name.hashable = property(_name_hashable)
x509.RelativeDistinguishedName._get_values = _rdn_values


# --------------------------------------------------------------------------- validation


@dataclass
class _Revinfo:
    certs: list[x509.Certificate] = field(default_factory=list)
    crls: list[asn1_crl.CertificateList] = field(default_factory=list)
    ocsps: list[ocsp.OCSPResponse] = field(default_factory=list)

    def plus(self, other: _Revinfo) -> _Revinfo:
        return _Revinfo(self.certs + other.certs, self.crls + other.crls, self.ocsps + other.ocsps)


def _dss_revinfo(reader: PdfFileReader) -> _Revinfo:
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return _Revinfo()
    return _Revinfo(
        certs=list(dss.load_certs()),
        crls=[
            asn1_crl.CertificateList.load(ref.get_object().read_data(DecodePurpose.CRL))
            for ref in dss.crls
        ],
        ocsps=[
            ocsp.OCSPResponse.load(ref.get_object().read_data(DecodePurpose.OCSP_RESPONSE))
            for ref in dss.ocsps
        ],
    )


def _archival_revinfo(signer_info: cms.SignerInfo) -> _Revinfo:
    try:
        archival = find_unique_cms_attribute(
            signer_info["signed_attrs"], "adobe_revocation_info_archival"
        )
    except (NonexistentAttributeError, MultivaluedAttributeError):
        return _Revinfo()
    return _Revinfo(crls=list(archival["crl"]), ocsps=list(archival["ocsp"]))


def _timestamp_time(signer_info: cms.SignerInfo) -> datetime | None:
    """genTime of the first signature timestamp token, before anyone vouched for it."""
    try:
        for token in extract_tst_data_iter(signer_info, signed=False):
            gen_time: datetime = token["encap_content_info"]["content"].parsed["gen_time"].native
            return gen_time
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return None


def _timestamp_certs(signer_info: cms.SignerInfo) -> list[x509.Certificate]:
    try:
        return [
            choice.chosen
            for token in extract_tst_data_iter(signer_info, signed=False)
            for choice in token["certificates"]
            if choice.name == "certificate"
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []


@dataclass
class _Run:
    """What every signature of one document shares."""

    reader: PdfFileReader
    file_size: int
    trust_config: TrustConfig
    trust: _Trust
    revinfo: _Revinfo
    now: datetime
    backend: AIOHttpFetcherBackend | None
    last_allowed: ModificationLevel
    between_allowed: ModificationLevel

    @property
    def skew(self) -> timedelta:
        return timedelta(seconds=self.trust_config.clock_skew_s)

    def context(self, moment: datetime, extra: _Revinfo) -> ValidationContext:
        revinfo = self.revinfo.plus(extra)
        return ValidationContext(
            trust_roots=list(self.trust.roots),
            other_certs=[*self.trust.intermediates, *revinfo.certs],
            moment=moment,
            best_signature_time=moment,
            allow_fetching=self.backend is not None,
            fetcher_backend=self.backend,
            crls=revinfo.crls,
            ocsps=revinfo.ocsps,
            revinfo_policy=self.trust.revinfo_policy,
            time_tolerance=self.skew,
            algorithm_usage_policy=self.trust.algorithms,
        )


_KEY_USAGE = KeyUsageConstraints(
    key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False
)

_TRUST_PROBLEMS: Final[dict[AdESSubIndic, Indication]] = {
    AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND: Indication.UNTRUSTED_SIGNER,
    AdESIndeterminate.CHAIN_CONSTRAINTS_FAILURE: Indication.UNTRUSTED_SIGNER,
    AdESIndeterminate.NO_SIGNING_CERTIFICATE_FOUND: Indication.SIGNATURE_INVALID,
    AdESIndeterminate.REVOKED_NO_POE: Indication.REVOKED,
    AdESIndeterminate.REVOKED_CA_NO_POE: Indication.REVOKED,
    AdESFailure.REVOKED: Indication.REVOKED,
    AdESIndeterminate.OUT_OF_BOUNDS_NO_POE: Indication.EXPIRED,
    AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED: Indication.EXPIRED,
    AdESIndeterminate.EXPIRED: Indication.EXPIRED,
    AdESIndeterminate.NOT_YET_VALID: Indication.NOT_YET_VALID,
    AdESFailure.NOT_YET_VALID: Indication.NOT_YET_VALID,
    AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE: Indication.WEAK_ALGORITHM,
    AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE_NO_POE: Indication.WEAK_ALGORITHM,
    AdESIndeterminate.TRY_LATER: Indication.REVOCATION_UNAVAILABLE,
    AdESFailure.HASH_FAILURE: Indication.SIGNATURE_INVALID,
    AdESFailure.SIG_CRYPTO_FAILURE: Indication.SIGNATURE_INVALID,
    AdESFailure.FORMAT_FAILURE: Indication.SIGNATURE_INVALID,
}


_PROBLEM_TEXT: Final = {
    Indication.WEAK_ALGORITHM: "the digest, signature algorithm or key size is not allowed",
    Indication.UNTRUSTED_SIGNER: "no path to a trusted root, or not usable for signing",
    Indication.REVOKED: "revoked at or before the signature time",
    Indication.EXPIRED: "outside its validity period at the signature time",
    Indication.NOT_YET_VALID: "not yet valid at the signature time",
    Indication.REVOCATION_UNAVAILABLE: "revocation information missing or stale",
    Indication.SIGNATURE_INVALID: "the signature does not match its certificate",
}


async def _diagnose_path(
    cert: x509.Certificate, others: Sequence[x509.Certificate], ctx: ValidationContext
) -> tuple[Indication, str]:
    """pyHanko folds several path failures into one AdES code; ask certvalidator directly."""
    validator = CertificateValidator(cert, intermediate_certs=list(others), validation_context=ctx)
    try:
        await validator.async_validate_usage(set())
    except RevokedError as exc:
        return Indication.REVOKED, str(exc)
    except ExpiredError as exc:
        return Indication.EXPIRED, str(exc)
    except NotYetValidError as exc:
        return Indication.NOT_YET_VALID, str(exc)
    except InsufficientRevinfoError as exc:
        return Indication.REVOCATION_UNAVAILABLE, str(exc)
    except DisallowedAlgorithmError as exc:
        return Indication.WEAK_ALGORITHM, str(exc)
    except (PathBuildingError, InvalidCertificateError, ValidationError) as exc:
        return Indication.UNTRUSTED_SIGNER, str(exc)
    return Indication.UNTRUSTED_SIGNER, "the certificate path failed validation"


async def _trust_failure(
    run: _Run,
    problem: AdESSubIndic | None,
    cert: x509.Certificate,
    others: Sequence[x509.Certificate],
    moment: datetime,
    extra: _Revinfo,
) -> tuple[Indication, str]:
    """Why a certificate is not trusted: pyHanko's AdES code when it is specific, certvalidator's
    own exception otherwise (and certvalidator's message, which a support person can read)."""
    ctx = run.context(moment, extra)
    try:
        diagnosed, why = await _diagnose_path(cert, others, ctx)
    finally:
        await ctx.aclose()
    mapped = _TRUST_PROBLEMS.get(problem) if problem is not None else None
    if mapped is None or mapped is diagnosed:
        return diagnosed, why
    # pyHanko stopped before the path (e.g. a weak digest in the CMS): its reason stands.
    return mapped, f"{_PROBLEM_TEXT.get(mapped, 'refused')} (AdES {getattr(problem, 'name', '')})"


def _structure_problem(
    sig_object: generic.DictionaryObject, file_size: int
) -> tuple[Indication, str] | None:
    """What pyHanko would only report as a read error: missing or absurd /ByteRange, /Contents."""
    byte_range = sig_object.get("/ByteRange")
    if byte_range is None:
        return Indication.BYTE_RANGE_INVALID, "the signature dictionary has no /ByteRange"
    if not isinstance(byte_range, generic.ArrayObject) or len(byte_range) != 4:
        return Indication.BYTE_RANGE_INVALID, "/ByteRange is not an array of four numbers"
    values = [v for v in byte_range if isinstance(v, int) and not isinstance(v, bool)]
    if len(values) != 4:
        return Indication.BYTE_RANGE_INVALID, "/ByteRange holds something other than integers"
    start, length1, start2, length2 = values
    if start != 0 or min(values) < 0 or start2 < length1 or start2 + length2 > file_size:
        return Indication.BYTE_RANGE_INVALID, f"/ByteRange {values} does not fit the file"
    contents = sig_object.get("/Contents")
    if contents is None:
        return Indication.SIGNATURE_INVALID, "the signature dictionary has no /Contents"
    if not isinstance(contents, generic.ByteStringObject | generic.TextStringObject):
        return Indication.SIGNATURE_INVALID, "/Contents is not a string"
    if not contents.original_bytes.strip(b"\x00"):
        return Indication.SIGNATURE_INVALID, "/Contents is empty"
    return None


def _broken(
    name: str, indication: Indication, note: str, *, end: int = 0, role: Role = Role.UNKNOWN
) -> SignatureReport:
    return SignatureReport(
        role=role,
        field_name=name,
        intact=False,
        valid=False,
        trusted=False,
        revocation=Revocation.NOT_CHECKED,
        modification_level=None,
        coverage=None,
        signer_subject=None,
        agency_code=None,
        signing_time=None,
        timestamp_time=None,
        digest_algorithm=None,
        signature_algorithm=None,
        indication=indication,
        detail=f"{name}: {note}",
        byte_range_end=end,
        failures=(indication,),
    )


def _byte_range_end(sig_object: generic.DictionaryObject) -> int:
    try:
        byte_range = sig_object["/ByteRange"]
        return int(byte_range[2]) + int(byte_range[3])
    except (KeyError, IndexError, TypeError, ValueError):
        return 0


def _modification_failures(
    status: Any, allowed: ModificationLevel
) -> tuple[list[Indication], list[str]]:
    failures: list[Indication] = []
    notes: list[str] = []
    coverage = status.coverage
    if coverage not in (SignatureCoverageLevel.ENTIRE_FILE, SignatureCoverageLevel.ENTIRE_REVISION):
        failures.append(Indication.BYTE_RANGE_INVALID)
        notes.append(f"the signature covers {getattr(coverage, 'name', coverage)}, not a revision")
        return failures, notes
    level = status.modification_level
    if level is None or level > allowed or status.docmdp_ok is False:
        failures.append(Indication.MODIFIED_AFTER_SIGNING)
        name = getattr(level, "name", "an unknown level")
        notes.append(f"changes after signing rated {name}, at most {allowed.name} allowed")
    return failures, notes


async def _validate_signature(
    run: _Run, emb: EmbeddedPdfSignature, *, allowed: ModificationLevel
) -> SignatureReport:
    name = emb.field_name
    end = _byte_range_end(emb.sig_object)
    signer_info = emb.signer_info
    claimed_ts = _timestamp_time(signer_info)
    moment = claimed_ts if claimed_ts is not None and claimed_ts <= run.now + run.skew else run.now
    extra = _archival_revinfo(signer_info)
    status = await _pyhanko_status(run, emb, moment, extra, allowed)
    tst = status.timestamp_validity
    tst_ok = tst is not None and tst.intact and tst.valid and tst.trusted
    if tst_ok and tst is not None and tst.timestamp != moment:
        # Several tokens, the first untrusted: validate again at the trusted one's time.
        moment = tst.timestamp
        status = await _pyhanko_status(run, emb, moment, extra, allowed)

    cert: x509.Certificate = status.signing_cert
    role, code = classify(cert)
    failures: list[Indication] = []
    notes: list[str] = []
    if not status.intact:
        failures.append(Indication.SIGNATURE_INVALID)
        notes.append("the signed bytes do not match the signed digest")
    elif not status.valid:
        failures.append(Indication.SIGNATURE_INVALID)
        notes.append("the cryptographic signature does not verify")
    more, more_notes = _modification_failures(status, allowed)
    failures += more
    notes += more_notes

    trusted = bool(status.trusted)
    revocation = Revocation.NOT_CHECKED
    if trusted:
        revocation = Revocation.GOOD if run.trust.hard_fail else Revocation.UNKNOWN
    elif status.intact and status.valid:
        indication, why = await _trust_failure(
            run, status.trust_problem_indic, cert, emb.other_embedded_certs, moment, extra
        )
        failures.append(indication)
        notes.append(f"signing certificate: {why}")
        if indication is Indication.REVOKED or status.revoked:
            revocation = Revocation.REVOKED
        elif indication is Indication.REVOCATION_UNAVAILABLE:
            revocation = Revocation.UNKNOWN

    signing_time = status.signer_reported_dt
    timestamp_time = tst.timestamp if tst is not None else None
    if tst is not None and not tst_ok:
        indication = Indication.TIMESTAMP_INVALID
        why = "it is not intact or its signature does not verify"
        if tst.intact and tst.valid:
            found, why = await _trust_failure(
                run,
                tst.trust_problem_indic,
                tst.signing_cert,
                [*emb.other_embedded_certs, *_timestamp_certs(signer_info)],
                moment,
                extra,
            )
            # The TSA's revocation data missing is the same problem as the signer's.
            if found is Indication.REVOCATION_UNAVAILABLE:
                indication = found
        failures.append(indication)
        notes.append(f"signature timestamp: {why}")
    ctst = status.content_timestamp_validity
    if ctst is not None and not (ctst.intact and ctst.valid and ctst.trusted):
        failures.append(Indication.TIMESTAMP_INVALID)
        notes.append("the content timestamp is not intact, valid and trusted")
    if timestamp_time is not None:
        if timestamp_time > run.now + run.skew:
            failures.append(Indication.TIMESTAMP_INVALID)
            notes.append("the timestamp is in the future")
        if signing_time is not None and signing_time > timestamp_time + run.skew:
            failures.append(Indication.TIMESTAMP_INVALID)
            notes.append("the claimed signing time is later than the timestamp")
    elif signing_time is not None and signing_time > run.now + run.skew:
        failures.append(Indication.SIGNATURE_INVALID)
        notes.append("the claimed signing time is in the future")

    ordered = tuple(i for i in ORDER if i in set(failures))
    indication = ordered[0] if ordered else Indication.OK
    who = _describe(cert)
    detail = f"{name} ({who}): " + ("; ".join(notes) if notes else "valid")
    return SignatureReport(
        role=role,
        field_name=name,
        intact=bool(status.intact),
        valid=bool(status.valid),
        trusted=trusted,
        revocation=revocation,
        modification_level=getattr(status.modification_level, "name", None),
        coverage=getattr(status.coverage, "name", None),
        signer_subject=_rfc4514(cert),
        agency_code=code,
        signing_time=_utc(signing_time),
        timestamp_time=_utc(timestamp_time),
        digest_algorithm=status.md_algorithm,
        signature_algorithm=status.pkcs7_signature_mechanism,
        indication=indication,
        detail=detail,
        certificate_sha256=cert.sha256.hex(),
        byte_range_end=end,
        failures=ordered,
    )


async def _pyhanko_status(
    run: _Run,
    emb: EmbeddedPdfSignature,
    moment: datetime,
    extra: _Revinfo,
    allowed: ModificationLevel,
) -> PdfSignatureStatus:
    # One context for the signer and its timestamp: both are judged at the same moment, and
    # certvalidator then checks each CRL and CA certificate once.
    ctx = run.context(moment, extra)
    try:
        return await async_validate_pdf_signature(
            emb,
            signer_validation_context=ctx,
            ts_validation_context=ctx,
            diff_policy=DEFAULT_DIFF_POLICY,
            key_usage_settings=_KEY_USAGE,
            algorithm_policy=run.trust.cms_algorithms,
        )
    finally:
        await ctx.aclose()


async def _validate_doc_timestamp(
    run: _Run, emb: EmbeddedPdfSignature, *, allowed: ModificationLevel
) -> SignatureReport:
    ctx = run.context(run.now, _Revinfo())
    try:
        status = await async_validate_pdf_timestamp(
            emb, validation_context=ctx, diff_policy=DEFAULT_DIFF_POLICY
        )
    finally:
        await ctx.aclose()
    failures, notes = _modification_failures(status, allowed)
    if not (status.intact and status.valid and status.trusted):
        failures.append(Indication.TIMESTAMP_INVALID)
        notes.append("the document timestamp is not intact, valid and trusted")
    ordered = tuple(i for i in ORDER if i in set(failures))
    cert: x509.Certificate = status.signing_cert
    return SignatureReport(
        role=Role.TIMESTAMP,
        field_name=emb.field_name,
        intact=bool(status.intact),
        valid=bool(status.valid),
        trusted=bool(status.trusted),
        revocation=Revocation.GOOD
        if status.trusted and run.trust.hard_fail
        else Revocation.UNKNOWN,
        modification_level=getattr(status.modification_level, "name", None),
        coverage=getattr(status.coverage, "name", None),
        signer_subject=_rfc4514(cert),
        agency_code=None,
        signing_time=None,
        timestamp_time=_utc(status.timestamp),
        digest_algorithm=status.md_algorithm,
        signature_algorithm=status.pkcs7_signature_mechanism,
        indication=ordered[0] if ordered else Indication.OK,
        detail=f"{emb.field_name} (document timestamp): " + ("; ".join(notes) or "valid"),
        certificate_sha256=cert.sha256.hex(),
        byte_range_end=_byte_range_end(emb.sig_object),
        failures=ordered,
    )


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _signature_fields(
    reader: PdfFileReader,
) -> Iterator[tuple[str, generic.DictionaryObject, generic.DictionaryObject]]:
    for name, value, field_ref in enumerate_sig_fields(reader, filled_status=True):
        sig_object = value.get_object()
        sig_field = field_ref.get_object()
        if isinstance(sig_object, generic.DictionaryObject) and isinstance(
            sig_field, generic.DictionaryObject
        ):
            yield str(name), sig_object, sig_field


async def _validate_reader(run: _Run) -> list[SignatureReport]:
    reports: list[SignatureReport] = []
    embedded: list[EmbeddedPdfSignature] = []
    for name, sig_object, sig_field in _signature_fields(run.reader):
        problem = _structure_problem(sig_object, run.file_size)
        if problem is not None:
            reports.append(_broken(name, *problem, end=_byte_range_end(sig_object)))
            continue
        try:
            embedded.append(EmbeddedPdfSignature(run.reader, sig_field, name))
        except misc.PdfDecodeLimitError:
            raise
        except (misc.PdfReadError, ValueError, KeyError, TypeError, AttributeError) as exc:
            reports.append(
                _broken(
                    name,
                    Indication.SIGNATURE_INVALID,
                    f"the signature cannot be read ({type(exc).__name__})",
                    end=_byte_range_end(sig_object),
                )
            )
    embedded.sort(key=lambda e: e.signed_revision)
    regular = [e for e in embedded if e.sig_object_type == "/Sig"]
    last = regular[-1] if regular else None
    for emb in embedded:
        is_timestamp = emb.sig_object_type == "/DocTimeStamp"
        allowed = run.last_allowed if (is_timestamp or emb is last) else run.between_allowed
        try:
            if is_timestamp:
                reports.append(await _validate_doc_timestamp(run, emb, allowed=allowed))
            else:
                reports.append(await _validate_signature(run, emb, allowed=allowed))
        except (misc.PdfDecodeLimitError, MemoryError, RecursionError):
            raise
        except Exception as exc:  # one unreadable signature must not hide the others
            logger.info("signature %s rejected: %r", emb.field_name, exc)
            reports.append(
                _broken(
                    emb.field_name,
                    Indication.SIGNATURE_INVALID,
                    f"the signature cannot be validated ({type(exc).__name__}: {exc})"[:300],
                    end=_byte_range_end(emb.sig_object),
                )
            )
    reports.sort(key=lambda r: r.byte_range_end)
    return reports


# --------------------------------------------------------------------------- policy and entry


def _policy_failures(
    reports: Sequence[SignatureReport], policy: SignaturePolicy, sender_agency: str
) -> list[tuple[Indication, str]]:
    signers = [r for r in reports if r.role is Role.SIGNER]
    seals = [r for r in reports if r.role is Role.SEAL]
    found: list[tuple[Indication, str]] = []
    if policy.require_signer and not signers:
        found.append(
            (Indication.MISSING_SIGNER, "no signature from a personal non-repudiation certificate")
        )
    if policy.require_seal and not seals:
        found.append((Indication.MISSING_SEAL, "no signature from an agency certificate"))
    candidates = seals
    if policy.seal_agency_must_match_sender and seals:
        candidates = [s for s in seals if s.agency_code == sender_agency]
        if not candidates:
            codes = ", ".join(sorted({s.agency_code or "?" for s in seals}))
            found.append(
                (Indication.SEAL_AGENCY_MISMATCH, f"seal of {codes}, sender is {sender_agency}")
            )
    if policy.signer_agency_must_match_sender:
        strangers = [p for p in signers if p.agency_code not in (None, sender_agency)]
        if strangers:
            codes = ", ".join(sorted({p.agency_code or "?" for p in strangers}))
            found.append(
                (Indication.SIGNER_NOT_OF_SENDER, f"signer of {codes}, sender is {sender_agency}")
            )
        anonymous = [p.field_name for p in signers if p.agency_code is None]
        if anonymous:
            found.append(
                (
                    Indication.SIGNER_AGENCY_UNKNOWN,
                    f"no agency code in the certificate of {', '.join(anonymous)}",
                )
            )
    if (
        policy.seal_after_signer
        and signers
        and candidates
        and not any(s.byte_range_end > p.byte_range_end for s in candidates for p in signers)
    ):
        found.append((Indication.SEAL_BEFORE_SIGNER, "the seal precedes the signer's signature"))
    return found


def _verdict(
    reports: Sequence[SignatureReport],
    policy: SignaturePolicy,
    sender_agency: str,
    now: datetime,
    tail: str | None = None,
) -> ValidationReport:
    notes: dict[Indication, str] = {}
    if tail is not None:
        notes[Indication.BYTE_RANGE_INVALID] = tail
    for report in reports:
        for failure in report.failures:
            notes.setdefault(failure, report.detail)
    for failure, note in _policy_failures(reports, policy, sender_agency):
        notes.setdefault(failure, note)
    indication = first_failure(notes)
    english, vietnamese = _MESSAGES[indication]
    cause = notes.get(indication)
    if cause and len(cause) > _MAX_CAUSE:
        cause = cause[: _MAX_CAUSE - 1] + "…"
    return ValidationReport(
        indication=indication,
        detail=f"{english} ({cause})" if cause else english,
        detail_vi=vietnamese,
        signatures=tuple(reports),
        validated_at=now,
    )


async def _validate_all(run: _Run) -> list[SignatureReport]:
    try:
        return await _validate_reader(run)
    finally:
        if run.backend is not None:
            await run.backend.close()


def _run_coroutine(run: _Run) -> list[SignatureReport]:
    try:
        asyncio.get_running_loop()
        inside_loop = True
    except RuntimeError:
        inside_loop = False
    if not inside_loop:
        return asyncio.run(_validate_all(run))
    # Called from async code: pyHanko needs an event loop of its own.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _validate_all(run)).result()


def _uncovered_tail(fh: Any, reader: PdfFileReader, size: int) -> str | None:
    """Bytes after the end of the last revision are covered by no signature and no revision.

    pyHanko rates a signature followed by such bytes ENTIRE_REVISION with no modification, since
    they are not a revision at all; readers ignore them, but they are unsigned content riding
    along, so we refuse them. The last revision ends at the first ``%%EOF`` after its
    cross-reference section; only PDF whitespace may follow.
    """
    last = reader.xrefs.total_revisions - 1
    end = reader.xrefs.get_xref_container_info(last).end_location
    if size - end > _TAIL_WINDOW:
        return f"{size - end} bytes after the last revision are not covered by any signature"
    fh.seek(end)
    rest = fh.read(size - end)
    marker = rest.find(b"%%EOF")
    if marker < 0:
        return "the file does not end with an end-of-file marker"
    extra = rest[marker + 5 :].translate(None, misc.PDF_WHITESPACE)
    if extra:
        return f"{len(extra)} bytes after the last revision are not covered by any signature"
    return None


def page_count(reader: PdfFileReader) -> int:
    """The pages of the document's page tree, each node resolved once.

    ISO 32000-2 §7.7.3.2: the page tree is a tree of indirect objects, each node with one
    ``/Parent``. A node reached twice (a cycle, or a page listed twice: 400,000 references to
    one page made pypdf build 400,000 page objects) is refused, not counted; a node with
    ``/Kids`` is an intermediate node, any other dictionary a page (as readers do when
    ``/Type`` is missing).
    """
    root = reader.root.raw_get("/Pages") if "/Pages" in reader.root else None
    todo: list[Any] = [root]
    seen: set[Any] = set()
    pages = 0
    while todo:
        ref = todo.pop()
        if not isinstance(ref, generic.IndirectObject):
            raise misc.PdfReadError("the page tree holds a direct object or nothing")
        if ref.reference in seen:
            raise misc.PdfReadError("the page tree reaches a node twice (not a tree)")
        seen.add(ref.reference)
        node = ref.get_object()
        if not isinstance(node, generic.DictionaryObject):
            raise misc.PdfReadError("a page tree node is not a dictionary")
        kids = node.get("/Kids")
        if kids is None:
            pages += 1
        elif isinstance(kids, generic.ArrayObject):
            todo.extend(reversed(kids))
        else:
            raise misc.PdfReadError("/Kids is not an array")
    return pages


def _validate_file(
    path: Path, sender_agency: str, trust: TrustConfig, policy: SignaturePolicy, now: datetime
) -> ValidationReport:
    size = path.stat().st_size
    if size == 0:
        return failure_report(Indication.NOT_A_PDF, "the file is empty", now=now)
    with path.open("rb") as fh:
        if b"%PDF-" not in fh.read(HEADER_WINDOW):
            return failure_report(Indication.NOT_A_PDF, "no %PDF- header", now=now)
        fh.seek(0)
        reader = PdfFileReader(fh, strict=True)
        if "/Encrypt" in reader.trailer:
            return failure_report(Indication.ENCRYPTED_PDF, now=now)
        try:
            pages = page_count(reader)
        except misc.PdfDecodeLimitError:
            raise
        except misc.PdfReadError as exc:
            return failure_report(Indication.INVALID_PDF, str(exc)[:200], now=now)
        if pages < 1:
            return failure_report(Indication.INVALID_PDF, "the PDF has no pages", now=now)
        run = _Run(
            reader=reader,
            file_size=size,
            trust_config=trust,
            trust=_trust(trust),
            revinfo=_dss_revinfo(reader),
            now=now,
            backend=(
                AIOHttpFetcherBackend(per_request_timeout=trust.fetch_timeout_s)
                if trust.fetch
                else None
            ),
            last_allowed=policy.allowed_modifications,
            between_allowed=policy.allowed_between_signatures,
        )
        reports = _run_coroutine(run)
        if not reports:
            return replace(failure_report(Indication.UNSIGNED, now=now), pages=pages)
        tail = _uncovered_tail(fh, reader, size)
    return replace(_verdict(reports, policy, sender_agency, now, tail), pages=pages)


def validate_pdf(
    path: Path,
    *,
    sender_agency: str,
    trust: TrustConfig,
    policy: SignaturePolicy,
    now: datetime | None = None,
) -> ValidationReport:
    """Validate every signature of the PDF at ``path`` and apply ``policy`` for ``sender_agency``.

    Never raises for bad input: unreadable, malformed, encrypted or hostile files become a
    report with the matching indication. ``now`` (aware; naive means UTC) is the validation time,
    for tests and for re-checking a stored document as of its intake.
    """
    moment = _utc(now) or datetime.now(UTC)
    try:
        return _validate_file(Path(path), sender_agency, trust, policy, moment)
    except misc.PdfDecodeLimitError as exc:
        return failure_report(Indication.RESOURCE_LIMIT, str(exc)[:200], now=moment)
    except MemoryError:
        return failure_report(Indication.RESOURCE_LIMIT, "out of memory", now=moment)
    except RecursionError:
        return failure_report(Indication.INVALID_PDF, "structure nested too deeply", now=moment)
    except Exception as exc:  # any parse error of hostile input: fail closed, never raise
        logger.info("PDF refused as invalid: %r", exc)
        return failure_report(Indication.INVALID_PDF, type(exc).__name__, now=moment)
