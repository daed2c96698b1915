"""ToUnicode CMaps (Adobe Technical Note 5411): how a PDF that shows text as glyph ids lets
readers search, copy and extract that text again."""

from __future__ import annotations

from collections.abc import Mapping


def to_unicode_cmap(used: Mapping[int, str]) -> bytes:
    """A ToUnicode CMap mapping each glyph id shown (2-byte codes) to its character."""
    lines = [
        b"/CIDInit /ProcSet findresource begin",
        b"12 dict begin",
        b"begincmap",
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        b"/CMapName /Adobe-Identity-UCS def",
        b"/CMapType 2 def",
        b"1 begincodespacerange",
        b"<0000> <FFFF>",
        b"endcodespacerange",
    ]
    entries = sorted(used.items())
    for start in range(0, len(entries), 100):  # at most 100 entries per block
        block = entries[start : start + 100]
        lines.append(f"{len(block)} beginbfchar".encode())
        for gid, char in block:
            lines.append(f"<{gid:04X}> <{char.encode('utf-16-be').hex().upper()}>".encode())
        lines.append(b"endbfchar")
    lines += [b"endcmap", b"CMapName currentdict /CMap defineresource pop", b"end", b"end"]
    return b"\n".join(lines)
