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
  ``resource_limit``        parsing the PDF hit a decode limit, or (in the node's sandbox) its
                            memory, CPU or time limit
  ========================= =================================================================

  (A naive ``now`` is a programming error and raises ``ValueError``.)
- The document is parsed in one step only, :func:`prepare_signature`, which needs no key: the
  node runs it in a bounded worker process (:mod:`docex.signing.sandbox`) and keeps the keys in
  its own process, which signs the digest and writes the CMS into the placeholder (pyHanko's
  interrupted signing, ``PdfTBSDocument``/``PreparedByteRangeDigest``). That split was chosen
  over probing the file in the sandbox before signing it in process: a probe proves only that
  *its* reads were bounded, while here the process holding the keys never parses the hostile
  bytes at all. The document written is the one the one-step flow (``PdfSigner``'s own signing
  session) wrote, byte for byte but for the random font-subset tag and file ``/ID``.
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
import shutil
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from io import BytesIO
from typing import BinaryIO, Literal, Protocol

from asn1crypto import crl as asn1_crl  # type: ignore[import-untyped]
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfDecodeLimitError, PdfError
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, Signer
from pyhanko.sign.signers.constants import DEFAULT_SIGNER_KEY_USAGE
from pyhanko.sign.signers.pdf_byterange import PreparedByteRangeDigest
from pyhanko.sign.signers.pdf_cms import ExternalSigner, PdfCMSSignedAttributes
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.pdf_embedded import read_certification_data
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import PathError
from pyhanko_certvalidator.errors import ValidationError as CertValidationError
from pyhanko_certvalidator.registry import SimpleCertificateStore

from docex.signing.font import VietnameseFontFactory, text_width
from docex.signing.keys import KeyStoreError
from docex.signing.keystore import KeyStore, UnknownKeyError
from docex.signing.ocsp import InProcessFetcherBackend, OcspResponder
from docex.signing.pki import Pki
from docex.signing.validation import page_count as count_pages

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
    "resource_limit",
]
MD_ALGORITHM = "sha256"
HEADER_WINDOW = 1024  # ISO 32000-2 §7.5.2: readers look for the header in the first KiB

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
#
# One signature in three steps, so that the process holding the keys never parses the PDF:
#
#   plan      (key holder)  validate the signer's and the TSA's paths, gather the revocation
#                           data to embed, size the CMS: a SignatureRequest, public data only;
#   prepare   (any process) parse the PDF, add the field, appearance, DSS and signature
#                           dictionary with a placeholder, write the result and digest the
#                           /ByteRange: a PreparedSignature (pyHanko's interrupted signing);
#   complete  (key holder)  sign the digest (CMS with its RFC 3161 token) and write it into the
#                           placeholder: a seek and a write, no parsing.
#
# ``sign_pdf`` runs all three in the calling process (for documents the caller trusts); the node
# passes a ``preparer`` that runs ``prepare`` in a bounded worker (docex.signing.sandbox).


@dataclass(frozen=True)
class DssContent:
    """What goes into the document security store with the signature (PAdES B-LT): DER of the
    certificates of every validated path (signer's and TSA's, roots included), the OCSP
    responses and the CRLs gathered while validating them."""

    certificates: tuple[bytes, ...]
    ocsps: tuple[bytes, ...]
    crls: tuple[bytes, ...]


@dataclass(frozen=True)
class SignatureRequest:
    """Everything :func:`prepare_signature` needs, and nothing secret: it may cross to a worker
    process that parses untrusted bytes. ``dss`` is None for B-T."""

    role: SigningRole
    signer_name: str
    agency_name: str
    now: datetime
    certificate: bytes
    """DER of the signing certificate (its key type picks the PDF extensions declared)."""
    bytes_reserved: int
    """Hex digits reserved for the CMS in ``/Contents``."""
    dss: DssContent | None = None


@dataclass(frozen=True)
class PreparedSignature:
    """A document in its final pre-signing state, written out: the SHA-256 of its
    ``/ByteRange`` and where the hex placeholder for the CMS lies (``[start, end)``, the
    delimiters ``<`` and ``>`` included)."""

    document_digest: bytes
    reserved_start: int
    reserved_end: int


