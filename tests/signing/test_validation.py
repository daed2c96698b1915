"""PAdES validation on intake (docex.signing.validation and .sandbox), against a real offline
PKI: the Decree 30 happy path, every attack of issue 3 with its precise indication, the hostile
files of tests/fixtures/pdf, and the resource limits."""

from __future__ import annotations

import asyncio
import io
import json
import pickle
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils import misc

from docex.signing import validation
from docex.signing.sandbox import ValidatorPool, validate_pdf_bounded
from docex.signing.validation import (
    STRICT_DECREE_30,
    Indication,
    Revocation,
    Role,
    SignaturePolicy,
    TrustConfig,
    ValidationReport,
    agency_code_of,
    classify,
    validate_pdf,
)
from tests.fixtures import FIXTURES as FIXTURE_ROOT
from tests.fixtures import fixture_files
from tests.security.hostile_pdfs import BOMBS, classic_pdf
from tests.signing.conftest_validation import PadesDocs
from tests.signing.pki import OTHER_AGENCY, SENDER, PadesPki

FIXTURES = FIXTURE_ROOT / "pdf"


def check(
    docs: PadesDocs,
    trust: TrustConfig,
    name: str,
    *,
    sender: str = SENDER,
    policy: SignaturePolicy = STRICT_DECREE_30,
    now: datetime | None = None,
) -> ValidationReport:
    return validate_pdf(docs.path(name), sender_agency=sender, trust=trust, policy=policy, now=now)


def by_field(report: ValidationReport) -> dict[str, validation.SignatureReport]:
    return {s.field_name: s for s in report.signatures}


# --------------------------------------------------------------------------- Decree 30


def test_signer_then_sender_seal_is_ok(pades_docs: PadesDocs, pades_trust: TrustConfig) -> None:
    report = check(pades_docs, pades_trust, "ok")

    assert report.indication is Indication.OK
    assert report.passed
    assert report.detail_vi
    signer, seal = report.signatures
    assert (signer.role, seal.role) == (Role.SIGNER, Role.SEAL)
    for signature in (signer, seal):
        assert signature.intact
        assert signature.valid
        assert signature.trusted
        assert signature.revocation is Revocation.GOOD
        assert signature.indication is Indication.OK
        assert signature.digest_algorithm == "sha256"
        assert signature.timestamp_time is not None
        assert signature.timestamp_time.tzinfo is UTC
        assert signature.signing_time is not None
        assert signature.signing_time.tzinfo is UTC
    assert seal.agency_code == SENDER
    assert signer.agency_code == SENDER  # the leader's certificate names the agency
    assert "CN=Nguyễn Văn An" in (signer.signer_subject or "")
    assert "organizationIdentifier=VN:000.00.00.G22" in (seal.signer_subject or "")
    assert signer.coverage == "ENTIRE_REVISION"
    assert signer.modification_level == "FORM_FILLING"  # the seal was added after it
    assert seal.modification_level == "LTA_UPDATES"  # only the DSS after the seal
    assert seal.byte_range_end > signer.byte_range_end


def test_report_is_json_and_pickle_friendly(
    pades_docs: PadesDocs, pades_trust: TrustConfig
) -> None:
    report = check(pades_docs, pades_trust, "ok")

    data = json.loads(json.dumps(report.to_dict()))
    assert data["indication"] == "ok"
    assert data["passed"] is True
    assert [s["role"] for s in data["signatures"]] == ["signer", "seal"]
    assert data["signatures"][1]["agency_code"] == SENDER
    assert data["signatures"][0]["timestamp_time"].endswith("Z")
    assert pickle.loads(pickle.dumps(report)) == report  # noqa: S301 - our own bytes


def test_signatures_without_timestamp_are_judged_at_validation_time(
    pades_docs: PadesDocs, pades_trust: TrustConfig, pades_pki: PadesPki
) -> None:
    assert check(pades_docs, pades_trust, "no_timestamp").indication is Indication.OK

    # Two days on, the embedded CRLs are past their nextUpdate: nothing vouches for the signing
    # time, so the status must be known now, and fetching is off.
    later = pades_pki.now + timedelta(days=2)
    report = check(pades_docs, pades_trust, "no_timestamp", now=later)
    assert report.indication is Indication.REVOCATION_UNAVAILABLE


