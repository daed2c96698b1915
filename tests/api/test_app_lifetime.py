"""An app that is done with is freed, node and all: nothing module-wide keeps it. FastAPI caches
facts about every endpoint callable in module-level LRU caches (thousands of entries), so an
endpoint that closes over its app would keep each app built in a process alive; the test suite
builds thousands of them."""

from __future__ import annotations

import gc
import weakref

from fastapi.testclient import TestClient

from docex.app import create_app
from docex.config import Settings
from docex.signing.sandbox import ValidatorPool


def test_a_finished_app_and_its_node_are_freed(
    settings: Settings, validator_pool: ValidatorPool
) -> None:
    app = create_app(settings, validators=validator_pool)
    with TestClient(app) as client:
        for page in ("/docs", "/redoc", "/openapi.json", "/ui/sign-in", "/healthz"):
            assert client.get(page).status_code == 200, page
        node = weakref.ref(app.state.node)
    del app, client
    gc.collect()
    assert node() is None
