"""``docex deliveries list | retry``: an admin sees the delivery the node gave up on, with the
reason, and re-queues it; anyone else is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.cli.test_commands import fits, run
from tests.helpers import G22, H26, H41, pdf, sign_as
from tests.routing.test_dead_letters import _delivery_id, _move_h26, _worker


def test_an_admin_lists_failed_deliveries_and_requeues_one(
    runner: CliRunner,
    served: str,
    client: TestClient,
    credentials: dict[str, Any],
    tmp_path: Path,
) -> None:
    # Sent through the served node, not the in-process client: the two run the same app on
    # two event loops, and the shutdown's asyncio.Event belongs to the first loop that used it.
    signed = tmp_path / "cong-van.pdf"
    signed.write_bytes(sign_as(client, G22, pdf("Công văn thử")))
    _move_h26(client, "elsewhere")
    sent = run(
        runner, served, G22, "send", str(signed), "--to", H41, "--to", H26, "--subject", "Thử",
        "--json", credentials=credentials,
    )  # fmt: skip
    assert sent.exit_code == 0, sent.output
    document = json.loads(sent.stdout)
    _worker(client, max_attempts=1).run_once()
    failed_id = _delivery_id(client, H26)

    listed = run(
        runner, served, "admin", "deliveries", "list", "--transport", "failed", "--json",
        credentials=credentials,
    )  # fmt: skip
    assert listed.exit_code == 0, listed.output
    [item] = json.loads(listed.stdout)["items"]
    assert (item["id"], item["document_id"], item["recipient_id"], item["transport"]) == (
        failed_id,
        document["id"],
        H26,
        "failed",
    )
    human = run(runner, served, "admin", "deliveries", "list", credentials=credentials)
    assert human.exit_code == 0, human.output
    assert failed_id in human.stdout
    assert "no route to node 'elsewhere'" in human.stdout
    assert fits(human.stdout)

    refused = run(runner, served, G22, "deliveries", "retry", failed_id, credentials=credentials)
    assert refused.exit_code == 1
    assert "(forbidden)" in refused.stderr

    retried = run(
        runner, served, "admin", "deliveries", "retry", failed_id, "--note", "route back",
        "--json", credentials=credentials,
    )  # fmt: skip
    assert retried.exit_code == 0, retried.output
    assert json.loads(retried.stdout)["transport"] == "queued"
    again = run(runner, served, "admin", "deliveries", "retry", failed_id, credentials=credentials)
    assert again.exit_code == 1
    assert "(delivery_not_failed)" in again.stderr
    queued = run(
        runner, served, "admin", "deliveries", "list", "--transport", "queued", "--json",
        credentials=credentials,
    )  # fmt: skip
    assert [i["id"] for i in json.loads(queued.stdout)["items"]] == [failed_id]
