"""``docex``: commands that act on this node's own configuration (init, serve, worker, token,
user, agency, keys), here; commands that talk to a running node over HTTP, by noun:
``session.py`` (login, logout, me), ``sending.py`` (send, sign), ``mailbox.py`` (inbox,
outbox), ``documents.py`` (show, download, status, receipts, trace, decrypt); the node's PKI
in ``pki.py``. What they share: ``common.py`` (output, failures), ``connection.py``,
``render.py``."""

from __future__ import annotations

import signal
import ssl
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from docex.cli.common import (
    DataDir,
    DocexTyper,
    JsonOut,
    console,
    err,
    fail,
    print_json,
    settings_for,
)
from docex.cli.edxml import edxml_app
from docex.config import Settings
from docex.vocabulary.levels import Classification

app = DocexTyper(
    name="docex",
    help="docex — electronic-document exchange node (Văn bản điện tử liên thông).",
)
agency_app = DocexTyper(help="Agencies of the directory (this node's database).")
token_app = DocexTyper(help="Bearer tokens for system clients.")
user_app = DocexTyper(help="People: clerks, leaders, auditors, admins.")
keys_app = DocexTyper(help="This node's key-encryption keys (KEK).")
db_app = DocexTyper(help="The database schema: its revision, its migrations.")
app.add_typer(agency_app, name="agency")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(token_app, name="token")
app.add_typer(user_app, name="user")
app.add_typer(edxml_app, name="edxml")


def _version(value: bool) -> None:
    if not value:
        return
    import importlib.metadata

    import docex_client

    try:
        version = importlib.metadata.version("docex")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    console.print(f"docex {version} (docex-client {docex_client.__version__})")
    raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """docex — electronic-document exchange node (Văn bản điện tử liên thông)."""


@app.command()
def init(
    data_dir: DataDir = None,
    demo: Annotated[bool, typer.Option("--demo", help="Seed the demo network.")] = False,
    as_json: JsonOut = False,
) -> None:
    """Create the data directory, migrate the database, create the node key (idempotent)."""
    from docex.bootstrap import init_node

    settings = settings_for(data_dir)
    result = init_node(settings, demo=demo)
    data = {
        "data_dir": str(result.data_dir.resolve()),
        "database": result.database_url,
        "key_created": result.key_created,
        "keys_encrypted": settings.passphrase is not None,
        "demo_seeded": result.demo_seeded,
        "credentials": str(result.credentials_path) if result.credentials_path else None,
    }
    if as_json:
        print_json(data)
    else:
        console.print(f"data directory  {data['data_dir']}")
        console.print(f"database        {data['database']} (migrated)")
        console.print(f"node key        {'created' if result.key_created else 'present'}")
        if result.credentials_path:
            console.print(f"demo logins     {result.credentials_path}")
    warn_if_keys_in_the_clear(settings, demo=demo)


