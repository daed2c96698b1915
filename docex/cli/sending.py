"""``docex send | sign``: a signed PDF out to other agencies, and the node's signing service.

Every send has a message id (``--message-id``, or a new one shown before the upload starts):
sending again with it is the same send, so after a failure it can be retried without ever
making a second document. Recipients are checked against the node's directory before a byte
of the file is sent.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from docex.cli import render
from docex.cli.common import CliError, UsageError, err, json_mode, print_json
from docex.cli.connection import remote
from docex.cli.documents import recipients_table, signatures_table
from docex.cli.mailbox import Urgency
from docex_client import DocexClient, NotFoundError, TransportError, UnavailableError
from docex_client.calls import with_message_id

__all__ = ["send", "sign"]


class Classification(StrEnum):
    # S105: these are classification levels (độ mật), not credentials.
    normal = "normal"
    confidential = "confidential"
    secret = "secret"  # noqa: S105
    top_secret = "top_secret"  # noqa: S105


class Role(StrEnum):
    signer = "signer"
    seal = "seal"


def merge_envelope(
    base: dict[str, Any],
    *,
    number: str | None,
    notation: str | None,
    type_code: int | None,
    type_name: str | None,
    **fields: Any,
) -> dict[str, Any]:
    """The base envelope with the options given on the command line laid over it."""
    envelope = {**base, **{k: v for k, v in fields.items() if v is not None}}
    nested = (
        ("code", {"number": number, "notation": notation}),
        ("document_type", {"type": type_code, "name": type_name}),
    )
    for key, values in nested:
        given = {k: v for k, v in values.items() if v is not None}
        if given:
            envelope[key] = {**(base.get(key) or {}), **given}
    return envelope


def check_recipients(client: DocexClient, recipients: list[str]) -> None:
    """Every recipient is an agency or a group of the node's directory, or say which are not."""
    unknown: list[str] = []
    groups: set[str] | None = None
    for recipient in recipients:
        if recipient.startswith("group:"):
            if groups is None:
                groups = {g.name for g in client.groups()}
            if recipient.removeprefix("group:") not in groups:
                unknown.append(recipient)
            continue
        try:
            client.agency(recipient)
        except NotFoundError:
            unknown.append(recipient)
    if unknown:
        raise CliError(
            "unknown_recipient",
            f"not in the node's directory: {', '.join(unknown)} (nothing was sent)",
        )


def _base_envelope(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        base = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UsageError(f"--envelope {path}: not valid JSON ({exc})") from exc
    if not isinstance(base, dict):
        raise UsageError(f"--envelope {path}: expected a JSON object")
    return base


Text = Annotated[str | None, typer.Option(metavar="TEXT")]
ExistingFile = {"exists": True, "dir_okay": False, "readable": True}


def send(
    main_pdf: Annotated[
        Path, typer.Argument(metavar="PDF", help="The signed PDF.", **ExistingFile)
    ],
    to: Annotated[
        list[str] | None,
        typer.Option("--to", metavar="CODE", help="Recipient agency code or group:NAME; repeat."),
    ] = None,
    subject: Annotated[str | None, typer.Option(metavar="TEXT", help="Trích yếu: subject.")] = None,
    number: Annotated[str | None, typer.Option(metavar="TEXT", help="Số: the number.")] = None,
    notation: Annotated[
        str | None, typer.Option(metavar="TEXT", help="Ký hiệu: the notation, VPCP-TTĐT.")
    ] = None,
    type_code: Annotated[
        int | None, typer.Option("--type", metavar="N", help="Document type code, e.g. 1.")
    ] = None,
    type_name: Annotated[
        str | None, typer.Option("--type-name", metavar="TEXT", help='Type name: "Công văn".')
    ] = None,
    urgency: Annotated[Urgency | None, typer.Option(help="Độ khẩn: urgency.")] = None,
    classification: Annotated[
        Classification | None, typer.Option(help="Độ mật: classification.")
    ] = None,
    message_id: Annotated[
        str | None,
        typer.Option(
            "--message-id",
            metavar="ID",
            help="Idempotency key (default: a new one, printed): resending it is safe.",
        ),
    ] = None,
    summary: Annotated[str | None, typer.Option(metavar="TEXT", help="Tóm tắt: summary.")] = None,
    attach: Annotated[
        list[Path] | None,
        typer.Option("--attach", metavar="FILE", help="An appendix; repeat.", **ExistingFile),
    ] = None,
    envelope_file: Annotated[
        Path | None,
        typer.Option(
            "--envelope",
            metavar="FILE",
            help="Base envelope (JSON); the options above override its fields.",
            **ExistingFile,
        ),
    ] = None,
) -> None:
    """Send a signed PDF (plus appendices) to agencies or groups."""
    envelope = merge_envelope(
        _base_envelope(envelope_file),
        recipients=to or None,
        subject=subject,
        summary=summary,
        message_id=message_id,
        urgency=urgency.value if urgency else None,
        classification=classification.value if classification else None,
        number=number,
        notation=notation,
        type_code=type_code,
        type_name=type_name,
    )
    if not envelope.get("recipients"):
        raise UsageError("no recipient: --to CODE (or group:NAME), or recipients in --envelope")
    if not envelope.get("subject"):
        raise UsageError("no subject: --subject, or subject in --envelope")
    envelope = with_message_id(envelope)
    sent_id = envelope["message_id"]
    try:
        with remote() as client:
            check_recipients(client, list(envelope["recipients"]))
            if not json_mode():
                err.print(f"message id: {sent_id}", markup=False)
            with render.transfer_bar(f"gửi / upload {main_pdf.name}", hidden=json_mode()) as bar:
                result = client.send(envelope, main_pdf, attach or (), progress=bar)
    except (TransportError, UnavailableError):
        # The document may have reached the node with its answer lost: the same id is the
        # same send, so trying again can never make a second one.
        if not json_mode():
            err.print(
                f"gửi lại an toàn / to retry the same send: --message-id {sent_id}", markup=False
            )
        raise
    if json_mode():
        print_json(dict(result.document.raw))
        return
    document = result.document
    outcome = (
        "đã gửi / sent"
        if result.created
        else "đã nhận từ trước (cùng message id), không gửi lại / accepted earlier, not resent"
    )
    render.show(
        render.fields(
            [
                ("Văn bản", document.id),
                ("Mã định danh", document.business_id),
                ("Message id", document.message_id),
                ("Kết quả", outcome),
            ]
        ),
        recipients_table(document),
    )
    if document.signatures:
        render.show(signatures_table(document))


def sign(
    source: Annotated[Path, typer.Argument(metavar="PDF", help="The PDF to sign.", **ExistingFile)],
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="PATH", help="Where to write the result.")
    ],
    role: Annotated[
        Role, typer.Option("--role", help="signer (your own key) or seal (your agency's seal).")
    ] = Role.seal,
) -> None:
    """Sign a PDF with a key the node holds for you: as signer or as your agency's seal.

    Leaders sign as themselves (signer), clerks apply the agency seal (seal). A progress bar
    shows the upload, then a spinner while the node signs."""
    with (
        remote() as client,
        render.signing_bar(source.name, hidden=json_mode()) as bar,
    ):
        signed = client.sign_pdf(source, role=role.value, progress=bar)
    output.write_bytes(signed)
    if json_mode():
        print_json({"output": str(output), "size": len(signed), "role": role.value})
    else:
        what = "đã ký / signed" if role is Role.signer else "đã đóng dấu / sealed"
        render.show(render.text(f"{what} → {output} ({render.size(len(signed))})"))
