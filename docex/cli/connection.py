"""Where a remote command connects and as whom: the connection options, written once.

Every :class:`RemoteCommand` takes ``--url``, ``--token``, ``--as``, ``--data-dir`` and
``--credentials`` (after the command's name, like its own options) and finds its node and
token in this order:

- token: ``--as AGENCY/ROLE`` (a demo principal, from the demo credentials file), else
  ``--token`` / ``DOCEX_TOKEN``, else the login ``docex login`` stored, used only with the URL
  it was made for (a token is never sent to another node);
- URL: ``--url`` / ``DOCEX_URL``, else the stored login's, else the demo credentials'
  ``base_url``, else ``http://127.0.0.1:8000``.

The demo credentials file is ``<data dir>/demo-credentials.json``, the data directory being
``--data-dir`` / ``DOCEX_DATA_DIR`` (``./docex-data`` by default), so ``--as`` works from any
folder once the data directory is named. The login file is ``$XDG_CONFIG_HOME/docex/
login.json`` (``~/.config/docex/``), readable by its owner only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from docex.cli.common import ConfigError, DocexCommand, UsageError, current_run, options_of
from docex_client import DocexClient

__all__ = ["DEFAULT_URL", "Login", "RemoteCommand", "login_file", "remote"]

DEFAULT_URL = "http://127.0.0.1:8000"
PANEL = "Connection (kết nối)"


def _connection(
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="DOCEX_URL",
            metavar="URL",
            help=f"The node's base URL (default: your login's, else {DEFAULT_URL}).",
            show_default=False,
            rich_help_panel=PANEL,
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="DOCEX_TOKEN",
            metavar="TOKEN",
            help="Bearer token to act with (default: the one `docex login` stored).",
            show_default=False,
            rich_help_panel=PANEL,
        ),
    ] = None,
    as_: Annotated[
        str | None,
        typer.Option(
            "--as",
            metavar="AGENCY/ROLE",
            help="Act as a demo principal: AGENCY/clerk|leader|system, auditor or admin, "
            "with its token from the demo credentials file.",
            show_default=False,
            rich_help_panel=PANEL,
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar="DOCEX_DATA_DIR",
            metavar="DIR",
            help="The demo node's data directory, where --as finds demo-credentials.json "
            "(default ./docex-data).",
            show_default=False,
            rich_help_panel=PANEL,
        ),
    ] = None,
    credentials: Annotated[
        Path | None,
        typer.Option(
            "--credentials",
            envvar="DOCEX_CREDENTIALS",
            metavar="FILE",
            help="The demo credentials file itself (instead of the data directory's).",
            show_default=False,
            rich_help_panel=PANEL,
        ),
    ] = None,
) -> None:
    """The connection options; their values are read back with ``connection_options()``."""


@dataclass(frozen=True)
class ConnectionOptions:
    url: str | None = None
    token: str | None = None
    as_: str | None = None
    data_dir: Path | None = None
    credentials: Path | None = None


_NAMES = tuple(ConnectionOptions.__dataclass_fields__)


class RemoteCommand(DocexCommand):
    """A command that talks to a node: it takes the connection options."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(options_of(_connection))

    def invoke(self, ctx: Any) -> Any:
        options = ConnectionOptions(**{n: ctx.params.pop(n, None) for n in _NAMES})
        current_run().connection = options
        return super().invoke(ctx)


def connection_options() -> ConnectionOptions:
    found = current_run().connection
    return found if isinstance(found, ConnectionOptions) else ConnectionOptions()


# -- the stored login -------------------------------------------------------------------------


@dataclass(frozen=True)
class Login:
    url: str
    username: str
    token: str
    expires_at: str | None

    @property
    def expired(self) -> bool:
        if not self.expires_at:
            return False
        try:
            return datetime.fromisoformat(self.expires_at) <= datetime.now(UTC)
        except ValueError:
            return False


def login_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME", "")
    # The XDG spec: a relative value is invalid and ignored.
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "docex" / "login.json"