def test_timestamped_signatures_are_judged_at_their_timestamp(
    pades_docs: PadesDocs, pades_trust: TrustConfig, pades_pki: PadesPki
) -> None:
    later = pades_pki.now + timedelta(days=3 * 365)
    assert check(pades_docs, pades_trust, "ok", now=later).indication is Indication.OK


def test_timestamp_from_the_future_is_refused(
    pades_docs: PadesDocs, pades_trust: TrustConfig, pades_pki: PadesPki
) -> None:
    earlier = pades_pki.now - timedelta(hours=2)
    report = check(pades_docs, pades_trust, "ok", now=earlier)
    assert report.indication is Indication.TIMESTAMP_INVALID


def test_document_timestamp_after_the_seal_is_accepted(
    pades_docs: PadesDocs, pades_trust: TrustConfig
) -> None:
    report = check(pades_docs, pades_trust, "document_timestamp")  # PAdES-LTA
    assert report.indication is Indication.OK
    assert [s.role for s in report.signatures] == [Role.SIGNER, Role.SEAL, Role.TIMESTAMP]
    assert report.signatures[1].modification_level == "LTA_UPDATES"
    assert report.signatures[2].trusted


def test_signer_only_is_missing_seal(pades_docs: PadesDocs, pades_trust: TrustConfig) -> None:
    assert check(pades_docs, pades_trust, "signer_only").indication is Indication.MISSING_SEAL
    lenient = replace(STRICT_DECREE_30, require_seal=False)
    report = check(pades_docs, pades_trust, "signer_only", policy=lenient)
    assert report.indication is Indication.OK


def test_seal_only_is_missing_signer(pades_docs: PadesDocs, pades_trust: TrustConfig) -> None:
    report = check(pades_docs, pades_trust, "seal_only")
    assert report.indication is Indication.MISSING_SIGNER
    assert [s.role for s in report.signatures] == [Role.SEAL]


def test_seal_applied_before_signer_is_refused(
    pades_docs: PadesDocs, pades_trust: TrustConfig
) -> None:
    report = check(pades_docs, pades_trust, "seal_first")
    assert report.indication is Indication.SEAL_BEFORE_SIGNER
    assert [s.role for s in report.signatures] == [Role.SEAL, Role.SIGNER]


def test_seal_of_another_agency_is_refused(pades_docs: PadesDocs, pades_trust: TrustConfig) -> None:
    report = check(pades_docs, pades_trust, "other_agency_seal")
    assert report.indication is Indication.SEAL_AGENCY_MISMATCH
    assert by_field(report)["Seal"].agency_code == OTHER_AGENCY  # read from serialNumber

    anyone = replace(STRICT_DECREE_30, seal_agency_must_match_sender=False)
    assert check(pades_docs, pades_trust, "other_agency_seal", policy=anyone).passed
    # Sent by the seal's agency, it is the Government Office's leader who does not belong.
    report = check(pades_docs, pades_trust, "other_agency_seal", sender=OTHER_AGENCY)
    assert report.indication is Indication.SIGNER_NOT_OF_SENDER
    assert check(pades_docs, pades_trust, "h41_letter", sender=OTHER_AGENCY).passed


def test_leader_of_another_agency_sealed_by_the_sender_is_signer_not_of_sender(
    pades_docs: PadesDocs, pades_trust: TrustConfig
) -> None:
    report = check(pades_docs, pades_trust, "other_agency_leader")

    assert report.indication is Indication.SIGNER_NOT_OF_SENDER
    signer, seal = report.signatures
    # Both signatures are sound; the policy refuses whose they are.
    assert (signer.role, signer.agency_code, signer.indication) == (
        Role.SIGNER,
        OTHER_AGENCY,
        Indication.OK,
    )
    assert (seal.role, seal.agency_code) == (Role.SEAL, SENDER)
    assert f"signer of {OTHER_AGENCY}, sender is {SENDER}" in report.detail
    assert report.detail_vi.startswith("Chứng thư số của người ký thuộc cơ quan khác")
    joint = replace(STRICT_DECREE_30, signer_agency_must_match_sender=False)
    assert check(pades_docs, pades_trust, "other_agency_leader", policy=joint).passed


