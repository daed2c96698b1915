"""Well-formed sample PDFs for the demo tour, tests and benchmarks (no signature yet).

Written by hand to the PDF 1.7 syntax: one page of text, optionally padded with an
uncompressed comment stream to reach a target size, with a correct cross-reference table.

Given an :class:`EmbeddableFont` (``docex.signing.font.embeddable_font()``: the Vietnamese
DejaVu Sans subset of the signature stamps), the page reads as a Vietnamese letter would, with
its diacritics: a Type0/Identity-H font over the embedded TrueType program, glyph widths in
``/W`` and a ``/ToUnicode`` map so its text can be searched and copied (ISO 32000-1 §9.7).
Without one, the base-14 Helvetica shows the text stripped of its diacritics.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping
from typing import Protocol

from docex.kit.cmap import to_unicode_cmap
from docex.kit.text import strip_diacritics

_SUBSET_TAG = b"DXSMPL"  # ISO 32000-1 §9.6.4: six capitals name an embedded subset


class EmbeddableFont(Protocol):
    """A TrueType program and the metrics a PDF needs to show text with it."""

    @property
    def program(self) -> bytes: ...
    @property
    def compressed(self) -> bytes:
        """``program``, zlib-compressed (FlateDecode)."""
        ...

    @property
    def units_per_em(self) -> int: ...
    @property
    def ascent(self) -> int: ...
    @property
    def descent(self) -> int: ...
    @property
    def cap_height(self) -> int: ...
    @property
    def bbox(self) -> tuple[int, int, int, int]: ...
    @property
    def glyphs(self) -> Mapping[str, tuple[int, int]]:
        """Character → (glyph id, advance width in font units)."""
        ...

    def scale(self, value: int) -> int:
        """Font units to PDF glyph space (1/1000 em)."""
        ...


def _letter(title: str, unique: str) -> list[tuple[int, int, int, str]]:
    """(font size, x, y, text) of each line on the page: an A4 letter's heading and title."""
    return [
        (11, 300, 790, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"),
        (11, 345, 774, "Độc lập - Tự do - Hạnh phúc"),
        (16, 72, 700, title),
        (11, 72, 670, "Văn bản mẫu do docex tạo để thử nghiệm gửi, nhận và ký số."),
        (8, 72, 650, unique),
    ]


def _escape(text: str) -> str:
    ascii_text = strip_diacritics(text).encode("ascii", "replace").decode("ascii")
    return ascii_text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


class _Shaper:
    """Text as 2-byte glyph ids of ``font``, remembering every glyph shown."""

    def __init__(self, font: EmbeddableFont) -> None:
        self.font = font
        self.used: dict[int, tuple[str, int]] = {}

    def hex(self, text: str) -> str:
        glyphs = self.font.glyphs
        ids = []
        for char in unicodedata.normalize("NFC", text):
            shown = char if char in glyphs else "?"
            gid, width = glyphs[shown]
            self.used.setdefault(gid, (shown, width))
            ids.append(f"{gid:04X}")
        return "".join(ids)


def _font_objects(font: EmbeddableFont, shaper: _Shaper) -> list[bytes]:
    """Object 4, the Type0 font, then 6 to 9 (5 is the page's content): its CIDFontType2,
    ToUnicode map, descriptor and font program."""
    name = b"/" + _SUBSET_TAG + b"+DejaVuSans"
    cid, to_unicode, descriptor, program = 6, 7, 8, 9
    widths = b" ".join(
        b"%d [%d]" % (gid, font.scale(width)) for gid, (_, width) in sorted(shaper.used.items())
    )
    cmap = to_unicode_cmap({gid: char for gid, (char, _) in shaper.used.items()})
    bbox = b" ".join(b"%d" % font.scale(v) for v in font.bbox)
    return [
        b"<< /Type /Font /Subtype /Type0 /BaseFont %s /Encoding /Identity-H "
        b"/DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>" % (name, cid, to_unicode),
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont %s /CIDSystemInfo << /Registry "
        b"(Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor %d 0 R /DW 1000 "
        b"/W [%s] /CIDToGIDMap /Identity >>" % (name, descriptor, widths),
        b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"\nendstream",
        b"<< /Type /FontDescriptor /FontName %s /Flags 4 /FontBBox [%s] /ItalicAngle 0 "
        b"/Ascent %d /Descent %d /CapHeight %d /StemV 80 /FontFile2 %d 0 R >>"
        % (
            name,
            bbox,
            font.scale(font.ascent),
            font.scale(font.descent),
            font.scale(font.cap_height),
            program,
        ),
        b"<< /Length %d /Length1 %d /Filter /FlateDecode >>\nstream\n"
        % (len(font.compressed), len(font.program))
        + font.compressed
        + b"\nendstream",
    ]


def sample_pdf(
    title: str = "docex sample document",
    *,
    size: int = 0,
    seed: bytes = b"",
    font: EmbeddableFont | None = None,
) -> bytes:
    """A one-page PDF showing ``title``; about ``size`` bytes when ``size`` is given.

    ``seed`` (or random bytes) makes each file distinct, so two samples never share a hash.
    ``font`` embeds a font with the Vietnamese letters; without it, diacritics are dropped.
    """
    unique = (seed or os.urandom(8)).hex()
    shaper = _Shaper(font) if font is not None else None
    if shaper is not None:
        lines = _letter(title, unique)
        content = "".join(
            f"BT /F1 {pt} Tf {x} {y} Td <{shaper.hex(text)}> Tj ET\n" for pt, x, y, text in lines
        )
    else:
        content = (
            f"BT /F1 18 Tf 72 720 Td ({_escape(title)}) Tj ET\n"
            f"BT /F1 8 Tf 72 700 Td ({unique}) Tj ET\n"
        )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
    ]
    fonts = (
        _font_objects(font, shaper)
        if font is not None and shaper is not None
        else [b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    )
    objects.append(fonts[0])
    stream = content.encode("latin-1")
    overhead = 700 + len(stream) + sum(len(f) for f in fonts[1:])
    if size > overhead:
        filler = (b"% docex padding " + unique.encode() + b"\n") * ((size - overhead) // 33 + 1)
        stream += filler[: size - overhead]
    objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.extend(fonts[1:])

    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)
