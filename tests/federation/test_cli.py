"""``docex federation describe|node add|publish|fetch|show`` as an operator runs them: a
province describes itself, the hub imports it and publishes, the province fetches (from the hub
served for real) and shows what it now knows; a wrong anchor is refused with its code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from docex.agencies.service import register_agency
from docex.bootstrap import init_node
from docex.cli.main import app
from docex.config import Settings
from docex.db import Database
from docex.keys.node import agency_key_store
from docex.kit.clock import SystemClock
from tests.helpers import node_of

COMMUNE = "005.00.41.H41"


def _province(root: Path) -> Settings:
    settings = Settings(data_dir=root / "nghean", node_id="nghean")
    init_node(settings)
    db = Database(settings.resolved_database_url)
    try:
        with db.write() as session:
            register_agency(
                session,
                agency_key_store(settings),
                code=COMMUNE,
                name="Ủy ban nhân dân xã Con Cuông",
                kind="state",
                node_id="nghean",
                this_node="nghean",
                now=SystemClock().now(),
            )
    finally:
        db.dispose()
    return settings


def _run(runner: CliRunner, env: dict[str, str], *args: str) -> Any:
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_describe_import_publish_fetch_show(
    client: TestClient, served: str, runner: CliRunner, tmp_path: Path
) -> None:
    hub = node_of(client).settings
    hub_env = {
        "DOCEX_DATA_DIR": str(hub.data_dir),
        "DOCEX_DATABASE_URL": hub.resolved_database_url,
        "DOCEX_NODE_ID": hub.node_id,
        "DOCEX_PUBLIC_URL": served,
        "DOCEX_FEDERATION__PUBLISHER": "true",
    }
    province = _province(tmp_path)
    anchor = tmp_path / "anchor.pem"
    province_env = {
        "DOCEX_DATA_DIR": str(province.data_dir),
        "DOCEX_NODE_ID": "nghean",
        "DOCEX_FEDERATION__DIRECTORY_URL": f"{served}/federation/v1/directory",
        "DOCEX_FEDERATION__ANCHOR": str(anchor),
    }

    entry = _run(
        runner, province_env, "federation", "describe", "--url", "https://nghean.example/",
        "--upstream", "test-node",
    )  # fmt: skip
    assert entry["id"] == "nghean"
    assert entry["base_url"] == "https://nghean.example"
    assert entry["upstream"] == "test-node"
    assert entry["signing_key"].startswith("-----BEGIN PUBLIC KEY-----")
    assert entry["audit_key"].startswith("nghean/audit+")
    assert [(a["id"], a["encryption_key"][:26]) for a in entry["agencies"]] == [
        (COMMUNE, "-----BEGIN PUBLIC KEY-----")
    ]
    described = tmp_path / "nghean.json"
    described.write_text(json.dumps(entry))

    imported = _run(runner, hub_env, "federation", "node", "add", str(described), "--json")
    assert imported == {"node": "nghean", "agencies": [COMMUNE], "moved": []}
    assert _run(runner, hub_env, "federation", "publish", "--json") == {"version": 1}
    hub_entry = _run(runner, hub_env, "federation", "describe")
    anchor.write_text(hub_entry["signing_key"])

    assert _run(runner, province_env, "federation", "fetch", "--json") == {
        "version": 1,
        "applied": True,
        "moved": [],
    }
    shown = _run(runner, province_env, "federation", "show", "--json")
    assert shown["version"] == 1
    assert shown["stale"] is False
    assert shown["agencies"] == 8  # the hub's seven and the province's commune
    assert [(n["id"], n["upstream"], n["agencies"]) for n in shown["nodes"]] == [
        ("nghean", "test-node", 1),
        ("test-node", None, 7),
    ]
    assert _run(runner, province_env, "federation", "fetch", "--json")["applied"] is False

    # An anchor that is not the hub's key: refused with its code, nothing applied.
    other = tmp_path / "other.pem"
    other.write_text(entry["signing_key"])  # the province's own key
    refused = runner.invoke(
        app,
        ["federation", "fetch", "--json"],
        env={**province_env, "DOCEX_FEDERATION__ANCHOR": str(other)},
    )
    assert refused.exit_code == 1
    assert json.loads(refused.stdout)["error"] == "directory_signature_invalid"

    # Only the publisher publishes.
    not_hub = runner.invoke(app, ["federation", "publish"], env=province_env)
    assert not_hub.exit_code == 1
    assert "DOCEX_FEDERATION__PUBLISHER" in not_hub.output
