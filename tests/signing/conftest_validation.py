"""Fixtures for the PAdES validation tests: the offline test PKI and every signed or attacked
PDF, built once per session, lazily (a test builds only the documents it asks for)."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pytest
from asn1crypto import cms  # type: ignore[import-untyped]
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from docex.kit.samplepdf import sample_pdf
from docex.signing.validation import TrustConfig
from tests.signing.pki import PadesPki, build_pki

SEED = b"docex-pades-tests"
SHADOW_HIDDEN = b"q 1 0 0 1 0 0 cm Q\n"
SHADOW_REVEALED = b"BT /F1 24 Tf 72 600 Td (APPROVED: pay 10 billion VND) Tj ET\n"
INJECTED = b"BT /F1 18 Tf 72 720 Td (Cong van so 2 - noi dung da sua) Tj ET\n"


def _incremental(data: bytes, change: Callable[[IncrementalPdfFileWriter], None]) -> bytes:
    writer = IncrementalPdfFileWriter(BytesIO(data), strict=False)
    change(writer)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _replace_page_content(writer: IncrementalPdfFileWriter) -> None:
    """The incremental saving attack: a new revision swaps the page's content stream."""
    page_ref, _ = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    page["/Contents"] = writer.add_object(generic.StreamObject(stream_data=INJECTED))
    writer.update_container(page)


def _add_overlay(writer: IncrementalPdfFileWriter) -> None:
    """Shadow attack, step 1 (before signing): an innocent, empty overlay XObject on the page."""
    overlay = generic.StreamObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/XObject"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Form"),
            generic.pdf_name("/BBox"): generic.ArrayObject(
                [generic.NumberObject(n) for n in (0, 0, 595, 842)]
            ),
            generic.pdf_name("/Resources"): generic.DictionaryObject(
                {
                    generic.pdf_name("/Font"): generic.DictionaryObject(
                        {
                            generic.pdf_name("/F1"): generic.DictionaryObject(
                                {
                                    generic.pdf_name("/Type"): generic.pdf_name("/Font"),
                                    generic.pdf_name("/Subtype"): generic.pdf_name("/Type1"),
                                    generic.pdf_name("/BaseFont"): generic.pdf_name("/Helvetica"),
                                }
                            )
                        }
                    )
                }
            ),
        },
        stream_data=SHADOW_HIDDEN,
    )
    overlay_ref = writer.add_object(overlay)
    draw = writer.add_object(generic.StreamObject(stream_data=b"q /Fx1 Do Q\n"))
    resources = generic.DictionaryObject(
        {
            generic.pdf_name("/XObject"): generic.DictionaryObject(
                {generic.pdf_name("/Fx1"): overlay_ref}
            )
        }
    )
    writer.add_stream_to_page(0, draw, resources=resources)


def _reveal_overlay(writer: IncrementalPdfFileWriter) -> None:
    """Shadow attack, step 2 (after signing): a new revision swaps the overlay's content in."""
    page_ref, _ = writer.find_page_for_modification(0)
    overlay = page_ref.get_object()["/Resources"]["/XObject"].raw_get("/Fx1")
    old = overlay.get_object()
    replacement = generic.StreamObject(
        {key: old.raw_get(key) for key in old if key != "/Length"},
        stream_data=SHADOW_REVEALED,
    )
    # What IncrementalPdfFileWriter.mark_update does, with a new object in the old one's place.
    writer.objects[(overlay.generation, overlay.idnum)] = replacement


def _last_contents_span(data: bytes) -> tuple[int, int]:
    """Offsets of the hex digits of the last /Contents <...> in the file."""
    matches = list(re.finditer(rb"/Contents\s*<", data))
    assert matches
    start = matches[-1].end()
    return start, data.index(b">", start)


def flip_in_signature_value(data: bytes) -> bytes:
    """Flip one bit of the cryptographic signature inside the last signature's /Contents."""
    start, end = _last_contents_span(data)
    der = bytes.fromhex(data[start:end].decode())
    info = cms.ContentInfo.load(der)
    value = info["content"]["signer_infos"][0]["signature"].native
    offset = der.index(value) + len(value) // 2
    hex_at = start + 2 * offset
    digit = data[hex_at : hex_at + 1]
    flipped = b"%x" % (int(digit, 16) ^ 1)
    return data[:hex_at] + flipped + data[hex_at + 1 :]


def flip_in_signed_range(data: bytes) -> bytes:
    """Flip a byte of the page text, inside every signature's byte range."""
    marker = SEED.hex().encode()
    at = data.index(marker)
    flipped = b"1" if data[at : at + 1] != b"1" else b"2"
    return data[:at] + flipped + data[at + 1 :]


def _same_length(data: bytes, old: bytes, new: bytes, *, last: bool = True) -> bytes:
    """Rewrite bytes without moving anything (the xref offsets stay right)."""
    assert len(old) == len(new)
    at = data.rindex(old) if last else data.index(old)
    return data[:at] + new + data[at + len(old) :]


