"""``docex edxml convert|export`` (offline, no node needed) and ``docex edxml send|fetch``.

``convert`` reads a package (document or status) and prints docex's form of it; with ``-o DIR``
it writes ``DIR/package.json``, for a document ``DIR/envelope.json`` (the envelope as
``POST /api/v1/documents`` takes it) and the attachments under ``DIR/files/``. ``export`` writes
edXML from such a ``package.json``, or from a docex envelope and files. ``send`` and ``fetch``
talk to a node (``POST /api/v1/edxml``, ``GET .../edxml``). The mapping and its rules live in
``docex.interop``; this module only gathers options and prints.
"""

from __future__ import annotations

import json
import mimetypes
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from docex.cli.common import DocexTyper, JsonOut, console, fail, print_json
from docex.cli.connection import RemoteCommand, remote

edxml_app = DocexTyper(
    help="edXML (QCVN 102:2016) packages: convert to docex's envelope and files, export back.",
)

PACKAGE_FILE = "package.json"
ENVELOPE_FILE = "envelope.json"
FILES_DIR = "files"


@edxml_app.command("convert")
def convert(
    file: Annotated[Path, typer.Argument(help="An edXML package (document or status).")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write package.json, envelope.json and files/ into this directory.",
        ),
    ] = None,
    as_json: JsonOut = False,
) -> None:
    """Turn an edXML package into docex's envelope and files, or a status (offline)."""
    from docex.interop import DocumentPackage, EdxmlError, parse_package
    from docex.interop.jsonform import package_to_json

    if not file.is_file():
        raise fail(f"no file {file}")
    files_dir = output / FILES_DIR if output is not None else None
    if files_dir is not None:
        files_dir.mkdir(parents=True, exist_ok=True)
    try:
        with file.open("rb") as fh:
            package = parse_package(fh, spool_dir=files_dir)
    except EdxmlError as exc:
        raise fail(f"{exc.code}: {exc.detail}") from exc
    try:
        paths: dict[str, str] = {}
        if files_dir is not None and output is not None:
            used: set[str] = set()
            for spooled in package.files:
                target = files_dir / _unique(spooled.name, used)
                os.replace(spooled.path, target)
                paths[spooled.content_id] = str(target.relative_to(output))
        data = package_to_json(package, paths=paths)
        if output is not None:
            _write_json(output / PACKAGE_FILE, data)
            if isinstance(package, DocumentPackage):
                _write_json(output / ENVELOPE_FILE, data["envelope"])
        if as_json:
            print_json(data)
        else:
            _summary(data, output)
    finally:
        package.discard()


