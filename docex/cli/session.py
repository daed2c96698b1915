"""``docex login | logout | me``: who the remote commands act as."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from docex.cli import render
from docex.cli.common import UsageError, console, json_mode, print_json
from docex.cli.connection import (
    Login,
    connection_options,
    forget_login,
    login_file,
    remote,
    resolve_target,
    save_login,
)
from docex_client import DocexClient

__all__ = ["login", "logout", "me"]


def login(
    username: Annotated[str, typer.Argument(metavar="USERNAME", help="Your login name.")],
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            envvar="DOCEX_PASSWORD",
            metavar="TEXT",
            help="Your password (asked for when not given; prefer that to the option).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Log in with your username and password; later commands act as you.

    The token is stored in $XDG_CONFIG_HOME/docex/login.json (~/.config/docex/), readable by
    you only, and sent only to the node it came from."""
    target = resolve_target(connection_options(), token_required=False)
    if password is None:
        password = typer.prompt("Mật khẩu / password", hide_input=True)
    if not password:
        raise UsageError("no password given")
    with DocexClient(target.url) as client:
        issued = client.login(username, password)
        who = client.me()
    expires = (
        (datetime.now(UTC) + timedelta(seconds=issued.expires_in)).isoformat()
        if issued.expires_in
        else None
    )
    path = save_login(Login(target.url, username, issued.access_token, expires))
    result = {
        "url": target.url,
        "username": username,
        "kind": who.kind,
        "agency_id": who.agency_id,
        "expires_at": expires,
        "stored_in": str(path),
    }
    if json_mode():
        print_json(result)
        return
    render.show(
        render.fields(
            [
                ("Đăng nhập", f"{username} ({who.kind}, {who.agency_id or 'nút / node'})"),
                ("Nút", target.url),
                (
                    "Hết hạn",
                    render.when(datetime.fromisoformat(expires), year=True) if expires else "",
                ),
                ("Lưu ở", str(path)),
            ]
        )
    )


def logout() -> None:
    """Forget the stored login (the token stays valid until it expires)."""
    existed = forget_login()
    if json_mode():
        print_json({"logged_out": existed, "file": str(login_file())})
        return
    console.print(
        "đã đăng xuất / logged out" if existed else "không có đăng nhập / no login stored"
    )


def me() -> None:
    """Who the token belongs to, and for which agency it acts."""
    with remote() as client:
        principal = client.me()
    if json_mode():
        print_json(dict(principal.raw))
        return
    render.show(
        render.fields(
            [
                ("Loại", principal.kind),
                ("Cơ quan", principal.agency_id),
                ("Độ mật", render.classification(principal.clearance)),
                ("Tên đăng nhập", principal.username),
                ("Nút", client.base_url),
            ]
        )
    )