def test_received_letter_sealed_again_by_the_recipient_is_signer_not_of_sender(
    pades_docs: PadesDocs, pades_trust: TrustConfig
) -> None:
    report = check(pades_docs, pades_trust, "resealed")

    assert report.indication is Indication.SIGNER_NOT_OF_SENDER
    assert [(s.role, s.agency_code) for s in report.signatures] == [
        (Role.SIGNER, OTHER_AGENCY),
        (Role.SEAL, OTHER_AGENCY),
        (Role.SEAL, SENDER),  # the sender's seal is there, and last: not enough
    ]
    assert all(s.indication is Indication.OK for s in report.signatures)


def test_another_agency_letter_sent_as_is_reports_the_seal_first(
    pades_docs: PadesDocs, pades_trust: TrustConfig
) -> None:
    report = check(pades_docs, pades_trust, "h41_letter")  # sent by the Government Office
    assert report.indication is Indication.SEAL_AGENCY_MISMATCH  # before signer_not_of_sender


def test_signer_certificate_naming_no_agency_is_signer_agency_unknown(
    pades_docs: PadesDocs, pades_trust: TrustConfig
) -> None:
    report = check(pades_docs, pades_trust, "unattributed_leader")

    assert report.indication is Indication.SIGNER_AGENCY_UNKNOWN
    signer = by_field(report)["Signer"]
    assert (signer.role, signer.agency_code, signer.trusted) == (Role.SIGNER, None, True)
    assert "no agency code in the certificate of Signer" in report.detail


def test_unsigned_pdf(pades_docs: PadesDocs, pades_trust: TrustConfig) -> None:
    report = check(pades_docs, pades_trust, "unsigned")
    assert report.indication is Indication.UNSIGNED
    assert report.signatures == ()


# --------------------------------------------------------------------------- tampering


def test_byte_flipped_inside_signed_range(pades_docs: PadesDocs, pades_trust: TrustConfig) -> None:
    report = check(pades_docs, pades_trust, "flipped_signed_range")
    assert report.indication is Indication.SIGNATURE_INVALID
    assert not any(s.intact for s in report.signatures)


def test_byte_flipped_inside_contents(pades_docs: PadesDocs, pades_trust: TrustConfig) -> None:
    report = check(pades_docs, pades_trust, "flipped_contents")
    assert report.indication is Indication.SIGNATURE_INVALID
    seal = by_field(report)["Seal"]
    assert seal.intact
    assert not seal.valid
    assert by_field(report)["Signer"].indication is Indication.OK


def test_bytes_after_the_last_revision_are_not_covered(
    pades_docs: PadesDocs, pades_trust: TrustConfig
) -> None:
    report = check(pades_docs, pades_trust, "uncovered_tail")
    assert report.indication is Indication.BYTE_RANGE_INVALID
    assert "not covered" in report.detail


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # the template the others were made from: a signature field with a zeroed placeholder
        ("coverage-anomalies_base.pdf", Indication.SIGNATURE_INVALID),
        ("coverage-anomalies_one-byterange.pdf", Indication.BYTE_RANGE_INVALID),
        ("coverage-anomalies_signature-gap-too-big.pdf", Indication.BYTE_RANGE_INVALID),
        ("coverage-anomalies_tail-uncovered.pdf", Indication.BYTE_RANGE_INVALID),
        ("coverage-anomalies_weird-byterange.pdf", Indication.BYTE_RANGE_INVALID),
    ],
)
def test_byte_range_not_covering_the_file(
    pades_trust: TrustConfig, name: str, expected: Indication
) -> None:
    report = validate_pdf(
        FIXTURES / name, sender_agency=SENDER, trust=pades_trust, policy=STRICT_DECREE_30
    )
    assert report.indication is expected


def test_incremental_saving_attack(pades_docs: PadesDocs, pades_trust: TrustConfig) -> None:
    report = check(pades_docs, pades_trust, "incremental_saving")
    assert report.indication is Indication.MODIFIED_AFTER_SIGNING
    assert all(s.intact and s.valid and s.trusted for s in report.signatures)
    assert by_field(report)["Seal"].modification_level == "OTHER"


