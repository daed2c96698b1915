"""The font of the visible signature appearance: Vietnamese with its diacritics, embedded.

pyHanko's standard-font engine (Courier) has no Vietnamese letters, and its OpenType engine
shapes with HarfBuzz and subsets with fontTools on every signature (about 200 ms). A stamp needs
neither: its text is a few short lines of precomposed letters (NFC), left to right, no ligatures.
So this engine embeds a prepared subset of DejaVu Sans (``fonts/DejaVuSans-vi.ttf``: printable
ASCII, the whole Vietnamese alphabet and a little punctuation; made by ``tools/font_subset.py``,
licence beside it) and writes text as glyph ids.

What it guarantees
------------------
- The font is a Type0 font with Identity-H encoding over a CIDFontType2 descendant (ISO 32000-1
  §9.7): the content stream shows 2-byte glyph ids (CIDToGIDMap Identity), each glyph's width is
  in ``/W``, and a ``/ToUnicode`` CMap maps every glyph id back to its character, so the text
  can be searched, copied and extracted ("Đã ký số" reads back as "Đã ký số"). Both list only
  the glyphs the stamp shows: pyHanko's modification analysis walks every object of every
  revision, and a full 239-glyph width table made each signature ~10 ms slower to validate.
- The font program (the whole prepared subset) is embedded compressed (FlateDecode), about
  9 KB per signature; it is loaded and compressed once per process.
- Text is normalised to NFC first; a character outside the subset is written as "?" (its
  glyph and width), never dropped silently and never an error.
"""

from __future__ import annotations

import json
import unicodedata
import zlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from io import BytesIO
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.api import FontEngine, FontEngineFactory, ShapeResult
from pyhanko.pdf_utils.writer import BasePdfFileWriter

from docex.kit.cmap import to_unicode_cmap

FONT_STEM = "DejaVuSans-vi"
FONT_NAME = "DejaVuSans"
REPLACEMENT = "?"

_name = generic.NameObject
_number = generic.NumberObject


@dataclass(frozen=True)
class _Font:
    program: bytes
    """The TrueType file, as stored."""
    compressed: bytes
    units_per_em: int
    ascent: int
    descent: int
    cap_height: int
    bbox: tuple[int, int, int, int]
    glyphs: dict[str, tuple[int, int]]
    """Character → (glyph id, advance width in font units)."""

    def scale(self, value: int) -> int:
        """Font units to PDF glyph space (1/1000 em)."""
        return round(value * 1000 / self.units_per_em)


@cache
def _font() -> _Font:
    folder = resources.files("docex.signing") / "fonts"
    program = (folder / f"{FONT_STEM}.ttf").read_bytes()
    meta: dict[str, Any] = json.loads((folder / f"{FONT_STEM}.json").read_text("utf-8"))
    return _Font(
        program=program,
        compressed=zlib.compress(program, 9),
        units_per_em=int(meta["units_per_em"]),
        ascent=int(meta["ascent"]),
        descent=int(meta["descent"]),
        cap_height=int(meta["cap_height"]),
        bbox=tuple(meta["bbox"]),
        glyphs={c: (int(g), int(w)) for c, (g, w) in meta["glyphs"].items()},
    )


def embeddable_font() -> _Font:
    """The prepared subset and its metrics, for another PDF writer (the sample PDF)."""
    return _font()


def text_width(text: str) -> float:
    """Width of ``text`` in em, as the engine will draw it."""
    font = _font()
    fallback = font.glyphs[REPLACEMENT]
    units = sum(font.glyphs.get(c, fallback)[1] for c in unicodedata.normalize("NFC", text))
    return units / font.units_per_em


