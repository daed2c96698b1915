"""``docex deliveries list | retry``: the node's operator and the deliveries it could not make.

An admin's token (``docex login`` as an admin); the commands call the dead-letter view of the
API (``GET /api/v1/admin/deliveries``, ``POST .../{id}/retry``) through docex-client.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from docex.cli import render
from docex.cli.common import DocexTyper, err, json_mode, print_json
from docex.cli.connection import RemoteCommand, remote
from docex_client import Page, QueuedDelivery

__all__ = ["register"]

deliveries_app = DocexTyper(help="Deliveries the node could not make: list, re-queue (admin).")


def register(app: typer.Typer) -> None:
    app.add_typer(deliveries_app, name="deliveries")


class Transport(StrEnum):
    failed = "failed"
    queued = "queued"


@deliveries_app.command("list", cls=RemoteCommand)
def list_deliveries(
    transport: Annotated[
        Transport | None,
        typer.Option(help="failed (given up) or queued (waiting); both when absent."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, max=500, metavar="N")] = None,
    cursor: Annotated[str | None, typer.Option(metavar="CURSOR")] = None,
    all_pages: Annotated[bool, typer.Option("--all", help="Follow every page.")] = False,
) -> None:
    """Deliveries failed or waiting, oldest first.

    Columns: Chuyển phát, văn bản, lỗi (delivery id, document id, last error), Gửi → nhận
    (sender → recipient), Chuyển (transport × attempts, and when a queued one is tried next,
    Vietnam time)."""
    wanted = transport.value if transport else None
    with remote() as client:
        if all_pages:
            page: Page[QueuedDelivery] = Page(
                list(client.iter_deliveries(wanted, limit=limit)), None, {}
            )
        else:
            page = client.deliveries(wanted, limit=limit, cursor=cursor)
    if json_mode():
        print_json(
            {"items": [dict(item.raw) for item in page.items], "next_cursor": page.next_cursor}
        )
        return
    render.show(
        render.table(
            "Chuyển phát chưa thành / deliveries not made",
            ["Chuyển phát, văn bản, lỗi", "Gửi → nhận", "Chuyển"],
            (
                [
                    f"{item.id}\nvăn bản {item.document_id}"
                    + (f"\n{item.last_error}" if item.last_error else ""),
                    f"{item.sender_id}\n→ {item.recipient_id}",
                    f"{item.transport} ×{item.attempts}"
                    + (f"\n{render.when(item.next_attempt_at)}" if item.next_attempt_at else ""),
                ]
                for item in page
            ),
            keep=(1, 2),
        )
    )
    if page.next_cursor:
        err.print(f"thêm / more: --cursor {page.next_cursor} (hoặc --all)", markup=False)


@deliveries_app.command("retry", cls=RemoteCommand)
def retry(
    delivery_id: Annotated[str, typer.Argument(metavar="ID", help="The delivery's id.")],
    note: Annotated[
        str | None, typer.Option(metavar="TEXT", help="Why, for the audit log.")
    ] = None,
) -> None:
    """Send a failed delivery round again: queued, with fresh attempts."""
    with remote() as client:
        delivery = client.retry_delivery(delivery_id, note=note)
    if json_mode():
        print_json(dict(delivery.raw))
        return
    render.show(
        render.fields(
            [
                ("Chuyển phát", delivery.id),
                ("Văn bản", delivery.document_id),
                ("Nơi nhận", delivery.recipient_id),
                ("Chuyển", f"{delivery.transport} (đã xếp lại hàng / re-queued)"),
            ]
        )
    )
