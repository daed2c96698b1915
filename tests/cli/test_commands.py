"""The remote commands against a real node over HTTP: what a person reads, what a script gets."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from docex.cli.main import app
from tests.helpers import G22, H41, counts, deliver, pdf, sign_as, token


@pytest.fixture
def signed(client: TestClient, tmp_path: Path) -> Path:
    path = tmp_path / "cong-van.pdf"
    path.write_bytes(sign_as(client, G22, pdf("Công văn thử CLI")))
    return path


def run(runner: CliRunner, url: str, who: str, *args: str, credentials: dict[str, Any]) -> Any:
    agency, _, role = who.partition("/")
    return runner.invoke(
        app, [*args, "--url", url, "--token", token(credentials, agency, role or "clerk")]
    )


def fits(output: str) -> bool:
    return max((len(line) for line in output.splitlines()), default=0) <= 80


def test_send_checks_recipients_first_then_shows_its_message_id_and_never_sends_twice(
    runner: CliRunner, served: str, client: TestClient, credentials: dict, signed: Path
) -> None:
    before = counts(client)
    unknown = run(
        runner, served, G22, "send", str(signed), "--to", H41, "--to", "000.00.00.X99",
        "--to", "group:nowhere", "--subject", "Thử", credentials=credentials,
    )  # fmt: skip
    assert unknown.exit_code == 1
    assert "lỗi: nơi nhận không có trong danh bạ" in unknown.stderr
    assert "000.00.00.X99, group:nowhere" in unknown.stderr
    assert counts(client) == before

    first = run(
        runner, served, G22, "send", str(signed), "--to", H41, "--subject", "Thử",
        "--number", "5", "--notation", "VPCP-TTĐT", credentials=credentials,
    )  # fmt: skip
    assert first.exit_code == 0, first.output
    message_id = re.search(r"message id: (\S+)", first.stderr)
    assert message_id is not None
    assert "đã gửi / sent" in first.stdout
    again = run(
        runner, served, G22, "send", str(signed), "--to", H41, "--subject", "Thử",
        "--number", "5", "--notation", "VPCP-TTĐT", "--message-id", message_id.group(1),
        "--json", credentials=credentials,
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["message_id"] == message_id.group(1)
    assert counts(client)["documents"] == before["documents"] + 1


def _send(runner: CliRunner, served: str, signed: Path, credentials: dict, n: int) -> str:
    result = run(
        runner, served, G22, "send", str(signed), "--to", H41, "--subject",
        f"Về việc thử nghiệm giao diện dòng lệnh số {n}", "--number", str(n), "--notation",
        "VPCP-TTĐT", "--urgency", "flash", "--json", credentials=credentials,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["id"])


def test_short_ids_business_ids_and_the_incoming_number_of_a_03(
    runner: CliRunner, served: str, client: TestClient, credentials: dict, signed: Path
) -> None:
    document_id = _send(runner, served, signed, credentials, 1)
    deliver(client)
    accepted = run(
        runner, served, H41, "status", document_id[:8], "03", "--incoming-number", "125",
        credentials=credentials,
    )  # fmt: skip
    assert accepted.exit_code == 0, accepted.output
    assert "03 đã tiếp nhận / accepted, số đến 125" in accepted.stdout

    inbox = run(runner, served, H41, "inbox", credentials=credentials)
    assert inbox.exit_code == 0, inbox.output
    assert fits(inbox.stdout)
    assert document_id[:8] in inbox.stdout
    assert document_id not in inbox.stdout  # shortened in tables...
    assert "Trích yếu" in inbox.stdout
    assert "số đến 125" in inbox.stdout
    listed = run(runner, served, H41, "inbox", "--json", credentials=credentials)
    assert json.loads(listed.stdout)["items"][0]["document_id"] == document_id  # ...not in JSON
    assert json.loads(listed.stdout)["items"][0]["incoming_number"] == "125"

    business_id = f"{G22},{json.loads(listed.stdout)['items'][0]['business_id'].split(',', 1)[1]}"
    shown = run(runner, served, G22, "show", business_id, "--json", credentials=credentials)
    assert json.loads(shown.stdout)["id"] == document_id
    table = run(runner, served, G22, "show", document_id[:10], credentials=credentials)
    assert table.exit_code == 0, table.output
    assert fits(table.stdout)
    assert "Mã định danh" in table.stdout
    assert "125" in table.stdout


def test_an_ambiguous_short_id_lists_the_candidates(
    runner: CliRunner, served: str, credentials: dict, signed: Path
) -> None:
    ids = [_send(runner, served, signed, credentials, n) for n in (1, 2, 3)]
    prefix = next(a[:8] for a, b in itertools.pairwise(ids) if a[:8] == b[:8])
    result = run(runner, served, G22, "show", prefix, credentials=credentials)
    assert result.exit_code == 1
    assert "lỗi: mã rút gọn trùng nhiều văn bản; gõ thêm ký tự" in result.stderr
    assert all(i in result.stderr for i in ids if i.startswith(prefix))
    scripted = run(runner, served, G22, "show", prefix, "--json", credentials=credentials)
    assert json.loads(scripted.stdout)["error"] == "ambiguous_reference"


def test_the_trace_fits_80_columns_with_key_value_details_and_no_raw_json(
    runner: CliRunner, served: str, client: TestClient, credentials: dict, signed: Path
) -> None:
    document_id = _send(runner, served, signed, credentials, 7)
    deliver(client)
    result = run(runner, served, G22, "trace", document_id[:8], credentials=credentials)
    assert result.exit_code == 0, result.output
    assert fits(result.stdout)
    assert "Diễn biến" in result.stdout
    assert "intake:document:accepted" in result.stdout
    assert "classification=normal" in result.stdout
    assert "{" not in result.stdout
    assert document_id not in result.stdout
    full = run(runner, served, G22, "trace", document_id[:8], "--json", credentials=credentials)
    assert json.loads(full.stdout)[0]["detail"]["message_id"]


def test_a_server_refusal_under_json_is_error_and_detail_with_exit_1(
    runner: CliRunner, served: str, credentials: dict
) -> None:
    missing = "01a21488-bb0b-7108-9819-0a80661a572f"
    result = run(runner, served, H41, "show", missing, "--json", credentials=credentials)
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "error": "document_not_found",
        "detail": "no such document",
    }
    human = run(runner, served, "auditor", "inbox", credentials=credentials)
    assert human.exit_code == 1
    assert human.stderr.splitlines() == [
        "lỗi: vai trò của bạn không được làm việc này",
        "error: an auditor may not do mailbox:read (forbidden)",
    ]


def test_a_download_resumes_from_the_partial_file_a_cut_left(
    runner: CliRunner, served: str, client: TestClient, credentials: dict, signed: Path
) -> None:
    document_id = _send(runner, served, signed, credentials, 9)
    deliver(client)
    data = signed.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    Path(f".copy.pdf.{digest}.part").write_bytes(data[:5000])
    result = run(
        runner, served, H41, "download", document_id[:8], "-o", "copy.pdf", "--json",
        credentials=credentials,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) | {"file_id": None} == {
        "document_id": document_id,
        "file_id": None,
        "path": "copy.pdf",
        "size": len(data),
        "sha256": digest,
        "resumed_from": 5000,
    }
    assert Path("copy.pdf").read_bytes() == data
    assert sorted(p.name for p in Path().iterdir() if "copy" in p.name) == ["copy.pdf"]


def test_login_stores_a_token_that_later_commands_use(
    runner: CliRunner, served: str, credentials: dict, tmp_path: Path
) -> None:
    person = credentials["agencies"][H41]["clerk"]
    logged = runner.invoke(
        app, ["login", person["username"], "--url", served], input=f"{person['password']}\n"
    )
    assert logged.exit_code == 0, logged.output
    stored = json.loads((tmp_path / "config" / "docex" / "login.json").read_text())
    assert (stored["url"], stored["username"]) == (served, person["username"])
    me = runner.invoke(app, ["me", "--json"])
    assert (json.loads(me.stdout)["agency_id"], me.exit_code) == (H41, 0)
    wrong = runner.invoke(app, ["login", person["username"], "--url", served, "--password", "x"])
    assert wrong.exit_code == 1
    assert "lỗi: sai tên đăng nhập hoặc mật khẩu" in wrong.stderr
    assert runner.invoke(app, ["logout"]).exit_code == 0
    assert runner.invoke(app, ["me"]).exit_code == 2