class VietnameseFontEngine(FontEngine):
    """A pyHanko font engine over the embedded DejaVu Sans subset (see the module docstring)."""

    def __init__(self, writer: BasePdfFileWriter, obj_stream: Any = None) -> None:
        super().__init__(writer, FONT_NAME, embedded_subset=True, obj_stream=obj_stream)
        self._font = _font()
        self._ref = writer.allocate_placeholder()
        self._used: dict[int, tuple[str, int]] = {}
        """Glyph id → (character, width) of every glyph shown: /W and /ToUnicode list only
        those, so a stamp's font objects stay small (pyHanko's diff analysis walks them)."""
        self._written = False

    @property
    def uses_complex_positioning(self) -> bool:
        return False  # plain Tj: the widths in /W advance the pen

    def shape(self, txt: str) -> ShapeResult:
        glyphs = self._font.glyphs
        fallback = (glyphs[REPLACEMENT][0], glyphs[REPLACEMENT][1])
        ids = bytearray()
        advance = 0
        for char in unicodedata.normalize("NFC", txt):
            gid, width = glyphs.get(char, fallback)
            self._used.setdefault(gid, (char if char in glyphs else REPLACEMENT, width))
            ids += gid.to_bytes(2, "big")
            advance += width
        ops = BytesIO()
        generic.ByteStringObject(bytes(ids)).write_to_stream(ops)
        ops.write(b" Tj")
        return ShapeResult(
            graphics_ops=ops.getvalue(),
            x_advance=advance / self._font.units_per_em,
            y_advance=0,
        )

    def as_resource(self) -> generic.PdfObject:
        return self._ref  # filled in by prepare_write, once every line is shaped

    def prepare_write(self) -> None:
        if self._written:
            return
        self._written = True
        font, writer = self._font, self.writer
        base = _name(f"/{self.subset_prefix}+{FONT_NAME}")
        program = generic.StreamObject(
            {
                _name("/Length1"): _number(len(font.program)),
                _name("/Filter"): _name("/FlateDecode"),
            },
            encoded_data=font.compressed,
        )
        descriptor = generic.DictionaryObject(
            {
                _name("/Type"): _name("/FontDescriptor"),
                _name("/FontName"): base,
                _name("/Flags"): _number(4),  # symbolic: glyphs are addressed by id
                _name("/FontBBox"): generic.ArrayObject(_number(font.scale(v)) for v in font.bbox),
                _name("/ItalicAngle"): _number(0),
                _name("/Ascent"): _number(font.scale(font.ascent)),
                _name("/Descent"): _number(font.scale(font.descent)),
                _name("/CapHeight"): _number(font.scale(font.cap_height)),
                _name("/StemV"): _number(80),
                _name("/FontFile2"): writer.add_object(program),
            }
        )
        widths = generic.ArrayObject()
        for gid, (_, width) in sorted(self._used.items()):
            widths += [_number(gid), generic.ArrayObject([_number(font.scale(width))])]
        descendant = generic.DictionaryObject(
            {
                _name("/Type"): _name("/Font"),
                _name("/Subtype"): _name("/CIDFontType2"),
                _name("/BaseFont"): base,
                _name("/CIDSystemInfo"): generic.DictionaryObject(
                    {
                        _name("/Registry"): generic.TextStringObject("Adobe"),
                        _name("/Ordering"): generic.TextStringObject("Identity"),
                        _name("/Supplement"): _number(0),
                    }
                ),
                _name("/FontDescriptor"): writer.add_object(descriptor),
                _name("/DW"): _number(1000),
                _name("/W"): widths,
                _name("/CIDToGIDMap"): _name("/Identity"),
            }
        )
        to_unicode = generic.StreamObject(
            stream_data=to_unicode_cmap({g: c for g, (c, _) in self._used.items()})
        )
        to_unicode.compress()
        type0 = generic.DictionaryObject(
            {
                _name("/Type"): _name("/Font"),
                _name("/Subtype"): _name("/Type0"),
                _name("/BaseFont"): base,
                _name("/Encoding"): _name("/Identity-H"),
                _name("/DescendantFonts"): generic.ArrayObject([writer.add_object(descendant)]),
                _name("/ToUnicode"): writer.add_object(to_unicode),
            }
        )
        writer.add_object(type0, self.obj_stream, idnum=self._ref.idnum)


class VietnameseFontFactory(FontEngineFactory):
    def create_font_engine(
        self, writer: BasePdfFileWriter, obj_stream: Any = None
    ) -> VietnameseFontEngine:
        return VietnameseFontEngine(writer, obj_stream)
