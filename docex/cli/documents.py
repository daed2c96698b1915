"""``docex show | download | status | receipts | trace | decrypt``: one document.

``REF`` is a document id, a unique prefix of one (8 characters or more), or its business id
(``000.00.00.G22,2026/11/25,12/VPCP-TTĐT``); the node says which documents you can see match.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from docex.cli import render
from docex.cli.common import CliError, UsageError, json_mode, print_json
from docex.cli.connection import remote, remote_of
from docex.client import DocexClient
from docex_client import Document

__all__ = ["decrypt", "download", "receipts", "show", "status", "trace"]

Ref = Annotated[
    str,
    typer.Argument(
        metavar="REF",
        help="Document id, its first 8+ characters, or its business id.",
        show_default=False,
    ),
]


def recipients_table(document: Document) -> Any:
    return render.table(
        "Nơi nhận",
        ["Cơ quan", "Chuyển", "Trạng thái", "Cập nhật"],
        (
            [
                r.agency_id
                if r.addressed_as == r.agency_id
                else f"{r.agency_id}\n({r.addressed_as})",
                r.transport
                + (f"\n{r.flag}" if r.flag else "")
                + (f"\n{r.reason}" if r.reason else ""),
                "\n".join(
                    part
                    for part in (
                        render.status_text(r.status, r.incoming_number),
                        render.business_state(r.business_state, r.superseded_by),
                    )
                    if part
                ),
                render.when(r.updated_at),
            ]
            for r in document.recipients
        ),
        keep=(0, 3),
    )


def signatures_table(document: Document) -> Any:
    return render.table(
        "Chữ ký số",
        ["Vai trò", "Người ký", "Cơ quan", "Hợp lệ", "Tin cậy", "Ký lúc"],
        (
            [
                {"signer": "người ký", "seal": "con dấu"}.get(s.role, s.role),
                render.common_name(s.subject),
                s.agency_code,
                render.verdict(s.valid),
                render.verdict(s.trusted),
                render.when(s.signed_at),
            ]
            for s in document.signatures
        ),
        keep=(2, 5),
    )


def _envelope_fields(document: Document) -> list[tuple[str, Any]]:
    envelope = document.envelope
    code = envelope.get("code") or {}
    doc_type = envelope.get("document_type") or {}
    business = envelope.get("business") or {}
    signer = envelope.get("signer") or {}
    promulgation = envelope.get("promulgation") or {}

    def joined(values: Any, sep: str = " ") -> str:
        return sep.join(str(v) for v in values if v)

    changed = business.get("type") not in (None, "new")
    return [
        ("Văn bản", document.id),
        ("Mã định danh", document.business_id),
        ("Message id", document.message_id),
        ("Nơi gửi", document.sender_id),
        ("Gửi lúc", render.when(document.created_at, year=True)),
        ("Số, ký hiệu", joined((code.get("number"), code.get("notation")), "/")),
        ("Loại", joined((doc_type.get("type"), doc_type.get("name")))),
        ("Trích yếu", envelope.get("subject")),
        ("Tóm tắt", envelope.get("summary")),
        ("Độ khẩn", render.urgency(envelope.get("urgency"))),
        ("Độ mật", render.classification(envelope.get("classification"))),
        ("Ban hành", joined(promulgation.values())),
        ("Người ký", joined(signer.values(), ", ")),
        ("Hạn xử lý", envelope.get("due_date")),
        (
            "Nghiệp vụ",
            joined((business.get("type"), business.get("refers_to"), business.get("reason")))
            if changed
            else None,
        ),
        ("Trả lời", envelope.get("in_reply_to")),
        ("Gửi đến", ", ".join(envelope.get("recipients") or [])),
    ]


def show(ref: Ref) -> None:
    """A document: envelope, files, recipients (with incoming numbers) and signatures.

    Tables: Tệp (files: id, role, name, size, SHA-256), Nơi nhận (recipients: agency,
    transport, status with the incoming number of a 03 and what a recall, update or replacement
    made of it, last update), Chữ ký số (signatures:
    role, signer, agency, valid, trusted, when). --json has every field in full."""
    with remote() as client:
        document = client.document(client.resolve(ref))
    if json_mode():
        print_json(dict(document.raw))
        return
    short = render.short_ids(f.id for f in document.files)
    render.show(
        render.fields(_envelope_fields(document)),
        render.table(
            "Tệp",
            ["Tệp", "Vai trò", "Tên", "Cỡ", "SHA-256"],
            (
                [
                    short(f.id),
                    "chính" if f.role == "main" else "đính kèm",
                    f.name,
                    render.size(f.size),
                    f.sha256[:16] + "…",
                ]
                for f in document.files
            ),
            keep=(0, 4),
        ),
        recipients_table(document),
    )
    if document.signatures:
        render.show(signatures_table(document))


def _pick_file(document: Document, file_ref: str | None) -> Any:
    if file_ref is None:
        main = document.main_file
        if main is None:
            raise CliError("no_main_file", f"document {document.id} lists no main file")
        return main
    found = [f for f in document.files if f.id.startswith(file_ref)]
    if len(found) != 1:
        raise CliError(
            "file_not_found",
            f"{len(found) or 'no'} file of {document.id} matches {file_ref!r}",
        )
    return found[0]


def download(
    ref: Ref,
    file_ref: Annotated[
        str | None,
        typer.Argument(
            metavar="FILE",
            help="File id or its prefix (default: the main file).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="File or directory to write (default: the file's name, here).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Download a file of a document, checking its SHA-256.

    A download that was cut resumes when run again: the part already received waits beside
    the destination, as .NAME.SHA256.part."""
    with remote() as client:
        document = client.document(client.resolve(ref))
        meta = _pick_file(document, file_ref)
        dest = output if output is not None else Path(meta.safe_name)
        if dest.is_dir():
            dest = dest / meta.safe_name
        if dest.exists() and not force:
            raise UsageError(f"{dest} exists; pass --force to overwrite it")
        with render.transfer_bar(f"tải / download {meta.safe_name}", hidden=json_mode()) as bar:
            result = client.download(
                document.id, meta.id, dest, progress=bar, expected_sha256=meta.sha256
            )
    data = {
        "document_id": document.id,
        "file_id": meta.id,
        "path": str(dest),
        "size": result.size,
        "sha256": result.sha256,
        "resumed_from": result.resumed_from,
    }
    if json_mode():
        print_json(data)
        return
    render.show(
        render.fields(
            [
                ("Đã lưu", str(dest)),
                ("Cỡ", render.size(result.size)),
                ("SHA-256", result.sha256),
                ("Tiếp tục từ", render.size(result.resumed_from) if result.resumed_from else None),
            ]
        )
    )


