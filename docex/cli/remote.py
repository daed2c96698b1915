"""Commands that talk to a running node through :class:`docex.client.DocexClient`.

``docex send | inbox | outbox | show | download | status | receipts | trace | me``. They hold no
business rule: they gather options, make one or two client calls, and print tables and progress
bars for people or the server's JSON (``--json``) for scripts. Server errors print as
``error: <code>: <detail>`` on stderr with exit code 1; a missing token or a bad option exits 2.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from docex.cli.common import print_json
from docex.client import DocexClient, DocexError, status_label

__all__ = ["register"]

DEFAULT_URL = "http://127.0.0.1:8000"
VIETNAM = timezone(timedelta(hours=7), "ICT")  # no daylight saving time in Vietnam

_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)


class Urgency(StrEnum):
    normal = "normal"
    urgent = "urgent"
    very_urgent = "very_urgent"
    flash = "flash"


class Classification(StrEnum):
    # S105: these are classification levels (độ mật), not credentials.
    normal = "normal"
    confidential = "confidential"
    secret = "secret"  # noqa: S105
    top_secret = "top_secret"  # noqa: S105


_URGENCY_VI = {
    "normal": "thường",
    "urgent": "khẩn",
    "very_urgent": "thượng khẩn",
    "flash": "hỏa tốc",
}
_CLASSIFICATION_VI = {
    "normal": "thường",
    "confidential": "mật",
    "secret": "tối mật",
    "top_secret": "tuyệt mật",
}

# --------------------------------------------------------------------------------------------
# Connection options, shared by every command

_PANEL = "Connection"

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="DOCEX_URL",
        help=f"Node base URL (default: the credentials file's base_url, else {DEFAULT_URL}).",
        show_default=False,
        rich_help_panel=_PANEL,
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="DOCEX_TOKEN",
        help="Bearer token of the principal to act as.",
        show_default=False,
        rich_help_panel=_PANEL,
    ),
]
AsOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        metavar="AGENCY/ROLE",
        help="Act as a demo principal: AGENCY/clerk|leader|system, auditor or admin, with the "
        "token from the demo credentials file (takes precedence over --token).",
        show_default=False,
        rich_help_panel=_PANEL,
    ),
]
CredentialsOption = Annotated[
    Path | None,
    typer.Option(
        "--credentials",
        envvar="DOCEX_CREDENTIALS",
        dir_okay=False,
        help="Demo credentials file (default: $DOCEX_DATA_DIR/demo-credentials.json, "
        "DOCEX_DATA_DIR defaulting to ./docex-data).",
        show_default=False,
        rich_help_panel=_PANEL,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the server's JSON instead of tables.")
]


@dataclass(frozen=True)
class Connection:
    url: str
    token: str


def _usage_error(message: str) -> NoReturn:
    _err.print(f"error: {message}", markup=False)
    raise typer.Exit(2)


def _credentials_path(option: Path | None) -> Path:
    if option is not None:
        return option
    return Path(os.environ.get("DOCEX_DATA_DIR") or "docex-data") / "demo-credentials.json"


def _load_credentials(path: Path, *, required: bool) -> Mapping[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if required:
            _usage_error(f"{path} not found (`docex init --demo` writes it)")
        return {}
    except (OSError, ValueError) as exc:
        if required:
            _usage_error(f"cannot read {path}: {exc}")
        return {}
    if not isinstance(data, dict):
        if required:
            _usage_error(f"{path}: expected a JSON object")
        return {}
    return data


def _demo_token(credentials: Mapping[str, Any], who: str, path: Path) -> str:
    agency, slash, role = who.partition("/")
    if not slash:
        if who not in ("auditor", "admin"):
            _usage_error(
                f"--as {who}: expected AGENCY/ROLE (clerk, leader, system), auditor or admin"
            )
        entry = credentials.get(who)
    else:
        if role not in ("clerk", "leader", "system"):
            _usage_error(f"--as {who}: the role must be clerk, leader or system")
        agencies = credentials.get("agencies")
        agencies = agencies if isinstance(agencies, dict) else {}
        if agency not in agencies:
            known = ", ".join(sorted(agencies)) or "none"
            _usage_error(f"agency {agency} is not in {path} (known: {known})")
        entry = agencies[agency].get(role) if isinstance(agencies[agency], dict) else None
    token = entry.get("token") if isinstance(entry, dict) else None
    if not isinstance(token, str) or not token:
        _usage_error(f"no token for {who} in {path}")
    return token


def resolve_connection(
    url: str | None, token: str | None, as_: str | None, credentials: Path | None
) -> Connection:
    """Where to connect and with which token, from options, environment and demo credentials."""
    path = _credentials_path(credentials)
    demo = _load_credentials(path, required=as_ is not None)
    if as_ is not None:
        token = _demo_token(demo, as_, path)
    if not token:
        _usage_error("no token: pass --token, set DOCEX_TOKEN, or use --as AGENCY/ROLE")
    base_url = demo.get("base_url")
    return Connection(
        url or (base_url if isinstance(base_url, str) else None) or DEFAULT_URL, token
    )


@contextmanager
def _remote(
    url: str | None, token: str | None, as_: str | None, credentials: Path | None
) -> Iterator[DocexClient]:
    """A client for the command's node; server errors end the command with exit code 1."""
    connection = resolve_connection(url, token, as_, credentials)
    try:
        with DocexClient(connection.url, connection.token) as client:
            yield client
    except DocexError as exc:
        _err.print(f"error: {exc.error}: {exc.detail}", markup=False)
        raise typer.Exit(1) from exc
    except OSError as exc:  # a local file to read or write, not the server
        _err.print(f"error: {exc}", markup=False)
        raise typer.Exit(1) from exc