def warn_if_keys_in_the_clear(settings: Settings, *, demo: bool) -> None:
    """Say it loudly, on stderr, when the node's keys lie unencrypted in its data directory
    (a demo node, with its published demo logins, says so itself)."""
    from docex.bootstrap import CREDENTIALS_FILE

    if settings.passphrase is not None or demo or (settings.data_dir / CREDENTIALS_FILE).exists():
        return
    err.print(
        "[bold red]WARNING: DOCEX_SIGNING__KEY_PASSPHRASE is not set: this node's keys are "
        f"stored UNENCRYPTED in {escape(str(settings.keys_dir))}.[/bold red]\n"
        "Anyone who can read that directory (or a backup of it) can sign receipts and seals "
        "as this node and its agencies, and decrypt every stored document. Set a passphrase "
        "before `docex init` for a real node (README: Configuration)."
    )


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(envvar="DOCEX_HOST")] = None,
    port: Annotated[int | None, typer.Option(envvar="DOCEX_PORT")] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Initialise with the demo network first.")
    ] = False,
    dispatcher: Annotated[
        bool,
        typer.Option("--dispatcher/--no-dispatcher", help="Run the dispatcher in this process."),
    ] = True,
) -> None:
    """Serve the API (and the routing worker) on HOST:PORT, 127.0.0.1:8000 by default."""
    import uvicorn

    from docex.api.protocol import protocol_class
    from docex.api.shutdown import CUT_SECONDS, DrainingServer
    from docex.app import create_app
    from docex.bootstrap import CREDENTIALS_FILE, init_node
    from docex.kit.logs import configure_logging

    settings = settings_for(data_dir, host=host, port=port)
    configure_logging(settings.log_format, settings.log_level)
    if not dispatcher:
        settings = settings.model_copy(
            update={"dispatcher": settings.dispatcher.model_copy(update={"enabled": False})}
        )
    init_node(settings, demo=demo)
    warn_if_keys_in_the_clear(settings, demo=demo)
    tls = tls_options(settings)
    app_ = create_app(settings)
    scheme = "https" if tls else "http"
    console.print(
        f"docex node [bold]{settings.node_id}[/bold] on [bold]{scheme}://{settings.host}:{settings.port}[/bold]"
        f"  (web UI: /ui/, API docs: /docs)"
        + ("  [bold]mutual TLS[/bold]" if tls.get("ssl_cert_reqs") == ssl.CERT_REQUIRED else "")
    )
    credentials = settings.data_dir / CREDENTIALS_FILE
    if credentials.exists():
        console.print(
            f"demo credentials: {credentials.resolve()}"
            "  (sign in to the web UI with a username and password from it)"
        )
    config = uvicorn.Config(
        app_,
        host=settings.host,
        port=settings.port,
        http=protocol_class(settings.limits),
        log_config=None,  # configure_logging above: JSON lines with request ids
        log_level=settings.log_level,
        access_log=False,  # docex's own (api/middleware.py: RequestContext)
        timeout_graceful_shutdown=CUT_SECONDS,  # after DrainingServer's grace period
        proxy_headers=False,  # who the client is, docex decides (DOCEX_TRUSTED_PROXIES)
        **tls,
    )
    DrainingServer(config, app_.state.shutdown).run()


def tls_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's TLS options from ``DOCEX_TLS__*`` (none: plain HTTP). With a client CA, a
    client certificate is required (mutual TLS) unless ``client_cert_required`` is false."""
    tls = settings.tls
    if tls.cert_file is None:
        if tls.client_ca_file is not None or tls.key_file is not None:
            raise fail("DOCEX_TLS__KEY_FILE and CLIENT_CA_FILE need DOCEX_TLS__CERT_FILE")
        return {}
    for name, path in (
        ("CERT_FILE", tls.cert_file),
        ("KEY_FILE", tls.key_file),
        ("CLIENT_CA_FILE", tls.client_ca_file),
    ):
        if path is not None and not path.is_file():
            raise fail(f"DOCEX_TLS__{name}: no file {path}")
    options: dict[str, Any] = {
        "ssl_certfile": str(tls.cert_file),
        "ssl_keyfile": str(tls.key_file) if tls.key_file else None,
        "ssl_keyfile_password": tls.key_password.get_secret_value() if tls.key_password else None,
    }
    if tls.client_ca_file is not None:
        options["ssl_ca_certs"] = str(tls.client_ca_file)
        options["ssl_cert_reqs"] = (
            ssl.CERT_REQUIRED if tls.client_cert_required else ssl.CERT_OPTIONAL
        )
    return options


@app.command()
def worker(data_dir: DataDir = None) -> None:
    """Run a routing worker alone (as many as you like, beside API-only `serve --no-dispatcher`)."""
    from docex.app import build_node
    from docex.kit.logs import configure_logging

    settings = settings_for(data_dir)
    configure_logging(settings.log_format, settings.log_level)
    node = build_node(settings)

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        node.worker.request_stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    console.print(f"worker {node.worker.owner} running")
    node.overdue.start()
    node.worker.run_forever()  # until SIGTERM/SIGINT; then it gives its leases back
    node.overdue.stop()
    node.db.dispose()


@db_app.command("current")
def db_current(data_dir: DataDir = None, as_json: JsonOut = False) -> None:
    """Print the database's schema revision and the newest this docex ships (exit 1 if behind)."""
    from sqlalchemy.exc import OperationalError

    from docex.migrations import current, head

    settings = settings_for(data_dir)
    try:
        at, newest = current(settings.resolved_database_url), head()
    except OperationalError as exc:
        raise fail(f"cannot reach the database: {exc.orig or exc}") from exc
    if as_json:
        print_json({"current": at, "head": newest, "up_to_date": at == newest})
    else:
        state = "up to date" if at == newest else "behind: run `docex db upgrade`"
        console.print(f"schema revision {at or 'none'} (head {newest}): {state}")
    if at != newest:
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None, as_json: JsonOut = False) -> None:
    """Migrate the database to the newest schema (safe while other replicas do the same)."""
    from sqlalchemy.exc import OperationalError

    from docex.migrations import current, upgrade

    url = settings_for(data_dir).resolved_database_url
    try:
        before = current(url)
        upgrade(url)
        after = current(url)
    except OperationalError as exc:
        raise fail(f"cannot reach the database: {exc.orig or exc}") from exc
    if as_json:
        print_json({"from": before, "to": after})
    else:
        console.print(f"schema revision {before or 'none'} → {after}")


