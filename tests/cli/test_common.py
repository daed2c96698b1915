"""What every command does the same way: --json (errors too), one clear line for a bad
setting, exit codes, help that reads TEXT and CODE, --version."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from docex.cli.main import app
from docex_client import __version__


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert re.fullmatch(rf"docex \S+ \(docex-client {re.escape(__version__)}\)\n", result.stdout)


def test_a_missing_token_is_a_usage_error_in_both_languages_or_json(runner: CliRunner) -> None:
    human = runner.invoke(app, ["inbox"])
    assert human.exit_code == 2
    assert human.stdout == ""
    assert human.stderr.splitlines() == [
        "lỗi: chưa đăng nhập: dùng `docex login`, --token hoặc --as",
        "error: no token: `docex login`, --token (DOCEX_TOKEN) or --as AGENCY/ROLE",
    ]
    scripted = runner.invoke(app, ["inbox", "--json"])
    assert scripted.exit_code == 2
    assert json.loads(scripted.stdout) == {
        "error": "usage",
        "detail": "no token: `docex login`, --token (DOCEX_TOKEN) or --as AGENCY/ROLE",
    }


def test_a_bad_option_under_json_is_json_too(runner: CliRunner) -> None:
    result = runner.invoke(app, ["inbox", "--limit", "many", "--json"])
    assert result.exit_code == 2
    body = json.loads(result.stdout)
    assert body["error"] == "usage"
    assert "--limit" in body["detail"]


def test_no_answer_from_the_node_is_one_line_each_language_and_exit_1(runner: CliRunner) -> None:
    from tests.functional.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["me", "--url", url, "--token", "t"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert lines[0] == "lỗi: không kết nối được với nút docex"
    assert lines[1].startswith(f"error: GET {url}/api/v1/me: ")
    assert lines[1].endswith("(connection_failed)")


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [("DOCEX_PORT", "eighty", "DOCEX_PORT"), ("DOCEX_LIMITS__MAX_FILES", "0", "DOCEX_LIMITS__")],
)
def test_a_bad_setting_is_one_clear_line_not_a_traceback(
    runner: CliRunner, variable: str, value: str, named: str
) -> None:
    result = runner.invoke(app, ["init", "--data-dir", "d"], env={variable: value})
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1
    assert named in error[0]
    assert not Path("d").exists()


def test_an_unreadable_demo_credentials_file_is_named_with_its_full_path(
    runner: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "demo-credentials.json").write_text("{not json")
    result = runner.invoke(app, ["inbox", "--as", "000.00.00.H41/clerk", "--data-dir", "data"])
    assert result.exit_code == 2
    assert f"{tmp_path / 'data' / 'demo-credentials.json'}" in result.stderr
    missing = runner.invoke(app, ["inbox", "--as", "000.00.00.H41/clerk", "--json"])
    assert missing.exit_code == 2
    detail = json.loads(missing.stdout)["detail"]
    assert str(tmp_path / "docex-data" / "demo-credentials.json") in detail
    assert "DOCEX_DATA_DIR" in detail


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    import typer.main

    command = typer.main.get_command(group) if not hasattr(group, "commands") else group
    found: list[tuple[str, ...]] = []
    for name, sub in getattr(command, "commands", {}).items():
        if getattr(sub, "commands", None):
            found += _commands(sub, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def test_every_commands_help_fits_80_columns_and_shows_plain_metavars(runner: CliRunner) -> None:
    commands = _commands(app)
    assert ("send",) in commands
    assert ("pki", "init") in commands
    for command in commands:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, command
        assert not re.search(r"<(list\[|str>|bool>|int>|Path>|file>|path>)", result.stdout), (
            command,
            result.stdout,
        )
        assert max(len(line) for line in result.stdout.splitlines()) <= 80, command
    send_help = runner.invoke(app, ["send", "--help"]).stdout
    for metavar in ("--to", "CODE", "--subject", "TEXT", "--attach", "FILE", "--as"):
        assert metavar in send_help


def test_a_send_that_got_no_answer_says_how_to_retry_it_safely(
    runner: CliRunner, tmp_path: Path
) -> None:
    from tests.functional.conftest import free_port

    pdf = tmp_path / "cong-van.pdf"
    pdf.write_bytes(b"%PDF-1.7")
    url = f"http://127.0.0.1:{free_port()}"
    args = ["send", str(pdf), "--to", "000.00.00.H41", "--subject", "Thử", "--url", url]
    result = runner.invoke(app, [*args, "--token", "t", "--message-id", "qlvb-2026-7"])
    assert result.exit_code == 1
    assert "to retry the same send: --message-id qlvb-2026-7" in result.stderr
    assert "(connection_failed)" in result.stderr
