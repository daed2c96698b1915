"""Well-formed sample PDFs for the demo tour, tests and benchmarks (no signature yet).

Written by hand to the PDF 1.7 syntax: one page of text, optionally padded with an
uncompressed comment stream to reach a target size, with a correct cross-reference table.
"""

from __future__ import annotations

import os

from docex.kit.text import strip_diacritics


def _escape(text: str) -> str:
    # Helvetica (a base-14 font, nothing embedded) has no Vietnamese letters: a demo page shows
    # the title without its diacritics ("Công văn" → "Cong van") rather than dropping letters.
    ascii_text = strip_diacritics(text).encode("ascii", "replace").decode("ascii")
    return ascii_text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def sample_pdf(title: str = "docex sample document", *, size: int = 0, seed: bytes = b"") -> bytes:
    """A one-page PDF showing ``title``; about ``size`` bytes when ``size`` is given.

    ``seed`` (or random bytes) makes each file distinct, so two samples never share a hash.
    """
    unique = (seed or os.urandom(8)).hex()
    content = (
        f"BT /F1 18 Tf 72 720 Td ({_escape(title)}) Tj ET\nBT /F1 8 Tf 72 700 Td ({unique}) Tj ET\n"
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    stream = content.encode("latin-1")
    overhead = 700 + len(stream)
    if size > overhead:
        filler = (b"% docex padding " + unique.encode() + b"\n") * ((size - overhead) // 33 + 1)
        stream += filler[: size - overhead]
    objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")

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
