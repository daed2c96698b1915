from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from docex.alerts.watch import AlertWatch
from docex.app import create_app
from docex.config import Settings
from docex.kit.clock import SystemClock
from docex.signing.sandbox import ValidatorPool
from tests.helpers import MovableClock, node_of


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(SystemClock().now())


@pytest.fixture
def node(
    settings: Settings, clock: MovableClock, validator_pool: ValidatorPool
) -> Iterator[TestClient]:
    app = create_app(settings, clock=clock, validators=validator_pool)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def watch_of(c: TestClient) -> AlertWatch:
    watch = node_of(c).alerts
    assert watch is not None
    return watch
