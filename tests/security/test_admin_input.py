"""Admin input to the directory, through the API (POST/PATCH /agencies) and the CLI (``docex
agency ...``), which call the same service functions: node ids have a grammar, names are text
without control or invisible characters, the parent chain has no loop, and an agency that still
has mail coming (queued deliveries, group membership, retired agencies whose successor it is)
is not retired without a successor. Each refusal has its own code and changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from docex.agencies.models import Agency
from docex.cli.main import app as cli
from docex.config import Settings
from tests.documents.test_bad_input import REFUSED
from tests.helpers import (
    C1,
    G22,
    H26,
    H41,
    audit_events,
    auth,
    deliver,
    envelope,
    node_of,
    pdf,
    send,
)

AGENCIES = "/api/v1/agencies"
NEW = {"id": "000.00.00.G13", "name": "Bộ Nội vụ", "kind": "state"}
G13, G14 = "000.00.00.G13", "000.00.00.G14"

BAD_NODE_IDS = {
    "nul": "node\x00a",
    "newline": "node\na",
    "carriage-return": "node\ra",
    "100k-chars": "n" * 100_000,
    "65-chars": "n" * 65,
    "empty": "",
    "uppercase": "Node-A",
    "space": "node a",
    "path": "../etc",
    "underscore": "node_a",
    "leading-dot": ".node",
    "trailing-hyphen": "node-",
    "vietnamese": "nút-hà-nội",
    "bidi-override": "node\u202ea",
    "fullwidth": "ｎｏｄｅ",
}


@dataclass(frozen=True)
class Directory:
    rows: list[tuple[Any, ...]]
    registry_events: int
    refused: int


def directory(client: TestClient) -> Directory:
    with node_of(client).db.read() as session:
        rows = [
            (a.id, a.name, a.kind, a.parent_id, a.node_id, a.status, a.successor_id)
            for a in session.scalars(select(Agency).order_by(Agency.id))
        ]
    registry = [e for e in audit_events(client) if e.event.startswith("registry:")]
    return Directory(rows, len(registry), len(audit_events(client, REFUSED)))


def assert_refused(
    client: TestClient, response: Any, status: int, error: str, before: Directory
) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error, response.json()
    after = directory(client)
    assert after.rows == before.rows, "a refused change was stored"
    assert after.registry_events == before.registry_events
    assert after.refused == before.refused + 1, "the refusal was not audited exactly once"
    assert audit_events(client, REFUSED)[-1].detail["error"] == error


def run_cli(settings: Settings, *args: str) -> Any:
    env = {
        "DOCEX_DATA_DIR": str(settings.data_dir),
        "DOCEX_DATABASE_URL": settings.resolved_database_url,
        "DOCEX_NODE_ID": settings.node_id,
    }
    return CliRunner().invoke(cli, ["agency", *args], env=env)


def assert_cli_refused(client: TestClient, result: Any, error: str, before: Directory) -> None:
    assert result.exit_code == 1, result.output
    assert f"{error}:" in result.output
    assert directory(client).rows == before.rows, "a refused change was stored"


def admin_post(client: TestClient, credentials: dict, body: dict[str, Any]) -> Any:
    return client.post(AGENCIES, json=body, headers=auth(credentials, "admin"))


def admin_patch(client: TestClient, credentials: dict, code: str, body: dict[str, Any]) -> Any:
    return client.patch(f"{AGENCIES}/{code}", json=body, headers=auth(credentials, "admin"))


def add(client: TestClient, credentials: dict, code: str, **fields: Any) -> None:
    response = admin_post(client, credentials, {**NEW, "id": code, **fields})
    assert response.status_code == 201, response.text


# -- node ids -------------------------------------------------------------------------------------


@pytest.mark.parametrize("node_id", BAD_NODE_IDS.values(), ids=BAD_NODE_IDS.keys())
def test_agency_created_with_a_malformed_node_id_is_422_invalid_node_id(
    client: TestClient, credentials: dict, node_id: str
) -> None:
    before = directory(client)
    response = admin_post(client, credentials, {**NEW, "node_id": node_id})
    assert_refused(client, response, 422, "invalid_node_id", before)


@pytest.mark.parametrize("node_id", BAD_NODE_IDS.values(), ids=BAD_NODE_IDS.keys())
def test_agency_moved_to_a_malformed_node_id_is_422_invalid_node_id(
    client: TestClient, credentials: dict, node_id: str
) -> None:
    before = directory(client)
    response = admin_patch(client, credentials, H26, {"node_id": node_id})
    assert_refused(client, response, 422, "invalid_node_id", before)


@pytest.mark.parametrize(
    "node_id",
    ["hub", "nghean-1", "node.hanoi.gov.vn", "n" * 64, "7"],
    ids=["word", "digit", "dotted", "64-chars", "one-char"],
)
def test_well_formed_node_ids_are_accepted(
    client: TestClient, credentials: dict, node_id: str
) -> None:
    response = admin_patch(client, credentials, H26, {"node_id": node_id})
    assert response.status_code == 200, response.text
    assert response.json()["node_id"] == node_id


@pytest.mark.parametrize(
    "node_id", ["node\x00a", "node\na", "n" * 100_000, "Node-A"], ids=["nul", "lf", "long", "upper"]
)
def test_cli_agency_add_refuses_a_malformed_node_id_with_the_same_code(
    client: TestClient, credentials: dict, settings: Settings, node_id: str
) -> None:
    before = directory(client)
    result = run_cli(settings, "add", G13, "--name", "Bộ Nội vụ", "--node", node_id)
    assert_cli_refused(client, result, "invalid_node_id", before)


# -- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["Bộ\x00 Nội vụ", "Bộ\nNội vụ", "Bộ Nội vụ\u202e", "Bộ\u200bNội vụ", "", "   ", "x" * 301],
    ids=["nul", "newline", "bidi-override", "zero-width-space", "empty", "blank", "301-chars"],
)
def test_unusable_agency_name_is_422_invalid_agency_name_from_api_and_cli(
    client: TestClient, credentials: dict, settings: Settings, name: str
) -> None:
    before = directory(client)
    response = admin_post(client, credentials, {**NEW, "name": name})
    assert_refused(client, response, 422, "invalid_agency_name", before)
    before = directory(client)
    renamed = admin_patch(client, credentials, H26, {"name": name})
    assert_refused(client, renamed, 422, "invalid_agency_name", before)
    before = directory(client)
    assert_cli_refused(
        client, run_cli(settings, "add", G13, "--name", name), "invalid_agency_name", before
    )


# -- parents --------------------------------------------------------------------------------------


def test_agency_that_is_its_own_parent_is_422_parent_cycle(
    client: TestClient, credentials: dict
) -> None:
    before = directory(client)
    response = admin_patch(client, credentials, H41, {"parent_id": H41})
    assert_refused(client, response, 422, "parent_cycle", before)


def test_agency_created_as_its_own_parent_is_422_parent_cycle(
    client: TestClient, credentials: dict, settings: Settings
) -> None:
    before = directory(client)
    response = admin_post(client, credentials, {**NEW, "parent_id": NEW["id"]})
    assert_refused(client, response, 422, "parent_cycle", before)
    result = run_cli(settings, "add", G13, "--name", "Bộ Nội vụ", "--parent", G13)
    assert_cli_refused(client, result, "parent_cycle", before)


def test_province_placed_under_its_own_commune_is_422_parent_cycle(
    client: TestClient, credentials: dict
) -> None:
    before = directory(client)
    response = admin_patch(client, credentials, H41, {"parent_id": C1})  # C1 is under H41
    assert_refused(client, response, 422, "parent_cycle", before)


def test_parent_cycle_of_three_is_422_parent_cycle(client: TestClient, credentials: dict) -> None:
    add(client, credentials, G13, parent_id=C1)  # G13 → C1 → H41
    before = directory(client)
    response = admin_patch(client, credentials, H41, {"parent_id": G13})
    assert_refused(client, response, 422, "parent_cycle", before)


@pytest.mark.parametrize(
    "parent", ["000.00.00.H41\x00", "0" * 100_000, "000.00.00.H41\n"], ids=["nul", "long", "lf"]
)
def test_malformed_parent_code_is_422_invalid_agency_code(
    client: TestClient, credentials: dict, parent: str
) -> None:
    before = directory(client)
    response = admin_patch(client, credentials, C1, {"parent_id": parent})
    assert_refused(client, response, 422, "invalid_agency_code", before)
    assert len(response.json()["detail"]) < 200, "the detail echoes the whole input"


def test_moving_a_commune_to_another_province_is_allowed(
    client: TestClient, credentials: dict
) -> None:
    response = admin_patch(client, credentials, C1, {"parent_id": H26})
    assert response.status_code == 200, response.text
    assert response.json()["parent_id"] == H26


# -- retiring -------------------------------------------------------------------------------------


def test_retiring_a_group_member_without_a_successor_is_422_successor_required(
    client: TestClient, credentials: dict, settings: Settings
) -> None:
    before = directory(client)
    response = admin_patch(client, credentials, H26, {"status": "retired"})  # in group:provinces
    assert_refused(client, response, 422, "successor_required", before)
    assert "provinces" in response.json()["detail"]
    assert_cli_refused(client, run_cli(settings, "retire", H26), "successor_required", before)
    sent = send(client, auth(credentials, G22), envelope(["group:provinces"]), pdf())
    assert sent.status_code == 201, sent.text


def test_retiring_an_agency_with_queued_mail_without_a_successor_is_422_successor_required(
    client: TestClient, credentials: dict, settings: Settings
) -> None:
    add(client, credentials, G13)
    sent = send(client, auth(credentials, G22), envelope([G13]), pdf())
    assert sent.status_code == 201, sent.text
    assert sent.json()["recipients"][0]["transport"] == "queued"
    before = directory(client)
    response = admin_patch(client, credentials, G13, {"status": "retired"})
    assert_refused(client, response, 422, "successor_required", before)
    assert_cli_refused(client, run_cli(settings, "retire", G13), "successor_required", before)
    assert deliver(client) == 1
    delivered = admin_patch(client, credentials, G13, {"status": "retired"})
    assert delivered.status_code == 200, delivered.text


def test_retiring_the_successor_of_a_retired_agency_without_its_own_is_422_successor_required(
    client: TestClient, credentials: dict
) -> None:
    add(client, credentials, G13)
    add(client, credentials, G14)
    merged = admin_patch(client, credentials, G13, {"status": "retired", "successor_id": G14})
    assert merged.status_code == 200, merged.text
    before = directory(client)
    response = admin_patch(client, credentials, G14, {"status": "retired"})
    assert_refused(client, response, 422, "successor_required", before)
    assert G13 in response.json()["detail"]


def test_retiring_an_agency_nobody_writes_to_needs_no_successor(
    client: TestClient, credentials: dict, settings: Settings
) -> None:
    add(client, credentials, G13)
    add(client, credentials, G14)
    response = admin_patch(client, credentials, G13, {"status": "retired"})
    assert response.status_code == 200, response.text
    result = run_cli(settings, "retire", G14)
    assert result.exit_code == 0, result.output


def test_retiring_a_group_member_with_a_successor_is_allowed(
    client: TestClient, credentials: dict, settings: Settings
) -> None:
    result = run_cli(settings, "retire", H26, "--successor", H41)
    assert result.exit_code == 0, result.output
    sent = send(client, auth(credentials, G22), envelope(["group:provinces"]), pdf())
    assert sent.status_code == 201, sent.text
    assert [r["agency_id"] for r in sent.json()["recipients"]] == [H41]