def test_shadow_attack_hide_and_replace(pades_docs: PadesDocs, pades_trust: TrustConfig) -> None:
    assert check(pades_docs, pades_trust, "shadow_signed").passed  # the overlay itself is fine

    report = check(pades_docs, pades_trust, "shadow")
    assert report.indication is Indication.MODIFIED_AFTER_SIGNING
    assert {s.modification_level for s in report.signatures} == {"OTHER"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("no_contents", Indication.SIGNATURE_INVALID),
        ("empty_contents", Indication.SIGNATURE_INVALID),
        ("no_byte_range", Indication.BYTE_RANGE_INVALID),
        ("empty_byte_range", Indication.BYTE_RANGE_INVALID),
    ],
)
def test_signature_dictionary_without_contents_or_byte_range(
    pades_docs: PadesDocs, pades_trust: TrustConfig, name: str, expected: Indication
) -> None:
    report = check(pades_docs, pades_trust, name)
    assert report.indication is expected
    assert by_field(report)["Seal"].indication is expected


# --------------------------------------------------------------------------- signers


@pytest.mark.parametrize("name", ["self_signed", "untrusted_root"])
def test_signer_outside_the_trusted_pki(
    pades_docs: PadesDocs, pades_trust: TrustConfig, name: str
) -> None:
    report = check(pades_docs, pades_trust, name)
    assert report.indication is Indication.UNTRUSTED_SIGNER
    signer = by_field(report)["Signer"]
    assert signer.intact
    assert signer.valid
    assert not signer.trusted


def test_certificate_expired_at_signing_time(
    pades_docs: PadesDocs, pades_trust: TrustConfig
) -> None:
    report = check(pades_docs, pades_trust, "expired")
    assert report.indication is Indication.EXPIRED
    assert by_field(report)["Signer"].indication is Indication.EXPIRED


def test_certificate_revoked_before_signing_time(
    pades_docs: PadesDocs, pades_trust: TrustConfig
) -> None:
    report = check(pades_docs, pades_trust, "revoked")
    assert report.indication is Indication.REVOKED
    assert by_field(report)["Signer"].revocation is Revocation.REVOKED
    assert by_field(report)["Seal"].revocation is Revocation.GOOD


def test_revocation_information_missing_and_fetching_disabled(
    pades_docs: PadesDocs, pades_trust: TrustConfig
) -> None:
    report = check(pades_docs, pades_trust, "no_revinfo")
    assert report.indication is Indication.REVOCATION_UNAVAILABLE
    assert {s.revocation for s in report.signatures} == {Revocation.UNKNOWN}


def test_revocation_responder_down(pades_docs: PadesDocs, pades_pki: PadesPki) -> None:
    # The signer's certificate names only an OCSP responder, on a port where nothing listens.
    for trust in (pades_pki.trust(), pades_pki.trust(fetch=True, fetch_timeout_s=2)):
        report = check(pades_docs, trust, "ocsp_only")
        assert report.indication is Indication.REVOCATION_UNAVAILABLE
        assert by_field(report)["Signer"].revocation is Revocation.UNKNOWN


def test_soft_fail_mode_passes_without_revocation_information(
    pades_docs: PadesDocs, pades_pki: PadesPki
) -> None:
    report = check(pades_docs, pades_pki.trust(revocation_mode="soft-fail"), "no_revinfo")
    assert report.indication is Indication.OK
    assert {s.revocation for s in report.signatures} == {Revocation.UNKNOWN}


@pytest.mark.parametrize("name", ["sha1_digest", "sha1_certificate", "rsa1024"])
def test_weak_algorithms_are_refused(
    pades_docs: PadesDocs, pades_trust: TrustConfig, name: str
) -> None:
    report = check(pades_docs, pades_trust, name)
    assert report.indication is Indication.WEAK_ALGORITHM
    assert by_field(report)["Signer"].indication is Indication.WEAK_ALGORITHM


def test_sha1_digest_is_reported(pades_docs: PadesDocs, pades_trust: TrustConfig) -> None:
    report = check(pades_docs, pades_trust, "sha1_digest")
    assert by_field(report)["Signer"].digest_algorithm == "sha1"


# --------------------------------------------------------------------------- hostile files


def test_decompression_bomb_is_stopped_quickly(
    pades_docs: PadesDocs, pades_trust: TrustConfig
) -> None:
    path = pades_docs.path("bomb")
    assert path.stat().st_size < 64 * 1024  # ... and it inflates to 2 GiB

    started = time.monotonic()
    report = validate_pdf_bounded(
        path,
        sender_agency=SENDER,
        trust=pades_trust,
        policy=STRICT_DECREE_30,
        timeout_s=20,
        memory_bytes=256 << 20,
    )
    assert report.indication in (Indication.RESOURCE_LIMIT, Indication.INVALID_PDF)
    assert time.monotonic() - started < 15


