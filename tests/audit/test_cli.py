"""``docex audit verify | checkpoint | witness``: exit codes, the first bad index, a witness
process against a real node process."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from docex.audit.models import AuditEvent, LogEntry
from docex.cli.main import app
from docex.config import Settings
from tests.audit import tampering
from tests.audit.conftest import activity
from tests.functional.conftest import NodeProcess
from tests.helpers import node_of


def _env(settings: Settings) -> dict[str, str]:
    return {
        "DOCEX_DATA_DIR": str(settings.data_dir),
        "DOCEX_DATABASE_URL": settings.resolved_database_url,
        "DOCEX_NODE_ID": settings.node_id,
    }


def test_verify_passes_a_sound_log_and_names_the_first_bad_index_of_a_tampered_one(
    client: TestClient, credentials: dict[str, Any], settings: Settings
) -> None:
    activity(client, credentials, documents=1)
    runner = CliRunner()
    made = runner.invoke(app, ["audit", "checkpoint", "--json"], env=_env(settings))
    assert made.exit_code == 0, made.output
    head = json.loads(made.stdout)
    assert head["origin"] == "test-node/audit"
    assert head["log_key"] == node_of(client).audit.verifier.vkey()

    clean = runner.invoke(app, ["audit", "verify", "--json"], env=_env(settings))
    assert clean.exit_code == 0, clean.output
    report = json.loads(clean.stdout)
    assert report["ok"] is True
    assert report["entries"] == head["tree_size"]
    assert report["checkpoints"] >= 1

    node = node_of(client)
    victim = head["tree_size"] - 4
    with node.db.write() as session:
        tampering.unguard(session)
        index = session.scalar(select(LogEntry.event_index).where(LogEntry.position == victim))
        session.execute(
            update(AuditEvent).where(AuditEvent.index == index).values(event="auth:token:issued")
        )
    bad = runner.invoke(app, ["audit", "verify"], env=_env(settings))
    assert bad.exit_code == 1
    assert f"FIRST BAD INDEX {victim}" in bad.stdout
    assert "leaf_mismatch" in bad.stdout

    other_key = "someone+00000000+AgAA"
    refused = runner.invoke(app, ["audit", "verify", "--log-key", other_key], env=_env(settings))
    assert refused.exit_code == 2


@pytest.mark.functional
def test_a_witness_process_cosigns_then_exits_3_on_a_fork(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "node")
    node.cli("init", "--demo")
    node.start()
    try:
        token = node.credentials()["auditor"]["token"]
        head = json.loads(node.cli("audit", "checkpoint", "--json").stdout)
        key, state = tmp_path / "witness.pem", tmp_path / "witness.json"
        args = ["audit", "witness", "--url", node.url, "--key", str(key), "--state", str(state)]
        first = node.cli(*args, "--json", "--name", "auditor.test/w1", DOCEX_TOKEN=token)
        assert json.loads(first.stdout)["cosigned"] >= head["tree_size"]
        assert key.stat().st_mode & 0o777 == 0o600
        headers = {"Authorization": f"Bearer {token}"}
        served = httpx.get(f"{node.url}/api/v1/audit/checkpoint", headers=headers).json()
        assert [c["name"] for c in served["cosignatures"]] == ["auditor.test/w1"] or (
            served["tree_size"] > json.loads(first.stdout)["cosigned"]
        )

        # The witness remembers another root for the same size: the node has forked.
        remembered = json.loads(state.read_text())
        remembered["root_hash"] = base64.b64encode(b"\x07" * 32).decode()
        state.write_text(json.dumps(remembered))
        with _webhook() as (hook, alerts):
            forked = node.cli(
                *args,
                "--name",
                "auditor.test/w1",
                "--webhook",
                hook,
                check=False,
                DOCEX_TOKEN=token,
            )
        assert forked.returncode == 3, forked.stdout + forked.stderr
        assert "FORK DETECTED" in forked.stderr
        assert len(alerts) == 1
        assert alerts[0]["fork"] is True
        assert alerts[0]["node"] == node.url
        assert alerts[0]["reason"]
        found = httpx.get(
            f"{node.url}/api/v1/audit/search",
            params={"event": "audit:fork:reported"},
            headers=headers,
        ).json()["items"]
        assert len(found) == 1

        no_token = node.cli(*args, check=False)
        assert no_token.returncode == 2
        verified = node.cli("audit", "verify", "--json")
        assert json.loads(verified.stdout)["ok"] is True
    finally:
        node.stop()


@contextmanager
def _webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP server on a free local port that keeps the JSON bodies POSTed to it."""
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
