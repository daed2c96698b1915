"""Classification (độ mật) and urgency (độ khẩn): the two levels every document carries."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args


class Classification(StrEnum):
    """Security marking of a document, ordered from least to most sensitive."""

    NORMAL = "normal"
    CONFIDENTIAL = "confidential"
    SECRET = "secret"  # noqa: S105 (a classification, not a password)
    TOP_SECRET = "top_secret"  # noqa: S105

    @property
    def rank(self) -> int:
        return _CLASSIFICATION_ORDER.index(self)


_CLASSIFICATION_ORDER = list(Classification)

# Thường, Khẩn, Thượng khẩn, Hỏa tốc: the routing worker moves higher urgency first.
Urgency = Literal["normal", "urgent", "very_urgent", "flash"]
URGENCIES: tuple[Urgency, ...] = get_args(Urgency)
URGENCY_PRIORITY: dict[str, int] = {name: rank for rank, name in enumerate(URGENCIES)}
