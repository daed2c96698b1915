"""What an edXML package becomes inside docex: frozen values, no I/O beyond their spool files.

A *document package* is docex's own :class:`~docex.documents.envelope.Envelope` (there is no
second envelope model) plus what edXML carries around it: the sender's organ id as the package
states it (a claim, checked against the caller by whoever accepts the package, never believed),
the edXML ``DocumentId`` and the ids it refers to, the trace of hops, the files, and
``extensions``: every element docex has no field for, kept at its edXML path (see docs/edxml.md)
so that an export writes it back. A *status package* is a business status (01–16) about a
document.

Equality is over content: ``signature`` and ``warnings`` describe the bytes that were read, not
the package, and are left out of ``==`` (an export is new bytes, and carries no signature).
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

from docex.config import LimitSettings
from docex.documents.envelope import Envelope
from docex.documents.upload import SpooledFile
from docex.interop.safexml import XmlLimits

NAMESPACE = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
XMLDSIG_NAMESPACE = "http://www.w3.org/2000/09/xmldsig#"

Extensions = dict[str, Any]
"""edXML elements kept as JSON: an element with only text is a string, one with children an
object of its children by local name (a repeated child is a list, attributes are ``@name``)."""


@dataclass(frozen=True)
class EdxmlLimits(XmlLimits):
    """Bounds on one package: those of :class:`~docex.interop.safexml.XmlLimits` (bytes, depth,
    nodes, text) and the number of attachments."""

    max_files: int = 20

    @classmethod
    def from_settings(cls, limits: LimitSettings) -> EdxmlLimits:
        """The node's own upload limits: body size and number of files."""
        return cls(max_bytes=limits.max_body_bytes, max_files=limits.max_files)


@dataclass(frozen=True)
class TraceHeader:
    """One hop: the organ that handled the package and when (aware UTC, whole seconds)."""

    organ_id: str | None
    timestamp: datetime


@dataclass(frozen=True)
class ResponseFor:
    """The document a package answers: its edXML ``DocumentId`` and what else names it."""

    document_id: str
    organ_id: str | None = None
    code: str | None = None
    promulgation_date: date | None = None


@dataclass(frozen=True)
class StaffInfo:
    """The person at the organ who handled it (edXML ``StaffInfo``)."""

    department: str | None = None
    staff: str | None = None
    email: str | None = None
    mobile: str | None = None


@dataclass(frozen=True)
class XmlSignature:
    """An XMLDSig block found in the package. Recorded, never verified and never trusted: the
    national hub's own samples carry rsa-sha1 with placeholder values, and docex's trust rests
    on the PDF's PAdES signatures and on its own signed receipts, not on this block."""

    signature_method: str | None
    digest_method: str | None
    subject_name: str | None
    certificate: bool
    """An X.509 certificate that parses is embedded (it is still not checked)."""
    placeholder: bool
    """The block cannot be a real signature (no readable certificate or value)."""


@dataclass(frozen=True)
class PackageFile:
    """An attachment, decoded into a spool file at ``path`` (not part of equality)."""

    role: Literal["main", "attachment"]
    name: str
    content_type: str
    content_id: str
    description: str | None
    size: int
    sha256: str
    path: Path = field(compare=False)

    @classmethod
    def from_path(
        cls,
        path: Path,
        *,
        role: Literal["main", "attachment"],
        content_id: str,
        content_type: str,
        name: str | None = None,
        description: str | None = None,
    ) -> PackageFile:
        """A file already on disk (for an export), measured and hashed."""
        digest = hashlib.sha256()
        size = 0
        with path.open("rb") as fh:
            while chunk := fh.read(1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
        return cls(
            role=role,
            name=name or path.name,
            content_type=content_type,
            content_id=content_id,
            description=description,
            size=size,
            sha256=digest.hexdigest(),
            path=path,
        )

    def open(self) -> BinaryIO:
        return self.path.open("rb")

    def as_spooled(self) -> SpooledFile:
        """The file as docex's intake receives one from a multipart upload."""
        return SpooledFile(
            role=self.role,
            name=self.name,
            content_type=self.content_type,
            path=self.path,
            size=self.size,
            sha256=self.sha256,
        )


class _Spooled:
    files: tuple[PackageFile, ...] = ()

    def discard(self) -> None:
        """Remove the spool files (those not moved elsewhere)."""
        for file in self.files:
            with contextlib.suppress(FileNotFoundError):
                file.path.unlink()


@dataclass(frozen=True)
class DocumentPackage(_Spooled):
    envelope: Envelope
    sender_id: str
    """``From/OrganId`` as the package states it: a claim, never the sender at intake."""
    document_id: str
    """edXML ``DocumentId``, ``{sender},{yyyy/MM/dd},{number}/{notation}`` by convention."""
    refers_to: str | None = None
    """``Bussiness/DocumentId``: the edXML id the business type (revoke, update...) names."""
    response_for: tuple[ResponseFor, ...] = ()
    trace: tuple[TraceHeader, ...] = ()
    files: tuple[PackageFile, ...] = ()
    extensions: Extensions = field(default_factory=dict)
    signature: XmlSignature | None = field(default=None, compare=False)
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def main(self) -> PackageFile | None:
        return next((f for f in self.files if f.role == "main"), None)

    @property
    def reference(self) -> str | None:
        """The edXML ``DocumentId`` that the business type acts on: ``Bussiness/DocumentId``;
        else, for a replacement, the first ``ReplacementInfo``'s; else, for a revocation or an
        update, the package's own ``DocumentId`` (edXML re-sends a document under its own id)."""
        business = self.envelope.business
        if business is None or business.type == "new":
            return self.refers_to
        if self.refers_to:
            return self.refers_to
        if business.type == "replace":
            replaced = _first_replacement(self.extensions)
            if replaced:
                return replaced
        return self.document_id

    def __enter__(self) -> DocumentPackage:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.discard()


@dataclass(frozen=True)
class StatusPackage(_Spooled):
    code: str
    """01–16, as in ``docex.routing.statuses``."""
    from_id: str
    """``From/OrganId`` as the package states it: a claim, never the author at intake."""
    response_for: ResponseFor
    timestamp: datetime
    note: str | None = None
    staff: StaffInfo | None = None
    extensions: Extensions = field(default_factory=dict)
    signature: XmlSignature | None = field(default=None, compare=False)
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def document_id(self) -> str:
        return self.response_for.document_id

    def __enter__(self) -> StatusPackage:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.discard()


Package = DocumentPackage | StatusPackage


def _first_replacement(extensions: Extensions) -> str | None:
    business = extensions.get("TraceHeaderList", {}).get("Bussiness", {})
    listing = business.get("ReplacementInfoList") if isinstance(business, dict) else None
    infos = listing.get("ReplacementInfo") if isinstance(listing, dict) else None
    first = infos[0] if isinstance(infos, list) and infos else infos
    if isinstance(first, dict) and isinstance(first.get("DocumentId"), str):
        return str(first["DocumentId"])
    return None
