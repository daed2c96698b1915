"""Is the main file a PDF at all? The cheap checks on intake, made here on a few KiB of bytes.

Everything that needs a parser (is it well-formed, is it encrypted, how many pages, and its
signatures) is decided in one bounded job by ``docex.signing.sandbox``: a PDF is never parsed in
the API process, so a hostile one (a bomb of object streams, a broken cross-reference table of
tens of MiB) costs a worker its limits, never the node its memory.
"""

from __future__ import annotations

from pathlib import Path

from docex.errors import Unprocessable, UnsupportedMedia

HEADER_WINDOW = 1024  # ISO 32000-1 §7.5.2 lets readers find the header within the first KB
TAIL_WINDOW = 2048


def check_pdf(path: Path) -> None:
    """415 ``not_a_pdf`` unless the file starts with ``%PDF-``; 422 ``invalid_pdf`` when its
    tail has no ``startxref`` and ``%%EOF`` (a truncated upload). Reads at most 3 KiB."""
    size = path.stat().st_size
    if size == 0:
        raise UnsupportedMedia("the main file is empty, not a PDF", code="not_a_pdf")
    with path.open("rb") as fh:
        head = fh.read(HEADER_WINDOW)
        fh.seek(max(0, size - TAIL_WINDOW))
        tail = fh.read()
    if not head.startswith(b"%PDF-"):
        # ISO 32000 tolerates leading junk; docex does not: a file that is "also a PDF"
        # further in (a ZIP or HTML polyglot) is a classic way to smuggle content.
        raise UnsupportedMedia("the main file is not a PDF", code="not_a_pdf")
    if b"%%EOF" not in tail or b"startxref" not in tail:
        raise Unprocessable("the PDF is truncated (no end-of-file marker)", code="invalid_pdf")
