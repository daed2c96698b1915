"""How the CLI shows things to people: tables that fit 80 columns, Vietnamese headers, Vietnam
time, short ids, progress bars. ``--json`` output never goes through here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from docex.cli.common import console, err
from docex.kit.clock import VIETNAM_TZ, as_utc
from docex_client.labels import (
    BUSINESS_STATE_LABELS,
    CLASSIFICATION_LABELS,
    STATUS_LABELS,
    URGENCY_LABELS,
)

SHORT = 8
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def when(value: datetime | None, *, year: bool = False) -> str:
    """Vietnam wall-clock time, day first as Vietnamese write it: ``25/11 14:03``."""
    if value is None:
        return ""
    return (
        as_utc(value).astimezone(VIETNAM_TZ).strftime("%d/%m/%Y %H:%M" if year else "%d/%m %H:%M")
    )


def short_ids(ids: Iterable[str]) -> Callable[[str], str]:
    """Ids cut to the fewest characters (at least 8) that still tell the listed ones apart.

    Document ids are UUIDv7: their first characters are a timestamp, so two documents sent in
    the same minute share their first 8; those get as many more as it takes."""
    unique = sorted(set(ids))
    length = SHORT
    while length < 36 and len({i[:length] for i in unique}) < len(unique):
        length += 1
    return lambda value: value[:length]


def status_text(code: str | None, incoming_number: str | None = None) -> str:
    """``03 đã tiếp nhận`` (and the incoming number given with it)."""
    if not code:
        return ""
    label = STATUS_LABELS.get(code)
    text = f"{code} {label.vi}" if label else code
    return f"{text}\nsố đến {incoming_number}" if incoming_number else text


def business_state(state: str | None, superseded_by: str | None = None) -> str:
    """``ĐÃ THU HỒI`` (and by which document), or nothing: what a recall, update or
    replacement the recipient accepted made of the document."""
    if not state:
        return ""
    label = BUSINESS_STATE_LABELS.get(state)
    text = label.vi.upper() if label else state
    return f"{text}\nbởi {superseded_by[:SHORT]}" if superseded_by else text


def status_full(code: str | None, incoming_number: str | None = None) -> str:
    """``03 đã tiếp nhận / accepted, số đến 125``: for lines that have the room."""
    if not code:
        return ""
    label = STATUS_LABELS.get(code)
    text = f"{code} {label.vi} / {label.en}" if label else code
    return f"{text}, số đến {incoming_number}" if incoming_number else text


def urgency(value: str | None) -> Text:
    if not value:
        return Text("")
    style = (
        "bold red" if value in ("flash", "very_urgent") else "yellow" if value == "urgent" else ""
    )
    label = URGENCY_LABELS.get(value)
    return Text(label.vi if label else value, style=style)


def classification(value: str | None) -> Text:
    if not value:
        return Text("")
    label = CLASSIFICATION_LABELS.get(value)
    return Text(label.vi if label else value, style="" if value == "normal" else "bold magenta")


def marks(urgency_value: str | None, classification_value: str | None) -> Text:
    """Urgency, and the classification when it is not normal, in one cell."""
    text = urgency(urgency_value)
    if classification_value and classification_value != "normal":
        text.append("\n")
        text.append_text(classification(classification_value))
    return text


def size(value: int | None) -> str:
    if value is None:
        return ""
    if value < 1024:
        return f"{value} B"
    amount = value / 1024
    for unit in ("KiB", "MiB"):
        if amount < 1024:
            return f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GiB"


def _short_value(value: Any, limit: int = 28) -> str:
    if isinstance(value, str):
        text = _UUID.sub(lambda m: m.group(0)[:SHORT], value)
    elif isinstance(value, list):
        if all(isinstance(v, str | int) for v in value):
            text = ",".join(_short_value(v, limit) for v in value)
        else:
            text = f"{len(value)} mục"
    elif isinstance(value, dict):
        text = f"{len(value)} mục"
    elif value is None:
        text = "-"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_SHOWN_ELSEWHERE = frozenset({"document_id", "agency_id", "at", "event"})


def detail(value: Mapping[str, Any]) -> str:
    """An audit event's detail as short ``key=value`` lines, never raw JSON."""
    return "\n".join(
        f"{key}={_short_value(item)}" for key, item in value.items() if key not in _SHOWN_ELSEWHERE
    )


def text(value: Any) -> Text:
    # Text, never a markup string: subjects like "[Khẩn] ..." must print as written.
    return value if isinstance(value, Text) else Text("" if value is None else str(value))


def table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    keep: Iterable[int] = (),
) -> Table:
    """A table without vertical rules (they cost 80-column terminals a character each);
    the columns numbered in ``keep`` (codes, times, ids) never wrap, the others fold."""
    whole = set(keep)
    grid = Table(
        title=title, title_justify="left", header_style="bold", box=box.SIMPLE, pad_edge=False
    )
    for index, column in enumerate(columns):
        grid.add_column(column, overflow="fold", no_wrap=index in whole)
    for row in rows:
        grid.add_row(*(text(cell) for cell in row))
    return grid


def fields(pairs: Iterable[tuple[str, Any]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in pairs:
        if value not in (None, "", [], {}):
            grid.add_row(label, text(value))
    return grid


def show(*renderables: Any, out: Console = console) -> None:
    for renderable in renderables:
        out.print(renderable)


def verdict(value: bool | None) -> Text:
    if value is True:
        return Text("có", style="green")
    if value is False:
        return Text("KHÔNG", style="bold red")
    return Text("")


@contextmanager
def transfer_bar(label: str, *, hidden: bool) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr; yields the ``progress(done, total)`` callback."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=hidden,
    ) as bar:
        task = bar.add_task(label, total=None)

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        yield report


@contextmanager
def signing_bar(name: str, *, hidden: bool) -> Iterator[Callable[[int, int], None]]:
    """Upload progress, then a spinner while the node signs: a large PDF takes a while."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        console=err,
        disable=hidden,
    ) as bar:
        task = bar.add_task(f"gửi / upload {name}", total=None)

        def report(done: int, total: int) -> None:
            if total and done >= total:
                bar.update(task, description=f"đang ký / signing {name}", completed=done)
            else:
                bar.update(task, completed=done, total=total or None)

        yield report


def common_name(subject: str) -> str:
    """``CN=Văn phòng Chính phủ,O=...`` → ``Văn phòng Chính phủ``: a certificate's holder."""
    match = re.search(r"(?:^|,)CN=((?:[^,\\]|\\.)*)", subject)
    return match.group(1).replace("\\", "") if match else subject
