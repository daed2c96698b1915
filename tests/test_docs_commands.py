"""Every ``docex`` command the documentation shows exists, with the options it shows.

The commands are read from the READMEs and the runbook — shell blocks (``docex ...``,
``.venv/bin/docex ...``, ``docker compose run --rm SERVICE ...`` whose entrypoint is docex) and
inline code (`docex agency add|list|retire`, each alternative) — and from the commands of
``deploy/compose.yaml`` and the systemd units' ``ExecStart``; each is resolved against the real
CLI, whose ``--help`` must list every option used.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml  # type: ignore[import-untyped]  # PyYAML, via certomancer and schemathesis; no stubs
from typer.testing import CliRunner

from docex.cli.main import app

ROOT = Path(__file__).resolve().parent.parent
DOCS = ["README.md", "deploy/README.md", "docs/runbook.md"]
_SEPARATORS = {"&&", "||", ";", "|", "&"}
_COMMAND = typer.main.get_command(app)


def _segments(line: str) -> Iterator[list[str]]:
    words = shlex.split(line, comments=True)
    segment: list[str] = []
    for word in [*words, ";"]:
        if word in _SEPARATORS:
            if segment:
                yield segment
            segment = []
        else:
            segment.append(word)


def _docex_args(segment: list[str]) -> list[str] | None:
    """The arguments given to docex by one shell command, or None if it runs something else."""
    if Path(segment[0]).name == "docex":
        return segment[1:]
    if segment[:3] == ["docker", "compose", "run"]:
        rest = [w for w in segment[3:] if w != "--rm"]
        return rest[1:] if rest and rest[0] in _docex_services() else None
    if segment[:3] == ["docker", "compose", "exec"] and len(segment) > 4:
        return segment[5:] if segment[4] == "docex" else None
    return None


def _docex_services() -> dict[str, list[str]]:
    """Services of the compose file that run the docex image, with their commands."""
    compose = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())
    return {
        name: service.get("command", [])
        for name, service in compose["services"].items()
        if service.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
    }


def _expand(words: list[str]) -> Iterator[list[str]]:
    """`docex agency add|list|retire` is three commands."""
    for i, word in enumerate(words):
        if "|" in word and not word.startswith("-") and not any(c in word for c in "<>[]"):
            for choice in word.split("|"):
                yield from _expand([*words[:i], choice, *words[i + 1 :]])
            return
    yield words


def documented_commands() -> Iterator[tuple[str, list[str]]]:
    for doc in DOCS:
        text = (ROOT / doc).read_text()
        for block in re.finditer(r"^```(?:sh|bash|shell|console)\n(.*?)^```$", text, re.S | re.M):
            for n, line in enumerate(block.group(1).replace("\\\n", " ").splitlines()):
                for segment in _segments(line):
                    args = _docex_args(segment)
                    if args is not None:
                        yield f"{doc} block line {n + 1}: {line.strip()}", args
        for span in re.finditer(r"`(?:\.venv/bin/)?docex( [^`]*)?`", text):
            words = shlex.split(span.group(1) or "")
            for args in _expand(words):
                yield f"{doc}: {span.group(0)}", args
    for name, command in _docex_services().items():
        yield f"deploy/compose.yaml service {name}", list(command)
    for unit in sorted((ROOT / "deploy").glob("*.service")):
        for line in unit.read_text().splitlines():
            if line.startswith("ExecStart="):
                args = _docex_args(shlex.split(line.removeprefix("ExecStart=")))
                assert args is not None, line
                yield f"deploy/{unit.name}", args


def check(args: list[str]) -> list[str]:
    """What is wrong with ``docex ARGS`` (empty: nothing), by the CLI's own definition."""
    command: Any = _COMMAND  # typer's own click (typer._click), groups have ``commands``
    path: list[str] = []
    rest = list(args)
    while hasattr(command, "commands") and rest and not rest[0].startswith("-"):
        sub = command.commands.get(rest[0])
        if sub is None:
            return [f"no command `docex {' '.join([*path, rest[0]])}`"]
        path.append(rest.pop(0))
        command = sub
    options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    options.add("--help")
    used = [w.split("=", 1)[0] for w in rest if w.startswith("-") and w != "-"]
    problems = [f"`docex {' '.join(path)}` has no option {o}" for o in used if o not in options]
    shown = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
    if shown.exit_code != 0:
        problems.append(f"`docex {' '.join(path)} --help` failed: {shown.output[-300:]}")
    problems += [
        f"`docex {' '.join(path)} --help` does not show {o}"
        for o in used
        if o in options and o not in shown.output
    ]
    return problems


COMMANDS = list(documented_commands())


def test_the_documentation_shows_commands() -> None:
    where = {place.split(":")[0].split(" ")[0] for place, _ in COMMANDS}
    assert where >= {*DOCS, "deploy/compose.yaml", "deploy/docex.service"}
    assert len(COMMANDS) > 40


@pytest.mark.parametrize(("place", "args"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_documented_command_exists_with_its_options(place: str, args: list[str]) -> None:
    assert check(args) == [], place


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["token", "create", "--agency", "X", "--kind", "system"], "has no option --kind"),
        (["tokens", "create"], "no command `docex tokens`"),
        (["db", "migrate"], "no command `docex db migrate`"),
    ],
)
def test_a_wrong_command_is_caught(args: list[str], problem: str) -> None:
    assert any(problem in p for p in check(args))
