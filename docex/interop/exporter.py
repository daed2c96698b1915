"""docex → edXML (QCVN 102:2016/BTTTT): :func:`document_to_edxml`, :func:`status_to_edxml`.

The output is laid out as the national hub's own samples are, because the hub compares more
than the XML infoset: the root ``<edXML xmlns="…">`` with the default namespace, everything
inside ``edXMLEnvelope`` written with the ``edXML:`` prefix (declared on the envelope), the
``AttachmentEncoded`` part unprefixed and its ``edXML:ContentTransferEncoded`` declaring the
prefix again. Elements come in the samples' order; those kept in ``extensions`` go back to their
place. Dates are ``yyyy/MM/dd``, timestamps ``yyyy/MM/dd HH:mm:ss`` in Vietnam time.

What :func:`~docex.interop.importer.parse_package` reads from this output equals the package
written (the round trip the tests check over every sample). Not written: an XMLDSig block (a
signature covers bytes, and these are new bytes), docex's ``message_id`` and its classification:
edXML has no field for either, so a classified document is refused (``edxml_classified``) rather
than sent unmarked. Attachments are base64-encoded from their files in chunks (``write_document``
streams; ``document_to_edxml`` returns bytes).
"""

from __future__ import annotations

import base64
import dataclasses
import io
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any, BinaryIO

from docex.agencies.codes import is_valid_code
from docex.config import Classification
from docex.documents.envelope import URGENCY_PRIORITY, Envelope
from docex.interop.errors import EdxmlInvalid
from docex.interop.importer import TIMED_FLASH
from docex.interop.packages import (
    NAMESPACE,
    DocumentPackage,
    Extensions,
    PackageFile,
    ResponseFor,
    StaffInfo,
    StatusPackage,
    TraceHeader,
)
from docex.kit.clock import VIETNAM_TZ
from docex.kit.text import has_control_chars
from docex.routing.statuses import LABELS

PREFIX = "edXML"
_BASE64_CHUNK = 3 * 64 * 1024
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_BUSINESS_CODES = {"new": "0", "revoke": "1", "update": "2", "replace": "3"}

_ORGAN = (
    "OrganId",
    "OrganizationInCharge",
    "OrganName",
    "OrganAdd",
    "Email",
    "Telephone",
    "Fax",
    "Website",
)
# Children in the samples' order; what is not listed follows, in the order it was read.
_ORDER: dict[str, tuple[str, ...]] = {
    "From": _ORGAN,
    "To": _ORGAN,
    "Code": ("CodeNumber", "CodeNotation"),
    "PromulgationInfo": ("Place", "PromulgationDate"),
    "DocumentType": ("Type", "TypeDetail", "TypeName"),
    "SignerInfo": ("Competence", "Position", "FullName"),
    "OtherInfo": (
        "Priority",
        "SphereOfPromulgation",
        "TyperNotation",
        "PromulgationAmount",
        "PageAmount",
        "Direction",
        "Appendixes",
    ),
    "TraceHeaderList": ("TraceHeader", "Bussiness"),
    "TraceHeader": ("OrganId", "Timestamp"),
    "Bussiness": (
        "DocumentId",
        "BussinessDocType",
        "BussinessDocReason",
        "Paper",
        "ReplacementInfoList",
        "BussinessDocumentInfo",
        "StaffInfo",
    ),
}
_DOCUMENT_ORDER: dict[str, tuple[str, ...]] = {
    **_ORDER,
    "MessageHeader": (
        "From",
        "To",
        "DocumentId",
        "Code",
        "PromulgationInfo",
        "DocumentType",
        "Subject",
        "Content",
        "SignerInfo",
        "DueDate",
        "OtherInfo",
        "ResponseFor",
        "SteeringType",
        "ToPlaces",
    ),
    "ResponseFor": ("OrganId", "Code", "DocumentId", "PromulgationDate"),
    "StaffInfo": ("Department", "Staff", "Email", "Mobile"),
}
_STATUS_ORDER: dict[str, tuple[str, ...]] = {
    **_ORDER,
    "MessageHeader": ("From", "ResponseFor", "StaffInfo", "StatusCode", "Description", "Timestamp"),
    "ResponseFor": ("OrganId", "Code", "PromulgationDate", "DocumentId"),
    "StaffInfo": ("Department", "Staff", "Mobile", "Email"),
}


def edxml_date(value: date) -> str:
    return f"{value:%Y/%m/%d}"


def edxml_timestamp(value: datetime) -> str:
    return value.astimezone(VIETNAM_TZ).strftime("%Y/%m/%d %H:%M:%S")


