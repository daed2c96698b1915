"""One signature at a time: pyHanko's status of a signature or document timestamp, judged at the
trusted time, with certvalidator asked why a path failed (RFC 5280 §6), into a
``SignatureReport``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from asn1crypto import x509  # type: ignore[import-untyped]
from pyhanko.pdf_utils import misc
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESSubIndic
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, ModificationLevel
from pyhanko.sign.validation import (
    EmbeddedPdfSignature,
    PdfSignatureStatus,
    SignatureCoverageLevel,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.settings import KeyUsageConstraints
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

from docex.signing.validation.certificates import _describe, _rfc4514, classify
from docex.signing.validation.context import (
    _archival_revinfo,
    _Revinfo,
    _Run,
    _timestamp_certs,
    _timestamp_time,
)
from docex.signing.validation.pdf import _byte_range_end, _signature_fields, _structure_problem
from docex.signing.validation.report import ORDER, Indication, Revocation, Role, SignatureReport

logger = logging.getLogger(__name__)


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