class Preparer(Protocol):
    """Runs :func:`prepare_signature`: here (the default) or in a bounded worker."""

    def __call__(
        self, source: BinaryIO, output: BinaryIO, request: SignatureRequest
    ) -> PreparedSignature: ...


def check_header(source: BinaryIO) -> None:
    """``not_a_pdf`` unless ``%PDF-`` is in the first KiB; reads that much, then rewinds."""
    start = source.tell()
    head = source.read(HEADER_WINDOW)
    source.seek(start)
    if b"%PDF-" not in head:
        raise SigningError("not_a_pdf", "the file does not start with a PDF header")


def _open(source: BinaryIO) -> IncrementalPdfFileWriter:
    check_header(source)
    try:
        writer = IncrementalPdfFileWriter(source, strict=True)
        encrypted = writer.prev.encrypted or "/Encrypt" in writer.prev.trailer
    except PdfDecodeLimitError:
        raise
    except _MALFORMED as exc:
        raise SigningError("invalid_pdf", f"the PDF cannot be read: {exc}") from exc
    if encrypted:
        raise SigningError("encrypted_pdf", "the PDF is encrypted; sign the decrypted document")
    try:
        docmdp = read_certification_data(writer.prev)
    except PdfDecodeLimitError:
        raise
    except _MALFORMED as exc:
        raise SigningError("invalid_pdf", f"the certification signature is broken: {exc}") from exc
    if docmdp is not None and docmdp.permission.value <= 1:
        raise SigningError("locked_pdf", "a certification signature forbids any change")
    return writer


def _metadata(request: SignatureRequest, field_name: str) -> PdfSignatureMetadata:
    seal = request.role == "seal"
    return PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm=MD_ALGORITHM,
        subfilter=fields.SigSeedSubFilter.PADES,
        name=request.agency_name if seal else request.signer_name,
        reason="Chữ ký số của cơ quan, tổ chức" if seal else "Chữ ký số của người có thẩm quyền",
        # The revocation data was gathered by the planner and is written below, in the
        # revision that carries the signature (no VRI, which PAdES baseline no longer uses):
        # half the revisions for a validator to analyse than a DSS revision of its own.
        embed_validation_info=False,
    )


def prepare_signature(
    source: BinaryIO, output: BinaryIO, request: SignatureRequest
) -> PreparedSignature:
    """Parse the PDF read from ``source`` and write it to ``output`` in its final pre-signing
    state: a new signature field on the last page with its appearance, the DSS (B-LT), and a
    signature dictionary whose ``/Contents`` is a placeholder of ``request.bytes_reserved`` hex
    digits. This is the only step that parses the document: on untrusted input, run it where
    time and memory are capped. Raises :class:`SigningError` (``resource_limit`` when one of
    pyHanko's decode limits stops a bomb)."""
    try:
        return _prepare(source, output, request)
    except PdfDecodeLimitError as exc:
        raise SigningError("resource_limit", str(exc)[:200]) from exc