def strip_contents(data: bytes, *, empty: bool) -> bytes:
    start, end = _last_contents_span(data)
    if empty:  # "/Contents <>" followed by blanks where the hex was
        return data[:start] + b">" + b" " * (end - start) + data[end + 1 :]
    return _same_length(data, b"/Contents", b"/Contentz")


def strip_byte_range(data: bytes, *, empty: bool) -> bytes:
    matches = list(re.finditer(rb"/ByteRange\s*\[([^\]]*)\]", data))
    assert matches
    match = matches[-1]
    if empty:
        blank = b" " * (match.end(1) - match.start(1))
        return data[: match.start(1)] + blank + data[match.end(1) :]
    return data[: match.start()] + b"/ByteRangz" + data[match.start() + 10 :]


def decompression_bomb(gib: int = 2) -> bytes:
    """A small PDF whose only object stream inflates to ``gib`` GiB through nested FlateDecode.

    The inner deflate stream is built from one compressed block of a MiB of blanks repeated
    (after a full flush deflate output depends only on its input), so it costs milliseconds.
    """
    objects = b"1 0 2 49 <</Type /Catalog /Pages 2 0 R>> <</Type /Pages /Kids [] /Count 0>> "
    header = b"1 0 2 49 "
    first = len(header)
    assert objects[first:].startswith(b"<<")
    mib = b" " * (1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = deflate.compress(objects) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(mib) + deflate.flush(zlib.Z_FULL_FLUSH)
    assert block == deflate.compress(mib) + deflate.flush(zlib.Z_FULL_FLUSH)
    tail = deflate.flush(zlib.Z_FINISH)
    blocks = gib * 1024
    checksum = zlib.adler32(objects)
    for _ in range(blocks + 1):
        checksum = zlib.adler32(mib, checksum)
    inner = b"\x78\xda" + head + block * (blocks + 1) + tail + struct.pack(">I", checksum)
    data = zlib.compress(inner, 9)

    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    objstm_at = len(out)
    out += (
        b"3 0 obj\n<< /Type /ObjStm /N 2 /First %d /Filter [/FlateDecode /FlateDecode] "
        b"/Length %d >>\nstream\n" % (first, len(data))
    )
    out += data + b"\nendstream\nendobj\n"
    xref_at = len(out)
    rows = [(0, 0, 0xFFFF), (2, 3, 0), (2, 3, 1), (1, objstm_at, 0), (1, xref_at, 0)]
    table = b"".join(struct.pack(">BIH", *row) for row in rows)
    out += b"4 0 obj\n<< /Type /XRef /Size 5 /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n" % len(
        table
    )
    out += table + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def oversized_signature(hex_digits: int) -> bytes:
    """A one-page PDF whose signature /Contents is ``hex_digits`` of hex: parsing it needs
    several times that much memory."""
    out = bytearray(b"%PDF-1.7\n")
    offsets: list[int] = []
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [4 0 R] /SigFlags 3 >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots [4 0 R] >>",
        b"<< /FT /Sig /T (Sig1) /Type /Annot /Subtype /Widget /Rect [0 0 0 0] /P 3 0 R /V 5 0 R >>",
        b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached"
        b" /ByteRange [0 10 20 10] /Contents <" + b"ab" * (hex_digits // 2) + b"> >>",
    ]
    for number, body in enumerate(bodies, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(bodies) + 1,
        xref,
    )
    return bytes(out)


def encrypted_pdf(data: bytes) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(BytesIO(data)))
    writer.encrypt("mat-khau", algorithm="AES-256")
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


