"""What every ``docex`` sub-command shares: options, settings, output, and how it fails.

Every command is a :class:`DocexCommand` (``DocexTyper.command`` makes them so). It has
``--json``; it turns any failure into one line for people, ``lỗi: <Vietnamese> / error:
<English> (<code>)`` on stderr, or ``{"error": code, "detail": text}`` on stdout under
``--json``, with exit code 1 for a refusal or failure and 2 for a usage or configuration
error. No traceback reaches a person for anything the command could foresee.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn, get_args

import typer
import typer.main
from pydantic import ValidationError
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from docex.cli.messages import vietnamese
from docex.config import Settings
from docex_client import ApiError, DocexClientError

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="DOCEX_DATA_DIR",
        metavar="DIR",
        help="Data directory (default ./docex-data).",
    ),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON for scripts (errors too).")]


@dataclass
class Run:
    """What the command being run was asked for, beyond its own parameters."""

    json: bool = False
    connection: Any = None
    """``connection.ConnectionOptions`` of a remote command."""


_RUN: ContextVar[Run | None] = ContextVar("docex_cli_run", default=None)


def current_run() -> Run:
    run = _RUN.get()
    if run is None:  # a command function called directly, not through its command
        run = Run()
        _RUN.set(run)
    return run


class CliError(Exception):
    """A failure the command foresaw: ``code`` for scripts, ``detail`` (English) for people;
    ``vi`` when the Vietnamese is not the generic one for ``code``."""

    def __init__(self, code: str, detail: str, *, exit_code: int = 1, vi: str | None = None):
        super().__init__(detail)
        self.code, self.detail, self.exit_code, self.vi = code, detail, exit_code, vi


class UsageError(CliError):
    def __init__(self, detail: str, *, code: str = "usage", vi: str | None = None) -> None:
        super().__init__(code, detail, exit_code=2, vi=vi)


class ConfigError(CliError):
    """A bad setting or an unreadable file the command needs: exit code 2."""

    def __init__(self, detail: str, *, code: str = "configuration", vi: str | None = None):
        super().__init__(code, detail, exit_code=2, vi=vi)


def json_mode() -> bool:
    return current_run().json


def settings_for(data_dir: Path | None, **overrides: Any) -> Settings:
    """The node's settings (environment), with the command line's overrides."""
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"DOCEX_{'__'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid setting: {problems}", vi="cấu hình không hợp lệ") from exc
    updates: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        updates["data_dir"] = data_dir
    return settings.model_copy(update=updates) if updates else settings


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as the command's error; return the Exit to raise."""
    _report("error", message, None, code)
    return typer.Exit(code)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _report(code: str, detail: str, vi: str | None, exit_code: int) -> None:
    if json_mode():
        print_json({"error": code, "detail": detail})
        return
    vi = vi or vietnamese(code)
    lines = [f"lỗi: {vi}"] if vi else []
    lines.append(f"error: {detail}" + (f" ({code})" if code not in ("error", "usage") else ""))
    err.print("\n".join(lines), markup=False, soft_wrap=True)


def report_failure(exc: BaseException) -> int:
    """Say what went wrong, as the mode wants; the exit code. None for the unforeseen."""
    if isinstance(exc, CliError):
        _report(exc.code, exc.detail, exc.vi, exc.exit_code)
        return exc.exit_code
    if isinstance(exc, ApiError):
        _report(exc.error, exc.detail, vietnamese(exc.error, exc.status), 1)
        return 1
    if isinstance(exc, DocexClientError):
        _report(exc.error, exc.detail, None, 1)
        return 1
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        _report("local_file", f"{where}{exc.strerror or exc}", None, 1)
        return 1
    raise exc


_TYPE_NAMES = {str: "TEXT", int: "INTEGER", float: "FLOAT", bool: "BOOLEAN"}


def _classic_metavar(param: Any) -> str:
    """``TEXT``, ``INTEGER``, ``PATH``, ``[a|b]``: what a person reads, not ``<list[str]>``."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    if param.param_type_name == "argument":
        return str(param.name or "arg").upper()
    described = getattr(param, "type_descriptor", None)  # Typer >= 0.20 describes its types
    if described is None:
        return str(getattr(getattr(param, "type", None), "name", "value")).upper()
    if described.is_choice:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in described.choices) + "]"
    if described.is_path:
        return "PATH"
    annotation = described.annotation
    element = get_args(annotation)[0] if described.is_list else annotation
    return _TYPE_NAMES.get(element, "VALUE")


def _no_type(ctx: Any) -> None:
    return None


def _tidy_help(command: Any, ctx: Any) -> None:
    for param in command.get_params(ctx):
        if param.metavar is None:
            param.metavar = _classic_metavar(param)
        if param.param_type_name == "argument" and hasattr(param, "display_type_rich"):
            # An argument is shown by its name (PDF, REF); a "<file>" beside it says nothing.
            param.display_type_rich = _no_type


def options_of(template: Callable[..., None]) -> list[Any]:
    """The parameters Typer builds from ``template``'s signature: options written once, as
    Typer options, that several commands take (``DocexCommand``, ``RemoteCommand``)."""
    app = typer.Typer(add_completion=False)
    app.command()(template)
    names = set(inspect.signature(template).parameters)
    return [p for p in typer.main.get_command(app).params if p.name in names]


def _json_option(as_json: JsonOut = False) -> None:
    """``--json``, for the commands that do not declare it themselves."""


class DocexCommand(TyperCommand):
    """A ``docex`` command: ``--json`` and the failure rules of the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._own_json = any(p.name == "as_json" for p in self.params)
        if not self._own_json:
            self.params.extend(options_of(_json_option))

    # ctx and formatter are click's (vendored by Typer): typed Any not to reach into it.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        _RUN.set(Run(json="--json" in args))
        try:
            return list(super().parse_args(ctx, args))
        except Exception as exc:
            usage = getattr(exc, "exit_code", None) == 2 and hasattr(exc, "format_message")
            if not (usage and json_mode()):
                raise
            print_json({"error": "usage", "detail": exc.format_message()})  # type: ignore[attr-defined]
            raise typer.Exit(2) from exc

    def invoke(self, ctx: Any) -> Any:
        current_run().json = bool(ctx.params.get("as_json"))
        if not self._own_json:
            ctx.params.pop("as_json", None)
        try:
            return super().invoke(ctx)
        except (CliError, DocexClientError, OSError) as exc:
            raise typer.Exit(report_failure(exc)) from exc

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _tidy_help(self, ctx)
        super().format_help(ctx, formatter)


class DocexGroup(TyperGroup):
    def format_help(self, ctx: Any, formatter: Any) -> None:
        _tidy_help(self, ctx)
        super().format_help(ctx, formatter)


class DocexTyper(typer.Typer):
    """A Typer whose commands are :class:`DocexCommand` unless told otherwise."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", DocexGroup)
        kwargs.setdefault("no_args_is_help", True)
        kwargs.setdefault("pretty_exceptions_show_locals", False)
        super().__init__(**kwargs)

    def command(self, name: str | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", DocexCommand)
        return super().command(name, **kwargs)


def usage_error(message: str, *, vi: str | None = None) -> NoReturn:
    raise UsageError(message, vi=vi)
