"""From the reports of every signature to the document's verdict under the ``SignaturePolicy``
(Decree 30: signer and seal of the sender, seal after the signer)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from docex.signing.validation.report import (
    _MESSAGES,
    Indication,
    Role,
    SignatureReport,
    ValidationReport,
    first_failure,
)
from docex.signing.validation.trust import SignaturePolicy

_MAX_CAUSE: Final = 300  # characters of technical cause appended to a report's detail


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
