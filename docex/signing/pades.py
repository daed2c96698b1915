"""The signing service: one incremental PAdES signature on a PDF, as a signer or as the agency's
seal (Decree 30/2020/NĐ-CP, Appendix I), with pyHanko.

What it guarantees
------------------
- :func:`sign_pdf` appends exactly one incremental update holding one new signature field and
  its signature; the bytes before it are the input's, unchanged, so earlier signatures stay
  intact (ISO 32000-1 §12.8, incremental update).
- The signature is ETSI EN 319 142-1 PAdES: ``/ETSI.CAdES.detached`` CMS with SHA-256, the
  signer's certificate chain embedded, an ESS signing-certificate-v2 attribute, and an RFC 3161
  signature time-stamp (level **B-T**). When a validation context is given, the signer's and the
  TSA's certificate paths are validated first (a revoked or untrusted certificate is refused) and
  the OCSP responses and CRLs gathered are embedded in the document security store (level
  **B-LT**), so the signature can be validated later without reaching the PKI.
- The signature is visible, on the last page, in a box that overlaps no existing annotation
  when there is room: a seal box shows the agency's name, "Đã ký số" and the signing time; a
  signer box the signer's name, agency and signing time. Times are Vietnam time, formatted
  ``dd/MM/yyyy HH:mm:ss +07:00`` (Appendix I: ISO 8601 time zone). The seal box sits to the left
  of the signer box, as Appendix I places the agency's seal over the left of the signature.
- Bad input never gets a signature and never raises anything but :class:`SigningError` with a
  machine-readable ``code``:

  ========================= =================================================================
  ``not_a_pdf``             no ``%PDF-`` header in the first kilobyte
  ``invalid_pdf``           the PDF cannot be parsed or updated (broken xref, page tree...)
  ``encrypted_pdf``         the PDF is encrypted (password or certificate)
  ``locked_pdf``            a certification signature forbids further signatures (DocMDP P=1)
  ``unknown_key``           the key store has no such key id
  ``key_unavailable``       the key exists but cannot be loaded (passphrase)
  ``certificate_invalid``   B-LT requested and the certificate is revoked, expired or untrusted,
                            or its revocation status could not be obtained
  ``timestamp_unavailable`` the time-stamping authority refused or failed
  ========================= =================================================================

  (A naive ``now`` is a programming error and raises ``ValueError``.)
- B-LT without a network: :func:`revocation_context` builds a validation context that trusts the
  node's root, requires revocation data (hard fail) and asks the node's own OCSP responder and
  CRLs in-process; :class:`RevocationContexts` reuses one per thread for a minute on a busy node.

Fonts: the appearance is written in Vietnamese with its diacritics ("Đã ký số"), in an embedded
subset of DejaVu Sans (:mod:`docex.signing.font`: Type0/Identity-H with a ToUnicode map, about
9 KB per signature, built once per process). The signature dictionary (``/Name``,
``/Reason``) carries the same text.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from io import BytesIO
from typing import BinaryIO, Literal

from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, Signer
from pyhanko.sign.signers.pdf_signer import (
    DSSContentSettings,
    PdfSigningSession,
    PreSignValidationStatus,
    SigDSSPlacementPreference,
)
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation.pdf_embedded import read_certification_data
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext

from docex.signing.font import VietnameseFontFactory, text_width
from docex.signing.keys import KeyStoreError
from docex.signing.keystore import KeyStore, UnknownKeyError
from docex.signing.ocsp import InProcessFetcherBackend, OcspResponder
from docex.signing.pki import Pki

SigningRole = Literal["signer", "seal"]
SigningErrorCode = Literal[
    "not_a_pdf",
    "invalid_pdf",
    "encrypted_pdf",
    "locked_pdf",
    "unknown_key",
    "key_unavailable",
    "certificate_invalid",
    "timestamp_unavailable",
]

VIETNAM_TIME = timezone(timedelta(hours=7))
FIELD_PREFIX: dict[SigningRole, str] = {"signer": "docex-signer", "seal": "docex-seal"}

# Box geometry in PDF points (1/72 inch).
BOX_WIDTH = 210.0
BOX_HEIGHT = 68.0
MARGIN = 36.0
GAP = 10.0
FONT_SIZE = 8
LEADING = 11
# ECDSA signatures and time-stamp tokens vary by a few bytes from the dry run that sizes the
# /Contents placeholder; this covers it without the 2x slack of pyHanko's loose estimate.
SIZE_MARGIN = 128

SEAL_RED = (0.85, 0.0, 0.0)
SIGNER_BLUE = (0.0, 0.2, 0.6)

# Structural damage surfaces from pyHanko's parser as any of these.
_MALFORMED = (
    PdfError,
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    IndexError,
    RecursionError,
    NotImplementedError,
)


class SigningError(Exception):
    """The document was not signed; ``code`` says why (see the module docstring)."""

    def __init__(self, code: SigningErrorCode, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code: SigningErrorCode = code
        self.detail = detail


@dataclass(frozen=True)
class Placement:
    """Where the visible signature goes: 0-based page index and box (x1, y1, x2, y2)."""

    page: int
    box: tuple[int, int, int, int]


def vietnam_timestamp(moment: datetime) -> str:
    """``dd/MM/yyyy HH:mm:ss +07:00``, as Decree 30's Appendix I shows signing times."""
    if moment.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return moment.astimezone(VIETNAM_TIME).strftime("%d/%m/%Y %H:%M:%S +07:00")