def _prepare(source: BinaryIO, output: BinaryIO, request: SignatureRequest) -> PreparedSignature:
    writer = _open(source)
    role = request.role
    try:
        # The page tree as intake checks it (a tree, at least one page): the service does not
        # sign what the node would refuse to take in.
        if count_pages(writer.prev) < 1:
            raise SigningError("invalid_pdf", "the PDF has no pages")
        field_name = _field_name(writer, role)
        page_ref, _ = writer.find_page_for_modification(-1)
        page = page_ref.get_object()
        page_count = int(writer.root["/Pages"]["/Count"])
        placement = choose_placement(page, page_count - 1, role)
    except PdfDecodeLimitError:
        raise
    except _MALFORMED as exc:
        raise SigningError("invalid_pdf", f"the page tree cannot be read: {exc}") from exc
    lines = appearance_lines(
        role, signer_name=request.signer_name, agency_name=request.agency_name, now=request.now
    )
    # A stand-in that only shows the certificate: pyHanko reads its key type to declare the
    # PDF extensions the signature needs; the signature itself is made elsewhere.
    stand_in = ExternalSigner(
        signing_cert=asn1_x509.Certificate.load(request.certificate),
        cert_registry=SimpleCertificateStore(),
        signature_value=bytes(64),
    )
    pdf_signer = PdfSigner(
        _metadata(request, field_name),
        stand_in,
        stamp_style=_stamp_style(role, lines, placement.box[2] - placement.box[0]),
        new_field_spec=fields.SigFieldSpec(
            sig_field_name=field_name, on_page=-1, box=placement.box
        ),
    )
    try:
        session = pdf_signer.init_signing_session(writer)
    except PyHankoSigningError as exc:
        raise SigningError("locked_pdf", str(exc)) from exc
    except PdfDecodeLimitError:
        raise
    except _MALFORMED as exc:
        raise SigningError("invalid_pdf", f"the PDF cannot be updated: {exc}") from exc
    session.system_time = request.now
    try:
        if request.dss is not None:
            DocumentSecurityStore.supply_dss_in_writer(
                writer,
                sig_contents=None,
                certs=[asn1_x509.Certificate.load(c) for c in request.dss.certificates],
                ocsps=[asn1_ocsp.OCSPResponse.load(o) for o in request.dss.ocsps],
                crls=[asn1_crl.CertificateList.load(c) for c in request.dss.crls],
            )
        tbs = session.prepare_tbs_document(
            validation_info=None,
            bytes_reserved=request.bytes_reserved,
            appearance_text_params=None,
        )
        prepared, written = tbs.digest_tbs_document(output=output)
        if written is not output:  # pyHanko writes to a buffer unless output is readable too
            written.seek(0)
            shutil.copyfileobj(written, output)
    except PdfDecodeLimitError:
        raise
    except _MALFORMED as exc:
        raise SigningError("invalid_pdf", f"the PDF cannot be updated: {exc}") from exc
    return PreparedSignature(
        document_digest=prepared.document_digest,
        reserved_start=prepared.reserved_region_start,
        reserved_end=prepared.reserved_region_end,
    )


def signer_from(key_store: KeyStore, key_id: str) -> Signer:
    """The key store's signer for ``key_id``, or :class:`SigningError`."""
    try:
        return key_store.signer_for(key_id)
    except UnknownKeyError as exc:
        raise SigningError("unknown_key", f"no signing key {key_id!r}") from exc
    except KeyStoreError as exc:
        raise SigningError("key_unavailable", str(exc)) from exc


async def _dss_content(
    signer: Signer, timestamper: TimeStamper, context: ValidationContext
) -> DssContent:
    """pyHanko's pre-signing validation: the signer's path (non-repudiation), the TSA's paths,
    and the revocation data gathered on the way. A revoked, expired or untrusted certificate,
    or one whose revocation status cannot be obtained, is ``certificate_invalid``."""
    validator = CertificateValidator(
        signer.signing_cert, intermediate_certs=signer.cert_registry, validation_context=context
    )
    try:
        paths = [await validator.async_validate_usage(DEFAULT_SIGNER_KEY_USAGE)]
        paths += [path async for path in timestamper.validation_paths(context)]
    except TimestampRequestError as exc:
        raise SigningError("timestamp_unavailable", str(exc)) from exc
    except (PathError, CertValidationError) as exc:
        raise SigningError(
            "certificate_invalid", f"a certificate could not be validated: {exc}"
        ) from exc
    skip = 0 if signer.embed_roots else 1
    return DssContent(
        certificates=tuple(cert.dump() for path in paths for cert in list(path)[skip:]),
        ocsps=tuple(response.dump() for response in context.ocsps),
        crls=tuple(crl.dump() for crl in context.crls),
    )


