"""``docex federation describe|node add|publish|fetch|show``: the signed directory of the
network (docs/federation.md, "Directory"), on this node's own database; and ``docex network
demo``: a hub and two provinces on this machine (the logic: ``docex.network``).

Registered on the main app by ``register(app)``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from docex.cli.common import (
    CliError,
    DataDir,
    DocexTyper,
    JsonOut,
    console,
    fail,
    print_json,
    settings_for,
)

__all__ = ["register"]

federation_app = DocexTyper(help="The network's signed directory (the hub publishes it).")
node_app = DocexTyper(help="Nodes of the network, on the hub.")
network_app = DocexTyper(help="A whole network on this machine.")
federation_app.add_typer(node_app, name="node")


def register(app: typer.Typer) -> None:
    app.add_typer(federation_app, name="federation")
    app.add_typer(network_app, name="network")


@federation_app.command("describe")
def describe(
    url: Annotated[
        str | None, typer.Option(help="Where peers reach this node (default: its base URL).")
    ] = None,
    upstream: Annotated[
        str | None, typer.Option(help="The node this one sends through (a province: the hub).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Print this node's entry in the directory, and the agencies it hosts, as JSON (for the
    hub: `docex federation node add FILE`)."""
    from docex.db import Database
    from docex.federation.local import describe_self, node_keys

    settings = settings_for(data_dir)
    db = Database(settings.resolved_database_url)
    try:
        with node_keys(settings) as (_signer, public), db.read() as session:
            entry = describe_self(session, settings, public, base_url=url, upstream=upstream)
    finally:
        db.dispose()
    print_json(entry.model_dump(mode="json"))


@node_app.command("add")
def node_add(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A node's `describe` output.")],
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Import a node's entry and its agencies (on the hub; `docex federation publish` next)."""
    from pydantic import ValidationError

    from docex.db import Database
    from docex.errors import DocexError
    from docex.federation.directory import NodeDescription, import_node
    from docex.kit.clock import SystemClock

    try:
        entry = NodeDescription.model_validate_json(file.read_bytes())
    except ValidationError as exc:
        raise fail(f"{file} is not a node description: {exc.errors()[0]['msg']}") from exc
    db = Database(settings_for(data_dir).resolved_database_url)
    try:
        with db.write() as session:
            moved = import_node(session, entry, now=SystemClock().now())
    except DocexError as exc:
        raise CliError(exc.code, exc.detail) from exc
    finally:
        db.dispose()
    data = {"node": entry.id, "agencies": [a.id for a in entry.agencies], "moved": moved}
    if as_json:
        print_json(data)
    else:
        console.print(f"node {entry.id}: {len(entry.agencies)} agencies", markup=False)


@federation_app.command("publish")
def publish(data_dir: DataDir = None, as_json: JsonOut = False) -> None:
    """Sign and keep the next version of the directory (the hub: DOCEX_FEDERATION__PUBLISHER)."""
    from docex.db import Database
    from docex.federation.directory import publish as publish_directory
    from docex.federation.local import describe_self, node_keys
    from docex.kit.clock import SystemClock

    settings = settings_for(data_dir)
    if not settings.federation.publisher:
        raise fail("this node does not publish the directory (DOCEX_FEDERATION__PUBLISHER)")
    db = Database(settings.resolved_database_url)
    try:
        with node_keys(settings) as (signer, public), db.write() as session:
            itself = describe_self(session, settings, public)
            row = publish_directory(
                session,
                signer,
                itself,
                network=settings.federation.network,
                now=SystemClock().now(),
            )
            version = row.version
    finally:
        db.dispose()
    if as_json:
        print_json({"version": version})
    else:
        console.print(f"directory version {version} published")


@federation_app.command("fetch")
def fetch(data_dir: DataDir = None, as_json: JsonOut = False) -> None:
    """Fetch the directory now, verify it against the anchor and apply it."""
    from docex.db import Database
    from docex.errors import DocexError
    from docex.federation.directory import DirectoryFetcher
    from docex.kit.clock import SystemClock

    settings = settings_for(data_dir)
    if settings.federation.directory_url is None or settings.federation.anchor is None:
        raise fail("set DOCEX_FEDERATION__DIRECTORY_URL and DOCEX_FEDERATION__ANCHOR")
    db = Database(settings.resolved_database_url)
    try:
        outcome = DirectoryFetcher(db, settings.federation, clock=SystemClock()).run_once()
    except DocexError as exc:
        raise CliError(exc.code, exc.detail) from exc
    finally:
        db.dispose()
    if outcome is None:
        raise CliError(
            "directory_unreachable",
            f"{settings.federation.directory_url} could not be reached; "
            "the last good version stays in force",
        )
    data = {"version": outcome.version, "applied": outcome.applied, "moved": list(outcome.moved)}
    if as_json:
        print_json(data)
    else:
        said = "applied" if outcome.applied else "unchanged"
        console.print(f"directory version {outcome.version} {said}")


@federation_app.command("show")
def show(data_dir: DataDir = None, as_json: JsonOut = False) -> None:
    """The directory version in force, its age, its nodes and how many agencies each hosts."""
    from docex.db import Database
    from docex.federation import peers
    from docex.federation.directory import state
    from docex.kit.clock import SystemClock, rfc3339

    settings = settings_for(data_dir)
    db = Database(settings.resolved_database_url)
    try:
        with db.read() as session:
            found = state(
                session,
                now=SystemClock().now(),
                max_age_seconds=settings.federation.max_age_seconds,
            )
            nodes = peers.peers(session)
            hosted = peers.hosted_counts(session)
    finally:
        db.dispose()
    data: dict[str, Any] = {
        "version": found.version if found else None,
        "issued_at": rfc3339(found.issued_at) if found else None,
        "age_seconds": round(found.age_seconds, 3) if found else None,
        "stale": found.stale if found else None,
        "nodes": [
            {
                "id": n.id,
                "base_url": n.base_url,
                "upstream": n.upstream,
                "agencies": int(hosted.get(n.id, 0)),
            }
            for n in nodes
        ],
        "agencies": int(sum(hosted.values())),
    }
    if as_json:
        print_json(data)
        return
    if found is None:
        console.print("no directory yet")
    else:
        stale = " (STALE)" if found.stale else ""
        console.print(
            f"directory version {found.version}, issued {data['issued_at']}, "
            f"{found.age_seconds:.0f} s ago{stale}; {data['agencies']} agencies"
        )
    table = Table("Nút", "URL", "Cấp trên", "Cơ quan")
    for n in data["nodes"]:
        table.add_row(n["id"], n["base_url"], n["upstream"] or "", str(n["agencies"]))
    console.print(table)


@network_app.command("demo")
def demo(
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="Where the three nodes keep their data.")
    ],
    base_port: Annotated[
        int, typer.Option(help="The hub's port; the provinces take the next two.")
    ] = 8000,
) -> None:
    """Initialise and run a network of three nodes on 127.0.0.1: the hub and two provinces,
    sharing a signed directory; writes DIR/network.json; Ctrl-C stops them all."""
    from docex.network import NetworkError, run_demo

    try:
        run_demo(directory, base_port=base_port, say=_say)
    except NetworkError as exc:
        raise fail(str(exc)) from exc


def _say(text: str) -> None:
    console.print(text, markup=False, soft_wrap=True)
