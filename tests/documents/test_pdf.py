"""The byte checks of intake (docex.documents.pdf): header and tail, a few KiB, no parser. What
needs a parser is the sandboxed validator's (tests/signing/test_validation.py, tests/security)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from docex.documents.pdf import check_pdf
from docex.errors import Unprocessable, UnsupportedMedia


def _noise(size: int) -> bytes:
    block = hashlib.sha512(b"no parser reads this").digest()
    return block * (size // len(block))


def test_a_body_no_parser_could_read_passes_the_byte_checks(tmp_path: Path) -> None:
    path = tmp_path / "opaque.pdf"
    path.write_bytes(b"%PDF-1.7\n" + _noise(1 << 20) + b"\nstartxref\n9\n%%EOF\n")
    check_pdf(path)  # the validator, in its worker, will say what it is


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", UnsupportedMedia),
        (b"<html>" + _noise(4096), UnsupportedMedia),
        (b"%PDF-1.7\n" + _noise(8192), Unprocessable),  # cut before its end
        (b"%PDF-1.7\n" + _noise(8192) + b"\n%%EOF\n", Unprocessable),  # no startxref
    ],
    ids=["empty", "html", "truncated", "no-startxref"],
)
def test_what_the_byte_checks_refuse(tmp_path: Path, data: bytes, error: type[Exception]) -> None:
    path = tmp_path / "file.pdf"
    path.write_bytes(data)
    with pytest.raises(error):
        check_pdf(path)