def test_the_report_counts_the_pages(pades_docs: PadesDocs, pades_trust: TrustConfig) -> None:
    assert check(pades_docs, pades_trust, "ok").pages == 1
    assert check(pades_docs, pades_trust, "unsigned").pages == 1  # counted before refusing
    assert check(pades_docs, pades_trust, "ok").to_dict()["pages"] == 1


_CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
_PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"


@pytest.mark.parametrize(
    ("objects", "cause"),
    [
        ({1: _CATALOG, 2: b"<< /Type /Pages /Kids [] /Count 0 >>"}, "the PDF has no pages"),
        (
            {1: _CATALOG, 2: b"<< /Type /Pages /Kids [3 0 R 3 0 R] /Count 2 >>", 3: _PAGE},
            "reaches a node twice",
        ),
        (
            {1: _CATALOG, 2: b"<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 2 >>", 3: _PAGE},
            "reaches a node twice",
        ),
        ({1: _CATALOG, 2: b"<< /Type /Pages /Kids 3 0 R /Count 1 >>", 3: _PAGE}, "not an array"),
        ({1: b"<< /Type /Catalog >>"}, "direct object or nothing"),
    ],
    ids=["no-pages", "page-listed-twice", "cycle", "kids-not-an-array", "no-page-tree"],
)
def test_a_page_tree_that_is_empty_or_not_a_tree_is_invalid_pdf(
    pades_trust: TrustConfig, tmp_path: Path, objects: dict[int, bytes], cause: str
) -> None:
    path = tmp_path / "tree.pdf"
    path.write_bytes(classic_pdf(objects))

    report = validate_pdf(path, sender_agency=SENDER, trust=pades_trust, policy=STRICT_DECREE_30)

    assert report.indication is Indication.INVALID_PDF
    assert cause in report.detail
    assert report.pages is None


@pytest.mark.parametrize("name", ["objstm-whitespace", "objstm-nested-flate"])
def test_pages_behind_an_object_stream_bomb_are_a_resource_limit(
    pades_trust: TrustConfig, tmp_path: Path, name: str
) -> None:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(BOMBS[name]())

    report = validate_pdf(path, sender_agency=SENDER, trust=pades_trust, policy=STRICT_DECREE_30)

    assert report.indication is Indication.RESOURCE_LIMIT
    assert "Decoded stream data exceeds the limit" in report.detail


def test_encrypted_pdf(pades_docs: PadesDocs, pades_trust: TrustConfig) -> None:
    assert check(pades_docs, pades_trust, "encrypted").indication is Indication.ENCRYPTED_PDF


@pytest.mark.parametrize("fixture", fixture_files("pdf", "*.pdf"), ids=lambda p: p.name)
def test_every_shared_fixture_is_refused_without_raising(
    pades_trust: TrustConfig, fixture: Path
) -> None:
    report = validate_pdf(fixture, sender_agency=SENDER, trust=pades_trust, policy=STRICT_DECREE_30)
    assert not report.passed
    assert report.indication is not Indication.OK
    assert report.detail
    assert report.detail_vi
    if "aes256" in fixture.name or "rc4" in fixture.name or "pubkey" in fixture.name:
        assert report.indication is Indication.ENCRYPTED_PDF


