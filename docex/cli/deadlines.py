"""``docex overdue``: deliveries not answered by their legal due time (docs/api.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from docex.cli import render
from docex.cli.common import err, json_mode, print_json
from docex.cli.connection import remote
from docex.cli.mailbox import AllPages, Cursor, Limit
from docex_client import OverdueItem, Page

__all__ = ["overdue"]

_SIDES = {"recipient": "phải trả lời", "sender": "đã gửi"}


def overdue(
    still_open: Annotated[
        bool, typer.Option("--open", help="Only those still unanswered.")
    ] = False,
    limit: Limit = None,
    cursor: Cursor = None,
    all_pages: AllPages = False,
) -> None:
    """Deliveries not answered (02/03) by their due time, latest due first: your agency's as
    recipient and as sender; the whole node's for admins and auditors.

    Columns: Hạn (when the answer was due, Vietnam time), Văn bản (document id, shortened),
    Trích yếu (subject), Gửi → nhận (sender, recipient), Trạng thái (the recipient's last
    status; your side: "phải trả lời" you had to answer, "đã gửi" you sent it; "trả lời muộn"
    once answered late)."""
    answered = False if still_open else None
    with remote() as client:
        if all_pages:
            items = list(client.iter_overdue(answered=answered, limit=limit))
            page: Page[OverdueItem] = Page(items, None, {})
        else:
            page = client.overdue(answered=answered, limit=limit, cursor=cursor)
    if json_mode():
        print_json({"items": [dict(i.raw) for i in page.items], "next_cursor": page.next_cursor})
        return
    short = render.short_ids(i.document_id for i in page)
    render.show(
        render.table(
            "Quá hạn tiếp nhận",
            ["Hạn", "Văn bản", "Trích yếu", "Gửi → nhận", "Trạng thái"],
            (_row(item, short) for item in page),
            keep=(0, 1, 3),
        )
    )
    if page.next_cursor:
        err.print(f"thêm / more: --cursor {page.next_cursor} (hoặc --all)", markup=False)


def _row(item: OverdueItem, short: Callable[[str], str]) -> list[str]:
    state = [render.status_text(item.status)]
    if item.side in _SIDES:
        state.append(_SIDES[item.side])
    if item.answered:
        state.append("trả lời muộn")
    return [
        render.when(item.due_at),
        short(item.document_id),
        item.subject,
        f"{item.sender_id}\n→ {item.recipient_id}",
        "\n".join(state),
    ]
