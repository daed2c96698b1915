"""The PDF structure around signatures that pyHanko only reports as read errors: the page tree
(ISO 32000-2 §7.7.3.2), the ``/ByteRange`` and ``/Contents`` of a signature dictionary (§12.8.1),
and bytes after the last revision that no signature covers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields

from docex.signing.validation.report import Indication

HEADER_WINDOW: Final = 1024  # ISO 32000-2 §7.5.2: readers look for the header in the first KiB
_TAIL_WINDOW: Final = 64 * 1024  # a trailer, startxref and %%EOF: far less than this


def _structure_problem(
    sig_object: generic.DictionaryObject, file_size: int
) -> tuple[Indication, str] | None:
    """What pyHanko would only report as a read error: missing or absurd /ByteRange, /Contents."""
    byte_range = sig_object.get("/ByteRange")
    if byte_range is None:
        return Indication.BYTE_RANGE_INVALID, "the signature dictionary has no /ByteRange"
    if not isinstance(byte_range, generic.ArrayObject) or len(byte_range) != 4:
        return Indication.BYTE_RANGE_INVALID, "/ByteRange is not an array of four numbers"
    values = [v for v in byte_range if isinstance(v, int) and not isinstance(v, bool)]
    if len(values) != 4:
        return Indication.BYTE_RANGE_INVALID, "/ByteRange holds something other than integers"
    start, length1, start2, length2 = values
    if start != 0 or min(values) < 0 or start2 < length1 or start2 + length2 > file_size:
        return Indication.BYTE_RANGE_INVALID, f"/ByteRange {values} does not fit the file"
    contents = sig_object.get("/Contents")
    if contents is None:
        return Indication.SIGNATURE_INVALID, "the signature dictionary has no /Contents"
    if not isinstance(contents, generic.ByteStringObject | generic.TextStringObject):
        return Indication.SIGNATURE_INVALID, "/Contents is not a string"
    if not contents.original_bytes.strip(b"\x00"):
        return Indication.SIGNATURE_INVALID, "/Contents is empty"
    return None


def _byte_range_end(sig_object: generic.DictionaryObject) -> int:
    try:
        byte_range = sig_object["/ByteRange"]
        return int(byte_range[2]) + int(byte_range[3])
    except (KeyError, IndexError, TypeError, ValueError):
        return 0


def _signature_fields(
    reader: PdfFileReader,
) -> Iterator[tuple[str, generic.DictionaryObject, generic.DictionaryObject]]:
    for name, value, field_ref in enumerate_sig_fields(reader, filled_status=True):
        sig_object = value.get_object()
        sig_field = field_ref.get_object()
        if isinstance(sig_object, generic.DictionaryObject) and isinstance(
            sig_field, generic.DictionaryObject
        ):
            yield str(name), sig_object, sig_field


def _uncovered_tail(fh: Any, reader: PdfFileReader, size: int) -> str | None:
    """Bytes after the end of the last revision are covered by no signature and no revision.

    pyHanko rates a signature followed by such bytes ENTIRE_REVISION with no modification, since
    they are not a revision at all; readers ignore them, but they are unsigned content riding
    along, so we refuse them. The last revision ends at the first ``%%EOF`` after its
    cross-reference section; only PDF whitespace may follow.
    """
    last = reader.xrefs.total_revisions - 1
    end = reader.xrefs.get_xref_container_info(last).end_location
    if size - end > _TAIL_WINDOW:
        return f"{size - end} bytes after the last revision are not covered by any signature"
    fh.seek(end)
    rest = fh.read(size - end)
    marker = rest.find(b"%%EOF")
    if marker < 0:
        return "the file does not end with an end-of-file marker"
    extra = rest[marker + 5 :].translate(None, misc.PDF_WHITESPACE)
    if extra:
        return f"{len(extra)} bytes after the last revision are not covered by any signature"
    return None


def page_count(reader: PdfFileReader) -> int:
    """The pages of the document's page tree, each node resolved once.

    ISO 32000-2 §7.7.3.2: the page tree is a tree of indirect objects, each node with one
    ``/Parent``. A node reached twice (a cycle, or a page listed twice: 400,000 references to
    one page made pypdf build 400,000 page objects) is refused, not counted; a node with
    ``/Kids`` is an intermediate node, any other dictionary a page (as readers do when
    ``/Type`` is missing).
    """
    root = reader.root.raw_get("/Pages") if "/Pages" in reader.root else None
    todo: list[Any] = [root]
    seen: set[Any] = set()
    pages = 0
    while todo:
        ref = todo.pop()
        if not isinstance(ref, generic.IndirectObject):
            raise misc.PdfReadError("the page tree holds a direct object or nothing")
        if ref.reference in seen:
            raise misc.PdfReadError("the page tree reaches a node twice (not a tree)")
        seen.add(ref.reference)
        node = ref.get_object()
        if not isinstance(node, generic.DictionaryObject):
            raise misc.PdfReadError("a page tree node is not a dictionary")
        kids = node.get("/Kids")
        if kids is None:
            pages += 1
        elif isinstance(kids, generic.ArrayObject):
            todo.extend(reversed(kids))
        else:
            raise misc.PdfReadError("/Kids is not an array")
    return pages
