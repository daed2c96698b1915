"""edXML (QCVN 102:2016/BTTTT) → docex: :func:`parse_package`.

Pure over its input: bytes or a stream in, a :class:`DocumentPackage` or :class:`StatusPackage`
out, attachments decoded into spool files; no database, no network. The XML is read by
:mod:`docex.interop.safexml` (no DTD, bounded); this module checks that what was read is an
edXML package and maps it. Every refusal is an :class:`~docex.interop.errors.EdxmlError` with an
``edxml_*`` code; on any refusal the spool files already written are removed.

Field quirks accepted on purpose (docs/edxml.md): short organ ids (``28.22.H17``), dates
``yyyy/MM/dd`` and timestamps ``yyyy/MM/dd HH:mm:ss`` in Vietnam time (ISO 8601 too), a
``DocumentId`` whose date part is not a real date (``2014/02/30``: it is an opaque id), a
placeholder XMLDSig block (recorded, never trusted), an attachment whose declared type, name and
bytes disagree (kept as delivered, reported), stray digits before the XML declaration.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import hashlib
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

from cryptography import x509
from pydantic import ValidationError

from docex.agencies.codes import is_valid_code
from docex.documents.envelope import Envelope
from docex.documents.upload import sanitize_filename
from docex.interop.errors import EdxmlInvalid, EdxmlTooLarge
from docex.interop.packages import (
    NAMESPACE,
    XMLDSIG_NAMESPACE,
    DocumentPackage,
    EdxmlLimits,
    Extensions,
    Package,
    PackageFile,
    ResponseFor,
    StaffInfo,
    StatusPackage,
    TraceHeader,
    XmlSignature,
)
from docex.interop.safexml import Element, Readable, XmlDocument, read_xml
from docex.kit.clock import VIETNAM_TZ
from docex.kit.text import has_control_chars
from docex.routing.statuses import LABELS

Resolve = Callable[[str], "str | None"]
"""Maps an edXML ``DocumentId`` to the id of a docex document, or None when none is known."""

BUSINESS_TYPES: dict[str, Literal["new", "revoke", "update", "replace"]] = {
    "0": "new",
    "1": "revoke",
    "2": "update",
    "3": "replace",
}
PRIORITIES: dict[str, str] = {"0": "normal", "1": "urgent", "2": "very_urgent", "3": "flash"}
TIMED_FLASH = "4"  # hỏa tốc hẹn giờ: flash with a deadline docex does not carry
STEERING: dict[str, bool] = {"0": False, "1": True}
MAX_ID_CHARS = 300
_DATE_FORMATS = ("%Y/%m/%d", "%Y-%m-%d")
_TIME_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S")
_ATTACHMENT_DATA = ("edXML", "AttachmentEncoded", "Attachment", "ContentTransferEncoded")

# Where each envelope field comes from, for messages that name the element, not the field.
_ELEMENT_OF = {
    "recipients": "To/OrganId",
    "code": "Code",
    "code.number": "Code/CodeNumber",
    "code.notation": "Code/CodeNotation",
    "document_type": "DocumentType",
    "document_type.type": "DocumentType/Type",
    "document_type.name": "DocumentType/TypeName",
    "subject": "Subject",
    "summary": "Content",
    "promulgation.place": "PromulgationInfo/Place",
    "signer.competence": "SignerInfo/Competence",
    "signer.position": "SignerInfo/Position",
    "signer.full_name": "SignerInfo/FullName",
    "business.reason": "Bussiness/BussinessDocReason",
}


def parse_package(
    source: bytes | Readable,
    *,
    limits: EdxmlLimits | None = None,
    spool_dir: Path | None = None,
    resolve: Resolve | None = None,
) -> Package:
    """Read one edXML package (a document or a status) from ``source``.

    Attachments are decoded into spool files in ``spool_dir`` (the system's temporary directory
    by default) as the base64 arrives; the caller owns them (``package.discard()``). ``resolve``
    turns the edXML ids a document refers to into docex document ids for the envelope's
    ``business.refers_to`` and ``in_reply_to``; without it (offline) those stay unset and the
    edXML ids are in ``package.reference`` and ``package.response_for``.
    """
    limits = limits or EdxmlLimits()
    spools = _Spools(limits, spool_dir)
    try:
        document = read_xml(source, limits, sink_for=spools.sink_for)
        return _Reader(document, resolve).package()
    except BaseException:
        spools.discard()
        raise


# --- attachments: base64 decoded while it is parsed ------------------------------------------


class _Base64Spool:
    """Decodes base64 text into a spool file chunk by chunk, hashing it on the way."""

    def __init__(self, directory: Path | None) -> None:
        fd, name = tempfile.mkstemp(dir=directory, prefix="edxml-", suffix=".part")
        self.path = Path(name)
        self.file: BinaryIO | None = os.fdopen(fd, "wb")
        self.hash = hashlib.sha256()
        self.size = 0
        self.pending = b""
        self.padded = False
        self.finished = False

    def _bad(self, why: str) -> EdxmlInvalid:
        return EdxmlInvalid(
            f"attachment data is not valid base64: {why}", code="edxml_invalid_base64"
        )

    def write(self, text: str) -> None:
        try:
            data = "".join(text.split()).encode("ascii")
        except UnicodeEncodeError:
            raise self._bad("non-ASCII characters") from None
        if not data:
            return
        if self.padded:
            raise self._bad("data after the final padding")
        self.pending += data
        whole = len(self.pending) // 4 * 4
        if whole:
            block, self.pending = self.pending[:whole], self.pending[whole:]
            try:
                decoded = binascii.a2b_base64(block, strict_mode=True)
            except binascii.Error as exc:
                raise self._bad(str(exc)) from None
            self.padded = block.endswith(b"=")
            if self.file is None:
                raise self._bad("data after the end of the element")
            self.file.write(decoded)
            self.hash.update(decoded)
            self.size += len(decoded)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        if self.pending:
            raise self._bad(f"{len(self.pending)} characters left over (missing padding?)")
        self.finished = True

    def discard(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class _Spools:
    def __init__(self, limits: EdxmlLimits, directory: Path | None) -> None:
        self.limits = limits
        self.directory = directory
        self.spools: list[_Base64Spool] = []

    def sink_for(self, path: tuple[str, ...]) -> _Base64Spool | None:
        if path != _ATTACHMENT_DATA:
            return None
        if len(self.spools) >= self.limits.max_files:
            raise EdxmlTooLarge(
                f"more than {self.limits.max_files} attachments", code="edxml_too_many_files"
            )
        spool = _Base64Spool(self.directory)
        self.spools.append(spool)
        return spool

    def discard(self) -> None:
        for spool in self.spools:
            spool.discard()


# --- generic form: what docex keeps of elements it has no field for --------------------------


def generic(element: Element) -> Any:
    """An element as JSON: text if it has neither children nor attributes, else an object of
    ``@attribute``s, ``#text`` (mixed content) and children by name (repeated → a list)."""
    text = element.text.strip()
    if not element.children and not element.attrs:
        return text
    out: dict[str, Any] = {f"@{k}": v for k, v in element.attrs.items()}
    if text:
        out["#text"] = text
    for child in element.children:
        value = generic(child)
        if child.name not in out:
            out[child.name] = value
        elif isinstance(out[child.name], list):
            out[child.name].append(value)
        else:
            out[child.name] = [out[child.name], value]
    return out