def appearance_lines(
    role: SigningRole, *, signer_name: str, agency_name: str, now: datetime
) -> list[str]:
    """The text of the visible signature, one entry per line (before wrapping)."""
    when = vietnam_timestamp(now)
    if role == "seal":
        return [agency_name, "Đã ký số", f"Thời gian ký: {when}"]
    return [f"Ký bởi: {signer_name}", f"Cơ quan: {agency_name}", f"Thời gian ký: {when}"]


# -- appearance ------------------------------------------------------------------------------


def _wrap(line: str, width_em: float) -> list[str]:
    """Break ``line`` between words so each piece is at most ``width_em`` wide (a longer word
    stays whole; the box shrinks to fit it)."""
    words, out, current = line.split(), [], ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if current and text_width(candidate) > width_em:
            out.append(current)
            current = word
        else:
            current = candidate
    out.append(current)
    return out


def _stamp_style(role: SigningRole, lines: Sequence[str], box_width: float) -> TextStampStyle:
    width_em = (box_width - 12) / FONT_SIZE  # 5 pt margins and the border
    text = "\n".join(part for line in lines for part in _wrap(line, width_em))
    return TextStampStyle(
        # '%' starts an interpolation in pyHanko's template; the text is already final.
        stamp_text=text.replace("%", "%%"),
        text_box_style=TextBoxStyle(
            font=VietnameseFontFactory(),
            font_size=FONT_SIZE,
            leading=LEADING,
            text_color=SEAL_RED if role == "seal" else SIGNER_BLUE,
        ),
        border_width=1,
        border_color=SEAL_RED if role == "seal" else SIGNER_BLUE,
        background=None,
        inner_content_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MIN,
            y_align=layout.AxisAlignment.ALIGN_MID,
            margins=layout.Margins.uniform(5),
            inner_content_scaling=layout.InnerScaling.SHRINK_TO_FIT,
        ),
    )


# -- placement -------------------------------------------------------------------------------


def _inherited(page: generic.DictionaryObject, key: str) -> generic.PdfObject | None:
    node: generic.PdfObject | None = page
    for _ in range(64):  # page trees are shallow; a cycle must not loop forever
        if not isinstance(node, generic.DictionaryObject):
            return None
        if key in node:
            value: generic.PdfObject = node[key]
            return value
        parent = node.get("/Parent")
        node = parent.get_object() if parent is not None else None
    return None


def _rect(value: generic.PdfObject | None) -> tuple[float, float, float, float] | None:
    if not isinstance(value, generic.ArrayObject) or len(value) != 4:
        return None
    try:
        x1, y1, x2, y2 = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def choose_placement(
    page: generic.DictionaryObject, page_index: int, role: SigningRole
) -> Placement:
    """A box at the bottom of ``page``: the signer's on the right, the seal's to its left;
    moved up, row by row, past existing annotations while the page has room."""
    media = _rect(_inherited(page, "/CropBox")) or _rect(_inherited(page, "/MediaBox"))
    px1, py1, px2, py2 = media or (0.0, 0.0, 595.0, 842.0)
    width = min(BOX_WIDTH, max((px2 - px1 - 2 * MARGIN - GAP) / 2, 60.0))
    height = BOX_HEIGHT
    right = px2 - MARGIN
    x2 = right if role == "signer" else right - width - GAP
    x1 = x2 - width
    occupied = []
    annots = page.get("/Annots")
    if isinstance(annots, generic.ArrayObject):
        for ref in annots:
            annot = ref.get_object() if ref is not None else None
            if isinstance(annot, generic.DictionaryObject):
                rect = _rect(annot.get("/Rect"))
                if rect is not None:
                    occupied.append(rect)
    y1 = py1 + MARGIN
    while True:
        box = (x1, y1, x2, y1 + height)
        if not any(_overlaps(box, other) for other in occupied):
            break
        if y1 + 2 * height + GAP > py2 - MARGIN:
            y1 = py1 + MARGIN  # no free row: overlap rather than leave the page
            break
        y1 += height + GAP
    return Placement(page_index, (round(x1), round(y1), round(x2), round(y1 + height)))


