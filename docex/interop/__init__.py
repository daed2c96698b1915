"""Interoperability with the document-management software already in service.

edXML (QCVN 102:2016/BTTTT, namespace ``http://www.mic.gov.vn/TBT/QCVN_102_2016``), the
national format of the interconnected document network:

- :func:`parse_package` reads a document or status package, safely (:mod:`.safexml`: no DTD,
  bounded), into docex's :class:`~docex.documents.envelope.Envelope` and files, or a status;
- :func:`document_to_edxml` / :func:`write_document` and :func:`status_to_edxml` write them
  back in the form the national hub accepts;
- refusals are :class:`~docex.interop.errors.EdxmlError` (``edxml_*`` codes, 400/413/422).

Pure functions over bytes, streams and docex's models: no database, no network. The mapping
is in docs/edxml.md.
"""

from docex.interop.errors import EdxmlError, EdxmlInvalid, EdxmlMalformed, EdxmlTooLarge
from docex.interop.exporter import (
    document_to_edxml,
    new_document_package,
    status_to_edxml,
    with_hop,
    write_document,
)
from docex.interop.importer import parse_package
from docex.interop.packages import (
    NAMESPACE,
    DocumentPackage,
    EdxmlLimits,
    Package,
    PackageFile,
    ResponseFor,
    StaffInfo,
    StatusPackage,
    TraceHeader,
    XmlSignature,
)

__all__ = [
    "NAMESPACE",
    "DocumentPackage",
    "EdxmlError",
    "EdxmlInvalid",
    "EdxmlLimits",
    "EdxmlMalformed",
    "EdxmlTooLarge",
    "Package",
    "PackageFile",
    "ResponseFor",
    "StaffInfo",
    "StatusPackage",
    "TraceHeader",
    "XmlSignature",
    "document_to_edxml",
    "new_document_package",
    "parse_package",
    "status_to_edxml",
    "with_hop",
    "write_document",
]
