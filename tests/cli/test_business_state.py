"""A recalled or replaced document, as people read it in the CLI: inbox, outbox, show, trace,
and a download the node refuses with 410 ``recalled``."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from docex.cli.main import app
from tests.helpers import G22, H41, auth, deliver, envelope, pdf, send, token


def run(runner: CliRunner, url: str, who: str, *args: str, credentials: dict[str, Any]) -> Any:
    return runner.invoke(app, [*args, "--url", url, "--token", token(credentials, who)])


def fits(output: str) -> bool:
    return max((len(line) for line in output.splitlines()), default=0) <= 80


def test_a_recalled_and_a_replaced_document_show_so_on_both_sides(
    runner: CliRunner, served: str, client: TestClient, credentials: dict
) -> None:
    sender, recipient = auth(credentials, G22), auth(credentials, H41)
    recalled = send(client, sender, envelope(subject="Thu hồi"), pdf("A")).json()["id"]
    earlier = send(client, sender, envelope(subject="Bản cũ"), pdf("B")).json()["id"]
    deliver(client)
    newer = send(
        client,
        sender,
        envelope(subject="Bản mới", business={"type": "replace", "refers_to": earlier}),
        pdf("C"),
    ).json()["id"]
    deliver(client)
    url = "/api/v1/documents/{}/statuses"
    for who, document_id, body in (
        (sender, recalled, {"code": "13", "note": "Sai"}),
        (recipient, recalled, {"code": "15"}),
        (recipient, newer, {"code": "03"}),
    ):
        answer = client.post(url.format(document_id), json=body, headers=who)
        assert answer.status_code == 201, answer.text

    inbox = run(runner, served, H41, "inbox", credentials=credentials)
    assert inbox.exit_code == 0, inbox.output
    assert fits(inbox.stdout)
    assert "ĐÃ THU HỒI" in inbox.stdout
    assert "THAY THẾ" in inbox.stdout
    assert f"bởi {newer[:8]}" in inbox.stdout
    scripted = json.loads(
        run(runner, served, H41, "inbox", "--json", credentials=credentials).stdout
    )
    states = {
        i["document_id"]: (i["business_state"], i["superseded_by"]) for i in scripted["items"]
    }
    assert states == {
        recalled: ("recalled", None),
        earlier: ("replaced", newer),
        newer: (None, None),
    }

    outbox = run(runner, served, G22, "outbox", credentials=credentials)
    assert outbox.exit_code == 0, outbox.output
    assert fits(outbox.stdout)
    assert "ĐÃ THU HỒI" in outbox.stdout
    assert "THAY THẾ" in outbox.stdout  # the column is narrow: "ĐÃ ĐƯỢC" may wrap before it
    sent = json.loads(run(runner, served, G22, "outbox", "--json", credentials=credentials).stdout)
    counts = {i["document_id"]: i["business_state"] for i in sent["items"]}
    assert counts == {recalled: {"recalled": 1}, earlier: {"replaced": 1}, newer: {}}

    shown = run(runner, served, G22, "show", earlier, credentials=credentials)
    assert shown.exit_code == 0, shown.output
    assert fits(shown.stdout)
    assert "ĐÃ ĐƯỢC THAY THẾ" in shown.stdout

    trace = run(runner, served, H41, "trace", recalled, credentials=credentials)
    assert trace.exit_code == 0, trace.output
    assert "routing:delivery:recalled" in trace.stdout

    refused = run(runner, served, H41, "download", recalled, "-o", "x.pdf", credentials=credentials)
    assert refused.exit_code == 1
    assert "văn bản đã bị thu hồi" in refused.stderr
    kept = run(runner, served, G22, "download", recalled, "-o", "y.pdf", credentials=credentials)
    assert kept.exit_code == 0, kept.output