@app.command()
def backup(
    dest: Annotated[Path, typer.Argument(metavar="DEST", help="A new directory.")],
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Copy this running node to DEST: a data directory to restore from.

    The SQLite database first (its online backup), then blobs and keys: docs/runbook.md."""
    from docex.backup import BackupError
    from docex.backup import backup as take_backup

    try:
        result = take_backup(settings_for(data_dir), dest)
    except BackupError as exc:
        raise fail(str(exc)) from exc
    data = {
        "dest": str(result.dest),
        "database_bytes": result.database_bytes,
        "blobs": result.blobs,
        "key_files": result.key_files,
    }
    if as_json:
        print_json(data)
    else:
        console.print(
            f"backup in {escape(str(result.dest))}: database {result.database_bytes} bytes, "
            f"{result.blobs} blobs, {result.key_files} key files"
        )


@token_app.command("create")
def token_create(
    agency: Annotated[str, typer.Option(help="Agency code the system client acts for.")],
    name: Annotated[str, typer.Option(help="What the token is for (shown in the audit log).")],
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Create a system principal for AGENCY and print its bearer token (shown once)."""
    from docex.auth.policy import Kind
    from docex.auth.service import create_api_token, create_principal
    from docex.db import Database
    from docex.errors import DocexError
    from docex.kit.clock import SystemClock

    settings = settings_for(data_dir)
    db = Database(settings.resolved_database_url)
    now = SystemClock().now()
    try:
        with db.write() as session:
            principal = create_principal(
                session, kind=Kind.SYSTEM, agency_id=agency, now=now, full_name=name
            )
            issued = create_api_token(session, principal, name=name, now=now)
    except DocexError as exc:
        raise fail(f"{exc.code}: {exc.detail}") from exc
    finally:
        db.dispose()
    if as_json:
        print_json({"agency_id": agency, "principal_id": principal.id, "token": issued.secret})
    else:
        console.print(f"token for {agency} ({name}) — store it now, it is not shown again:")
        sys.stdout.write(issued.secret + "\n")


@user_app.command("add")
def user_add(
    username: str,
    kind: Annotated[str, typer.Option(help="clerk | leader | auditor | admin")],
    agency: Annotated[str | None, typer.Option(help="Agency code (clerks and leaders).")] = None,
    clearance: Annotated[Classification, typer.Option()] = Classification.NORMAL,
    full_name: Annotated[str, typer.Option()] = "",
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, envvar="DOCEX_NEW_PASSWORD"
        ),
    ] = "",
    data_dir: DataDir = None,
) -> None:
    """Add a person who logs in with a password."""
    from docex.auth.policy import PEOPLE_KINDS, Kind
    from docex.auth.service import create_principal
    from docex.db import Database
    from docex.errors import DocexError
    from docex.kit.clock import SystemClock

    if kind not in {k.value for k in PEOPLE_KINDS}:
        raise fail("kind is clerk, leader, auditor or admin")
    db = Database(settings_for(data_dir).resolved_database_url)
    try:
        with db.write() as session:
            create_principal(
                session,
                kind=Kind(kind),
                agency_id=agency,
                username=username,
                password=password,
                full_name=full_name,
                clearance=clearance,
                now=SystemClock().now(),
            )
    except DocexError as exc:
        raise fail(f"{exc.code}: {exc.detail}") from exc
    finally:
        db.dispose()
    console.print(f"added {kind} {username}")