def new_document_package(
    envelope: Envelope,
    *,
    sender_id: str,
    document_id: str,
    files: Sequence[PackageFile] = (),
    sent_at: datetime,
    refers_to: str | None = None,
    response_for: Sequence[ResponseFor] = (),
    trace: Sequence[TraceHeader] | None = None,
    extensions: Extensions | None = None,
) -> DocumentPackage:
    """A package for a docex document: ``document_id`` is its business id (edXML
    ``DocumentId``), ``refers_to``/``response_for`` the edXML ids of the documents its business
    type and its reply name; the trace starts with the sender at ``sent_at`` unless given."""
    if sent_at.tzinfo is None:
        raise ValueError("sent_at must be timezone-aware")
    first = TraceHeader(sender_id, sent_at.astimezone(UTC).replace(microsecond=0))
    return DocumentPackage(
        envelope=envelope,
        sender_id=sender_id,
        document_id=document_id,
        refers_to=refers_to,
        response_for=tuple(response_for),
        trace=tuple(trace) if trace is not None else (first,),
        files=tuple(files),
        extensions=dict(extensions or {}),
    )


def with_hop(package: DocumentPackage, organ_id: str, at: datetime) -> DocumentPackage:
    """The package with one more trace entry: ``organ_id`` handled it ``at`` (whole seconds)."""
    hop = TraceHeader(organ_id, at.astimezone(UTC).replace(microsecond=0))
    return dataclasses.replace(package, trace=(*package.trace, hop))


# --- writing ----------------------------------------------------------------------------------


def _text(value: str, where: str) -> str:
    if _NOT_XML.search(value) or has_control_chars(value, multiline=True):
        raise EdxmlInvalid(
            f"<{where}> holds a character edXML cannot carry", code="edxml_unencodable_text"
        )
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _attribute(value: str, where: str) -> str:
    return _text(value, where).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


_NAME = re.compile(r"[@#]?[A-Za-z_][\w.-]*", re.ASCII)


def _is_generic(value: Any) -> bool:
    if isinstance(value, str):
        return True
    if isinstance(value, list):
        return bool(value) and all(isinstance(v, str | dict) and _is_generic(v) for v in value)
    if isinstance(value, dict):
        return all(
            isinstance(k, str)
            and _NAME.fullmatch(k) is not None
            and (isinstance(v, str) if k[0] in "@#" else _is_generic(v))
            for k, v in value.items()
        )
    return False


def _check_extensions(extensions: Extensions, allowed: tuple[str, ...]) -> None:
    for key, value in extensions.items():
        if key not in allowed or not isinstance(value, dict) or not _is_generic(value):
            raise EdxmlInvalid(
                f"extensions[{key!r}] is not a set of edXML elements under "
                f"{' or '.join(allowed)} (text, objects of elements, lists)",
                code="edxml_invalid_extensions",
            )


class _Writer:
    def __init__(self, out: BinaryIO, order: dict[str, tuple[str, ...]]) -> None:
        self.out = out
        self.order = order

    def line(self, depth: int, text: str) -> None:
        self.out.write(f"{'  ' * depth}{text}\n".encode())

    def element(self, depth: int, name: str, value: Any, *, prefix: str = PREFIX) -> None:
        qname = f"{prefix}:{name}" if prefix else name
        if isinstance(value, list):
            for item in value:
                self.element(depth, name, item, prefix=prefix)
            return
        if isinstance(value, str):
            self.line(depth, f"<{qname}>{_text(value, name)}</{qname}>")
            return
        attributes = "".join(
            f' {k[1:]}="{_attribute(v, name)}"' for k, v in value.items() if k.startswith("@")
        )
        children = [(k, v) for k, v in value.items() if not k.startswith(("@", "#"))]
        text = _text(value["#text"], name) if "#text" in value else ""
        if not children:
            self.line(depth, f"<{qname}{attributes}>{text}</{qname}>")
            return
        self.line(depth, f"<{qname}{attributes}>{text}")
        for key, item in self.ordered(name, children):
            self.element(depth + 1, key, item, prefix=prefix)
        self.line(depth, f"</{qname}>")

    def ordered(self, name: str, children: list[tuple[str, Any]]) -> Iterable[tuple[str, Any]]:
        rank = {key: i for i, key in enumerate(self.order.get(name, ()))}
        return sorted(children, key=lambda kv: rank.get(kv[0], len(rank)))


def _merge(typed: dict[str, Any], kept: Any) -> dict[str, Any]:
    """``typed`` (docex's fields) completed by what ``extensions`` kept at the same place."""
    merged = dict(typed)
    if isinstance(kept, dict):
        for key, value in kept.items():
            merged.setdefault(key, value)
    return merged