class PadesDocs:
    """Every test document, built on first use and kept for the session."""

    def __init__(self, pki: PadesPki, directory: Path) -> None:
        self.pki = pki
        self.directory = directory
        self._bytes: dict[str, bytes] = {}

    def path(self, name: str) -> Path:
        target = self.directory / f"{name}.pdf"
        if not target.exists():
            target.write_bytes(self.data(name))
        return target

    def data(self, name: str) -> bytes:
        if name not in self._bytes:
            self._bytes[name] = getattr(self, f"_build_{name}")()
        return self._bytes[name]

    def _sign(self, data: bytes, label: str, name: str, **options: object) -> bytes:
        return self.pki.sign(data, label, field_name=name, **options)  # type: ignore[arg-type]

    def _signed_and_sealed(self, label: str, **options: object) -> bytes:
        signed = self._sign(self.data("base"), label, "Signer", **options)
        return self._sign(signed, "seal-g22", "Seal")

    # the document before any signature
    def _build_base(self) -> bytes:
        return sample_pdf("Cong van so 1/VPCP-TTDT", size=20_000, seed=SEED)

    def _build_unsigned(self) -> bytes:
        return self.data("base")

    # Decree 30: the leader signs, then the clerk seals
    def _build_signer_only(self) -> bytes:
        return self._sign(self.data("base"), "leader", "Signer")

    def _build_ok(self) -> bytes:
        return self._sign(self.data("signer_only"), "seal-g22", "Seal")

    def _build_no_timestamp(self) -> bytes:
        signed = self._sign(self.data("base"), "leader", "Signer", timestamp=False)
        return self._sign(signed, "seal-g22", "Seal", timestamp=False)

    def _build_document_timestamp(self) -> bytes:
        return self.pki.document_timestamp(self.data("ok"))

    def _build_seal_only(self) -> bytes:
        return self._sign(self.data("base"), "seal-g22", "Seal")

    def _build_seal_first(self) -> bytes:
        return self._sign(self.data("seal_only"), "leader", "Signer")

    def _build_other_agency_seal(self) -> bytes:
        return self._sign(self.data("signer_only"), "seal-h41", "Seal")

    # misattribution: whose leader signed?
    def _build_h41_letter(self) -> bytes:
        signed = self._sign(self.data("base"), "leader-h41", "Signer")
        return self._sign(signed, "seal-h41", "Seal")

    def _build_other_agency_leader(self) -> bytes:
        signed = self._sign(self.data("base"), "leader-h41", "Signer")
        return self._sign(signed, "seal-g22", "Seal")

    def _build_resealed(self) -> bytes:
        """A letter Nghệ An signed, sealed and sent, sealed again by the Government Office."""
        return self._sign(self.data("h41_letter"), "seal-g22", "Resealed")

    def _build_unattributed_leader(self) -> bytes:
        signed = self._sign(self.data("base"), "leader-unattributed", "Signer")
        return self._sign(signed, "seal-g22", "Seal")

    # tampering
    def _build_flipped_signed_range(self) -> bytes:
        return flip_in_signed_range(self.data("ok"))

    def _build_flipped_contents(self) -> bytes:
        return flip_in_signature_value(self.data("ok"))

    def _build_uncovered_tail(self) -> bytes:
        return self.data("ok") + b"BT /F1 18 Tf 72 500 Td (unsigned addendum) Tj ET\n"

    def _build_incremental_saving(self) -> bytes:
        return _incremental(self.data("ok"), _replace_page_content)

    def _build_shadow_base(self) -> bytes:
        return _incremental(self.data("base"), _add_overlay)

    def _build_shadow_signed(self) -> bytes:
        signed = self._sign(self.data("shadow_base"), "leader", "Signer")
        return self._sign(signed, "seal-g22", "Seal")

    def _build_shadow(self) -> bytes:
        return _incremental(self.data("shadow_signed"), _reveal_overlay)

    def _build_no_contents(self) -> bytes:
        return strip_contents(self.data("ok"), empty=False)

    def _build_empty_contents(self) -> bytes:
        return strip_contents(self.data("ok"), empty=True)

    def _build_no_byte_range(self) -> bytes:
        return strip_byte_range(self.data("ok"), empty=False)

    def _build_empty_byte_range(self) -> bytes:
        return strip_byte_range(self.data("ok"), empty=True)

    # bad signers
    def _build_self_signed(self) -> bytes:
        return self._signed_and_sealed("selfsigned", revinfo="dss")

    def _build_untrusted_root(self) -> bytes:
        return self._signed_and_sealed("rogue-leader", revinfo="dss")

    def _build_expired(self) -> bytes:
        return self._signed_and_sealed("leader-expired", revinfo="dss")

    def _build_revoked(self) -> bytes:
        return self._signed_and_sealed("leader-revoked", revinfo="dss")

    def _build_sha1_digest(self) -> bytes:
        return self._signed_and_sealed("leader", revinfo="dss", md_algorithm="sha1")

    def _build_sha1_certificate(self) -> bytes:
        return self._signed_and_sealed("leader-sha1", revinfo="dss")

    def _build_rsa1024(self) -> bytes:
        return self._signed_and_sealed("leader-rsa1024", revinfo="dss")

    def _build_no_revinfo(self) -> bytes:
        signed = self._sign(self.data("base"), "leader", "Signer", revinfo="none")
        return self._sign(signed, "seal-g22", "Seal", revinfo="none")

    def _build_ocsp_only(self) -> bytes:
        signed = self._sign(self.data("base"), "leader-ocsp", "Signer", revinfo="none")
        return self._sign(signed, "seal-g22", "Seal", revinfo="none")

    # hostile files
    def _build_bomb(self) -> bytes:
        return decompression_bomb()

    def _build_oversized_signature(self) -> bytes:
        return oversized_signature(32 << 20)

    def _build_encrypted(self) -> bytes:
        return encrypted_pdf(self.data("base"))


@pytest.fixture(scope="session")
def pades_pki(tmp_path_factory: pytest.TempPathFactory) -> PadesPki:
    return build_pki(tmp_path_factory.mktemp("pades-pki"))


@pytest.fixture(scope="session")
def pades_trust(pades_pki: PadesPki) -> TrustConfig:
    return pades_pki.trust()


@pytest.fixture(scope="session")
def pades_docs(pades_pki: PadesPki, tmp_path_factory: pytest.TempPathFactory) -> PadesDocs:
    return PadesDocs(pades_pki, tmp_path_factory.mktemp("pades-docs"))