def test_not_a_pdf_and_truncated_pdf(
    pades_docs: PadesDocs, pades_trust: TrustConfig, tmp_path: Path
) -> None:
    def run(data: bytes) -> Indication:
        path = tmp_path / "file.pdf"
        path.write_bytes(data)
        return validate_pdf(
            path, sender_agency=SENDER, trust=pades_trust, policy=STRICT_DECREE_30
        ).indication

    assert run(b"") is Indication.NOT_A_PDF
    assert run(b"PK\x03\x04 this is a zip" * 50) is Indication.NOT_A_PDF
    ok = pades_docs.data("ok")
    assert run(ok[: len(ok) // 2]) is Indication.INVALID_PDF
    missing = validate_pdf(
        tmp_path / "absent.pdf", sender_agency=SENDER, trust=pades_trust, policy=STRICT_DECREE_30
    )
    assert missing.indication is Indication.INVALID_PDF


# --------------------------------------------------------------------------- sandbox


def test_pool_validates_and_survives_a_timeout(
    pades_docs: PadesDocs, pades_trust: TrustConfig
) -> None:
    ok = pades_docs.path("ok")
    kwargs = {"sender_agency": SENDER, "trust": pades_trust, "policy": STRICT_DECREE_30}
    with ValidatorPool(1, timeout_s=30) as pool:
        assert pool.validate(ok, **kwargs).passed  # type: ignore[arg-type]
        stopped = pool.validate(ok, timeout_s=0.001, **kwargs)  # type: ignore[arg-type]
        assert stopped.indication is Indication.RESOURCE_LIMIT
        assert pool.validate(ok, **kwargs).passed  # type: ignore[arg-type]


def test_pool_serves_concurrent_callers(pades_docs: PadesDocs, pades_trust: TrustConfig) -> None:
    names = ["ok", "signer_only", "flipped_contents", "ok", "seal_first", "ok"]
    paths = [pades_docs.path(name) for name in names]
    with ValidatorPool(2) as pool, ThreadPoolExecutor(max_workers=4) as threads:
        reports = list(
            threads.map(
                lambda path: pool.validate(
                    path, sender_agency=SENDER, trust=pades_trust, policy=STRICT_DECREE_30
                ),
                paths,
            )
        )
    assert [r.indication for r in reports] == [
        Indication.OK,
        Indication.MISSING_SEAL,
        Indication.SIGNATURE_INVALID,
        Indication.OK,
        Indication.SEAL_BEFORE_SIGNER,
        Indication.OK,
    ]


def test_worker_memory_cap_is_enforced(pades_docs: PadesDocs, pades_trust: TrustConfig) -> None:
    # A 32 MiB signature /Contents takes ~100 MiB to parse: over a 128 MiB cap, not 512 MiB.
    path = pades_docs.path("oversized_signature")
    kwargs = {"sender_agency": SENDER, "trust": pades_trust, "policy": STRICT_DECREE_30}
    capped = validate_pdf_bounded(path, memory_bytes=128 << 20, **kwargs)  # type: ignore[arg-type]
    assert capped.indication is Indication.RESOURCE_LIMIT
    roomy = validate_pdf_bounded(path, memory_bytes=512 << 20, **kwargs)  # type: ignore[arg-type]
    assert roomy.indication is Indication.SIGNATURE_INVALID


def test_validate_pdf_works_inside_an_event_loop(
    pades_docs: PadesDocs, pades_trust: TrustConfig
) -> None:
    async def inside() -> ValidationReport:
        return check(pades_docs, pades_trust, "ok")

    assert asyncio.run(inside()).passed


# --------------------------------------------------------------------------- units


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("000.00.00.G22", "000.00.00.G22"),
        ("VN:000.00.00.G22", "000.00.00.G22"),
        ("NTRVN-002.00.20.H13", "002.00.20.H13"),
        ("28.22.H17", "28.22.H17"),
        ("000.00.00.Н41", None),  # Cyrillic Н
        ("000.00.00.g22", None),
        ("CCCD:001099012345", None),
        ("vn:000.00.00.G22", None),
        ("", None),
    ],
)
def test_agency_codes_read_from_certificates(value: str, code: str | None) -> None:
    assert agency_code_of(value) == code


def test_certificates_are_classified_by_subject_and_key_usage(pades_pki: PadesPki) -> None:
    assert classify(pades_pki.cert("leader")) == (Role.SIGNER, SENDER)
    assert classify(pades_pki.cert("leader-h41")) == (Role.SIGNER, OTHER_AGENCY)
    assert classify(pades_pki.cert("leader-unattributed")) == (Role.SIGNER, None)
    # An ID card number makes a person even beside an agency code: never the agency's seal.
    assert classify(pades_pki.cert("leader-cccd")) == (Role.SIGNER, SENDER)
    assert classify(pades_pki.cert("seal-g22")) == (Role.SEAL, SENDER)
    assert classify(pades_pki.cert("seal-h41")) == (Role.SEAL, OTHER_AGENCY)
    assert classify(pades_pki.cert("tsa"))[0] is Role.UNKNOWN