@user_app.command("link")
def user_link(
    username: str,
    value: Annotated[str, typer.Argument(help="The identifier (empty: unlink).")],
    data_dir: DataDir = None,
) -> None:
    """Link a person to the identifier the OpenID provider vouches for (DOCEX_OIDC__CLAIM):
    the only account single sign-on opens for it."""
    from sqlalchemy import select

    from docex.auth.accounts import link_identity
    from docex.auth.models import Principal
    from docex.db import Database
    from docex.errors import DocexError
    from docex.kit.clock import SystemClock

    db = Database(settings_for(data_dir).resolved_database_url)
    try:
        with db.write() as session:
            principal_id = session.scalars(
                select(Principal.id).where(Principal.username == username)
            ).one_or_none()
            if principal_id is None:
                raise fail(f"principal_not_found: no person {username}")
            link_identity(session, None, principal_id, value, now=SystemClock().now())
    except DocexError as exc:
        raise fail(f"{exc.code}: {exc.detail}") from exc
    finally:
        db.dispose()
    console.print(f"linked {username}" if value.strip() else f"unlinked {username}")


@agency_app.command("add")
def agency_add(
    code: str,
    name: Annotated[str, typer.Option()],
    kind: Annotated[str, typer.Option(help="party | state | front | social | other")] = "state",
    parent: Annotated[str | None, typer.Option()] = None,
    node: Annotated[str | None, typer.Option(help="Home node id (default: this node).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Add an agency to this node's directory."""
    from docex.agencies.service import register_agency
    from docex.db import Database
    from docex.errors import DocexError
    from docex.keys.node import agency_key_store
    from docex.kit.clock import SystemClock

    settings = settings_for(data_dir)
    db = Database(settings.resolved_database_url)
    try:
        with db.write() as session:
            register_agency(
                session,
                agency_key_store(settings),
                code=code,
                name=name,
                kind=kind,
                parent_id=parent,
                node_id=settings.node_id if node is None else node,
                this_node=settings.node_id,
                now=SystemClock().now(),
            )
    except DocexError as exc:
        raise fail(f"{exc.code}: {exc.detail}") from exc
    finally:
        db.dispose()
    console.print(f"added {code} {name}")


@agency_app.command("retire")
def agency_retire(
    code: str,
    successor: Annotated[
        str | None, typer.Option(help="Code that receives its mail from now on.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Retire an agency code; mail addressed to it goes to its successor (needed while mail
    still reaches it: queued deliveries, a group, a retired agency it succeeds)."""
    from docex.agencies.service import update_agency
    from docex.db import Database
    from docex.errors import DocexError
    from docex.kit.clock import SystemClock
    from docex.routing.deliveries import queued_to

    db = Database(settings_for(data_dir).resolved_database_url)
    try:
        with db.write() as session:
            update_agency(
                session,
                code,
                status="retired",
                successor_id=successor,
                now=SystemClock().now(),
                actor_id=None,
                queued_mail=queued_to,
            )
    except DocexError as exc:
        raise fail(f"{exc.code}: {exc.detail}") from exc
    finally:
        db.dispose()
    console.print(f"retired {code}" + (f" → {successor}" if successor else ""))


@agency_app.command("export-key")
def agency_export_key(
    code: str,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the PEM.")],
    remove: Annotated[
        bool,
        typer.Option(
            "--remove",
            help="Then delete the node's custodial copy: from now on "
            "only the agency can read its classified documents (docex decrypt).",
        ),
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Hand an agency its encryption private key, so it decrypts in its own system."""
    import os

    from docex.db import Database
    from docex.errors import DocexError
    from docex.keys.node import agency_key_store
    from docex.keys.service import export_agency_key
    from docex.kit.clock import SystemClock
    from docex.signing.keks import KeyUnavailable

    settings = settings_for(data_dir)
    store = agency_key_store(settings)
    if not store.has(code):
        raise fail(f"this node holds no encryption key of {code}")

    def write(private_pem: bytes) -> None:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(private_pem)
            fh.flush()
            os.fsync(fh.fileno())  # safe with the agency before the node's copy may go

    db = Database(settings.resolved_database_url)
    try:
        export_agency_key(db, store, code, write, remove=remove, now=SystemClock().now())
    except (DocexError, KeyUnavailable) as exc:
        raise fail(str(exc)) from exc
    except FileExistsError as exc:
        raise fail(f"{output} exists; choose another file") from exc
    finally:
        db.dispose()
    console.print(f"wrote {output}" + (" and removed the node's copy" if remove else ""))


@agency_app.command("list")
def agency_list(data_dir: DataDir = None, as_json: JsonOut = False) -> None:
    """List the agencies of this node's directory.

    Columns: Mã (code), Tên (name), Loại (kind), Cấp trên (parent), Nút (node), Trạng thái
    (status, and the successor of a retired code)."""
    from docex.agencies.service import search_agencies
    from docex.db import Database

    db = Database(settings_for(data_dir).resolved_database_url)
    try:
        with db.read() as session:
            rows = search_agencies(session)
    finally:
        db.dispose()
    data = [
        {
            "id": a.id,
            "name": a.name,
            "kind": a.kind,
            "parent_id": a.parent_id,
            "node_id": a.node_id,
            "status": a.status,
            "successor_id": a.successor_id,
        }
        for a in rows
    ]
    if as_json:
        print_json(data)
        return
    table = Table("Mã", "Tên", "Loại", "Cấp trên", "Nút", "Trạng thái")
    for a in data:
        status = f"{a['status']}" + (f" → {a['successor_id']}" if a["successor_id"] else "")
        table.add_row(a["id"], a["name"], a["kind"], a["parent_id"] or "", a["node_id"], status)
    console.print(table)


@keys_app.command("rotate")
def keys_rotate(data_dir: DataDir = None, as_json: JsonOut = False) -> None:
    """Add a new KEK and rewrap every stored data key with it (blobs are not rewritten)."""
    from docex.db import Database
    from docex.keys.service import rotate_kek
    from docex.kit.clock import SystemClock
    from docex.signing.keks import KekError

    settings = settings_for(data_dir)
    db = Database(settings.resolved_database_url)
    try:
        version, rewrapped = rotate_kek(db, settings, now=SystemClock().now())
    except KekError as exc:
        raise fail(str(exc)) from exc
    finally:
        db.dispose()
    if as_json:
        print_json({"kek_version": version, "rewrapped": rewrapped})
    else:
        console.print(f"KEK v{version} is current; {rewrapped} data keys rewrapped")


@app.command("sample-pdf")
def sample_pdf_cmd(
    output: Annotated[Path, typer.Argument(metavar="PATH", help="Where to write it.")],
    title: Annotated[str, typer.Option(metavar="TEXT")] = "Công văn mẫu về việc thử nghiệm docex",
    size: Annotated[int, typer.Option(metavar="BYTES", help="Approximate size.")] = 0,
    as_json: JsonOut = False,
) -> None:
    """Write a one-page PDF (in Vietnamese, its font embedded) to try docex with."""
    from docex.kit.samplepdf import sample_pdf
    from docex.signing.font import embeddable_font

    output.write_bytes(sample_pdf(title, size=size, font=embeddable_font()))
    if as_json:
        print_json({"output": str(output), "size": output.stat().st_size})
    else:
        console.print(f"wrote {output} ({output.stat().st_size} bytes)", markup=False)


def _register_remote() -> None:
    from docex.cli import (
        audit,
        deadlines,
        deliveries,
        documents,
        federation,
        groups,
        mailbox,
        pki,
        reports,
        sending,
        session,
        stats,
    )
    from docex.cli.connection import RemoteCommand

    for name, command in (
        ("login", session.login),
        ("me", session.me),
        ("send", sending.send),
        ("sign", sending.sign),
        ("inbox", mailbox.inbox),
        ("outbox", mailbox.outbox),
        ("overdue", deadlines.overdue),
        ("stats", stats.stats),
        ("show", documents.show),
        ("download", documents.download),
        ("status", documents.status),
        ("receipts", documents.receipts),
        ("trace", documents.trace),
        ("decrypt", documents.decrypt),
    ):
        app.command(name, cls=RemoteCommand)(command)
    app.command("logout")(session.logout)
    pki.register(app)
    audit.register(app)
    deliveries.register(app)
    groups.register(app)
    federation.register(app)
    reports.register(app)


_register_remote()
