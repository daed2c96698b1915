"""What the served OpenAPI document says about each schema: a description, an example, and the
meaning of every field that is not obvious from its name (``docs/api.md`` says it at length).

Kept here, in one table, rather than on the pydantic models: the models belong to their domain
packages and say what a value may be; this says what it means to an integrator reading
``/openapi.json`` or a client generated from it. ``tests/api/test_openapi_docs.py`` checks that
every schema of the document has an entry, and every field named here exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DOCUMENT_ID = "01a21529-e968-73dc-acb3-7ca2365763f2"
MAIN_FILE_ID = "01a21529-e968-73dd-9a35-d0ccf70cd0db"
G22, H41, H26 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H26"
BUSINESS_ID = "000.00.00.G22,2026/11/25,7816/VPCP-TTĐT"
SUBJECT = "Về việc triển khai trục liên thông văn bản"
AT = "2026-11-26T00:03:17.957736Z"
JWS = "eyJhbGciOiJFUzI1NiIsImtpZCI6Inl4dkRhcUlQUDBo...(JWS compact)"
_TIME = "RFC 3339 date-time in UTC (`Z`), e.g. 2026-11-26T00:03:17.957736Z"
_WITHHELD = (
    "true when the caller is not cleared for the classification: the subject is then a "
    "placeholder and the free text of the envelope reads [withheld]"
)


_WEBHOOK = {
    "id": "01a21530-1b2c-7d3e-8f40-5a6b7c8d9e0f",
    "agency_id": G22,
    "url": "https://dms.example.gov.vn/hooks/docex",
    "events": ["document.delivered", "document.status_changed"],
    "enabled": True,
    "created_at": AT,
}


@dataclass(frozen=True)
class SchemaDoc:
    description: str
    example: Any
    fields: dict[str, str] = field(default_factory=dict)


_ENVELOPE_EXAMPLE = {
    "message_id": "vpcp-2026-7816",
    "recipients": [H41, "group:provinces"],
    "code": {"number": "7816", "notation": "VPCP-TTĐT"},
    "document_type": {"type": 1, "name": "Công văn"},
    "subject": SUBJECT,
    "summary": "Đề nghị các cơ quan kết nối trục liên thông trước ngày 01/12/2026.",
    "promulgation": {"place": "Hà Nội", "date": "2026-11-25"},
    "signer": {
        "competence": "KT. Bộ trưởng",
        "position": "Thứ trưởng",
        "full_name": "Nguyễn Văn A",
    },
    "urgency": "urgent",
    "classification": "normal",
    "due_date": "2026-12-01",
    "steering": False,
}
_FILE = {
    "id": MAIN_FILE_ID,
    "role": "main",
    "name": "cong-van.pdf",
    "content_type": "application/pdf",
    "size": 51630,
    "sha256": "63ea54a9c6f53d6b55a6929baad10b16533b507e77ea1e362fe00ece2c65e06e",
}
_ALERT = {
    "id": "01a2152a-0c1d-7e2f-8a3b-4c5d6e7f8091",
    "key": f"overdue_urgent:{H26}",
    "rule": "overdue_urgent",
    "subject": H26,
    "severity": "critical",
    "state": "open",
    "title": "Văn bản khẩn quá hạn",
    "title_en": "Overdue urgent documents",
    "detail": {"counts": {"flash": 1}, "oldest_due": AT},
    "raised_at": AT,
    "resolved_at": None,
    "acknowledged_at": None,
    "acknowledged_by": None,
    "note": None,
}
_AGENCY_STATS = {
    "agency_id": H41,
    "name": "Ủy ban nhân dân tỉnh Nghệ An",
    "node_id": "node-nghean",
    "province": H41,
    "sent": 12,
    "received": 40,
    "accepted": 35,
    "returned": 2,
    "overdue": 3,
    "failed": 0,
    "signature_refusals": 1,
    "median_to_01_s": 4.2,
    "p90_to_01_s": 9.8,
    "median_to_03_s": 5400.0,
    "p90_to_03_s": 21600.0,
}
_SIGNATURE = {
    "role": "seal",
    "subject": "CN=Văn phòng Chính phủ,organizationIdentifier=VN:000.00.00.G22,O=Văn phòng "
    "Chính phủ,C=VN",
    "agency_code": G22,
    "valid": True,
    "trusted": True,
    "revocation": "good",
    "signed_at": "2026-11-26T00:03:17Z",
    "timestamp": "2026-11-26T00:03:17Z",
    "indication": "ok",
}
_BUSINESS_STATE = (
    "recalled, updated or replaced once the recipient accepted a recall (15 after 13, or 15 on "
    "a revoke) or an update or replacement (15 or 03 on it); null otherwise"
)
_SUPERSEDED_BY = "the id of the revoke, update or replace document that did it; null otherwise"
_RECIPIENT = {
    "agency_id": H41,
    "addressed_as": "group:provinces",
    "transport": "delivered",
    "status": "03",
    "incoming_number": "125",
    "flag": None,
    "overdue": False,
    "reason": None,
    "updated_at": AT,
    "business_state": None,
    "superseded_by": None,
    "node": "nghean",
    "waiting_for": None,
}
_DOCUMENT = {
    "id": DOCUMENT_ID,
    "message_id": "vpcp-2026-7816",
    "business_id": BUSINESS_ID,
    "sender_id": G22,
    "envelope": {k: v for k, v in _ENVELOPE_EXAMPLE.items() if k != "summary"},
    "content_withheld": False,
    "files": [_FILE],
    "signatures": [_SIGNATURE],
    "recipients": [_RECIPIENT],
    "created_at": AT,
}
_QUEUED_DELIVERY = {
    "id": "01a21529-e96a-7375-a7d6-fbd27c1154df",
    "document_id": DOCUMENT_ID,
    "sender_id": G22,
    "recipient_id": H26,
    "addressed_as": "group:provinces",
    "urgency": "urgent",
    "transport": "failed",
    "attempts": 10,
    "last_error": "no route to node 'node-hanoi'",
    "next_attempt_at": None,
    "leased_by": None,
    "created_at": AT,
    "updated_at": AT,
}
_INBOX_ITEM = {
    "document_id": DOCUMENT_ID,
    "business_id": BUSINESS_ID,
    "sender_id": G22,
    "subject": SUBJECT,
    "content_withheld": False,
    "urgency": "urgent",
    "classification": "normal",
    "status": "01",
    "incoming_number": None,
    "delivered_at": AT,
    "overdue": False,
    "business_state": None,
    "superseded_by": None,
}
_OUTBOX_ITEM = {
    "document_id": DOCUMENT_ID,
    "business_id": BUSINESS_ID,
    "subject": SUBJECT,
    "content_withheld": False,
    "urgency": "urgent",
    "classification": "normal",
    "created_at": AT,
    "recipients": 2,
    "transport": {"delivered": 2},
    "status": {"03": 1, "01": 1},
    "overdue": True,
    "business_state": {},
    "failed": [],
    "waiting": [],
}
_OVERDUE_ITEM = {
    "document_id": DOCUMENT_ID,
    "business_id": BUSINESS_ID,
    "sender_id": G22,
    "recipient_id": H41,
    "side": "recipient",
    "subject": SUBJECT,
    "content_withheld": False,
    "urgency": "normal",
    "classification": "normal",
    "status": "01",
    "answered": False,
    "delivered_at": "2026-11-26T09:12:40.118204Z",
    "due_at": "2026-11-26T10:00:00Z",
    "overdue_at": "2026-11-26T10:00:41.502911Z",
}
_OVERDUE = (
    "true when the recipient did not answer (02 or 03) by its due time: the end of its "
    "working day, 1 h for flash, 2 h for very urgent (kept once answered late)"
)
_RECEIPT = {
    "id": "01a21529-f572-7201-9522-89ebc060594c",
    "code": "03",
    "from_agency_id": H41,
    "to_agency_id": G22,
    "note": None,
    "incoming_number": "125",
    "created_at": AT,
    "signed": JWS,
}
_TRACE_ITEM = {
    "at": AT,
    "event": "routing:delivery:delivered",
    "agency_id": H41,
    "node_id": "node-vpcp",
    "detail": {"delivery_id": "01a21529-e96a-7375-a7d6-fbd27c1154df", "attempt": 1},
    "audit_index": 66,
}
_AGENCY = {
    "id": H41,
    "name": "UBND tỉnh Nghệ An",
    "kind": "state",
    "parent_id": None,
    "node_id": "node-vpcp",
    "status": "active",
    "successor_id": None,
    "encryption_key": "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VuAyEA...\n-----END PUBLIC KEY-----\n",
}
_GROUP = {
    "name": "provinces",
    "title": "Tỉnh, thành phố",
    "description": "Tỉnh, thành phố",
    "members": ["000.00.00.H26", H41],
}
_GROUP_FIELDS = {
    "name": "write `group:<name>` as a recipient; lowercase ASCII letters, digits, '_', '-'",
    "title": "what the group is called",
    "members": "codes of the member agencies",
}

SCHEMA_DOCS: dict[str, SchemaDoc] = {
    "ErrorBody": SchemaDoc(
        "Every refusal and failure: a machine-readable code and a text for people "
        "(docs/api.md lists every code).",
        {"error": "unknown_recipient", "detail": "unknown recipient 000.00.00.X99"},
        {
            "error": "machine-readable code: branch on this, never on the text",
            "detail": "what went wrong, for the person reading it; never a secret",
        },
    ),
    "Envelope": SchemaDoc(
        "The `envelope` part of a send (JSON, `Content-Type: application/json`). Unknown "
        "fields are refused (unknown_envelope_field); the sender is the caller's agency and "
        'cannot be set; values are never coerced (`"steering": "yes"` is refused).',
        _ENVELOPE_EXAMPLE,
        {
            "message_id": "your id for this send, the idempotency key: the same message_id "
            "with the same content answers 200 with the original document, with other "
            "content 409 message_id_conflict. Give one on every send and reuse it on retry",
            "recipients": "agency codes, or `group:<name>` (GET /api/v1/groups) expanded at "
            "send time; not the sender itself",
            "code": "the document's number and notation (số, ký hiệu)",
            "document_type": "type code and name of the document (e.g. 1 Công văn)",
            "subject": "trích yếu: what the document is about",
            "promulgation": "place and date of issue (ISO date YYYY-MM-DD)",
            "signer": "the competent signer as printed on the document",
            "urgency": "độ khẩn: normal, urgent (khẩn), very_urgent (thượng khẩn), flash "
            "(hỏa tốc); urgent mail is delivered first",
            "classification": "độ mật: above normal, files are encrypted for each recipient "
            "agency and shown only to people with enough clearance",
            "due_date": "reply expected by (ISO date YYYY-MM-DD)",
            "steering": "true for a steering document (văn bản chỉ đạo)",
            "business": "new, or a revoke/update/replace of an earlier document "
            "(`refers_to`, with a `reason`)",
            "in_reply_to": "the id of the document this one answers",
        },
    ),
    "CodeInfo": SchemaDoc(
        "Number and notation (số và ký hiệu) of a document.",
        {"number": "7816", "notation": "VPCP-TTĐT"},
    ),
    "DocumentType": SchemaDoc("Type of document: code and name.", {"type": 1, "name": "Công văn"}),
    "Promulgation": SchemaDoc(
        "Place and date of issue.",
        {"place": "Hà Nội", "date": "2026-11-25"},
        {"date": "ISO calendar date YYYY-MM-DD, nothing else"},
    ),
    "SignerInfo": SchemaDoc(
        "The competent signer as printed on the document.",
        _ENVELOPE_EXAMPLE["signer"],
        {"competence": "authority of signing, e.g. KT. Bộ trưởng, TL., TM."},
    ),
    "Business": SchemaDoc(
        "What this send does to an earlier document.",
        {"type": "replace", "refers_to": DOCUMENT_ID, "reason": "Sai số hiệu văn bản"},
        {
            "type": "new (default), revoke, update or replace",
            "refers_to": "id of the earlier document (revoke, update, replace)",
            "reason": "why (required for revoke, update, replace)",
        },
    ),
    "DocumentSend": SchemaDoc(
        "The multipart/form-data body of a send: the envelope (JSON), the main PDF signed "
        "by the competent person and sealed by the agency, and attachments.",
        {"envelope": _ENVELOPE_EXAMPLE, "main": "(PDF bytes)", "attachment": ["(bytes)"]},
        {
            "envelope": "JSON, Content-Type application/json",
            "main": "the signed and sealed PDF (Content-Type application/pdf)",
            "attachment": "appendices, 0..n, each a part named attachment",
        },
    ),
    "PdfSign": SchemaDoc(
        "The multipart/form-data body of a signing request.",
        {"file": "(PDF bytes)", "as": "seal"},
        {
            "file": "the PDF to sign (Content-Type application/pdf)",
            "as": "signer: the calling person's own key (leaders); seal: the agency's seal "
            "(clerks and systems)",
        },
    ),
    "DocumentOut": SchemaDoc(
        "A document as the caller may see it: a recipient sees its own delivery only.",
        _DOCUMENT,
        {
            "id": "the node's id of the document (UUIDv7); its first 8+ characters are a "
            "short id (GET /api/v1/documents/lookup)",
            "message_id": "the sender's idempotency key (generated when none was given)",
            "business_id": "the id people quote: sender,yyyy/mm/dd,number/notation",
            "envelope": "the envelope as accepted, with its defaults filled in",
            "content_withheld": _WITHHELD,
            "created_at": _TIME,
        },
    ),
    "FileOut": SchemaDoc(
        "One file of a document.",
        _FILE,
        {
            "role": "main or attachment",
            "size": "bytes",
            "sha256": "hex SHA-256 of the bytes; the download's ETag",
        },
    ),
    "SignatureOut": SchemaDoc(
        "One PDF signature as the node validated it when the document arrived.",
        _SIGNATURE,
        {
            "role": "signer (the competent person), seal (the agency) or timestamp",
            "subject": "the signing certificate's subject",
            "agency_code": "agency named in the certificate, if any",
            "valid": "cryptographically intact and covering the document",
            "trusted": "the certificate chains to a trust root of the node",
            "revocation": "good, revoked, unknown or not_checked",
            "signed_at": _TIME,
            "timestamp": "time of its RFC 3161 timestamp, if any (" + _TIME + ")",
            "indication": "ok, or the failure code (docs/api.md, signature indications)",
        },
    ),
    "RecipientOut": SchemaDoc(
        "One recipient agency's delivery of a document.",
        _RECIPIENT,
        {
            "addressed_as": "as the sender wrote it (a code or group:<name>)",
            "transport": "queued, forwarded, delivered or failed",
            "status": "the last status the recipient reported (01 received ... 16), or null",
            "incoming_number": "số đến, given with status 03",
            "flag": "set when something is wrong, e.g. stored_file_corrupt",
            "overdue": _OVERDUE,
            "reason": "why the delivery failed (transport failed) or why its last attempt did "
            "(still queued); null once delivered",
            "updated_at": _TIME,
            "business_state": _BUSINESS_STATE,
            "superseded_by": _SUPERSEDED_BY,
            "node": "the recipient's node once the delivery is routed (this node's id for a "
            "local recipient); null before",
            "waiting_for": "the peer node a transfer carrying this delivery waits for while "
            "that node cannot be reached; null otherwise",
        },
    ),
    "InboxItem": SchemaDoc(
        "One document delivered to the caller's agency.",
        _INBOX_ITEM,
        {
            "status": "the agency's last status for it (01 received ... 16)",
            "incoming_number": "số đến, given with status 03",
            "content_withheld": _WITHHELD,
            "delivered_at": _TIME,
            "overdue": _OVERDUE,
            "business_state": _BUSINESS_STATE,
            "superseded_by": _SUPERSEDED_BY,
        },
    ),
    "InboxPage": SchemaDoc(
        "A page of the inbox, newest first.",
        {"items": [_INBOX_ITEM], "next_cursor": "WyIwMWEyMTUyOS1lOTY4Il0"},
        {"next_cursor": "pass as ?cursor= for the next page; null on the last page"},
    ),
    "OutboxItem": SchemaDoc(
        "One document the caller's agency sent, with counts per recipient state.",
        _OUTBOX_ITEM,
        {
            "recipients": "number of recipient agencies",
            "transport": "recipients per transport state (queued, forwarded, delivered, failed)",
            "status": "recipients per last reported status code",
            "business_state": "recipients for whom the document is recalled, updated or "
            "replaced (only states that occur)",
            "failed": "the recipients the node gave up on (transport failed), with the reason",
            "waiting": "recipients on other nodes whose transfer waits for a peer that cannot "
            "be reached (waiting for node X)",
            "content_withheld": _WITHHELD,
            "created_at": _TIME,
            "overdue": "true when some recipient did not answer by its due time",
        },
    ),
    "OverdueItem": SchemaDoc(
        "A delivery not answered (02 or 03) by its legal due time.",
        _OVERDUE_ITEM,
        {
            "recipient_id": "the agency that had to answer",
            "side": "recipient or sender: the caller's agency's side; null for admins and "
            "auditors (node-wide)",
            "content_withheld": _WITHHELD,
            "status": "the recipient's last status (01 received ... 16)",
            "answered": "whether the recipient has answered since (late)",
            "delivered_at": _TIME,
            "due_at": "when the answer was due (" + _TIME + ")",
            "overdue_at": "when the node found it overdue (" + _TIME + ")",
        },
    ),
    "OverduePage": SchemaDoc(
        "A page of overdue deliveries, latest due first.",
        {"items": [_OVERDUE_ITEM], "next_cursor": None},
        {"next_cursor": "pass as ?cursor= for the next page; null on the last page"},
    ),
    "AgencyStats": SchemaDoc(
        "One agency's figures over the period asked (Vietnam days), as the dashboard and the "
        "daily report show them.",
        _AGENCY_STATS,
        {
            "node_id": "the node hosting the agency",
            "province": "the province-level agency it belongs to (null: none)",
            "sent": "documents it sent",
            "received": "deliveries to it that reached its inbox (01)",
            "accepted": "its 03 (received)",
            "returned": "its 02 (returned)",
            "overdue": "deliveries to it not answered by their due time",
            "failed": "deliveries of its documents given up on",
            "signature_refusals": "its sends refused for their PDF's signatures",
            "median_to_01_s": "median seconds from its send to each recipient's 01 (null: none)",
            "p90_to_01_s": "90th percentile (nearest rank) of the same",
            "median_to_03_s": "median seconds from a delivery to it to its 03 (null: none)",
            "p90_to_03_s": "90th percentile (nearest rank) of the same",
        },
    ),
    "AgencyStatsPage": SchemaDoc(
        "Every agency's row the caller may read (an agency's own people: its row only).",
        {"items": [_AGENCY_STATS]},
    ),
    "AlertOut": SchemaDoc(
        "An early-warning alert: raised once when its rule first finds the condition, resolved "
        "when the condition is gone, acknowledged by an operator.",
        _ALERT,
        {
            "id": "the alert's id",
            "key": "`rule:subject`: one open alert per key at a time",
            "rule": "node_silent, due_soon, overdue_urgent, queue_age, certificate_expiring, "
            "checkpoint_uncosigned or witness_fork",
            "subject": "what the rule found it about: a node, an agency, a job kind, a key",
            "severity": "warning or critical",
            "state": "open, acknowledged or resolved",
            "title": "what happened, in Vietnamese",
            "title_en": "the same, in English",
            "detail": "the rule's figures (counts, oldest due time, last exchange, ...)",
            "raised_at": _TIME,
            "resolved_at": "when the condition was last found gone (null: still there)",
            "acknowledged_at": "when an operator acknowledged it (null: not yet)",
            "acknowledged_by": "the principal id of that operator",
            "note": "the operator's note",
        },
    ),
    "AlertPage": SchemaDoc("Alerts, newest first.", {"items": [_ALERT]}),
    "AlertAcknowledge": SchemaDoc(
        "An operator acknowledges an open alert (the body may be omitted).",
        {"note": "Đã liên hệ Sở Nội vụ Hà Nội"},
        {"note": "what the operator did or will do (at most 2,000 characters)"},
    ),
    "FailedRecipient": SchemaDoc(
        "A recipient the node gave up delivering to; an operator may re-queue it.",
        {
            "agency_id": H26,
            "reason": "no route to node 'node-hanoi'",
            "attempts": 10,
            "failed_at": AT,
        },
        {
            "reason": "the last attempt's error",
            "attempts": "attempts made before giving up",
            "failed_at": _TIME,
        },
    ),
    "WaitingRecipient": SchemaDoc(
        "A recipient on another node whose transfer waits for a peer that cannot be reached.",
        {"agency_id": H41, "node": "nghean", "waiting_for": "hub"},
        {
            "node": "the recipient's node",
            "waiting_for": "the peer (next hop) the transfer waits for",
        },
    ),
    "OutboxPage": SchemaDoc(
        "A page of the outbox, newest first.",
        {"items": [_OUTBOX_ITEM], "next_cursor": None},
        {"next_cursor": "pass as ?cursor= for the next page; null on the last page"},
    ),
    "TraceItem": SchemaDoc(
        "One event in a document's life, from the audit log.",
        _TRACE_ITEM,
        {
            "event": "source:subject:action, e.g. intake:document:accepted",
            "detail": "the event's data (ids, hashes, attempts); never another agency's",
            "audit_index": "index of the entry in the node's RFC 6962 audit log",
            "at": _TIME,
        },
    ),
    "TracePage": SchemaDoc("A document's events, in time order.", {"items": [_TRACE_ITEM]}),
    "DocumentRef": SchemaDoc(
        "A document a short id or a business id names.",
        {
            "id": DOCUMENT_ID,
            "business_id": BUSINESS_ID,
            "sender_id": G22,
            "subject": SUBJECT,
            "created_at": AT,
        },
        {"created_at": _TIME},
    ),
    "DocumentRefList": SchemaDoc(
        "The visible documents a reference names (oldest first); empty when none.",
        {
            "items": [
                {
                    "id": DOCUMENT_ID,
                    "business_id": BUSINESS_ID,
                    "sender_id": G22,
                    "subject": SUBJECT,
                    "created_at": AT,
                }
            ]
        },
    ),
    "StatusIn": SchemaDoc(
        "A status to report on a document. As recipient: 02 (refused, with a note), 03 "
        "(registered, with incoming_number), 04 (assigned), 05 (in progress), 06 (done), 15 "
        "(revoke acknowledged), 16 (revoke refused). As sender: 13 (recall).",
        {"code": "03", "incoming_number": "125", "note": "Đã vào sổ công văn đến"},
        {
            "code": "two-digit status code (docs/api.md, Statuses)",
            "note": "free text; required for 02 (the reason)",
            "incoming_number": "số đến, required with 03",
            "recipients": "for a recall (13): which recipient agencies; default all",
        },
    ),
    "ReceiptOut": SchemaDoc(
        "A signed receipt: a status one agency sent another about a document.",
        _RECEIPT,
        {
            "signed": "the receipt as a JWS (compact) signed by the node; its `kid` names a "
            "key of the node's /.well-known/jwks.json; null when it carries a note the caller "
            "is not cleared for",
            "content_withheld": "true when the note reads [withheld] (the caller is not "
            "cleared for the document's classification)",
            "created_at": _TIME,
        },
    ),
    "StatusOut": SchemaDoc(
        "The receipt a status created (the first, when a recall made several).",
        {**_RECEIPT, "receipts": [_RECEIPT]},
        {"created_at": _TIME},
    ),
    "ReceiptList": SchemaDoc("Receipts of a document.", {"items": [_RECEIPT]}),
    "AgencyOut": SchemaDoc(
        "An agency of the directory.",
        _AGENCY,
        {
            "id": "agency code (mã định danh), e.g. 000.00.00.G22",
            "kind": "party, state, front, social or other",
            "node_id": "the node that hosts the agency's mailbox",
            "status": "active or retired",
            "successor_id": "for a retired agency: who receives its mail",
            "encryption_key": "X25519 public key (PEM): classified files are wrapped for it",
        },
    ),
    "AgencyPage": SchemaDoc(
        "A page of the directory, by code.",
        {"items": [_AGENCY], "next_cursor": "WyIwMDAuMDAuMDAuQTAxIl0"},
        {"next_cursor": "pass as ?cursor= for the next page; null on the last page"},
    ),
    "AgencyCreate": SchemaDoc(
        "A new agency (admin).",
        {"id": "003.00.41.H41", "name": "UBND xã Hưng Nguyên", "kind": "state", "parent_id": H41},
        {"parent_id": "code of the parent agency, if any"},
    ),
    "AgencyPatch": SchemaDoc(
        "Changes to an agency (admin); absent fields are left as they are.",
        {"status": "retired", "successor_id": H41},
        {"successor_id": "who receives a retired agency's mail"},
    ),
    "GroupOut": SchemaDoc(
        "A named group of recipients: write `group:<name>` as a recipient.",
        _GROUP,
        {**_GROUP_FIELDS, "description": "free text (the demo's groups: their title)"},
    ),
    "GroupCreate": SchemaDoc(
        "A new recipient group (admin): every member an active agency of the directory.",
        {"name": "communes", "title": "Xã, phường, đặc khu", "members": ["001.00.41.H41"]},
        {
            "name": _GROUP_FIELDS["name"],
            "members": "agency codes of active agencies (at most 10,000); duplicates collapse",
        },
    ),
    "GroupPatch": SchemaDoc(
        "Changes to a group (admin); absent fields are left as they are. `members` replaces "
        "the list; `add` and `remove` change it instead (not with `members`).",
        {"add": ["003.00.41.H41"], "remove": ["002.00.41.H41"]},
        {
            "add": "codes to add; one already a member changes nothing",
            "remove": "codes to remove; one not a member changes nothing",
        },
    ),
    "GroupList": SchemaDoc("Every recipient group.", {"items": [_GROUP]}),
    "TokenIssue": SchemaDoc(
        "A person's sign-in (form-encoded).",
        {"username": "vanthu.vpcp", "password": "********"},
    ),
    "TokenOut": SchemaDoc(
        "A bearer token: send it as `Authorization: Bearer <access_token>`.",
        {"access_token": "dx_3J9...", "token_type": "bearer", "expires_in": 28800},
        {"expires_in": "seconds until the token expires"},
    ),
    "MeOut": SchemaDoc(
        "Who the bearer token belongs to.",
        {
            "id": "01a21528-4f03-7057-afba-35cac2ac08b3",
            "kind": "clerk",
            "agency_id": G22,
            "clearance": "confidential",
            "username": "vanthu.vpcp",
        },
        {
            "kind": "clerk, leader, system, auditor or admin",
            "agency_id": "the agency the principal acts for (null for auditors and admins)",
            "clearance": "highest classification the principal may read",
        },
    ),
    "Health": SchemaDoc(
        "The process is alive.",
        {"status": "ok", "version": "0.1.0"},
    ),
    "Readiness": SchemaDoc(
        "Whether the node can serve: each dependency's check.",
        {"status": "ready", "checks": {"database": "ok", "blob_store": "ok"}},
        {
            "checks": "ok, or the name of the error the check met",
            "directory": "the federation directory in force (a federated node only; a stale "
            "one does not make the node unready: it works on it until a newer one comes)",
        },
    ),
    "DirectoryStatus": SchemaDoc(
        "The version of the network's signed directory this node works on.",
        {"version": 7, "issued_at": "2026-11-26T06:00:00Z", "age_seconds": 95.2, "stale": False},
        {
            "version": "the directory's version",
            "issued_at": "when the hub signed it (" + _TIME + ")",
            "age_seconds": "seconds since it was issued",
            "stale": "older than DOCEX_FEDERATION__MAX_AGE_SECONDS",
        },
    ),
    "Jwks": SchemaDoc(
        "A JWK Set (RFC 7517): the node's public signing keys.",
        {
            "keys": [
                {
                    "kty": "EC",
                    "crv": "P-256",
                    "x": "USof...",
                    "y": "HDE0...",
                    "kid": "yxvDaqIPP0hc_ypmFb5L9KS-rv8T5U5X0SuuSYPePho",
                    "use": "sig",
                    "alg": "ES256",
                }
            ]
        },
    ),
    "NodeInfo": SchemaDoc(
        "This node's identity and public keys.",
        {"node_id": "node-vpcp", "version": "0.1.0", "jwks": {"keys": []}},
    ),
    "CosignatureOut": SchemaDoc(
        "A witness's cosignature of a checkpoint (c2sp.org/tlog-cosignature).",
        {
            "name": "witness.example.gov.vn",
            "key_id": "5c2b1a3d",
            "timestamp": 1795651200,
            "signature": "— witness.example.gov.vn XCsaPQAAAABq...",
        },
        {"name": "the witness's name, as in its vkey"},
    ),
    "CheckpointOut": SchemaDoc(
        "A signed tree head of the audit log: a C2SP checkpoint in the signed-note format.",
        {
            "origin": "docex.node-hub/audit",
            "tree_size": 1024,
            "root_hash": "3q2+7w==",
            "signed": "docex.node-hub/audit\n1024\n3q2+7w==\n\n— docex.node-hub/audit ...",
            "cosignatures": [],
            "log_key": "docex.node-hub/audit+1a2b3c4d+AkVa...",
            "created_at": "2026-11-26T01:00:00Z",
        },
        {
            "origin": "the log's name, first line of the checkpoint",
            "tree_size": "number of entries the checkpoint covers",
            "root_hash": "base64 Merkle tree hash (RFC 9162) of those entries",
            "signed": "the whole signed note, as text: verify it with `log_key`",
            "created_at": _TIME,
        },
    ),
    "EventOut": SchemaDoc(
        "One audit event (source:subject:action) as recorded.",
        {
            "id": 42,
            "at": "2026-11-26T01:00:00Z",
            "event": "documents:document:accepted",
            "actor_id": "01a21529-e968-7a3e-9b1c-2f4d5e6f7a8b",
            "agency_id": G22,
            "document_id": DOCUMENT_ID,
            "detail": {},
        },
        {"at": _TIME, "detail": "what the event records, by name (docs/audit-log.md)"},
    ),
    "EntryOut": SchemaDoc(
        "One entry of the audit log: its position, leaf and event.",
        {"index": 7, "leaf_hash": "base64", "leaf": "base64", "event": {}},
    ),
    "EntryPage": SchemaDoc(
        "A page of audit log entries.",
        {"tree_size": 1024, "items": [], "next": 1000},
    ),
    "InclusionOut": SchemaDoc(
        "An RFC 9162 inclusion proof.",
        {"leaf_index": 7, "tree_size": 1024, "leaf_hash": "base64", "proof": ["base64"]},
        {"proof": "base64 hashes, from the leaf's sibling up"},
    ),
    "ConsistencyOut": SchemaDoc(
        "An RFC 9162 consistency proof between two sizes of the log.",
        {"first": 512, "second": 1024, "proof": ["base64"]},
        {"proof": "base64 hashes"},
    ),
    "SearchItem": SchemaDoc(
        "An audit event found by a search, with its log position once integrated.",
        {"index": 7, "leaf_hash": "base64", "event": {}},
    ),
    "SearchPage": SchemaDoc(
        "A page of audit search results.",
        {"items": [], "next_cursor": None},
    ),
    "CosignatureIn": SchemaDoc(
        "A witness's cosignature of a checkpoint this node served.",
        {"tree_size": 1024, "signature": "— witness.example.gov.vn XCsa...", "vkey": "..."},
    ),
    "ForkIn": SchemaDoc(
        "Two views of the log that cannot both be true, as a witness saw them.",
        {"reason": "consistency proof failed", "seen": "checkpoint text", "cosigned": None},
    ),
    "PeerForkIn": SchemaDoc(
        "A peer node witnessing this log saw it fork; the checkpoint it cosigned is evidence.",
        {
            "reason": "same size 73, different root",
            "seen": "checkpoint text",
            "cosigned": "hub/audit\n73\n3q2+7w==\n\n— hub/audit ...\n— province-a/witness ...\n",
            "vkey": "province-a/witness+1a2b3c4d+BKx...",
        },
    ),
    "WebhookCreate": SchemaDoc(
        "A webhook endpoint to register for your agency (system clients).",
        {"url": "https://dms.example.gov.vn/hooks/docex", "events": ["document.delivered"]},
        {
            "url": "http(s) URL on a public address (unless the operator allows private ones)",
            "events": "event types to receive (docs/api.md, Webhooks); null or absent: all",
        },
    ),
    "WebhookOut": SchemaDoc(
        "A registered webhook endpoint (never with its secret).",
        _WEBHOOK,
        {
            "agency_id": "the agency whose events it receives",
            "events": "the event types it receives; null: all of them",
            "enabled": "false: its events are dropped until it is enabled again",
            "created_at": _TIME,
        },
    ),
    "WebhookCreated": SchemaDoc(
        "The endpoint just registered, with its signing secret: shown only in this answer.",
        {**_WEBHOOK, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
        {
            "secret": "Standard Webhooks secret (whsec_ + base64): verify every event with it; "
            "it is never shown again",
            "created_at": _TIME,
        },
    ),
    "WebhookPatch": SchemaDoc(
        "Disable or enable a webhook endpoint.",
        {"enabled": False},
    ),
    "WebhookPage": SchemaDoc(
        "A page of webhook endpoints.",
        {"items": [_WEBHOOK], "next_cursor": None},
        {"next_cursor": "pass as ?cursor= for the next page; null on the last page"},
    ),
    "ForkOut": SchemaDoc(
        "The fork report was recorded as an audit event.",
        {"recorded": True, "event_id": 43},
    ),
    "QueuedDelivery": SchemaDoc(
        "A delivery not made: failed for good, or waiting in the queue (the operator's view; "
        "no subject, an operator is not a party to the document).",
        _QUEUED_DELIVERY,
        {
            "id": "the delivery's id (retry it with POST /admin/deliveries/{id}/retry)",
            "recipient_id": "the recipient agency",
            "addressed_as": "as the sender wrote it (a code or group:<name>)",
            "urgency": "the document's urgency: higher goes first",
            "transport": "failed (given up) or queued (waiting)",
            "attempts": "attempts made in this round (a re-queue starts a new round)",
            "last_error": "why the last attempt failed; null if none has",
            "next_attempt_at": "when a queued delivery is next tried (" + _TIME + "); null "
            "when failed",
            "leased_by": "the worker holding it right now, or null",
            "created_at": _TIME,
            "updated_at": _TIME,
        },
    ),
    "DeliveryRetryIn": SchemaDoc(
        "Re-queue a failed delivery: `{}`, or a note saying why.",
        {"note": "the peer node is back online"},
        {"note": "why, for the audit log (at most 500 characters)"},
    ),
    "TransferReceipt": SchemaDoc(
        "A peer node's transfer accepted (201), or accepted before (200, the same receipt): "
        "the receiving node's signed transport receipt (docs/federation.md).",
        {"transfer_id": DOCUMENT_ID, "receipt": JWS},
        {
            "transfer_id": "the transfer's id (Docex-Transfer-Id)",
            "receipt": "JWS (ES256, typ docex-transfer-receipt+jws) by the receiving node over "
            "the transfer id, kind, both nodes, the body digest and each part's SHA-256",
        },
    ),
    "QueuedDeliveryPage": SchemaDoc(
        "A page of deliveries failed or waiting, oldest first.",
        {"items": [_QUEUED_DELIVERY], "next_cursor": None},
        {"next_cursor": "pass as ?cursor= for the next page; null on the last page"},
    ),
}


# Query, path and header parameters, by (name, where): a description and an example.
PARAMETER_DOCS: dict[tuple[str, str], tuple[str, Any]] = {
    ("q", "query"): ("part of an agency's code or name", "Nghệ An"),
    ("parent", "query"): ("only the agencies directly under this one", H41),
    ("limit", "query"): ("page size, 1 to 500", 50),
    ("cursor", "query"): (
        "the `next_cursor` of the previous page, as given (opaque; a made-up one is 400 "
        "invalid_cursor)",
        "WyIwMWEyMTUyOS1lOTY4Il0",
    ),
    ("agency_id", "path"): ("agency code", G22),
    ("webhook_id", "path"): ("a webhook endpoint's id", "01a21530-1b2c-7d3e-8f40-5a6b7c8d9e0f"),
    ("ref", "query"): (
        "a short id (the first 8 or more characters of a document id) or a business id",
        "01a21529",
    ),
    ("document_id", "path"): ("the document's id", DOCUMENT_ID),
    ("file_id", "path"): ("the file's id (`files[].id` of the document)", MAIN_FILE_ID),
    ("Range", "header"): (
        "one byte range, to resume a cut download: `bytes=<first>-` or `bytes=<first>-<last>`",
        "bytes=1048576-",
    ),
    ("If-Range", "header"): (
        "the ETag the first part came with: the range is served only if the file is still "
        "that one, else the whole file",
        '"63ea54a9c6f53d6b55a6929baad10b16533b507e77ea1e362fe00ece2c65e06e"',
    ),
    ("Idempotency-Key", "header"): (
        "the client's id for this status post (letters, digits, ._:@/+-; at most 200): a retry "
        "with the same key and body answers 200 with the original receipt, the same key with "
        "another body 409 idempotency_key_conflict",
        "01a21529-f572-7201-9522-89ebc060594c",
    ),
    ("status", "query"): ("only deliveries whose last status is this code", "01"),
    ("urgency", "query"): ("only documents of this urgency", "urgent"),
    ("sender", "query"): ("only documents from this agency (its code)", G22),
    ("since", "query"): ("delivered at or after this time (RFC 3339)", "2026-11-26T00:00:00+07:00"),
    ("until", "query"): ("delivered before this time (RFC 3339)", "2026-11-27T00:00:00+07:00"),
    ("name", "path"): ("root or issuing", "issuing"),
    ("group_name", "path"): ("the group's name (as in `group:<name>`)", "provinces"),
    ("size", "query"): ("the checkpoint of this tree size (default: the latest)", 1024),
    ("start", "query"): ("first log position of the page", 0),
    ("end", "query"): ("one past the last position (at most 1000 entries a page)", 1000),
    ("index", "query"): ("log position of the entry", 7),
    ("tree_size", "query"): ("size of the tree the proof is for (a checkpoint's)", 1024),
    ("first", "query"): ("the smaller tree size", 512),
    ("second", "query"): ("the larger tree size", 1024),
    ("document", "query"): ("only events about this document id", DOCUMENT_ID),
    ("agency", "query"): ("only events about this agency", G22),
    ("group", "query"): ("only the agencies of this group (its name)", "provinces"),
    ("province", "query"): ("only the agencies of this province (its agency code)", H41),
    ("principal", "query"): ("only events by this principal id", "01a21529-e968-7a3e-9b1c"),
    ("event", "query"): (
        "only this event name (source:subject:action)",
        "routing:delivery:delivered",
    ),
    ("from", "query"): ("events at or after this time (RFC 3339)", "2026-11-26T00:00:00Z"),
    ("to", "query"): ("events before this time (RFC 3339)", "2026-11-27T00:00:00Z"),
    ("answered", "query"): (
        "true: only those answered since (late); false: only those still unanswered",
        False,
    ),
    ("transport", "query"): (
        "failed (given up) or queued (waiting); both when absent",
        "failed",
    ),
    ("state", "query"): ("only alerts in this state: open, acknowledged or resolved", "open"),
    ("alert_id", "path"): ("the alert's id", "01a2152a-0c1d-7e2f-8a3b-4c5d6e7f8091"),
    ("date", "query"): ("the Vietnam day, YYYY-MM-DD (default: yesterday)", "2026-11-25"),
    ("format", "query"): ("xlsx or pdf", "xlsx"),
    ("delivery_id", "path"): ("the delivery's id", "01a21529-e96a-7375-a7d6-fbd27c1154df"),
    ("recipient_id", "path"): ("the recipient agency's code", "000.00.00.H41"),
    ("receipt_id", "path"): (
        "the receipt's id (`items[].id` of the document's receipts)",
        "01a21529-f572-7201-9522-89ebc060594c",
    ),
}

# Response headers worth knowing, by operation id and status.
_RETRY_AFTER = ("seconds to wait before trying again", "5")
RESPONSE_HEADERS: dict[tuple[str, str], dict[str, tuple[str, str]]] = {
    ("documents_send", "201"): {
        "Location": ("the new document", f"/api/v1/documents/{DOCUMENT_ID}")
    },
    ("documents_send", "200"): {"Location": ("the document", f"/api/v1/documents/{DOCUMENT_ID}")},
    ("edxml_send", "201"): {
        "Location": ("the new document (a document package)", f"/api/v1/documents/{DOCUMENT_ID}")
    },
    ("files_download", "200"): {
        "ETag": ("the file's SHA-256, quoted", '"63ea54a9c6f5..."'),
        "Accept-Ranges": ("a download can be resumed by byte range", "bytes"),
        "Content-Disposition": (
            "RFC 6266, the name in UTF-8 too",
            "attachment; filename=\"cong-van.pdf\"; filename*=UTF-8''cong-van.pdf",
        ),
    },
    ("files_download", "206"): {
        "ETag": ("the file's SHA-256, quoted", '"63ea54a9c6f5..."'),
        "Content-Range": ("the range sent, and the file's size", "bytes 1048576-2097151/2097152"),
    },
    ("files_download", "416"): {
        "Content-Range": ("the file's size", "bytes */2097152"),
    },
    ("files_download_sealed", "200"): {
        "X-Docex-Key-Wrap": ("base64: the file key wrapped for the agency's key", "AAEC..."),
        "X-Docex-Classification": ("the file's classification", "secret"),
        "X-Docex-Sha256": ("SHA-256 of the plaintext", "63ea54a9c6f5..."),
        "X-Docex-Size": ("size of the plaintext, bytes", "51630"),
    },
    ("*", "429"): {"Retry-After": _RETRY_AFTER},
    ("*", "503"): {"Retry-After": _RETRY_AFTER},
}
