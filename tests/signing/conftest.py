"""Fixtures for tests/signing. The PAdES validation fixtures (test PKI, signed PDFs) live in
``conftest_validation.py`` and are imported here so pytest finds them."""

from tests.signing.conftest_validation import pades_docs, pades_pki, pades_trust

__all__ = ["pades_docs", "pades_pki", "pades_trust"]
