"""The daily report's columns, shared by its XLSX and PDF faces so both show the same figures
under the same Vietnamese headings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

COUNTS: Final = (
    ("sent", "Đã gửi"),
    ("received", "Đã nhận"),
    ("accepted", "Đã tiếp nhận (03)"),
    ("returned", "Trả lại (02)"),
    ("overdue", "Quá hạn"),
    ("failed", "Gửi lỗi"),
    ("signature_refusals", "Từ chối chữ ký"),
)
TIMES: Final = (
    ("median_to_01_s", "Trung vị đến 01"),
    ("p90_to_01_s", "P90 đến 01"),
    ("median_to_03_s", "Trung vị đến 03"),
    ("p90_to_03_s", "P90 đến 03"),
)
TITLE: Final = "BÁO CÁO SỐ LIỆU HẰNG NGÀY"
SUBTITLE: Final = "Trao đổi văn bản điện tử liên thông"
NATION: Final = "TOÀN QUỐC"
SUBTOTAL: Final = "Cộng"
AGENCY: Final = "Mã đơn vị"
NAME: Final = "Tên đơn vị"
VERDICT: Final = "Đánh giá"
SLOW: Final = "Chậm"
AGENCIES: Final = "Số đơn vị"
TOTALS_NOTE: Final = (
    "Số liệu cộng từ các đơn vị; thời gian của tỉnh và toàn quốc: trung vị của các trung vị, "
    "P90 lớn nhất."
)
SLOW_NOTE: Final = "Chậm: có văn bản quá hạn tiếp nhận (quy tắc trong ngày)."


@dataclass(frozen=True)
class Column:
    field: str
    heading: str
    is_time: bool


def columns() -> tuple[Column, ...]:
    return tuple(Column(f, h, False) for f, h in COUNTS) + tuple(
        Column(f, h, True) for f, h in TIMES
    )