def _organ(organ_id: str, where: str) -> str:
    if not is_valid_code(organ_id):
        raise EdxmlInvalid(
            f"<{where}> {organ_id!r} is not an agency code (expand groups before export)",
            code="edxml_invalid_organ_id",
        )
    return organ_id


def _response_for(response: ResponseFor) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if response.organ_id:
        out["OrganId"] = _organ(response.organ_id, "ResponseFor/OrganId")
    if response.code:
        out["Code"] = response.code
    out["DocumentId"] = response.document_id
    if response.promulgation_date:
        out["PromulgationDate"] = edxml_date(response.promulgation_date)
    return out


def _staff(staff: StaffInfo) -> dict[str, Any]:
    pairs = {
        "Department": staff.department,
        "Staff": staff.staff,
        "Email": staff.email,
        "Mobile": staff.mobile,
    }
    return {k: v for k, v in pairs.items() if v}


def _document_header(package: DocumentPackage) -> dict[str, Any]:
    envelope = package.envelope
    kept = package.extensions.get("MessageHeader", {})
    header: dict[str, Any] = {
        "From": _merge({"OrganId": _organ(package.sender_id, "From/OrganId")}, kept.get("From"))
    }
    listed = kept.get("To", [])
    details = [d for d in (listed if isinstance(listed, list) else [listed]) if isinstance(d, dict)]
    recipients = []
    for recipient in envelope.recipients:
        found = next((d for d in details if d.get("OrganId") == recipient), None)
        if found is not None:
            details.remove(found)
        recipients.append(_merge({"OrganId": _organ(recipient, "To/OrganId")}, found))
    header["To"] = recipients
    header["DocumentId"] = package.document_id
    code: dict[str, Any] = {}
    if envelope.code:
        code["CodeNumber"] = envelope.code.number
        if envelope.code.notation:
            code["CodeNotation"] = envelope.code.notation
    header["Code"] = _merge(code, kept.get("Code"))
    info: dict[str, Any] = {}
    if envelope.promulgation:
        if envelope.promulgation.place:
            info["Place"] = envelope.promulgation.place
        info["PromulgationDate"] = edxml_date(envelope.promulgation.date)
    header["PromulgationInfo"] = _merge(info, kept.get("PromulgationInfo"))
    kind: dict[str, Any] = {}
    if envelope.document_type:
        kind["Type"] = str(envelope.document_type.type)
        if envelope.document_type.name:
            kind["TypeName"] = envelope.document_type.name
    header["DocumentType"] = _merge(kind, kept.get("DocumentType"))
    header["Subject"] = envelope.subject
    if envelope.summary:
        header["Content"] = envelope.summary
    signer: dict[str, Any] = {}
    if envelope.signer:
        signer = {
            k: v
            for k, v in (
                ("Competence", envelope.signer.competence),
                ("Position", envelope.signer.position),
                ("FullName", envelope.signer.full_name),
            )
            if v
        }
    header["SignerInfo"] = _merge(signer, kept.get("SignerInfo"))
    if envelope.due_date:
        header["DueDate"] = edxml_date(envelope.due_date)
    other_kept = kept.get("OtherInfo")
    priority = str(URGENCY_PRIORITY[envelope.urgency])
    if (
        envelope.urgency == "flash"
        and isinstance(other_kept, dict)
        and other_kept.get("Priority") == TIMED_FLASH
    ):
        priority = TIMED_FLASH
    header["OtherInfo"] = _merge({"Priority": priority}, other_kept)
    if package.response_for:
        header["ResponseFor"] = [_response_for(r) for r in package.response_for]
    header["SteeringType"] = "1" if envelope.steering else "0"
    for key, value in kept.items():
        if key not in ("To",):
            header.setdefault(key, value)
    return {k: v for k, v in header.items() if v != {}}


def _trace_list(package: DocumentPackage) -> dict[str, Any]:
    kept = package.extensions.get("TraceHeaderList", {})
    listing: dict[str, Any] = {}
    if package.trace:
        hops = []
        for hop in package.trace:
            entry: dict[str, Any] = {}
            if hop.organ_id:
                entry["OrganId"] = _organ(hop.organ_id, "TraceHeader/OrganId")
            entry["Timestamp"] = edxml_timestamp(hop.timestamp)
            hops.append(entry)
        listing["TraceHeader"] = hops
    business = package.envelope.business
    if business is not None:
        typed: dict[str, Any] = {}
        if package.refers_to:
            typed["DocumentId"] = package.refers_to
        typed["BussinessDocType"] = _BUSINESS_CODES[business.type]
        if business.reason:
            typed["BussinessDocReason"] = business.reason
        listing["Bussiness"] = _merge(typed, kept.get("Bussiness"))
    for key, value in kept.items():
        listing.setdefault(key, value)
    return listing


