"""Business statuses (DOMAIN.md) and their legal transitions. Pure rules, no I/O.

Transport state (queued → delivered | failed) is ours; these codes are the recipient's (and the
sender's, for a recall). A status may only follow the ones listed here; anything else is a 409.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

ARRIVED: Final = "01"
REJECTED: Final = "02"
ACCEPTED: Final = "03"
ASSIGNED: Final = "04"
PROCESSING: Final = "05"
COMPLETED: Final = "06"
RECALL_REQUESTED: Final = "13"
RECALL_ACCEPTED: Final = "15"
RECALL_REFUSED: Final = "16"

LABELS: Final[dict[str, tuple[str, str]]] = {
    ARRIVED: ("đã đến", "arrived"),
    REJECTED: ("từ chối", "rejected"),
    ACCEPTED: ("đã tiếp nhận", "accepted"),
    ASSIGNED: ("phân công", "assigned"),
    PROCESSING: ("đang xử lý", "processing"),
    COMPLETED: ("hoàn thành", "completed"),
    RECALL_REQUESTED: ("yêu cầu thu hồi", "recall requested"),
    RECALL_ACCEPTED: ("đồng ý thu hồi/cập nhật", "recall/update accepted"),
    RECALL_REFUSED: ("từ chối thu hồi/cập nhật", "recall/update refused"),
}
CLIENT_CODES: Final = frozenset(LABELS) - {ARRIVED}  # 01 is recorded by the node only
NEEDS_REASON: Final = frozenset({REJECTED, RECALL_REQUESTED, RECALL_REFUSED})

_NEXT: Final[dict[str | None, frozenset[str]]] = {
    None: frozenset({ARRIVED}),
    ARRIVED: frozenset({REJECTED, ACCEPTED, RECALL_REQUESTED}),
    ACCEPTED: frozenset({ASSIGNED, PROCESSING, COMPLETED, RECALL_REQUESTED}),
    ASSIGNED: frozenset({PROCESSING, COMPLETED, RECALL_REQUESTED}),
    PROCESSING: frozenset({COMPLETED, RECALL_REQUESTED}),
    COMPLETED: frozenset({RECALL_REQUESTED}),
    RECALL_REQUESTED: frozenset({RECALL_ACCEPTED, RECALL_REFUSED}),
    REJECTED: frozenset(),
    RECALL_ACCEPTED: frozenset(),
}


def allowed_next(history: Sequence[str], *, business_type: str = "new") -> frozenset[str]:
    """Codes that may follow a delivery's status history (oldest first).

    After a refused recall (16) the document carries on from where it stood before the recall.
    A revoke/update/replace document is answered with 15/16 as soon as it has arrived.
    """
    current = history[-1] if history else None
    if current == RECALL_REFUSED:
        before = [c for c in history if c not in (RECALL_REQUESTED, RECALL_REFUSED)]
        current = before[-1] if before else ARRIVED
    allowed = _NEXT.get(current, frozenset())
    if current == ARRIVED and business_type != "new":
        allowed = allowed | {RECALL_ACCEPTED, RECALL_REFUSED}
    return allowed


def label(code: str) -> str:
    vi, en = LABELS.get(code, ("?", "?"))
    return f"{code} {vi} / {en}"
