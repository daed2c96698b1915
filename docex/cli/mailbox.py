"""``docex inbox | outbox``: what reached your agency, what it sent."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from docex.cli import render
from docex.cli.common import err, json_mode, print_json
from docex.cli.connection import remote
from docex.vocabulary.levels import URGENCIES
from docex_client import InboxItem, OutboxItem, Page

__all__ = ["Urgency", "inbox", "outbox"]


# A command-line choice of the shared urgency levels (typer wants an Enum).
Urgency = StrEnum("Urgency", [(name, name) for name in URGENCIES])  # type: ignore[misc]


Limit = Annotated[int | None, typer.Option(min=1, max=500, metavar="N", help="Page size.")]
Cursor = Annotated[
    str | None, typer.Option(metavar="CURSOR", help="Continue from a previous page.")
]
AllPages = Annotated[bool, typer.Option("--all", help="Follow every page.")]


def _page_json(page: Page[Any]) -> dict[str, Any]:
    return {"items": [dict(item.raw) for item in page.items], "next_cursor": page.next_cursor}


def _more(page: Page[Any]) -> None:
    if page.next_cursor:
        err.print(f"thêm / more: --cursor {page.next_cursor} (hoặc --all)", markup=False)


def inbox(
    status: Annotated[
        str | None, typer.Option(metavar="CODE", help="Only this status, e.g. 01.")
    ] = None,
    urgency: Annotated[Urgency | None, typer.Option(help="Only this urgency.")] = None,
    limit: Limit = None,
    cursor: Cursor = None,
    all_pages: AllPages = False,
) -> None:
    """Documents delivered to your agency, newest first.

    Columns: Nơi gửi, lúc (sender, and when it was delivered, Vietnam time), Văn bản
    (document id, shortened), Trích yếu (subject), Độ khẩn/mật (urgency, classification),
    Trạng thái (status, with the incoming number given with a 03, and ĐÃ THU HỒI / ĐÃ ĐƯỢC CẬP
    NHẬT / ĐÃ ĐƯỢC THAY THẾ with the document that did it, once your agency accepted its recall,
    update or replacement)."""
    wanted = urgency.value if urgency else None
    with remote() as client:
        if all_pages:
            items = list(client.iter_inbox(status=status, urgency=wanted, limit=limit))
            page: Page[InboxItem] = Page(items, None, {})
        else:
            page = client.inbox(status=status, urgency=wanted, limit=limit, cursor=cursor)
    if json_mode():
        print_json(_page_json(page))
        return
    short = render.short_ids(i.document_id for i in page)
    render.show(
        render.table(
            "Hộp thư đến",
            ["Nơi gửi, lúc", "Văn bản", "Trích yếu", "Độ khẩn/mật", "Trạng thái"],
            (
                [
                    f"{item.sender_id}\n{render.when(item.delivered_at)}",
                    short(item.document_id),
                    item.subject,
                    render.marks(item.urgency, item.classification),
                    _with_state(
                        render.status_text(item.status, item.incoming_number),
                        render.business_state(item.business_state, item.superseded_by),
                    ),
                ]
                for item in page
            ),
            keep=(0, 1),
        )
    )
    _more(page)


def _with_state(status: str, state: str) -> str:
    return f"{status}\n{state}" if state else status


def _tally(counts: dict[str, int], label: Any = str) -> str:
    return "\n".join(f"{label(key)}: {n}" for key, n in sorted(counts.items()))


def _status_count(code: str) -> str:
    return "chưa có" if code == "none" else render.status_text(code)


def outbox(limit: Limit = None, cursor: Cursor = None, all_pages: AllPages = False) -> None:
    """Documents your agency sent, with how many recipients are at each status.

    Columns: Gửi lúc (sent, Vietnam time), Văn bản (document id, shortened), Trích yếu
    (subject), Độ khẩn/mật (urgency, classification), Nơi nhận (how many recipients, and their
    transport states), Trạng thái (how many at each business status, and how many recipients
    it is recalled, updated or replaced for)."""
    with remote() as client:
        if all_pages:
            page: Page[OutboxItem] = Page(list(client.iter_outbox(limit=limit)), None, {})
        else:
            page = client.outbox(limit=limit, cursor=cursor)
    if json_mode():
        print_json(_page_json(page))
        return
    short = render.short_ids(i.document_id for i in page)
    render.show(
        render.table(
            "Văn bản đã gửi",
            ["Gửi lúc", "Văn bản", "Trích yếu", "Độ khẩn/mật", "Nơi nhận", "Trạng thái"],
            (
                [
                    render.when(item.created_at),
                    short(item.document_id),
                    item.subject,
                    render.marks(item.urgency, item.classification),
                    f"{item.recipients}\n{_tally(item.transport)}",
                    _with_state(
                        _tally(item.status, _status_count),
                        _tally(item.business_state, render.business_state),
                    ),
                ]
                for item in page
            ),
            keep=(0, 1),
        )
    )
    _more(page)
