"""The verdict of a validation: machine-readable indications, in the order of what fails
first, a frozen report per signature and one per document, with the sentences a clerk reads (English
and Vietnamese)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final


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


def explanation(indication: Indication) -> tuple[str, str]:
    """What ``indication`` means for a person: (English, Vietnamese), the report's sentences."""
    return _MESSAGES[indication]


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
