"""The contract does not depend on the database: one backend is enough for it."""

from __future__ import annotations

import pytest


@pytest.fixture
def backend() -> str:
    return "sqlite"
