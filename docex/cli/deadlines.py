"""``docex overdue``: deliveries not answered by their legal due time (docs/api.md)."""

from __future__ import annotations

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
    Trích yếu (subject), Gửi → nhận (sender and recipient, and your side), Độ khẩn/mật
    (urgency, classification), Trạng thái (the recipient's last status; "trả lời muộn" once
    answered late)."""
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
            ["Hạn", "Văn bản", "Trích yếu", "Gửi → nhận", "Độ khẩn/mật", "Trạng thái"],
            (
                [
                    render.when(item.due_at),
                    short(item.document_id),
                    item.subject,
                    f"{item.sender_id}\n→ {item.recipient_id}"
                    + (f"\n({_SIDES[item.side]})" if item.side in _SIDES else ""),
                    render.marks(item.urgency, item.classification),
                    render.status_text(item.status) + ("\ntrả lời muộn" if item.answered else ""),
                ]
                for item in page
            ),
            keep=(0, 1),
        )
    )
    if page.next_cursor:
        err.print(f"thêm / more: --cursor {page.next_cursor} (hoặc --all)", markup=False)