def _missing(where: str) -> EdxmlInvalid:
    return EdxmlInvalid(f"<{where}> is required", code="edxml_missing_element")


def _invalid(where: str, why: str) -> EdxmlInvalid:
    return EdxmlInvalid(f"<{where}>: {why}", code="edxml_invalid_value")


def parse_date(text: str, where: str) -> date:
    for fmt in _DATE_FORMATS:
        with contextlib.suppress(ValueError):
            return datetime.strptime(text, fmt).date()  # noqa: DTZ007 (a date, no time of day)
    raise EdxmlInvalid(f"<{where}> {text!r} is not a date (yyyy/MM/dd)", code="edxml_invalid_date")


def parse_timestamp(text: str, where: str) -> datetime:
    """``yyyy/MM/dd HH:mm:ss`` in Vietnam time (or ISO 8601) → aware UTC."""
    moment: datetime | None = None
    for fmt in _TIME_FORMATS:
        with contextlib.suppress(ValueError):
            moment = datetime.strptime(text, fmt)  # noqa: DTZ007 (zone set just below)
            break
    if moment is None:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise EdxmlInvalid(
                f"<{where}> {text!r} is not a timestamp (yyyy/MM/dd HH:mm:ss)",
                code="edxml_invalid_date",
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=VIETNAM_TZ)
    return moment.astimezone(UTC)


