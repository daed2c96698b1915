"""The CLI against a node served for real over HTTP in this process (uvicorn in a thread), on
SQLite and PostgreSQL, and a CliRunner whose environment names nothing of the developer's."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.functional.conftest import free_port


@pytest.fixture
def served(client: TestClient) -> Iterator[str]:
    """The test node's URL; its lifespan already runs in ``client``."""
    port = free_port()
    config = uvicorn.Config(
        client.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the test node did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("DOCEX_URL", "DOCEX_TOKEN", "DOCEX_DATA_DIR", "DOCEX_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)
    return CliRunner()
