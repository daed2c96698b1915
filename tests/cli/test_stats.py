"""``docex stats`` against a real node over HTTP: a person's table, a script's JSON, a clerk's
own row, a bad date refused."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from docex.cli.stats import duration
from tests.cli.test_commands import fits, run
from tests.helpers import G22, H41, auth, deliver, envelope, pdf, send


def test_stats_prints_every_agency_for_a_supervisor_and_her_own_row_for_a_clerk(
    runner: CliRunner, served: str, client: TestClient, credentials: dict
) -> None:
    response = send(client, auth(credentials, G22), envelope([H41]), pdf())
    assert response.status_code == 201, response.text
    assert deliver(client) == 1
    document_id = response.json()["id"]
    accepted = client.post(
        f"/api/v1/documents/{document_id}/statuses",
        json={"code": "03"},
        headers=auth(credentials, H41),
    )
    assert accepted.status_code == 201, accepted.text

    human = run(runner, served, "supervisor", "stats", credentials=credentials)
    assert human.exit_code == 0, human.output
    assert fits(human.stdout)
    assert "Thống kê theo cơ quan" in human.stdout
    assert G22 in human.stdout
    assert H41 in human.stdout

    scripted = run(runner, served, "supervisor", "stats", "--json", credentials=credentials)
    assert scripted.exit_code == 0, scripted.output
    rows = {row["agency_id"]: row for row in json.loads(scripted.stdout)["items"]}
    assert (rows[G22]["sent"], rows[H41]["received"], rows[H41]["accepted"]) == (1, 1, 1)
    assert rows[H41]["median_to_03_s"] is not None

    own = run(runner, served, H41, "stats", "--json", credentials=credentials)
    assert [row["agency_id"] for row in json.loads(own.stdout)["items"]] == [H41]

    bad = run(
        runner, served, "supervisor", "stats", "--from", "26/11/2026", "--json",
        credentials=credentials,
    )  # fmt: skip
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["error"] == "invalid_date"


def test_durations_are_short() -> None:
    assert [duration(v) for v in (None, 4.4, 185.0, 19_260.0)] == ["—", "4s", "3m05s", "5h21m"]
