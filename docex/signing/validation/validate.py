"""The entry point, ``validate_pdf``: open the file, refuse what is not a signed PDF, validate each
signature on an event loop of its own, apply the policy. Never raises for bad input."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from pyhanko.pdf_utils import misc
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

from docex.signing.validation.context import _dss_revinfo, _Run
from docex.signing.validation.pdf import HEADER_WINDOW, _uncovered_tail, page_count
from docex.signing.validation.report import (
    Indication,
    SignatureReport,
    ValidationReport,
    failure_report,
)
from docex.signing.validation.signatures import _utc, _validate_reader
from docex.signing.validation.trust import SignaturePolicy, TrustConfig, _trust
from docex.signing.validation.verdict import _verdict

logger = logging.getLogger(__name__)


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
