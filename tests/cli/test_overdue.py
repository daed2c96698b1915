"""``docex overdue`` against a real node over HTTP: a person's table, a script's JSON."""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from docex.vocabulary.transport import JOB_DELIVERY
from tests.cli.test_commands import fits, run
from tests.helpers import G22, H41, auth, envelope, node_of, pdf, send


def _overdue_delivery(client: TestClient, credentials: dict) -> str:
    """A document to H41 delivered tomorrow at this hour and found unanswered a day later."""
    response = send(
        client, auth(credentials, G22), envelope([H41], subject="Về việc nộp báo cáo quý"), pdf()
    )
    assert response.status_code == 201, response.text
    node = node_of(client)
    delivered = node.clock.now() + timedelta(days=1)
    batch = node.worker.claim(JOB_DELIVERY, delivered)
    assert node.worker.move(JOB_DELIVERY, batch, delivered) == 1
    assert node.overdue.run_once(delivered + timedelta(days=4)) == 1
    return str(response.json()["id"])


def test_overdue_shows_each_side_its_late_deliveries_and_open_drops_the_answered(
    runner: CliRunner, served: str, client: TestClient, credentials: dict
) -> None:
    document_id = _overdue_delivery(client, credentials)

    human = run(runner, served, H41, "overdue", credentials=credentials)
    assert human.exit_code == 0, human.output
    assert fits(human.stdout)
    assert "Quá hạn tiếp nhận" in human.stdout
    assert document_id[:8] in human.stdout
    assert "phải trả lời" in human.stdout  # H41 is the one that had to answer

    scripted = run(runner, served, G22, "overdue", "--json", credentials=credentials)
    assert scripted.exit_code == 0, scripted.output
    (item,) = json.loads(scripted.stdout)["items"]
    assert (item["document_id"], item["side"], item["recipient_id"]) == (document_id, "sender", H41)
    assert item["answered"] is False

    accepted = run(runner, served, H41, "status", document_id[:8], "03", credentials=credentials)
    assert accepted.exit_code == 0, accepted.output
    still = run(runner, served, H41, "overdue", "--json", credentials=credentials)
    assert json.loads(still.stdout)["items"][0]["answered"] is True  # late is late
    assert "trả lời muộn" in run(runner, served, H41, "overdue", credentials=credentials).stdout
    open_only = run(runner, served, H41, "overdue", "--open", "--json", credentials=credentials)
    assert json.loads(open_only.stdout)["items"] == []

    node_wide = run(
        runner, served, "auditor", "overdue", "--all", "--json", credentials=credentials
    )
    assert node_wide.exit_code == 0, node_wide.output
    assert [i["side"] for i in json.loads(node_wide.stdout)["items"]] == [None]
