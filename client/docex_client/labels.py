"""What the node's codes mean, in Vietnamese and English (DOMAIN.md, "Statuses")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

__all__ = [
    "BUSINESS_STATE_LABELS",
    "CLASSIFICATION_LABELS",
    "STATUS_LABELS",
    "URGENCY_LABELS",
    "Label",
    "StatusLabel",
    "status_label",
]


class Label(NamedTuple):
    vi: str
    en: str


StatusLabel = Label  # the name earlier versions exported

STATUS_LABELS: Mapping[str, Label] = {
    "01": Label("đã đến", "arrived"),
    "02": Label("từ chối", "rejected"),
    "03": Label("đã tiếp nhận", "accepted"),
    "04": Label("phân công", "assigned"),
    "05": Label("đang xử lý", "processing"),
    "06": Label("hoàn thành", "completed"),
    "13": Label("yêu cầu thu hồi", "recall requested"),
    "15": Label("đồng ý thu hồi/cập nhật", "recall/update accepted"),
    "16": Label("từ chối thu hồi/cập nhật", "recall/update refused"),
}

# What an accepted recall, update or replacement made of an earlier document.
BUSINESS_STATE_LABELS: Mapping[str, Label] = {
    "recalled": Label("đã thu hồi", "recalled"),
    "updated": Label("đã được cập nhật", "updated"),
    "replaced": Label("đã được thay thế", "replaced"),
}

URGENCY_LABELS: Mapping[str, Label] = {
    "normal": Label("thường", "normal"),
    "urgent": Label("khẩn", "urgent"),
    "very_urgent": Label("thượng khẩn", "very urgent"),
    "flash": Label("hỏa tốc", "flash"),
}

CLASSIFICATION_LABELS: Mapping[str, Label] = {
    "normal": Label("thường", "normal"),
    "confidential": Label("mật", "confidential"),
    "secret": Label("tối mật", "secret"),
    "top_secret": Label("tuyệt mật", "top secret"),
}


def status_label(code: str | None) -> str:
    """``"01 đã đến / arrived"``; the bare code when unknown; ``""`` for no status."""
    if not code:
        return ""
    label = STATUS_LABELS.get(code)
    return f"{code} {label.vi} / {label.en}" if label else code
