"""``docex group add|set|list``: the recipient groups of this node's directory (its database),
like ``docex agency ...``; the rules live in ``docex.agencies.service`` (``create_group``,
``update_group``), shared with ``POST``/``PATCH /api/v1/groups``, and every change is audited
(``registry:group:created``, ``registry:group:updated``).

Registered on the main app by ``register(app)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from docex.cli.common import DataDir, DocexTyper, JsonOut, console, fail, print_json, settings_for

__all__ = ["register"]

T = TypeVar("T")

group_app = DocexTyper(help="Recipient groups (group:<name>) of this node's directory.")

Members = Annotated[
    list[str] | None,
    typer.Option("--member", "-m", help="Agency code of a member (repeat the option)."),
]


def register(app: typer.Typer) -> None:
    app.add_typer(group_app, name="group")


def _write(data_dir: DataDir, change: Callable[[Session], T]) -> T:
    from docex.db import Database
    from docex.errors import DocexError

    db = Database(settings_for(data_dir).resolved_database_url)
    try:
        with db.write() as session:
            return change(session)
    except DocexError as exc:
        raise fail(f"{exc.code}: {exc.detail}") from exc
    finally:
        db.dispose()


def _members_of(session: Session, name: str) -> list[str]:
    from docex.agencies.service import group_members

    return group_members(session, name)


@group_app.command("add")
def group_add(
    name: str,
    title: Annotated[str, typer.Option(help="What the group is called.")],
    member: Members = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Create a recipient group: `docex group add communes --title "Xã" -m CODE -m CODE`."""
    from docex.agencies.service import create_group
    from docex.kit.clock import SystemClock

    def change(session: Session) -> list[str]:
        create_group(session, name, member or [], title=title, now=SystemClock().now())
        return _members_of(session, name)

    members = _write(data_dir, change)
    if as_json:
        print_json({"name": name, "title": title, "members": members})
        return
    console.print(f"added group {name} ({len(members)} members)")


@group_app.command("set")
def group_set(
    name: str,
    title: Annotated[str | None, typer.Option(help="A new title.")] = None,
    member: Annotated[
        list[str] | None,
        typer.Option("--member", "-m", help="The whole new member list (repeat the option)."),
    ] = None,
    add: Annotated[list[str] | None, typer.Option("--add", help="A code to add.")] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", help="A code to remove.")] = None,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Change a group: its title, its whole member list (--member), or some members (--add,
    --remove; not with --member)."""
    from docex.agencies.service import update_group
    from docex.kit.clock import SystemClock

    def change(session: Session) -> tuple[str, list[str]]:
        group = update_group(
            session,
            name,
            now=SystemClock().now(),
            actor_id=None,
            title=title,
            members=member,
            add=add,
            remove=remove,
        )
        return group.title, _members_of(session, name)

    new_title, members = _write(data_dir, change)
    if as_json:
        print_json({"name": name, "title": new_title, "members": members})
        return
    console.print(f"changed group {name} ({len(members)} members)")


@group_app.command("list")
def group_list(data_dir: DataDir = None, as_json: JsonOut = False) -> None:
    """List the recipient groups. Columns: Tên nhóm (name), Tiêu đề (title), Thành viên
    (members)."""
    from docex.agencies.service import groups_with_members
    from docex.db import Database

    db = Database(settings_for(data_dir).resolved_database_url)
    try:
        with db.read() as session:
            data: list[dict[str, Any]] = [
                {"name": g.name, "title": g.title, "description": g.description, "members": m}
                for g, m in groups_with_members(session)
            ]
    finally:
        db.dispose()
    if as_json:
        print_json(data)
        return
    table = Table("Tên nhóm", "Tiêu đề", "Thành viên")
    for g in data:
        table.add_row(g["name"], g["title"], ", ".join(g["members"]))
    console.print(table)
