"""``docex user link USERNAME VALUE``: the operator links a person to the identifier the
provider vouches for, one person per identifier, audited; an empty value unlinks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from docex.auth.models import Principal
from docex.cli.main import app as cli
from docex.config import Settings
from tests.helpers import G22, H41, audit_events, node_of
from tests.web.conftest import person_of


@pytest.fixture
def docex(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> CliRunner:
    for name in ("DOCEX_URL", "DOCEX_TOKEN", "DOCEX_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCEX_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DOCEX_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("DOCEX_NODE_ID", settings.node_id)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return CliRunner()


def subject_of(client: TestClient, username: str) -> str | None:
    with node_of(client).db.read() as session:
        return session.scalars(
            select(Principal.oidc_subject).where(Principal.username == username)
        ).one()


def test_the_operator_links_and_unlinks_a_person(
    client: TestClient, docex: CliRunner, credentials: dict[str, Any]
) -> None:
    clerk = person_of(credentials, G22)[0]
    other = person_of(credentials, H41)[0]
    linked = docex.invoke(cli, ["user", "link", clerk, "001099000001"])
    assert linked.exit_code == 0, linked.output
    assert subject_of(client, clerk) == "001099000001"
    (event,) = audit_events(client, "auth:principal:updated")
    assert event.detail["oidc_subject"] == "001099000001"
    taken = docex.invoke(cli, ["user", "link", other, "001099000001"])
    assert taken.exit_code == 1
    assert "oidc_subject_taken" in taken.output
    assert subject_of(client, other) is None
    hidden = docex.invoke(cli, ["user", "link", other, "0010\u200b99"])
    assert "invalid_oidc_subject" in hidden.output
    nobody = docex.invoke(cli, ["user", "link", "nobody.here", "1"])
    assert "principal_not_found" in nobody.output
    unlinked = docex.invoke(cli, ["user", "link", clerk, ""])
    assert unlinked.exit_code == 0, unlinked.output
    assert subject_of(client, clerk) is None
    assert len(audit_events(client, "auth:principal:updated")) == 2