def _field_name(writer: IncrementalPdfFileWriter, role: SigningRole) -> str:
    taken = {name for name, _, _ in fields.enumerate_sig_fields(writer)}
    n = 1
    while f"{FIELD_PREFIX[role]}-{n}" in taken:
        n += 1
    return f"{FIELD_PREFIX[role]}-{n}"


# -- signing ---------------------------------------------------------------------------------


def _open(data: bytes) -> IncrementalPdfFileWriter:
    if b"%PDF-" not in data[:1024]:
        raise SigningError("not_a_pdf", "the file does not start with a PDF header")
    try:
        writer = IncrementalPdfFileWriter(BytesIO(data), strict=True)
        encrypted = writer.prev.encrypted or "/Encrypt" in writer.prev.trailer
    except _MALFORMED as exc:
        raise SigningError("invalid_pdf", f"the PDF cannot be read: {exc}") from exc
    if encrypted:
        raise SigningError("encrypted_pdf", "the PDF is encrypted; sign the decrypted document")
    try:
        docmdp = read_certification_data(writer.prev)
    except _MALFORMED as exc:
        raise SigningError("invalid_pdf", f"the certification signature is broken: {exc}") from exc
    if docmdp is not None and docmdp.permission.value <= 1:
        raise SigningError("locked_pdf", "a certification signature forbids any change")
    return writer


