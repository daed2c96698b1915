"""Is the main file really a PDF? Checked by parsing its structure, not by trusting a name or a
client-given content type. Signature validation (PAdES) is a separate, later step in ``signing``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from docex.errors import Unprocessable, UnsupportedMedia

HEADER_WINDOW = 1024  # ISO 32000-1 §7.5.2 lets readers find the header within the first KB
TAIL_WINDOW = 2048


def check_pdf(path: Path) -> int:
    """Return the page count of a well-formed, unencrypted PDF; raise 415/422 otherwise."""
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

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted:
            raise Unprocessable(
                "the PDF is encrypted; send it unencrypted (docex encrypts at rest)",
                code="encrypted_pdf",
            )
        pages = len(reader.pages)
    except Unprocessable:
        raise
    except (
        PyPdfError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        RecursionError,
        NotImplementedError,
        OSError,
    ) as exc:
        raise Unprocessable(
            f"the PDF cannot be parsed: {type(exc).__name__}", code="invalid_pdf"
        ) from exc
    if pages < 1:
        raise Unprocessable("the PDF has no pages", code="invalid_pdf")
    return pages