def _unique(name: str, used: set[str]) -> str:
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    candidate, n = name, 1
    while candidate in used:
        n += 1
        candidate = f"{stem} ({n}){dot}{suffix}"
    used.add(candidate)
    return candidate


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _summary(data: dict[str, Any], output: Path | None) -> None:
    table = Table(show_header=False)
    if data["kind"] == "status":
        table.add_row("Status", f"{data['code']} ({data['label']})")
        table.add_row("From", data["from_id"])
        table.add_row("About", data["document_id"])
        table.add_row("At", data["timestamp"])
        table.add_row("Note", data["note"] or "")
    else:
        envelope = data["envelope"]
        business = envelope.get("business") or {}
        table.add_row("Document", data["document_id"])
        table.add_row("From", data["sender_id"])
        table.add_row("To", ", ".join(envelope["recipients"]))
        table.add_row("Subject", envelope["subject"])
        table.add_row("Urgency", envelope["urgency"])
        table.add_row("Business", f"{business.get('type', '-')} {data['reference'] or ''}")
        for f in data["files"]:
            table.add_row(f["role"], f"{f['name']} ({f['content_type']}, {f['size']} bytes)")
    console.print(table)
    for warning in data["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    if output is not None:
        console.print(f"written to {output}")


@edxml_app.command("export")
def export(
    package: Annotated[
        Path | None,
        typer.Argument(help="A package.json written by convert, or its directory."),
    ] = None,
    envelope: Annotated[
        Path | None, typer.Option(help="Or: a docex envelope JSON (as POST /documents takes).")
    ] = None,
    sender: Annotated[str | None, typer.Option(help="With --envelope: the sender agency.")] = None,
    document_id: Annotated[
        str | None, typer.Option(help="With --envelope: the edXML DocumentId (business id).")
    ] = None,
    main: Annotated[Path | None, typer.Option(help="With --envelope: the main PDF.")] = None,
    attachment: Annotated[
        list[Path] | None, typer.Option(help="With --envelope: an appendix (repeatable).")
    ] = None,
    sent_at: Annotated[
        datetime | None,
        typer.Option(help="With --envelope: when it was sent (first trace hop); default now."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write (default stdout).")
    ] = None,
) -> None:
    """Write edXML from a converted package, or from a docex envelope and its files."""
    from docex.errors import DocexError
    from docex.interop import StatusPackage, status_to_edxml, write_document
    from docex.interop.packages import Package

    try:
        built: Package
        if package is not None:
            built = _from_package_json(package)
        elif envelope is not None and sender and document_id:
            built = _from_envelope(envelope, sender, document_id, main, attachment or [], sent_at)
        else:
            raise fail("give a package.json, or --envelope with --sender and --document-id")
        target = output.open("wb") if output is not None else sys.stdout.buffer
        try:
            if isinstance(built, StatusPackage):
                target.write(status_to_edxml(built))
            else:
                write_document(built, target)
        finally:
            if output is not None:
                target.close()
    except DocexError as exc:
        if output is not None:
            output.unlink(missing_ok=True)
        raise fail(f"{exc.code}: {exc.detail}") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise fail(str(exc)) from exc
    if output is not None:
        console.print(f"wrote {output}", highlight=False)


def _from_package_json(path: Path) -> Any:
    from docex.interop.jsonform import package_from_json

    if path.is_dir():
        path = path / PACKAGE_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    return package_from_json(data, base_dir=path.parent)


def _from_envelope(
    path: Path,
    sender: str,
    document_id: str,
    main: Path | None,
    attachments: list[Path],
    sent_at: datetime | None,
) -> Any:
    from docex.documents.envelope import parse_envelope
    from docex.interop import PackageFile, new_document_package
    from docex.kit.clock import VIETNAM_TZ, SystemClock

    parsed = parse_envelope(path.read_bytes(), sender_id=sender)
    chosen: list[tuple[str, Path]] = [("main", main)] if main is not None else []
    chosen += [("attachment", a) for a in attachments]
    files = []
    for index, (role, file) in enumerate(chosen, 1):
        guessed = "application/pdf" if role == "main" else mimetypes.guess_type(file.name)[0]
        files.append(
            PackageFile.from_path(
                file,
                role="main" if role == "main" else "attachment",
                content_id=f"cid:{index}",
                content_type=guessed or "application/octet-stream",
            )
        )
    when = sent_at or SystemClock().now()
    if when.tzinfo is None:
        when = when.replace(tzinfo=VIETNAM_TZ)
    return new_document_package(
        parsed, sender_id=sender, document_id=document_id, files=files, sent_at=when
    )


# -- with a node: send and fetch -------------------------------------------------------------


@edxml_app.command("send", cls=RemoteCommand)
def send(
    file: Annotated[Path, typer.Argument(help="An edXML package: a document or a status.")],
    as_json: JsonOut = False,
) -> None:
    """Send an edXML package to the node in your agency's name (POST /api/v1/edxml): a
    document goes through the same checks as `docex send`, a status as `docex status`."""
    from docex_client import Receipt

    if not file.is_file():
        raise fail(f"no file {file}")
    with remote() as client:
        answer = client.send_edxml(file)
    raw = dict(answer.raw if isinstance(answer, Receipt) else answer.document.raw)
    if as_json:
        print_json(raw)
        return
    table = Table(show_header=False)
    if isinstance(answer, Receipt):
        table.add_row("Biên nhận", answer.id)
        table.add_row("Trạng thái", answer.code)
        table.add_row("Từ", answer.from_agency_id)
        table.add_row("Đến", answer.to_agency_id)
    else:
        document = answer.document
        table.add_row("Văn bản", document.id)
        table.add_row("Số, ký hiệu", document.business_id)
        table.add_row("Gửi đến", ", ".join(r.agency_id for r in document.recipients))
        table.add_row("", "đã nhận" if answer.created else "đã có (gửi lại)")
    console.print(table)


@edxml_app.command("fetch", cls=RemoteCommand)
def fetch(
    ref: Annotated[
        str,
        typer.Argument(
            metavar="REF", help="Document id, its first 8+ characters, or its business id."
        ),
    ],
    receipt: Annotated[
        str | None, typer.Option(help="A receipt id: fetch that status instead of the document.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write (default stdout).")
    ] = None,
) -> None:
    """A document (or one of its receipts, --receipt) as edXML, from the node."""
    with remote() as client:
        document_id = client.resolve(ref)
        if receipt is None:
            data = client.document_edxml(document_id)
        else:
            data = client.receipt_edxml(document_id, receipt)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(data)
        console.print(f"written to {output} ({len(data)} bytes)")