class _Fields:
    """The children of one element in generic form, taken one by one; what is left over is
    what docex has no field for."""

    def __init__(self, value: Any, where: str) -> None:
        if isinstance(value, list):
            raise EdxmlInvalid(f"<{where}> appears more than once", code="edxml_duplicate_element")
        if isinstance(value, str):
            if value:
                raise _invalid(where, "holds text where elements were expected")
            value = {}
        self.values: dict[str, Any] = dict(value)
        self.where = where

    def _path(self, name: str) -> str:
        return f"{self.where}/{name}"

    def text(
        self, name: str, *, required: bool = False, max_chars: int | None = None
    ) -> str | None:
        value = self.values.pop(name, None)
        if isinstance(value, list):
            raise EdxmlInvalid(
                f"<{self._path(name)}> appears more than once", code="edxml_duplicate_element"
            )
        if isinstance(value, dict):
            raise _invalid(self._path(name), "holds elements where text was expected")
        if not value:
            if required:
                raise _missing(self._path(name))
            return None
        if max_chars is not None and len(value) > max_chars:
            raise _invalid(self._path(name), f"longer than {max_chars} characters")
        return str(value)

    def need(self, name: str, *, max_chars: int | None = None) -> str:
        value = self.text(name, required=True, max_chars=max_chars)
        if value is None:  # pragma: no cover - text(required=True) raised
            raise _missing(self._path(name))
        return value

    def date(self, name: str, *, required: bool = False) -> date | None:
        value = self.text(name, required=required)
        return parse_date(value, self._path(name)) if value is not None else None

    def timestamp(self, name: str) -> datetime:
        return parse_timestamp(self.need(name), self._path(name))

    def group(self, name: str, *, required: bool = False) -> _Fields | None:
        if name not in self.values:
            if required:
                raise _missing(self._path(name))
            return None
        return _Fields(self.values.pop(name), self._path(name))

    def need_group(self, name: str) -> _Fields:
        if name not in self.values:
            raise _missing(self._path(name))
        return _Fields(self.values.pop(name), self._path(name))

    def groups(self, name: str) -> list[_Fields]:
        value = self.values.pop(name, None)
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        return [_Fields(item, self._path(name)) for item in items]

    def rest(self) -> dict[str, Any]:
        return self.values


# --- the reader ---------------------------------------------------------------------------------


_ROOT_CHILDREN = frozenset({"edXMLEnvelope", "AttachmentEncoded"})
_ENVELOPE_CHILDREN = frozenset({"edXMLHeader", "edXMLBody"})
_HEADER_CHILDREN = frozenset({"MessageHeader", "TraceHeaderList", "Signature"})


