"""Why an edXML package is refused. Each refusal is a ``docex.errors`` class, so the one HTTP
handler maps it to its status and ``error`` code; catch :class:`EdxmlError` to catch them all.

    EdxmlError (DocexError)
    ├── EdxmlMalformed (BadRequest)       400  not XML we will read: malformed, DOCTYPE or
    │                                          entity declarations, junk before the declaration
    ├── EdxmlTooLarge (PayloadTooLarge)   413  over a bound: bytes, depth, nodes, text, files
    └── EdxmlInvalid (Unprocessable)      422  well-formed XML that is not a valid edXML package:
                                               wrong namespace, missing or repeated elements,
                                               bad dates, organ ids, codes, base64...

Codes are ``edxml_*`` (docs/edxml.md lists them); the detail names the element.
"""

from __future__ import annotations

from docex.errors import BadRequest, DocexError, PayloadTooLarge, Unprocessable


class EdxmlError(DocexError):
    """Any refusal of an edXML package (never raised itself)."""


class EdxmlMalformed(BadRequest, EdxmlError):
    default_code = "edxml_malformed"


class EdxmlTooLarge(PayloadTooLarge, EdxmlError):
    default_code = "edxml_too_large"


class EdxmlInvalid(Unprocessable, EdxmlError):
    default_code = "edxml_invalid"
