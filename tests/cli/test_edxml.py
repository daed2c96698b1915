"""``docex edxml send`` and ``docex edxml fetch`` against a real node over HTTP: a legacy
system's package in, the document and its receipts back out as edXML."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from docex.interop import DocumentPackage, StatusPackage, parse_package
from tests.cli.test_commands import run
from tests.helpers import G22, H41, counts, deliver
from tests.interop.samples import sample
from tests.interop.test_api import SAMPLE_ID, legacy_document


def test_send_a_legacy_package_then_fetch_it_and_a_status_back_as_edxml(
    runner: CliRunner, served: str, client: TestClient, credentials: dict, tmp_path: Path
) -> None:
    package = tmp_path / "van-ban.edxml"
    package.write_bytes(legacy_document(client, tmp_path, document_id=SAMPLE_ID))
    sent = run(
        runner, served, f"{G22}/system", "edxml", "send", str(package), "--json",
        credentials=credentials,
    )  # fmt: skip
    assert sent.exit_code == 0, sent.output
    document = json.loads(sent.stdout)
    assert document["business_id"] == SAMPLE_ID
    again = run(
        runner, served, f"{G22}/system", "edxml", "send", str(package), credentials=credentials
    )
    assert again.exit_code == 0, again.output
    assert "đã có (gửi lại)" in again.stdout
    assert counts(client)["documents"] == 1
    deliver(client)

    status = tmp_path / "03.edxml"
    status.write_bytes(sample("status_acceptance_03.edxml"))
    accepted = run(
        runner, served, f"{H41}/system", "edxml", "send", str(status), "--json",
        credentials=credentials,
    )  # fmt: skip
    assert accepted.exit_code == 0, accepted.output
    receipt = json.loads(accepted.stdout)
    assert receipt["code"] == "03"

    out = tmp_path / "back.edxml"
    fetched = run(
        runner, served, G22, "edxml", "fetch", SAMPLE_ID, "-o", str(out), credentials=credentials
    )
    assert fetched.exit_code == 0, fetched.output
    back = parse_package(out.read_bytes(), spool_dir=tmp_path)
    assert isinstance(back, DocumentPackage)
    assert back.document_id == SAMPLE_ID
    assert [f.sha256 for f in back.files] == [f["sha256"] for f in document["files"]]
    status_out = run(
        runner, served, G22, "edxml", "fetch", document["id"][:8], "--receipt", receipt["id"],
        credentials=credentials,
    )  # fmt: skip
    assert status_out.exit_code == 0, status_out.output
    answered = parse_package(status_out.stdout_bytes, spool_dir=tmp_path)
    assert isinstance(answered, StatusPackage)
    assert (answered.code, answered.from_id, answered.document_id) == ("03", H41, SAMPLE_ID)


def test_a_refused_package_prints_its_code(
    runner: CliRunner, served: str, credentials: dict, tmp_path: Path
) -> None:
    status = tmp_path / "03.edxml"
    status.write_bytes(sample("status_acceptance_03.edxml"))
    refused = run(
        runner, served, f"{G22}/system", "edxml", "send", str(status), credentials=credentials
    )
    assert refused.exit_code == 1
    assert "edxml_sender_mismatch" in refused.output
