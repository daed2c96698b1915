"""Packages as JSON, for people and scripts (``docex edxml convert --json``) and back
(``docex edxml export``). The document form holds docex's envelope exactly as
``POST /api/v1/documents`` takes it under ``envelope``; file paths are relative to a base
directory. Reading it back checks every file against the size and SHA-256 it states.

``signature``, ``warnings``, ``reference`` and ``label`` are written for the reader and ignored
when read: they describe bytes that were parsed, or follow from the rest.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from docex.documents.envelope import Envelope
from docex.interop.errors import EdxmlInvalid
from docex.interop.packages import (
    DocumentPackage,
    Package,
    PackageFile,
    ResponseFor,
    StaffInfo,
    StatusPackage,
    TraceHeader,
    XmlSignature,
)
from docex.kit.clock import as_utc, rfc3339
from docex.routing.statuses import LABELS


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _ResponseFor(_Form):
    document_id: str = Field(min_length=1, max_length=300)
    organ_id: str | None = None
    code: str | None = None
    promulgation_date: date | None = None


class _Hop(_Form):
    organ_id: str | None = None
    timestamp: datetime


class _File(_Form):
    role: Literal["main", "attachment"]
    name: str = Field(min_length=1, max_length=200)
    content_type: str = Field(min_length=1, max_length=100)
    content_id: str = Field(min_length=1, max_length=300)
    description: str | None = None
    size: int | None = None
    sha256: str | None = None
    path: str


class _Staff(_Form):
    department: str | None = None
    staff: str | None = None
    email: str | None = None
    mobile: str | None = None


class _Document(_Form):
    kind: Literal["document"]
    sender_id: str
    document_id: str = Field(min_length=1, max_length=300)
    refers_to: str | None = None
    reference: str | None = None
    envelope: dict[str, Any]
    response_for: list[_ResponseFor] = []
    trace: list[_Hop] = []
    files: list[_File] = []
    extensions: dict[str, Any] = {}
    signature: dict[str, Any] | None = None
    warnings: list[str] = []


class _Status(_Form):
    kind: Literal["status"]
    code: str
    label: str | None = None
    from_id: str
    document_id: str | None = None
    response_for: _ResponseFor
    timestamp: datetime
    note: str | None = None
    staff: _Staff | None = None
    extensions: dict[str, Any] = {}
    signature: dict[str, Any] | None = None
    warnings: list[str] = []


def _signature(signature: XmlSignature | None) -> dict[str, Any] | None:
    if signature is None:
        return None
    return {
        "signature_method": signature.signature_method,
        "digest_method": signature.digest_method,
        "subject_name": signature.subject_name,
        "certificate": signature.certificate,
        "placeholder": signature.placeholder,
        "trusted": False,
    }


def _response_for(response: ResponseFor) -> dict[str, Any]:
    return {
        "document_id": response.document_id,
        "organ_id": response.organ_id,
        "code": response.code,
        "promulgation_date": response.promulgation_date.isoformat()
        if response.promulgation_date
        else None,
    }


def package_to_json(package: Package, *, paths: dict[str, str] | None = None) -> dict[str, Any]:
    """``package`` as JSON; ``paths`` maps a file's content id to where it was written."""
    if isinstance(package, StatusPackage):
        staff = package.staff
        return {
            "kind": "status",
            "code": package.code,
            "label": " / ".join(LABELS[package.code]),
            "from_id": package.from_id,
            "document_id": package.document_id,
            "response_for": _response_for(package.response_for),
            "timestamp": rfc3339(package.timestamp),
            "note": package.note,
            "staff": None
            if staff is None
            else {
                "department": staff.department,
                "staff": staff.staff,
                "email": staff.email,
                "mobile": staff.mobile,
            },
            "extensions": package.extensions,
            "signature": _signature(package.signature),
            "warnings": list(package.warnings),
        }
    paths = paths or {}
    return {
        "kind": "document",
        "sender_id": package.sender_id,
        "document_id": package.document_id,
        "refers_to": package.refers_to,
        "reference": package.reference,
        "envelope": package.envelope.model_dump(mode="json", exclude_none=True),
        "response_for": [_response_for(r) for r in package.response_for],
        "trace": [
            {"organ_id": hop.organ_id, "timestamp": rfc3339(hop.timestamp)} for hop in package.trace
        ],
        "files": [
            {
                "role": f.role,
                "name": f.name,
                "content_type": f.content_type,
                "content_id": f.content_id,
                "description": f.description,
                "size": f.size,
                "sha256": f.sha256,
                "path": paths.get(f.content_id),
            }
            for f in package.files
        ],
        "extensions": package.extensions,
        "signature": _signature(package.signature),
        "warnings": list(package.warnings),
    }


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise EdxmlInvalid("timestamps need a UTC offset", code="edxml_invalid_package_json")
    return as_utc(moment)


def _file(form: _File, base_dir: Path) -> PackageFile:
    path = (base_dir / form.path).resolve()
    if not path.is_file():
        raise EdxmlInvalid(f"no file {form.path!r}", code="edxml_invalid_package_json")
    file = PackageFile.from_path(
        path,
        role=form.role,
        content_id=form.content_id,
        content_type=form.content_type,
        name=form.name,
        description=form.description,
    )
    if (form.size is not None and form.size != file.size) or (
        form.sha256 is not None and form.sha256 != file.sha256
    ):
        raise EdxmlInvalid(
            f"{form.path!r} is not the file the package states (size or SHA-256 differ)",
            code="edxml_invalid_package_json",
        )
    return file


def package_from_json(data: Any, *, base_dir: Path) -> Package:
    """The package that ``data`` (from :func:`package_to_json`) describes."""
    try:
        if isinstance(data, dict) and data.get("kind") == "status":
            status = _Status.model_validate(data)
            answered = ResponseFor(**status.response_for.model_dump())
            return StatusPackage(
                code=status.code,
                from_id=status.from_id,
                response_for=answered,
                timestamp=_aware(status.timestamp),
                note=status.note,
                staff=StaffInfo(**status.staff.model_dump()) if status.staff else None,
                extensions=status.extensions,
            )
        document = _Document.model_validate(data)
        envelope = Envelope.model_validate(document.envelope)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'package'}: {e['msg']}" for e in exc.errors()
        )
        raise EdxmlInvalid(
            f"not a package in docex's JSON form: {problems}", code="edxml_invalid_package_json"
        ) from None
    return DocumentPackage(
        envelope=envelope,
        sender_id=document.sender_id,
        document_id=document.document_id,
        refers_to=document.refers_to,
        response_for=tuple(ResponseFor(**r.model_dump()) for r in document.response_for),
        trace=tuple(TraceHeader(h.organ_id, _aware(h.timestamp)) for h in document.trace),
        files=tuple(_file(f, base_dir) for f in document.files),
        extensions=document.extensions,
    )