async def async_sign_pdf(
    source: BinaryIO,
    *,
    key_store: KeyStore,
    key_id: str,
    role: SigningRole,
    timestamper: TimeStamper,
    validation_context: ValidationContext | None,
    signer_name: str,
    agency_name: str,
    now: datetime,
    output: BinaryIO | None = None,
) -> bytes:
    """Coroutine form of :func:`sign_pdf`, for callers already inside an event loop (the PDF
    work itself is CPU-bound: run it in a worker thread or process)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    data = source.read()
    writer = _open(data)
    try:
        signer = key_store.signer_for(key_id)
    except UnknownKeyError as exc:
        raise SigningError("unknown_key", f"no signing key {key_id!r}") from exc
    except KeyStoreError as exc:
        raise SigningError("key_unavailable", str(exc)) from exc

    try:
        field_name = _field_name(writer, role)
        page_ref, _ = writer.find_page_for_modification(-1)
        page = page_ref.get_object()
        page_count = int(writer.root["/Pages"]["/Count"])
        placement = choose_placement(page, page_count - 1, role)
    except _MALFORMED as exc:
        raise SigningError("invalid_pdf", f"the page tree cannot be read: {exc}") from exc
    lines = appearance_lines(role, signer_name=signer_name, agency_name=agency_name, now=now)
    style = _stamp_style(role, lines, placement.box[2] - placement.box[0])
    meta = PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        name=agency_name if role == "seal" else signer_name,
        reason="Chữ ký số của cơ quan, tổ chức"
        if role == "seal"
        else "Chữ ký số của người có thẩm quyền",
        embed_validation_info=validation_context is not None,
        validation_context=validation_context,
        # B-LT in one revision: the revocation data goes into the DSS of the revision that
        # carries the signature, not a revision of its own after it (no VRI, which PAdES
        # baseline no longer uses). Half the revisions for a validator to analyse.
        dss_settings=DSSContentSettings(
            include_vri=False, placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE
        ),
    )
    pdf_signer = PdfSigner(
        meta,
        signer,
        timestamper=timestamper,
        stamp_style=style,
        new_field_spec=fields.SigFieldSpec(
            sig_field_name=field_name, on_page=-1, box=placement.box
        ),
    )

    try:
        session = pdf_signer.init_signing_session(writer)
    except PyHankoSigningError as exc:
        raise SigningError("locked_pdf", str(exc)) from exc
    except _MALFORMED as exc:
        raise SigningError("invalid_pdf", f"the PDF cannot be updated: {exc}") from exc
    session.system_time = now
    try:
        validation = await session.perform_presign_validation(writer)
    except PyHankoSigningError as exc:
        raise SigningError("certificate_invalid", _cause(exc)) from exc
    try:
        estimate = await _estimate_size(session, validation, signer, timestamper)
        tbs = session.prepare_tbs_document(
            validation_info=validation,
            bytes_reserved=estimate + SIZE_MARGIN,
            appearance_text_params=None,
        )
        digest, out = tbs.digest_tbs_document(output=output)
    except TimestampRequestError as exc:
        raise SigningError("timestamp_unavailable", str(exc)) from exc
    except _MALFORMED as exc:
        raise SigningError("invalid_pdf", f"the PDF cannot be updated: {exc}") from exc
    try:
        from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes

        post = await tbs.perform_signature(
            document_digest=digest.document_digest,
            pdf_cms_signed_attrs=PdfCMSSignedAttributes(signing_time=now),
        )
        await post.post_signature_processing(out)
    except TimestampRequestError as exc:
        raise SigningError("timestamp_unavailable", str(exc)) from exc
    except KeyStoreError as exc:  # the token holding the key failed while signing
        raise SigningError("key_unavailable", str(exc)) from exc
    out.seek(0)
    return bytes(out.read())


# Sizing the /Contents placeholder costs a full dry-run signature; for PAdES the CMS size
# depends only on the signer's certificates and the TSA's token, so it is measured once per
# (time-stamper, certificate) and reused.
_SIZES: weakref.WeakKeyDictionary[TimeStamper, dict[bytes, int]] = weakref.WeakKeyDictionary()


async def _estimate_size(
    session: PdfSigningSession,
    validation: PreSignValidationStatus | None,
    signer: Signer,
    timestamper: TimeStamper,
) -> int:
    cert = signer.signing_cert
    key = hashlib.sha256(cert.dump()).digest() if cert is not None else b""
    sizes = _SIZES.setdefault(timestamper, {})
    size = sizes.get(key)
    if size is None:
        size = int(await session.estimate_signature_container_size(validation, tight=True))
        sizes[key] = size
    return size


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__
    return f"{exc}: {cause}" if cause is not None else str(exc)


def sign_pdf(
    source: BinaryIO,
    *,
    key_store: KeyStore,
    key_id: str,
    role: SigningRole,
    timestamper: TimeStamper,
    validation_context: ValidationContext | None,
    signer_name: str,
    agency_name: str,
    now: datetime,
    output: BinaryIO | None = None,
) -> bytes:
    """Add one PAdES signature (B-T, or B-LT with ``validation_context``) to the PDF read from
    ``source``, with ``key_id`` from ``key_store``, visible on the last page.

    Returns the signed PDF (the input plus one incremental update); also writes it to
    ``output`` when given. ``now`` is the signing time shown and put in the signature
    dictionary; the time-stamp's time comes from the TSA. Raises :class:`SigningError`.
    """
    # A private loop rather than asyncio.run(): in the main thread, asyncio.Runner's SIGINT
    # bookkeeping formats the repr of the finished task, i.e. of the whole signed PDF.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(
            async_sign_pdf(
                source,
                key_store=key_store,
                key_id=key_id,
                role=role,
                timestamper=timestamper,
                validation_context=validation_context,
                signer_name=signer_name,
                agency_name=agency_name,
                now=now,
                output=output,
            )
        )
    finally:
        loop.close()


def revocation_context(
    pki: Pki,
    *,
    responder: OcspResponder | None = None,
    trust_roots: Sequence[x509.Certificate] | None = None,
) -> ValidationContext:
    """A validation context for B-LT signing with the node's own PKI: trusts its root, requires
    revocation data for every certificate (hard fail), and fetches OCSP responses and CRLs
    in-process (:class:`~docex.signing.ocsp.InProcessFetcherBackend`), never from the network.

    Build one per document: it caches what it fetched."""
    roots = (
        [_asn1_cert(c) for c in trust_roots] if trust_roots else [_asn1_cert(pki.root_certificate)]
    )
    return ValidationContext(
        trust_roots=roots,
        other_certs=[_asn1_cert(pki.issuing_certificate)],
        allow_fetching=True,
        fetcher_backend=InProcessFetcherBackend(pki, responder),
        revocation_mode="hard-fail",
    )


class RevocationContexts:
    """B-LT validation contexts for a busy node: one per thread, renewed after ``max_age``.

    A context caches the OCSP responses, CRLs and validated paths it fetched, and building and
    filling a new one costs more than the signature itself; reusing it for ``max_age`` (one
    minute by default) trades that for revocation news up to ``max_age`` old, well inside the
    day an OCSP response is valid for. Each thread gets its own context: pyHanko's are not
    meant to be shared between event loops.
    """

    def __init__(
        self,
        pki: Pki,
        *,
        max_age: timedelta = timedelta(minutes=1),
        responder: OcspResponder | None = None,
    ) -> None:
        self._pki = pki
        self._max_age = max_age
        self._responder = responder or OcspResponder(pki)
        self._local = threading.local()

    def current(self) -> ValidationContext:
        """The calling thread's context, rebuilt if older than ``max_age``."""
        now = time.monotonic()
        made: float | None = getattr(self._local, "made", None)
        context: ValidationContext | None = getattr(self._local, "context", None)
        if context is None or made is None or now - made > self._max_age.total_seconds():
            context = revocation_context(self._pki, responder=self._responder)
            self._local.context, self._local.made = context, now
        return context


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