def load_login() -> Login | None:
    path = login_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Login(**{k: data.get(k) for k in Login.__dataclass_fields__})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        detail = f"cannot read your login in {path}: {exc}; `docex logout` clears it"
        raise ConfigError(detail) from exc


def save_login(login: Login) -> Path:
    """Write the login readable by its owner only (0600, in a 0700 folder), atomically."""
    path = login_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(asdict(login), out, ensure_ascii=False, indent=2)
    os.chmod(partial, 0o600)  # an older file with wider rights is not widened back
    partial.replace(path)
    return path


def forget_login() -> bool:
    path = login_file()
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed


# -- demo credentials -------------------------------------------------------------------------


def demo_credentials_path(options: ConnectionOptions) -> Path:
    if options.credentials is not None:
        return options.credentials
    return (options.data_dir or Path("docex-data")) / "demo-credentials.json"


def _load_demo(path: Path) -> Mapping[str, Any]:
    hint = "name the demo node's data directory with --data-dir or DOCEX_DATA_DIR"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(
            f"no demo credentials at {path.resolve()} ({hint}; `docex serve --demo` writes them)"
        ) from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read demo credentials {path.resolve()}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path.resolve()}: expected a JSON object")
    return data


def _demo_token(credentials: Mapping[str, Any], who: str, path: Path) -> str:
    agency, slash, role = who.partition("/")
    if not slash:
        if who not in ("auditor", "admin", "supervisor"):
            raise UsageError(
                f"--as {who}: AGENCY/ROLE (clerk, leader, system), auditor, admin or supervisor"
            )
        entry = credentials.get(who)
    else:
        if role not in ("clerk", "leader", "system"):
            raise UsageError(f"--as {who}: the role is clerk, leader or system")
        agencies = credentials.get("agencies")
        agencies = agencies if isinstance(agencies, dict) else {}
        if agency not in agencies:
            known = ", ".join(sorted(agencies)) or "none"
            raise UsageError(f"agency {agency} is not in {path.resolve()} (known: {known})")
        entry = agencies[agency].get(role) if isinstance(agencies[agency], dict) else None
    token = entry.get("token") if isinstance(entry, dict) else None
    if not isinstance(token, str) or not token:
        raise ConfigError(f"no token for {who} in {path.resolve()}")
    return token


@dataclass(frozen=True)
class Target:
    url: str
    token: str | None


def resolve_target(options: ConnectionOptions, *, token_required: bool = True) -> Target:
    """Where to connect and with which token (the order is in the module docstring)."""
    url, token = options.url, options.token
    if options.as_ is not None:
        path = demo_credentials_path(options)
        demo = _load_demo(path)
        token = _demo_token(demo, options.as_, path)
        base = demo.get("base_url")
        url = url or (base if isinstance(base, str) else None)
    elif not token and (login := load_login()) and (url or login.url).rstrip("/") == login.url:
        if login.expired:
            raise ConfigError(
                f"your login as {login.username} on {login.url} has expired: `docex login`",
                code="no_login",
            )
        url, token = login.url, login.token
    url = (url or DEFAULT_URL).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--url / DOCEX_URL: {url!r} is not an http:// or https:// URL")
    if token_required and not token:
        raise UsageError(
            "no token: `docex login`, --token (DOCEX_TOKEN) or --as AGENCY/ROLE",
            vi="chưa đăng nhập: dùng `docex login`, --token hoặc --as",
        )
    return Target(url, token)


C = TypeVar("C", bound=DocexClient)


@contextmanager
def remote_of(kind: type[C], *, token_required: bool = True) -> Iterator[C]:
    """A client of class ``kind`` for the command's node, as its options say."""
    target = resolve_target(connection_options(), token_required=token_required)
    with kind(target.url, target.token) as client:
        yield client


@contextmanager
def remote(*, token_required: bool = True) -> Iterator[DocexClient]:
    """A client for the command's node, as its options say."""
    with remote_of(DocexClient, token_required=token_required) as client:
        yield client
