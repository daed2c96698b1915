"""The national hub's edXML samples (tests/fixtures/edxml) and small variants built from them.

Variants are made by textual edits of a real sample, so what a test refuses differs from an
accepted real package by exactly the edit it names.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

from tests.fixtures import fixture_files

SAMPLES = fixture_files("edxml", "*.edxml")
DOCUMENTS = [p for p in SAMPLES if p.name.startswith("edoc_")]
STATUSES = [p for p in SAMPLES if p.name.startswith("status_")]
_DATA = re.compile(rb"(<edXML:ContentTransferEncoded[^>]*>)([^<]*)(<)")


def sample(name: str) -> bytes:
    return next(p for p in SAMPLES if p.name == name).read_bytes()


def attachment_of(raw: bytes) -> bytes:
    """The first attachment of a sample, decoded here independently of docex."""
    found = _DATA.search(raw)
    assert found is not None
    return base64.b64decode(found.group(2), validate=True)


def small_document(payload: bytes = b"%PDF-1.4\n% tiny\n", name: str = "edoc_update.edxml") -> str:
    """A real document sample with its 270 KB attachment replaced by ``payload``."""
    raw = _DATA.sub(
        lambda m: m.group(1) + base64.b64encode(payload) + m.group(3), sample(name), count=1
    )
    return raw.decode("utf-8")


def status(name: str = "status_acceptance_03.edxml") -> str:
    return sample(name).decode("utf-8")


def edit(text: str, old: str, new: str, count: int = 1) -> bytes:
    assert old in text, old
    return text.replace(old, new, count).encode("utf-8")


def names(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]
