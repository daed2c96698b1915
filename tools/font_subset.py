"""Make the font of the visible signature appearance: DejaVu Sans cut down to printable
ASCII and the Vietnamese alphabet, written to ``docex/signing/fonts/``.

    pip install fonttools && python tools/font_subset.py [/path/to/DejaVuSansMono.ttf]

SOURCE: DejaVu Sans 2.37 as Debian's ``fonts-dejavu-core`` installs it
(``/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf``); licence (Bitstream Vera, DejaVu
changes in the public domain) copied beside the output. Writes:

- ``DejaVuSans-vi.ttf``: the subset, without hinting, glyph names or layout tables;
- ``DejaVuSans-vi.json``: what ``docex.signing.fonts`` needs without parsing the font:
  unitsPerEm, ascent, descent, cap height, bounding box, and each character's glyph id in
  the subset and advance width. (DejaVu Sans Mono lacks 46 of the Vietnamese letters, e.g.
  "ả", so the proportional face is used.)

Run again only to change the character set; the outputs are committed.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

SOURCE = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
OUT = Path(__file__).resolve().parents[1] / "docex" / "signing" / "fonts"
STEM = "DejaVuSans-vi"

VOWELS = "aăâeêioôơuưy"
TONES = ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323")  # huyền sắc ngã hỏi nặng


def characters() -> str:
    letters = {unicodedata.normalize("NFC", v + t) for v in VOWELS for t in TONES}
    letters |= {"đ"}
    letters |= {c.upper() for c in letters}
    extra = "–—‘’“”…°№·"
    ascii_ = "".join(chr(c) for c in range(32, 127))
    return ascii_ + "".join(sorted(letters - set(ascii_))) + extra


def main(source: Path) -> None:
    text = characters()
    options = subset.Options()
    options.hinting = False
    options.desubroutinize = True
    # Only what a PDF viewer draws from: outlines, metrics and the cmap. Names, glyph names,
    # layout and math tables are dropped (about 3 KB per signature); the font's name stays in
    # the PDF's /BaseFont and its licence beside this file.
    options.glyph_names = False
    options.name_IDs = [1, 2]  # family and subfamily only
    options.name_languages = [0x409]
    options.notdef_outline = True
    options.layout_features = []
    options.drop_tables += ["GDEF", "GPOS", "GSUB", "MATH", "gasp", "FFTM"]
    font = TTFont(source)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(font)
    OUT.mkdir(parents=True, exist_ok=True)
    font.save(OUT / f"{STEM}.ttf")

    font = TTFont(OUT / f"{STEM}.ttf")
    cmap = font.getBestCmap()
    order = font.getGlyphOrder()
    missing = [c for c in text if ord(c) not in cmap]
    if missing:
        raise SystemExit(f"the font lacks {''.join(missing)}")
    head, os2 = font["head"], font["OS/2"]
    metrics = {
        "source": source.name,
        "units_per_em": head.unitsPerEm,
        "ascent": os2.sTypoAscender,
        "descent": os2.sTypoDescender,
        "cap_height": getattr(os2, "sCapHeight", os2.sTypoAscender),
        "bbox": [head.xMin, head.yMin, head.xMax, head.yMax],
        "glyphs": {c: [order.index(cmap[ord(c)]), font["hmtx"][cmap[ord(c)]][0]] for c in text},
    }
    (OUT / f"{STEM}.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=1) + "\n")
    print(f"{len(text)} characters, {(OUT / f'{STEM}.ttf').stat().st_size} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE)