def test_configuration_errors_fail_at_start_up(pades_pki: PadesPki) -> None:
    with pytest.raises(ValueError, match="trust root"):
        TrustConfig(roots=())
    with pytest.raises(ValueError):  # noqa: PT011 - asn1crypto's message, not ours
        TrustConfig(roots=(b"not a certificate",))
    with pytest.raises(ValueError, match="revocation mode"):
        TrustConfig(roots=(pades_pki.cert("root").dump(),), revocation_mode="none")  # type: ignore[arg-type]
    pem = pades_pki.cert("root").dump()
    from asn1crypto import pem as asn1_pem

    assert TrustConfig(roots=[asn1_pem.armor("CERTIFICATE", pem)]).roots  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="OTHER"):
        SignaturePolicy(allowed_between_signatures=validation.ModificationLevel.OTHER)
    with pytest.raises(ValueError, match="looser"):
        SignaturePolicy(
            allowed_modifications=validation.ModificationLevel.FORM_FILLING,
            allowed_between_signatures=validation.ModificationLevel.LTA_UPDATES,
        )


@pytest.mark.parametrize(
    "data",
    [
        b"<48656c6c6f> rest",
        b"<48 65\n6C\t6c\r6f\x00> rest",
        b"<486> rest",
        b"<> rest",
        b"<48%comment\n65> rest",
        b"<4G> rest",
        b"<4865",
    ],
)
def test_fast_hex_string_reader_matches_pyhanko(data: bytes) -> None:
    def read(reader: object) -> tuple[object, int]:
        stream = io.BytesIO(data)
        try:
            value: object = reader(stream)  # type: ignore[operator]
        except misc.PdfReadError as exc:
            value = type(exc)
        return value, stream.tell()

    assert read(validation._read_hex_string) == read(validation._read_hex_string_slowly)


_NAME_TEXTS = [
    "Văn phòng Chính phủ",
    "VĂN PHÒNG  CHÍNH PHỦ",
    " van phong ",
    "VN:000.00.00.G22",
    "A",
]


def _encoded_name(rdns: list[list[tuple[str, str, str]]]) -> asn1_x509.Name:
    """A freshly parsed Name from (attribute, text, string type) RDNs, so no cache is warm."""
    oids = {"cn": "common_name", "o": "organization_name", "c": "country_name"}
    sequence = asn1_x509.RDNSequence(
        [
            asn1_x509.RelativeDistinguishedName(
                [
                    asn1_x509.NameTypeAndValue(
                        {
                            "type": oids[attr],
                            "value": asn1_x509.DirectoryString(
                                name=kind,
                                value=text.encode("ascii", "ignore").decode()
                                if kind == "printable_string"
                                else text,
                            ),
                        }
                    )
                    for attr, text, kind in rdn
                ]
            )
            for rdn in rdns
        ]
    )
    return asn1_x509.Name.load(asn1_x509.Name(name="", value=sequence).dump())


_RDN = st.lists(
    st.tuples(
        st.sampled_from(["cn", "o"]),
        st.sampled_from(_NAME_TEXTS),
        st.sampled_from(["utf8_string", "printable_string"]),
    ),
    min_size=1,
    max_size=2,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_RDN, min_size=1, max_size=3), st.lists(_RDN, min_size=1, max_size=3))
def test_remembered_name_comparison_matches_asn1crypto(
    left: list[list[tuple[str, str, str]]], right: list[list[tuple[str, str, str]]]
) -> None:
    """Names equal by RFC 5280 §7.1 but encoded differently (case, spaces, string types,
    RDN order), equal names, different names: the remembered comparison and hashable answer
    exactly as asn1crypto does without them."""
    for a, b in ((left, right), (left, left), (left, list(reversed(left)))):
        x, y = _encoded_name(a), _encoded_name(b)
        assert validation._names_equal(x, y) == validation._names_equal_slowly(
            _encoded_name(a), _encoded_name(b)
        )
        assert validation._name_hashable(x) == validation._name_hashable_slowly(_encoded_name(a))
    assert validation._names_equal(_encoded_name(left), "not a name") is False


def test_validation_time_defaults_to_now(pades_docs: PadesDocs, pades_trust: TrustConfig) -> None:
    before = datetime.now(UTC)
    report = check(pades_docs, pades_trust, "unsigned")
    assert report.validated_at is not None
    assert before <= report.validated_at <= datetime.now(UTC)
