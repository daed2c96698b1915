"""Fixtures for tests/signing. The PAdES validation fixtures (test PKI, signed PDFs) live in
``conftest_validation.py`` and are imported here so pytest finds them."""

import pytest

from docex.signing.validation import speedups
from tests.signing.conftest_validation import pades_docs, pades_pki, pades_trust

__all__ = ["pades_docs", "pades_pki", "pades_trust"]


@pytest.fixture(autouse=True, scope="session")
def _validation_speedups() -> None:
    """In-process validation here runs as in the node's workers, with the speed-ups installed
    (``tests/signing/validation/test_speedups.py`` proves the answers are the same)."""
    speedups.install()
