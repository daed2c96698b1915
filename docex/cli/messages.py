"""What an error code means, in Vietnamese, for the people who read the CLI's errors.

The node's ``detail`` is English (signature refusals carry Vietnamese too); the CLI prints this
line above it. A code without its own sentence gets the one for its HTTP status.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["vietnamese"]

_BY_CODE: Mapping[str, str] = {
    # who you are
    "missing_token": "chưa đăng nhập: dùng `docex login`, --token hoặc --as",
    "invalid_token": "mã truy cập không hợp lệ hoặc đã hết hạn; đăng nhập lại",
    "invalid_credentials": "sai tên đăng nhập hoặc mật khẩu",
    "password_too_short": "mật khẩu phải có ít nhất 10 ký tự",
    "unauthenticated": "chưa đăng nhập hoặc phiên đã hết hạn",
    "forbidden": "vai trò của bạn không được làm việc này",
    "status_not_allowed": "vai trò của bạn không được báo trạng thái này",
    "insufficient_clearance": "bạn không đủ thẩm quyền với độ mật của văn bản",
    "acting_for_other_agency": "bạn không được thay mặt cơ quan khác",
    # documents
    "document_not_found": "không tìm thấy văn bản (hoặc bạn không được xem)",
    "file_not_found": "văn bản không có tệp này",
    "ambiguous_reference": "mã rút gọn trùng nhiều văn bản; gõ thêm ký tự",
    "invalid_reference": "mã văn bản không hợp lệ (ít nhất 8 ký tự đầu, hoặc mã định danh)",
    "message_id_conflict": "message_id này đã dùng cho một văn bản có nội dung khác",
    "illegal_transition": "không thể chuyển sang trạng thái này từ trạng thái hiện tại",
    "idempotency_key_conflict": "Idempotency-Key này đã dùng cho một yêu cầu khác",
    "recalled": "văn bản đã bị thu hồi: cơ quan bạn không còn tải được tệp",
    "not_delivered": "văn bản chưa đến cơ quan của bạn",
    "unknown_recipient": "nơi nhận không có trong danh bạ",
    "unknown_group": "không có nhóm nơi nhận này",
    "recipient_retired": "nơi nhận đã ngừng hoạt động",
    "recipient_is_sender": "không gửi cho chính cơ quan mình",
    "empty_recipients": "chưa có nơi nhận",
    "classification_not_accredited": "nút này không được phép nhận văn bản có độ mật này",
    "agency_holds_key": "cơ quan tự giữ khóa: tải bản niêm phong và giải mã (docex decrypt)",
    "not_sealed": "tệp không được niêm phong cho cơ quan của bạn; hãy tải bình thường",
    "range_not_satisfiable": "đoạn byte yêu cầu nằm ngoài tệp",
    # what was sent
    "unsigned": "tệp PDF chưa được ký số",
    "missing_signer": "thiếu chữ ký của người có thẩm quyền",
    "missing_seal": "thiếu chữ ký số của cơ quan (con dấu)",
    "revoked": "chứng thư số đã bị thu hồi",
    "untrusted_signer": "chứng thư số không do tổ chức tin cậy cấp",
    "modified_after_signing": "tệp đã bị sửa sau khi ký",
    "not_a_pdf": "tệp chính không phải PDF",
    "invalid_pdf": "tệp PDF bị hỏng",
    "encrypted_pdf": "tệp PDF có mật khẩu",
    "invalid_envelope": "thông tin văn bản (envelope) không hợp lệ",
    "payload_too_large": "dữ liệu gửi quá lớn",
    "body_too_large": "dữ liệu gửi quá lớn",
    "too_many_files": "quá nhiều tệp đính kèm",
    # the connection and the node
    "connection_failed": "không kết nối được với nút docex",
    "integrity_mismatch": "tệp nhận được không khớp mã băm SHA-256; đã hủy",
    "invalid_response": "nút docex trả lời không đúng giao thức",
    "source_changed": "tệp bị thay đổi trong khi đang gửi",
    "database_unavailable": "cơ sở dữ liệu của nút tạm thời không truy cập được",
    "storage_unavailable": "kho lưu trữ tệp của nút tạm thời không truy cập được",
    "key_unavailable": (
        "khóa của nút tạm thời không dùng được (chưa khôi phục, sai mật khẩu bảo vệ hoặc thiết bị "
        "ký không phản hồi); dữ liệu vẫn nguyên vẹn, thử lại sau"
    ),
    "storage_full": (
        "kho lưu trữ của nút đã đầy; chưa lưu gì, báo quản trị viên giải phóng dung lượng"
    ),
    "stored_file_corrupt": "tệp lưu trên nút bị hỏng (không qua được kiểm tra toàn vẹn)",
    # the command itself
    "usage": "lệnh dùng chưa đúng",
    "configuration": "cấu hình chưa đúng",
    "no_login": "chưa đăng nhập",
    "local_file": "lỗi đọc/ghi tệp trên máy này",
}

_BY_STATUS: Mapping[int, str] = {
    400: "yêu cầu không hợp lệ",
    401: "chưa đăng nhập hoặc phiên đã hết hạn",
    403: "không được phép",
    404: "không tìm thấy",
    409: "xung đột với trạng thái hiện có",
    410: "không còn được cung cấp",
    413: "dữ liệu quá lớn",
    415: "sai kiểu dữ liệu",
    416: "đoạn byte yêu cầu nằm ngoài tệp",
    422: "dữ liệu không hợp lệ",
    503: "dịch vụ tạm thời không sẵn sàng, thử lại sau",
    507: "nút hết dung lượng lưu trữ",
}


def vietnamese(code: str, status: int | None = None) -> str | None:
    """The Vietnamese sentence for ``code``, else for ``status``, else None."""
    return _BY_CODE.get(code) or (_BY_STATUS.get(status) if status else None)