def write_document(package: DocumentPackage, out: BinaryIO) -> None:
    """Write ``package`` as an edXML document package to ``out``, attachments streamed."""
    if package.envelope.classification != Classification.NORMAL:
        raise EdxmlInvalid(
            f"a {package.envelope.classification.value} document cannot leave as edXML: the "
            "format has no classification marking",
            code="edxml_classified",
        )
    _check_extensions(package.extensions, ("MessageHeader", "TraceHeaderList"))
    header = _document_header(package)
    trace = _trace_list(package)
    w = _Writer(out, _DOCUMENT_ORDER)
    _open(w)
    w.line(2, f"<{PREFIX}:edXMLHeader>")
    w.element(3, "MessageHeader", header)
    if trace:
        w.element(3, "TraceHeaderList", trace)
    w.line(2, f"</{PREFIX}:edXMLHeader>")
    w.line(2, f"<{PREFIX}:edXMLBody>")
    w.line(3, f'<{PREFIX}:edXMLManifest version="1.0">')
    for file in package.files:
        reference = {"ContentId": file.content_id, "ContentType": file.content_type}
        if file.description is not None:
            reference["Description"] = file.description
        reference["AttachmentName"] = file.name
        w.element(4, "Reference", reference)
    w.line(3, f"</{PREFIX}:edXMLManifest>")
    w.line(2, f"</{PREFIX}:edXMLBody>")
    w.line(1, f"</{PREFIX}:edXMLEnvelope>")
    w.line(1, "<AttachmentEncoded>")
    for file in package.files:
        w.line(2, "<Attachment>")
        w.element(3, "ContentId", file.content_id, prefix="")
        w.element(3, "AttachmentName", file.name, prefix="")
        if file.description is not None:
            w.element(3, "Description", file.description, prefix="")
        w.element(3, "ContentType", file.content_type, prefix="")
        out.write(f'      <{PREFIX}:ContentTransferEncoded xmlns:{PREFIX}="{NAMESPACE}">'.encode())
        with file.open() as fh:
            while chunk := fh.read(_BASE64_CHUNK):
                out.write(base64.b64encode(chunk))
        out.write(f"</{PREFIX}:ContentTransferEncoded>\n".encode())
        w.line(2, "</Attachment>")
    w.line(1, "</AttachmentEncoded>")
    w.line(0, "</edXML>")


def document_to_edxml(package: DocumentPackage) -> bytes:
    """``package`` as edXML bytes (see :func:`write_document` to stream large ones)."""
    buffer = io.BytesIO()
    write_document(package, buffer)
    return buffer.getvalue()


def _open(w: _Writer) -> None:
    w.line(0, '<?xml version="1.0" encoding="UTF-8"?>')
    w.line(0, f'<edXML xmlns="{NAMESPACE}">')
    w.line(1, f'<{PREFIX}:edXMLEnvelope xmlns:{PREFIX}="{NAMESPACE}">')


def status_to_edxml(package: StatusPackage) -> bytes:
    """``package`` as an edXML status package."""
    _check_extensions(package.extensions, ("MessageHeader",))
    if package.code not in LABELS:
        raise EdxmlInvalid(
            f"{package.code!r} is not a status ({', '.join(LABELS)})", code="edxml_unknown_status"
        )
    kept = package.extensions.get("MessageHeader", {})
    header: dict[str, Any] = {
        "From": _merge({"OrganId": _organ(package.from_id, "From/OrganId")}, kept.get("From")),
        "ResponseFor": _response_for(package.response_for),
    }
    if package.staff and (staff := _staff(package.staff)):
        header["StaffInfo"] = staff
    header["StatusCode"] = package.code
    if package.note:
        header["Description"] = package.note
    header["Timestamp"] = edxml_timestamp(package.timestamp)
    for key, value in kept.items():
        header.setdefault(key, value)
    buffer = io.BytesIO()
    w = _Writer(buffer, _STATUS_ORDER)
    _open(w)
    w.line(2, f"<{PREFIX}:edXMLHeader>")
    w.element(3, "MessageHeader", header)
    w.line(2, f"</{PREFIX}:edXMLHeader>")
    w.line(1, f"</{PREFIX}:edXMLEnvelope>")
    w.line(0, "</edXML>")
    return buffer.getvalue()