class _Reader:
    def __init__(self, document: XmlDocument, resolve: Resolve | None) -> None:
        self.root = document.root
        self.resolve = resolve
        self.warnings = list(document.warnings)
        dropped = []
        if document.comments:
            dropped.append(f"{document.comments} comment(s)")
        if document.processing_instructions:
            dropped.append(f"{document.processing_instructions} processing instruction(s)")
        if dropped:
            self.warnings.append(f"dropped {' and '.join(dropped)}")

    # structure and hygiene of the whole tree

    def _check_tree(self) -> None:
        root = self.root
        if root.name != "edXML" or root.namespace != NAMESPACE:
            if root.namespace != NAMESPACE:
                raise EdxmlInvalid(
                    f"the root <{root.name}> is in namespace {root.namespace or 'none'!r}, "
                    f"not edXML's {NAMESPACE}",
                    code="edxml_wrong_namespace",
                )
            raise EdxmlInvalid(
                f"the root element is <{root.name}>, not <edXML>", code="edxml_not_a_package"
            )
        self._check(root, in_signature=False)

    def _check(self, element: Element, *, in_signature: bool) -> None:
        in_signature = in_signature or element.name == "Signature"
        allowed = (NAMESPACE, XMLDSIG_NAMESPACE) if in_signature else (NAMESPACE,)
        if element.namespace not in allowed:
            raise EdxmlInvalid(
                f"<{element.name}> (line {element.line}) is in namespace "
                f"{element.namespace or 'none'!r}, not edXML's {NAMESPACE}",
                code="edxml_wrong_namespace",
            )
        if element.sink is None and has_control_chars(element.text, multiline=True):
            raise EdxmlInvalid(
                f"<{element.name}> (line {element.line}) holds a control character",
                code="edxml_control_character",
            )
        if any(has_control_chars(v, multiline=True) for v in element.attrs.values()):
            raise EdxmlInvalid(
                f"an attribute of <{element.name}> (line {element.line}) holds a control character",
                code="edxml_control_character",
            )
        if element.name == "OrganId" and not in_signature:
            organ = element.text.strip()
            if organ and not is_valid_code(organ):
                raise EdxmlInvalid(
                    f"<OrganId> (line {element.line}) {organ!r} is not an agency code "
                    "(ASCII, like 000.00.00.G22 or 28.22.H17)",
                    code="edxml_invalid_organ_id",
                )
        for child in element.children:
            self._check(child, in_signature=in_signature)

    def _one(self, parent: Element, name: str, *, required: bool = True) -> Element | None:
        found = parent.find(name)
        if len(found) > 1:
            raise EdxmlInvalid(
                f"<{parent.name}/{name}> appears more than once", code="edxml_duplicate_element"
            )
        if not found:
            if required:
                raise _missing(f"{parent.name}/{name}")
            return None
        return found[0]

    def _child(self, parent: Element, name: str) -> Element:
        found = self._one(parent, name)
        if found is None:  # pragma: no cover - _one(required=True) raised
            raise _missing(f"{parent.name}/{name}")
        return found

    def _drop_unknown(self, parent: Element, known: frozenset[str]) -> None:
        for child in parent.children:
            if child.name not in known:
                self.warnings.append(
                    f"dropped <{parent.name}/{child.name}> (line {child.line}): not part of an "
                    "edXML package"
                )

    def _drop_rest(self, fields: _Fields) -> None:
        for name in fields.rest():
            self.warnings.append(f"dropped <{fields.where}/{name}>: docex has no field for it")

    def package(self) -> Package:
        self._check_tree()
        envelope = self._child(self.root, "edXMLEnvelope")
        header = self._child(envelope, "edXMLHeader")
        message = self._child(header, "MessageHeader")
        self._drop_unknown(self.root, _ROOT_CHILDREN)
        self._drop_unknown(envelope, _ENVELOPE_CHILDREN)
        self._drop_unknown(header, _HEADER_CHILDREN)
        signature = self._signature(header)
        if message.find("StatusCode"):
            return self._status(envelope, header, message, signature)
        return self._document(envelope, header, message, signature)

    # XMLDSig

    def _signature(self, header: Element) -> XmlSignature | None:
        block = self._one(header, "Signature", required=False)
        if block is None:
            return None

        def first(name: str) -> Element | None:
            return next((e for e in block.iter() if e.name == name), None)

        method = first("SignatureMethod")
        digest = first("DigestMethod")
        subject = first("X509SubjectName")
        certificate = first("X509Certificate")
        value = first("SignatureValue")
        parsed = False
        if certificate is not None:
            with contextlib.suppress(ValueError, binascii.Error):
                x509.load_der_x509_certificate(
                    base64.b64decode("".join(certificate.text.split()), validate=True)
                )
                parsed = True
        signature = XmlSignature(
            signature_method=method.attrs.get("Algorithm") if method is not None else None,
            digest_method=digest.attrs.get("Algorithm") if digest is not None else None,
            subject_name=subject.text.strip() or None if subject is not None else None,
            certificate=parsed,
            placeholder=not parsed or value is None or not value.text.strip(),
        )
        notes = ["not verified, never trusted, not carried on export"]
        if signature.placeholder:
            notes.insert(0, "placeholder values (no readable certificate)")
        if signature.signature_method and "sha1" in signature.signature_method:
            notes.insert(0, "obsolete rsa-sha1")
        self.warnings.append(f"an XMLDSig signature block is present: {'; '.join(notes)}")
        return signature

    # references

    def _response_for(self, fields: _Fields) -> ResponseFor:
        document_id = fields.need("DocumentId", max_chars=MAX_ID_CHARS)
        response = ResponseFor(
            document_id=document_id,
            organ_id=fields.text("OrganId"),
            code=fields.text("Code", max_chars=MAX_ID_CHARS),
            promulgation_date=fields.date("PromulgationDate"),
        )
        self._drop_rest(fields)
        return response

    def _staff(self, fields: _Fields) -> StaffInfo | None:
        staff = StaffInfo(
            department=fields.text("Department"),
            staff=fields.text("Staff"),
            email=fields.text("Email"),
            mobile=fields.text("Mobile"),
        )
        self._drop_rest(fields)
        return staff if staff != StaffInfo() else None

    def _resolved(self, edxml_id: str | None, what: str) -> str | None:
        if edxml_id is None or self.resolve is None:
            return None
        found = self.resolve(edxml_id)
        if found is None:
            self.warnings.append(f"{what} {edxml_id!r} names no document known here")
        return found

    # documents

    def _document(
        self,
        envelope_element: Element,
        header: Element,
        message: Element,
        signature: XmlSignature | None,
    ) -> DocumentPackage:
        m = _Fields(generic(message), "MessageHeader")
        ext: dict[str, Any] = {}
        sender = m.need_group("From")
        sender_id = sender.need("OrganId")
        if rest := sender.rest():
            ext["From"] = rest
        recipients: list[str] = []
        to_details: list[dict[str, Any]] = []
        for to in m.groups("To"):
            organ = to.need("OrganId")
            recipients.append(organ)
            if rest := to.rest():
                to_details.append({"OrganId": organ, **rest})
        if not recipients:
            raise _missing("MessageHeader/To")
        if to_details:
            ext["To"] = to_details
        document_id = m.need("DocumentId", max_chars=MAX_ID_CHARS)
        data: dict[str, Any] = {"recipients": recipients}

        if (code := m.group("Code")) is not None:
            number, notation = code.text("CodeNumber"), code.text("CodeNotation")
            if number is None and notation is not None:
                raise _missing("MessageHeader/Code/CodeNumber")
            if number is not None:
                data["code"] = {"number": number, "notation": notation or ""}
            if rest := code.rest():
                ext["Code"] = rest
        if (info := m.group("PromulgationInfo")) is not None:
            place = info.text("Place")
            day = info.date("PromulgationDate", required=place is not None)
            if day is not None:
                data["promulgation"] = {"place": place or "", "date": day}
            if rest := info.rest():
                ext["PromulgationInfo"] = rest
        if (kind := m.group("DocumentType")) is not None:
            number_text = kind.text("Type")
            name = kind.text("TypeName")
            if number_text is None and name is not None:
                raise _missing("MessageHeader/DocumentType/Type")
            if number_text is not None:
                if not number_text.isascii() or not number_text.isdigit():
                    raise _invalid("MessageHeader/DocumentType/Type", "not a number")
                data["document_type"] = {"type": int(number_text), "name": name or ""}
            if rest := kind.rest():
                ext["DocumentType"] = rest
        data["subject"] = m.text("Subject", required=True)
        if (summary := m.text("Content")) is not None:
            data["summary"] = summary
        if (signer := m.group("SignerInfo")) is not None:
            who = {
                "competence": signer.text("Competence") or "",
                "position": signer.text("Position") or "",
                "full_name": signer.text("FullName") or "",
            }
            if any(who.values()):
                data["signer"] = who
            if rest := signer.rest():
                ext["SignerInfo"] = rest
        if (due := m.date("DueDate")) is not None:
            data["due_date"] = due
        if (other := m.group("OtherInfo")) is not None:
            priority = other.text("Priority")
            if priority == TIMED_FLASH:
                data["urgency"] = "flash"
                other.values["Priority"] = priority  # kept: docex has no "timed flash"
                self.warnings.append(
                    "OtherInfo/Priority 4 (hỏa tốc hẹn giờ) is carried as flash; its "
                    "deadline is not carried"
                )
            elif priority is not None:
                if priority not in PRIORITIES:
                    raise _invalid("MessageHeader/OtherInfo/Priority", f"{priority!r} is not 0–4")
                data["urgency"] = PRIORITIES[priority]
            if rest := other.rest():
                ext["OtherInfo"] = rest
        response_for = tuple(self._response_for(r) for r in m.groups("ResponseFor"))
        if (steering := m.text("SteeringType")) is not None:
            if steering not in STEERING:
                raise _invalid("MessageHeader/SteeringType", f"{steering!r} is not 0 or 1")
            data["steering"] = STEERING[steering]
        ext.update(m.rest())
        extensions: Extensions = {"MessageHeader": ext} if ext else {}

        trace, refers_to, business = self._trace(header, extensions)
        if business is not None:
            data["business"] = business
        files = self._files(envelope_element)
        package = DocumentPackage(
            envelope=self._envelope(data),
            sender_id=sender_id,
            document_id=document_id,
            refers_to=refers_to,
            response_for=response_for,
            trace=trace,
            files=files,
            extensions=extensions,
            signature=signature,
        )
        resolved: dict[str, Any] = {}
        if package.envelope.business is not None:
            target = self._resolved(package.reference, "the business reference")
            if target is not None:
                resolved["business"] = package.envelope.business.model_copy(
                    update={"refers_to": target}
                )
        if response_for:
            answered = self._resolved(response_for[0].document_id, "ResponseFor/DocumentId")
            if answered is not None:
                resolved["in_reply_to"] = answered
        if resolved:
            envelope = self._envelope({**package.envelope.model_dump(), **resolved})
            package = dataclasses.replace(package, envelope=envelope)
        return dataclasses.replace(package, warnings=tuple(self.warnings))

    def _trace(
        self, header: Element, extensions: Extensions
    ) -> tuple[tuple[TraceHeader, ...], str | None, dict[str, Any] | None]:
        listing = self._one(header, "TraceHeaderList", required=False)
        if listing is None:
            return (), None, None
        t = _Fields(generic(listing), "TraceHeaderList")
        trace = []
        for hop in t.groups("TraceHeader"):
            trace.append(
                TraceHeader(organ_id=hop.text("OrganId"), timestamp=hop.timestamp("Timestamp"))
            )
            self._drop_rest(hop)
        refers_to = None
        business: dict[str, Any] | None = None
        ext: dict[str, Any] = {}
        if (b := t.group("Bussiness")) is not None:
            kind = b.need("BussinessDocType")
            if kind not in BUSINESS_TYPES:
                raise _invalid("TraceHeaderList/Bussiness/BussinessDocType", f"{kind!r} is not 0–3")
            business = {"type": BUSINESS_TYPES[kind]}
            if (reason := b.text("BussinessDocReason")) is not None:
                business["reason"] = reason
            refers_to = b.text("DocumentId", max_chars=MAX_ID_CHARS)
            if rest := b.rest():
                ext["Bussiness"] = rest
        ext.update(t.rest())
        if ext:
            extensions["TraceHeaderList"] = ext
        return tuple(trace), refers_to, business

    def _envelope(self, data: dict[str, Any]) -> Envelope:
        try:
            return Envelope.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"<{_ELEMENT_OF.get('.'.join(map(str, e['loc'])), '.'.join(map(str, e['loc'])))}>"
                f" {e['msg']}"
                for e in exc.errors()
            )
            raise EdxmlInvalid(
                f"does not fit a docex envelope: {problems}", code="edxml_invalid_value"
            ) from None

    def _files(self, envelope: Element) -> tuple[PackageFile, ...]:
        references: dict[str, _Fields] = {}
        body = self._one(envelope, "edXMLBody", required=False)
        manifest = None
        if body is not None:
            self._drop_unknown(body, frozenset({"edXMLManifest"}))
            manifest = self._one(body, "edXMLManifest", required=False)
        if manifest is not None:
            self._drop_unknown(manifest, frozenset({"Reference"}))
            for ref in manifest.find("Reference"):
                fields = _Fields(generic(ref), "edXMLManifest/Reference")
                content_id = fields.need("ContentId")
                if content_id in references:
                    raise EdxmlInvalid(
                        f"two manifest references with ContentId {content_id!r}",
                        code="edxml_duplicate_element",
                    )
                references[content_id] = fields
        encoded = self._one(self.root, "AttachmentEncoded", required=False)
        attachments = encoded.find("Attachment") if encoded is not None else []
        if encoded is not None:
            self._drop_unknown(encoded, frozenset({"Attachment"}))
        files: list[PackageFile] = []
        seen: set[str] = set()
        for attachment in attachments:
            files.append(self._file(attachment, references, seen))
        for content_id in references:
            if content_id not in seen:
                raise EdxmlInvalid(
                    f"the manifest lists {content_id!r} but no attachment carries it",
                    code="edxml_attachment_missing",
                )
        main = next((i for i, f in enumerate(files) if _sniff(f.path) == "pdf"), None)
        if main is not None:
            files[main] = dataclasses.replace(files[main], role="main")
        return tuple(files)

    def _file(
        self, attachment: Element, references: dict[str, _Fields], seen: set[str]
    ) -> PackageFile:
        data = self._one(attachment, "ContentTransferEncoded", required=False)
        if data is None or not isinstance(data.sink, _Base64Spool) or not data.sink.finished:
            raise _missing("AttachmentEncoded/Attachment/ContentTransferEncoded")
        spool = data.sink
        fields = _Fields(
            {k: v for k, v in generic(attachment).items() if k != "ContentTransferEncoded"},
            "AttachmentEncoded/Attachment",
        )
        content_id = fields.need("ContentId")
        if content_id in seen:
            raise EdxmlInvalid(
                f"two attachments with ContentId {content_id!r}", code="edxml_duplicate_element"
            )
        seen.add(content_id)
        reference = references.get(content_id)
        if reference is None:
            self.warnings.append(f"attachment {content_id!r} is not listed in the manifest")
            reference = _Fields({}, "edXMLManifest/Reference")
        raw_name = _agree(
            self.warnings,
            content_id,
            "name",
            fields.text("AttachmentName"),
            reference.text("AttachmentName"),
        ) or content_id.removeprefix("cid:")
        declared = _agree(
            self.warnings,
            content_id,
            "type",
            fields.text("ContentType"),
            reference.text("ContentType"),
        )
        description = _agree(
            self.warnings,
            content_id,
            "description",
            fields.text("Description"),
            reference.text("Description"),
        )
        self._drop_rest(fields)
        self._drop_rest(reference)
        name = sanitize_filename(raw_name, max_chars=200)
        if name != raw_name:
            self.warnings.append(f"attachment name {raw_name!r} stored as {name!r}")
        content_type = (declared or "application/octet-stream").split(";")[0].strip().lower()
        self._check_kind(name, content_type, _sniff(spool.path))
        return PackageFile(
            role="attachment",
            name=name,
            content_type=content_type[:100],
            content_id=content_id,
            description=description,
            size=spool.size,
            sha256=spool.hash.hexdigest(),
            path=spool.path,
        )

    def _check_kind(self, name: str, content_type: str, sniffed: str | None) -> None:
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if sniffed == "zip" and extension != "zip":
            self.warnings.append(
                f"attachment {name!r} (declared {content_type}) is a ZIP archive, not the "
                f".{extension or '?'} file its name says: the sending software wraps files in "
                "ZIP; kept as delivered, not unpacked"
            )
        elif sniffed == "pdf" and content_type != "application/pdf":
            self.warnings.append(f"attachment {name!r} is a PDF declared as {content_type}")
        elif sniffed != "pdf" and content_type == "application/pdf":
            self.warnings.append(f"attachment {name!r} is declared a PDF but is not one")

    # statuses

    def _status(
        self,
        envelope_element: Element,
        header: Element,
        message: Element,
        signature: XmlSignature | None,
    ) -> StatusPackage:
        if header.find("TraceHeaderList"):
            self.warnings.append("dropped the TraceHeaderList of a status package")
        if envelope_element.find("edXMLBody") or self.root.find("AttachmentEncoded"):
            self.warnings.append("dropped the body and attachments of a status package")
        m = _Fields(generic(message), "MessageHeader")
        ext: dict[str, Any] = {}
        sender = m.need_group("From")
        from_id = sender.need("OrganId")
        if rest := sender.rest():
            ext["From"] = rest
        answered = m.need_group("ResponseFor")
        response_for = self._response_for(answered)
        staff_fields = m.group("StaffInfo")
        staff = self._staff(staff_fields) if staff_fields is not None else None
        code = m.need("StatusCode")
        if len(code) == 1 and code.isdigit():
            code = f"0{code}"
        if code not in LABELS:
            raise EdxmlInvalid(
                f"<MessageHeader/StatusCode> {code!r} is not a status docex knows "
                f"({', '.join(LABELS)})",
                code="edxml_unknown_status",
            )
        note = m.text("Description", max_chars=2000)
        timestamp = m.timestamp("Timestamp")
        ext.update(m.rest())
        return StatusPackage(
            code=code,
            from_id=from_id,
            response_for=response_for,
            timestamp=timestamp,
            note=note,
            staff=staff,
            extensions={"MessageHeader": ext} if ext else {},
            signature=signature,
            warnings=tuple(self.warnings),
        )


def _agree(
    warnings: list[str], content_id: str, what: str, attachment: str | None, manifest: str | None
) -> str | None:
    if attachment is not None and manifest is not None and attachment != manifest:
        warnings.append(
            f"attachment {content_id!r}: its {what} {attachment!r} differs from the manifest's "
            f"{manifest!r}; the attachment's is kept"
        )
    return attachment if attachment is not None else manifest


def _sniff(path: Path) -> str | None:
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    return None