def status(
    ref: Ref,
    code: Annotated[
        str,
        typer.Argument(metavar="CODE", help="02 rejected, 03 accepted, 04 assigned, 05, 06..."),
    ],
    note: Annotated[str | None, typer.Option(metavar="TEXT", help="Reason or remark.")] = None,
    incoming_number: Annotated[
        str | None,
        typer.Option("--incoming-number", metavar="TEXT", help="Số đến: with 03."),
    ] = None,
) -> None:
    """Report a business status of a document back to its sender."""
    with remote() as client:
        document_id = client.resolve(ref)
        receipt = client.post_status(document_id, code, note=note, incoming_number=incoming_number)
    if json_mode():
        print_json(dict(receipt.raw))
        return
    render.show(
        render.fields(
            [
                ("Biên nhận", receipt.id),
                ("Trạng thái", render.status_full(receipt.code, receipt.incoming_number)),
                ("Từ", receipt.from_agency_id),
                ("Đến", receipt.to_agency_id),
                ("Lúc", render.when(receipt.created_at, year=True)),
            ]
        )
    )


def receipts(ref: Ref) -> None:
    """Signed status receipts of a document.

    Columns: Trạng thái (status, with the incoming number of a 03), Từ (from), Đến (to), Lúc
    (when, Vietnam time), Ghi chú (note)."""
    with remote() as client:
        items = client.receipts(client.resolve(ref))
    if json_mode():
        print_json([dict(r.raw) for r in items])
        return
    render.show(
        render.table(
            "Biên nhận",
            ["Trạng thái", "Từ", "Đến", "Lúc", "Ghi chú"],
            (
                [
                    render.status_text(r.code, r.incoming_number),
                    r.from_agency_id,
                    r.to_agency_id,
                    render.when(r.created_at),
                    r.note,
                ]
                for r in items
            ),
            keep=(1, 2, 3),
        )
    )


def trace(ref: Ref) -> None:
    """Everything that happened to a document, in order, from the node's audit log.

    Columns: Lúc (when, Vietnam time), Sự kiện, cơ quan (the event, and the agency it is
    about), Chi tiết (detail, as key=value), # (its index in the audit log). --json has every
    field in full."""
    with remote() as client:
        items = client.trace(client.resolve(ref))
    if json_mode():
        print_json([dict(i.raw) for i in items])
        return
    render.show(
        render.table(
            "Diễn biến",
            ["Lúc", "Sự kiện, cơ quan", "Chi tiết", "#"],
            (
                [
                    render.when(e.at),
                    e.event + (f"\n{e.agency_id}" if e.agency_id else ""),
                    render.detail(e.detail),
                    e.audit_index,
                ]
                for e in items
            ),
            keep=(0, 1, 3),
        )
    )


def decrypt(
    ref: Ref,
    file_ref: Annotated[str, typer.Argument(metavar="FILE", help="File id or its prefix.")],
    key: Annotated[
        Path, typer.Option("--key", metavar="PEM", help="Your agency's private key (PEM).")
    ],
    agency: Annotated[str, typer.Option("--agency", metavar="CODE", help="Your agency code.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="PATH", help="Where to write the file.")
    ],
) -> None:
    """Read a classified file with your agency's own private key (the node cannot).

    A passphrase on the key is read from DOCEX_AGENCY_KEY_PASSPHRASE."""
    passphrase = os.environ.get("DOCEX_AGENCY_KEY_PASSPHRASE")
    private_key = key.read_bytes()
    with remote_of(DocexClient) as client:
        document = client.document(client.resolve(ref))
        meta = _pick_file(document, file_ref)
        digest = client.download_decrypted(
            document.id,
            meta.id,
            output,
            private_key_pem=private_key,
            agency_id=agency,
            passphrase=passphrase,
        )
    if json_mode():
        print_json({"output": str(output), "sha256": digest})
    else:
        render.show(render.fields([("Đã giải mã", str(output)), ("SHA-256", digest)]))