async def plan_signature(
    signer: Signer,
    *,
    role: SigningRole,
    timestamper: TimeStamper,
    validation_context: ValidationContext | None,
    signer_name: str,
    agency_name: str,
    now: datetime,
) -> SignatureRequest:
    """The request for :func:`prepare_signature`, made where the key is: B-LT revocation data
    when ``validation_context`` is given, and the size of the CMS to reserve."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    certificate = signer.signing_cert
    if certificate is None:
        raise SigningError("key_unavailable", "the signing key comes without its certificate")
    dss = None
    if validation_context is not None:
        dss = await _dss_content(signer, timestamper, validation_context)
    try:
        estimate = await _estimate_size(signer, timestamper, now)
    except TimestampRequestError as exc:
        raise SigningError("timestamp_unavailable", str(exc)) from exc
    except KeyStoreError as exc:
        raise SigningError("key_unavailable", str(exc)) from exc
    return SignatureRequest(
        role=role,
        signer_name=signer_name,
        agency_name=agency_name,
        now=now,
        certificate=certificate.dump(),
        bytes_reserved=estimate + SIZE_MARGIN,
        dss=dss,
    )


async def complete_signature(
    output: BinaryIO,
    prepared: PreparedSignature,
    *,
    signer: Signer,
    timestamper: TimeStamper,
    now: datetime,
) -> None:
    """Sign ``prepared.document_digest`` (PAdES CMS with an RFC 3161 signature time-stamp) and
    write the CMS into the placeholder of ``output``: no parsing of the document."""
    try:
        signature = await signer.async_sign(
            prepared.document_digest,
            MD_ALGORITHM,
            use_pades=True,
            timestamper=timestamper,
            signed_attr_settings=PdfCMSSignedAttributes(signing_time=now),
        )
    except TimestampRequestError as exc:
        raise SigningError("timestamp_unavailable", str(exc)) from exc
    except KeyStoreError as exc:  # the token holding the key failed while signing
        raise SigningError("key_unavailable", str(exc)) from exc
    PreparedByteRangeDigest(
        document_digest=prepared.document_digest,
        reserved_region_start=prepared.reserved_start,
        reserved_region_end=prepared.reserved_end,
    ).fill_with_cms(output, signature)


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
    preparer: Preparer = prepare_signature,
) -> bytes:
    """Coroutine form of :func:`sign_pdf`, for callers already inside an event loop. The
    ``preparer`` is called synchronously (it parses the PDF, CPU-bound: in a worker thread or
    process, not on a busy loop)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    check_header(source)
    signer = signer_from(key_store, key_id)
    request = await plan_signature(
        signer,
        role=role,
        timestamper=timestamper,
        validation_context=validation_context,
        signer_name=signer_name,
        agency_name=agency_name,
        now=now,
    )
    out = output if output is not None else BytesIO()
    prepared = preparer(source, out, request)
    await complete_signature(out, prepared, signer=signer, timestamper=timestamper, now=now)
    out.seek(0)
    return bytes(out.read())


# Sizing the /Contents placeholder costs a full dry-run signature; for PAdES the CMS size
# depends only on the signer's certificates and the TSA's token, so it is measured once per
# (time-stamper, certificate) and reused.
_SIZES: weakref.WeakKeyDictionary[TimeStamper, dict[bytes, int]] = weakref.WeakKeyDictionary()


async def _estimate_size(signer: Signer, timestamper: TimeStamper, now: datetime) -> int:
    """Hex digits of a dry-run CMS (pyHanko's ``estimate_signature_container_size``, tight)."""
    cert = signer.signing_cert
    key = hashlib.sha256(cert.dump()).digest() if cert is not None else b""
    sizes = _SIZES.setdefault(timestamper, {})
    size = sizes.get(key)
    if size is None:
        dry_run = await signer.async_sign(
            hashlib.sha256().digest(),
            MD_ALGORITHM,
            use_pades=True,
            dry_run=True,
            timestamper=timestamper,
            signed_attr_settings=PdfCMSSignedAttributes(signing_time=now),
        )
        size = len(dry_run.dump()) * 2
        sizes[key] = size
    return size


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
    preparer: Preparer = prepare_signature,
) -> bytes:
    """Add one PAdES signature (B-T, or B-LT with ``validation_context``) to the PDF read from
    ``source``, with ``key_id`` from ``key_store``, visible on the last page.

    Returns the signed PDF (the input plus one incremental update); also writes it to
    ``output`` when given. ``now`` is the signing time shown and put in the signature
    dictionary; the time-stamp's time comes from the TSA. ``preparer`` parses the document:
    in this process by default, for input the caller trusts; the node's signing service passes
    a bounded worker's. Raises :class:`SigningError`.
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
                preparer=preparer,
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
