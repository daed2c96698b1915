"""Storage fixtures: one real SeaweedFS (``weed mini``, 127.0.0.1 only) per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.storage.seaweed import SeaweedFS


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """A running SeaweedFS: ``endpoint``, ``access_key``, ``secret_key``, ``bucket``,
    ``stop()``/``start()`` (same data directory and ports) and ``kill()``.

    A test that stops it must start it again; ``running_seaweedfs`` restarts it if one did not.
    """
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def running_seaweedfs(seaweedfs: SeaweedFS) -> SeaweedFS:
    """The session's SeaweedFS, restarted first if an earlier test left it stopped."""
    seaweedfs.start()
    return seaweedfs