# --------------------------------------------------------------------------------------------
# Rendering


def _vietnam_time(value: Any) -> str:
    """An RFC 3339 instant as Vietnam wall-clock time; anything unparsable as it came."""
    if not value:
        return ""
    try:
        instant = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if instant.tzinfo is None:  # the contract says offsets are always sent; assume UTC if not
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(VIETNAM).strftime("%Y-%m-%d %H:%M:%S")


def _text(value: Any) -> Text:
    # Text, never a markup string: subjects like "[Khẩn] ..." must print as written.
    if value is None:
        return Text("")
    if isinstance(value, dict | list):
        return Text(json.dumps(value, ensure_ascii=False))
    return Text(str(value))


def _urgency(value: Any) -> Text:
    if not value:
        return Text("")
    style = (
        "bold red" if value in ("flash", "very_urgent") else "yellow" if value == "urgent" else ""
    )
    return Text(f"{value} · {_URGENCY_VI.get(value, '?')}", style=style)


def _classification(value: Any) -> Text:
    if not value:
        return Text("")
    style = "" if value == "normal" else "bold magenta"
    return Text(f"{value} · {_CLASSIFICATION_VI.get(value, '?')}", style=style)


def _size(value: Any) -> str:
    if not isinstance(value, int):
        return ""
    if value < 1024:
        return f"{value} B"
    size = value / 1024
    for unit in ("KiB", "MiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def _detail(value: Any) -> Text:
    if isinstance(value, dict):
        return Text(
            ", ".join(
                f"{k}={v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
                for k, v in value.items()
            )
        )
    return _text(value)


def _table(title: str | None, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        # Fold, never ellipsize: ids and hashes get copied into the next command.
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(cell if isinstance(cell, Text) else _text(cell) for cell in row))
    return table


def _fields(pairs: Iterable[tuple[str, Any]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in pairs:
        if value not in (None, "", [], {}):
            grid.add_row(label, value if isinstance(value, Text) else _text(value))
    return grid


def _recipients_table(recipients: Iterable[Mapping[str, Any]]) -> Table:
    return _table(
        "Recipients",
        ["agency", "transport", "status", "updated (UTC+7)"],
        (
            [
                r.get("agency_id"),
                r.get("transport"),
                status_label(r.get("status")),
                _vietnam_time(r.get("updated_at")),
            ]
            for r in recipients
        ),
    )


@contextmanager
def _transfer_bar(label: str, *, hidden: bool) -> Iterator[Callable[[int, int], None]]:
    """A Rich progress bar on stderr; yields the ``progress(done, total)`` callback."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=_err,
        disable=hidden,
    ) as bar:
        task = bar.add_task(label, total=None)

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        yield report


# --------------------------------------------------------------------------------------------
# Commands


def _merge_envelope(
    base: Mapping[str, Any],
    *,
    recipients: list[str] | None,
    subject: str | None,
    number: str | None,
    notation: str | None,
    type_code: int | None,
    type_name: str | None,
    urgency: Urgency | None,
    classification: Classification | None,
    message_id: str | None,
    summary: str | None,
) -> dict[str, Any]:
    """The base envelope with every option given on the command line laid over it."""

    def given(**values: Any) -> dict[str, Any]:
        return {k: v for k, v in values.items() if v is not None}

    envelope = dict(base)
    envelope.update(
        given(
            recipients=recipients or None,
            subject=subject,
            summary=summary,
            message_id=message_id,
            urgency=urgency.value if urgency else None,
            classification=classification.value if classification else None,
        )
    )
    for key, values in (
        ("code", given(number=number, notation=notation)),
        ("document_type", given(type=type_code, name=type_name)),
    ):
        if values:
            envelope[key] = {**(base.get(key) or {}), **values}
    return envelope


def send(
    main_pdf: Annotated[
        Path,
        typer.Argument(
            metavar="MAIN_PDF", exists=True, dir_okay=False, readable=True, help="The signed PDF."
        ),
    ],
    to: Annotated[
        list[str] | None,
        typer.Option("--to", help="Recipient agency code or group:NAME; repeat for more."),
    ] = None,
    subject: Annotated[str | None, typer.Option(help="Trích yếu / subject.")] = None,
    number: Annotated[str | None, typer.Option(help="Số văn bản (code number).")] = None,
    notation: Annotated[str | None, typer.Option(help="Ký hiệu (code notation).")] = None,
    type_code: Annotated[
        int | None, typer.Option("--type", help="Document type code, e.g. 1.")
    ] = None,
    type_name: Annotated[
        str | None, typer.Option("--type-name", help='Document type name, e.g. "Công văn".')
    ] = None,
    urgency: Annotated[Urgency | None, typer.Option(help="Độ khẩn.")] = None,
    classification: Annotated[Classification | None, typer.Option(help="Độ mật.")] = None,
    message_id: Annotated[
        str | None, typer.Option("--message-id", help="Idempotency key: resending is safe.")
    ] = None,
    summary: Annotated[str | None, typer.Option(help="Summary.")] = None,
    attach: Annotated[
        list[Path] | None,
        typer.Option(
            "--attach", exists=True, dir_okay=False, readable=True, help="Appendix; repeatable."
        ),
    ] = None,
    envelope_file: Annotated[
        Path | None,
        typer.Option(
            "--envelope",
            exists=True,
            dir_okay=False,
            readable=True,
            help="Base envelope (JSON); the options above override its fields.",
        ),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_: AsOption = None,
    credentials: CredentialsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send a signed PDF (plus appendices) to agencies or groups."""
    base: Any = {}
    if envelope_file is not None:
        try:
            base = json.loads(envelope_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            _usage_error(f"--envelope {envelope_file}: not valid JSON ({exc})")
        if not isinstance(base, dict):
            _usage_error(f"--envelope {envelope_file}: expected a JSON object")
    envelope = _merge_envelope(
        base,
        recipients=to,
        subject=subject,
        number=number,
        notation=notation,
        type_code=type_code,
        type_name=type_name,
        urgency=urgency,
        classification=classification,
        message_id=message_id,
        summary=summary,
    )
    if not envelope.get("recipients"):
        _usage_error("no recipient: pass --to CODE (or group:NAME), or recipients in --envelope")
    if not envelope.get("subject"):
        _usage_error("no subject: pass --subject, or subject in --envelope")

    with (
        _remote(url, token, as_, credentials) as client,
        _transfer_bar(f"upload {main_pdf.name}", hidden=as_json) as progress,
    ):
        document, created = client.send_ex(envelope, main_pdf, attach or (), progress=progress)
    if as_json:
        print_json(document)
        return
    outcome = "sent" if created else "already accepted earlier (same message id), not resent"
    _out.print(
        _fields(
            [
                ("Document", document.get("id")),
                ("Business id", document.get("business_id")),
                ("Outcome", outcome),
            ]
        )
    )
    _out.print(_recipients_table(document.get("recipients") or []))
    _print_signatures(document)


def inbox(
    status: Annotated[str | None, typer.Option(help="Only this status, e.g. 01.")] = None,
    urgency: Annotated[Urgency | None, typer.Option(help="Only this urgency.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, max=500, help="Page size.")] = None,
    cursor: Annotated[str | None, typer.Option(help="Continue from a previous page.")] = None,
    all_pages: Annotated[bool, typer.Option("--all", help="Follow every page.")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    as_: AsOption = None,
    credentials: CredentialsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Documents delivered to your agency, newest first."""
    wanted = urgency.value if urgency else None
    with _remote(url, token, as_, credentials) as client:
        if all_pages:
            items = client.iter_inbox(status=status, urgency=wanted, limit=limit)
            page: dict[str, Any] = {"items": list(items), "next_cursor": None}
        else:
            page = client.inbox(status=status, urgency=wanted, limit=limit, cursor=cursor)
    if as_json:
        print_json(page)
        return
    _out.print(
        _table(
            "Inbox",
            [
                "delivered (UTC+7)",
                "document",
                "sender",
                "subject",
                "urgency",
                "classification",
                "status",
            ],
            (
                [
                    _vietnam_time(item.get("delivered_at")),
                    item.get("document_id"),
                    item.get("sender_id"),
                    item.get("subject"),
                    _urgency(item.get("urgency")),
                    _classification(item.get("classification")),
                    status_label(item.get("status")),
                ]
                for item in page.get("items") or []
            ),
        )
    )
    _more_hint(page)


def _more_hint(page: Mapping[str, Any]) -> None:
    if page.get("next_cursor"):
        _err.print(f"more: --cursor {page['next_cursor']} (or --all)", markup=False, soft_wrap=True)


def _tally(counts: Any, label: Callable[[str], str] = str) -> str:
    """``{"01": 2, "03": 1}`` as one ``label: n`` line per key."""
    if not isinstance(counts, dict):
        return ""
    return "\n".join(f"{label(str(key))}: {n}" for key, n in sorted(counts.items()))


def outbox(
    limit: Annotated[int | None, typer.Option(min=1, max=500, help="Page size.")] = None,
    cursor: Annotated[str | None, typer.Option(help="Continue from a previous page.")] = None,
    all_pages: Annotated[bool, typer.Option("--all", help="Follow every page.")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    as_: AsOption = None,
    credentials: CredentialsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Documents your agency sent, with per-recipient status counts."""
    with _remote(url, token, as_, credentials) as client:
        if all_pages:
            items = client.iter_outbox(limit=limit)
            page: dict[str, Any] = {"items": list(items), "next_cursor": None}
        else:
            page = client.outbox(limit=limit, cursor=cursor)
    if as_json:
        print_json(page)
        return
    _out.print(
        _table(
            "Outbox",
            ["sent (UTC+7)", "document", "subject", "urgency", "to", "transport", "statuses"],
            (
                [
                    _vietnam_time(item.get("created_at")),
                    item.get("document_id"),
                    item.get("subject"),
                    _urgency(item.get("urgency")),
                    item.get("recipients"),
                    _tally(item.get("transport")),
                    _tally(item.get("status"), status_label),
                ]
                for item in page.get("items") or []
            ),
        )
    )
    _more_hint(page)


def show(
    document_id: Annotated[str, typer.Argument(metavar="ID", help="Document id.")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_: AsOption = None,
    credentials: CredentialsOption = None,
    as_json: JsonOption = False,
) -> None:
    """A document: envelope, files, recipients and signatures."""
    with _remote(url, token, as_, credentials) as client:
        document = client.document(document_id)
    if as_json:
        print_json(document)
        return
    envelope: Mapping[str, Any] = document.get("envelope") or {}
    code = envelope.get("code") or {}
    doc_type = envelope.get("document_type") or {}
    business = envelope.get("business") or {}
    signer = envelope.get("signer") or {}
    promulgation = envelope.get("promulgation") or {}
    _out.print(
        _fields(
            [
                ("Document", document.get("id")),
                ("Business id", document.get("business_id")),
                ("Message id", document.get("message_id")),
                ("Sender", document.get("sender_id")),
                ("Created (UTC+7)", _vietnam_time(document.get("created_at"))),
                (
                    "Number",
                    "/".join(str(v) for v in (code.get("number"), code.get("notation")) if v),
                ),
                (
                    "Type",
                    " ".join(str(v) for v in (doc_type.get("type"), doc_type.get("name")) if v),
                ),
                ("Subject", envelope.get("subject")),
                ("Summary", envelope.get("summary")),
                ("Urgency", _urgency(envelope.get("urgency"))),
                ("Classification", _classification(envelope.get("classification"))),
                ("Promulgated", " ".join(str(v) for v in promulgation.values() if v)),
                ("Signer", ", ".join(str(v) for v in signer.values() if v)),
                ("Due", envelope.get("due_date")),
                (
                    "Business",
                    " ".join(
                        str(v)
                        for v in (
                            business.get("type"),
                            business.get("refers_to"),
                            business.get("reason"),
                        )
                        if v
                    )
                    if business.get("type") not in (None, "new")
                    else None,
                ),
                ("In reply to", envelope.get("in_reply_to")),
                ("Recipients asked", ", ".join(envelope.get("recipients") or [])),
            ]
        )
    )
    _out.print(
        _table(
            "Files",
            ["id", "role", "name", "type", "size", "sha256"],
            (
                [
                    f.get("id"),
                    f.get("role"),
                    f.get("name"),
                    f.get("content_type"),
                    _size(f.get("size")),
                    f.get("sha256"),
                ]
                for f in document.get("files") or []
            ),
        )
    )
    _out.print(_recipients_table(document.get("recipients") or []))
    _print_signatures(document)


def _print_signatures(document: Mapping[str, Any]) -> None:
    signatures = document.get("signatures") or []
    if signatures:
        _out.print(
            _table(
                "Signatures",
                ["role", "subject", "agency", "valid", "trusted", "signed (UTC+7)", "indication"],
                (
                    [
                        s.get("role"),
                        s.get("subject"),
                        s.get("agency_code"),
                        _verdict(s.get("valid")),
                        _verdict(s.get("trusted")),
                        _vietnam_time(s.get("signed_at")),
                        s.get("indication"),
                    ]
                    for s in signatures
                ),
            )
        )


def _verdict(value: Any) -> Text:
    if value is True:
        return Text("yes", style="green")
    if value is False:
        return Text("NO", style="bold red")
    return _text(value)


def _safe_file_name(name: Any, fallback: str) -> str:
    # The name comes from the sender: keep only its last component, never a path.
    candidate = str(name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return candidate if candidate not in ("", ".", "..") else fallback


def download(
    document_id: Annotated[str, typer.Argument(metavar="ID", help="Document id.")],
    file_id: Annotated[
        str | None,
        typer.Argument(
            metavar="FILE_ID", help="File id (default: the main file).", show_default=False
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="File or directory to write (default: the file's name, here).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    as_: AsOption = None,
    credentials: CredentialsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Download a file of a document, checking its SHA-256."""
    with _remote(url, token, as_, credentials) as client:
        files: list[dict[str, Any]] = client.document(document_id).get("files") or []
        if file_id is None:
            main = next((f for f in files if f.get("role") == "main"), None)
            if main is None or not main.get("id"):
                raise DocexError(0, "no_main_file", f"document {document_id} lists no main file")
            file_id = str(main["id"])
        meta = next((f for f in files if f.get("id") == file_id), {})
        name = _safe_file_name(meta.get("name"), fallback=file_id)
        dest = output if output is not None else Path(name)
        if dest.is_dir():
            dest = dest / name
        if dest.exists() and not force:
            _usage_error(f"{dest} exists; pass --force to overwrite it")
        with _transfer_bar(f"download {name}", hidden=as_json) as progress:
            digest = client.download(
                document_id,
                file_id,
                dest,
                progress=progress,
                expected_sha256=meta.get("sha256"),
            )
    result = {
        "document_id": document_id,
        "file_id": file_id,
        "path": str(dest),
        "size": dest.stat().st_size,
        "sha256": digest,
    }
    if as_json:
        print_json(result)
        return
    _out.print(
        _fields([("Saved", result["path"]), ("Size", _size(result["size"])), ("SHA-256", digest)])
    )


def status(
    document_id: Annotated[str, typer.Argument(metavar="ID", help="Document id.")],
    code: Annotated[str, typer.Argument(help="02 rejected, 03 accepted, 04 assigned, ...")],
    note: Annotated[str | None, typer.Option(help="Reason or remark.")] = None,
    incoming_number: Annotated[
        str | None, typer.Option("--incoming-number", help="Số đến, with 03.")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_: AsOption = None,
    credentials: CredentialsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Report a business status of a document back to its sender."""
    with _remote(url, token, as_, credentials) as client:
        receipt = client.post_status(document_id, code, note=note, incoming_number=incoming_number)
    if as_json:
        print_json(receipt)
        return
    _out.print(
        _fields(
            [
                ("Receipt", receipt.get("id")),
                ("Status", status_label(receipt.get("code"))),
                ("From", receipt.get("from_agency_id")),
                ("To", receipt.get("to_agency_id")),
                ("Time (UTC+7)", _vietnam_time(receipt.get("created_at"))),
            ]
        )
    )


def receipts(
    document_id: Annotated[str, typer.Argument(metavar="ID", help="Document id.")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_: AsOption = None,
    credentials: CredentialsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Signed status receipts of a document."""
    with _remote(url, token, as_, credentials) as client:
        items = client.receipts(document_id)
    if as_json:
        print_json(items)
        return
    _out.print(
        _table(
            "Receipts",
            ["status", "from", "to", "time (UTC+7)"],
            (
                [
                    status_label(r.get("code")),
                    r.get("from_agency_id"),
                    r.get("to_agency_id"),
                    _vietnam_time(r.get("created_at")),
                ]
                for r in items
            ),
        )
    )


def trace(
    document_id: Annotated[str, typer.Argument(metavar="ID", help="Document id.")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_: AsOption = None,
    credentials: CredentialsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Everything that happened to a document, in order, with audit log indexes."""
    with _remote(url, token, as_, credentials) as client:
        items = client.trace(document_id)
    if as_json:
        print_json(items)
        return
    _out.print(
        _table(
            "Trace",
            ["time (UTC+7)", "event", "agency", "node", "detail", "audit index"],
            (
                [
                    _vietnam_time(e.get("at")),
                    e.get("event"),
                    e.get("agency_id"),
                    e.get("node_id"),
                    _detail(e.get("detail")),
                    e.get("audit_index"),
                ]
                for e in items
            ),
        )
    )


def me(
    url: UrlOption = None,
    token: TokenOption = None,
    as_: AsOption = None,
    credentials: CredentialsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Who the token belongs to."""
    with _remote(url, token, as_, credentials) as client:
        principal = client.me()
    if as_json:
        print_json(principal)
        return
    _out.print(
        _fields(
            [
                ("Kind", principal.get("kind")),
                ("Agency", principal.get("agency_id")),
                ("Clearance", _classification(principal.get("clearance"))),
                ("Username", principal.get("username")),
                ("Node", client.base_url),
            ]
        )
    )


_COMMANDS: tuple[tuple[str, Callable[..., None]], ...] = (
    ("send", send),
    ("inbox", inbox),
    ("outbox", outbox),
    ("show", show),
    ("download", download),
    ("status", status),
    ("receipts", receipts),
    ("trace", trace),
    ("me", me),
)


def sign(
    source: Annotated[Path, typer.Argument(metavar="PDF", help="The PDF to sign.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the result.")],
    role: Annotated[
        str,
        typer.Option("--role", help="signer (your own key) or seal (your agency's seal)."),
    ] = "seal",
    url: UrlOption = None,
    token: TokenOption = None,
    as_: AsOption = None,
    credentials: CredentialsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sign a PDF with a key the node holds for you: as signer (leaders) or seal (clerks)."""
    if role not in ("signer", "seal"):
        _usage_error("--role is signer or seal")
    with _remote(url, token, as_, credentials) as client:
        signed = client.sign_pdf(source.read_bytes(), role=role)
    output.write_bytes(signed)
    if as_json:
        print_json({"output": str(output), "size": len(signed), "role": role})
    else:
        _out.print(f"{role} signature added → {output} ({len(signed)} bytes)")


def decrypt(
    document_id: Annotated[str, typer.Argument(metavar="ID", help="Document id.")],
    file_id: Annotated[str, typer.Argument(metavar="FILE_ID", help="File id.")],
    key: Annotated[Path, typer.Option("--key", help="Your agency's private key (PEM).")],
    agency: Annotated[str, typer.Option("--agency", help="Your agency code.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the file.")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_: AsOption = None,
    credentials: CredentialsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Read a classified file with your agency's own private key (the node cannot)."""
    import os

    passphrase = os.environ.get("DOCEX_AGENCY_KEY_PASSPHRASE")
    with _remote(url, token, as_, credentials) as client:
        digest = client.download_decrypted(
            document_id,
            file_id,
            output,
            private_key_pem=key.read_bytes(),
            agency_id=agency,
            passphrase=passphrase,
        )
    if as_json:
        print_json({"output": str(output), "sha256": digest})
    else:
        _out.print(f"decrypted → {output} (sha256 {digest})")


def register(app: typer.Typer) -> None:
    """Add the remote commands to the ``docex`` app."""
    for name, command in _COMMANDS:
        app.command(name)(command)
    app.command("sign")(sign)
    app.command("decrypt")(decrypt)
