"""Media types of the files a document carries: what intake accepts, and how a file is served.

Intake (``accepted_type``): a part's ``Content-Type`` must be a media type as RFC 9110 §8.3.1
writes it — ``type "/" subtype *( OWS ";" OWS [ parameter ] )`` — with type and subtype names
as RFC 6838 §4.2 restricts them (ASCII letters, digits and ``!#$&-^_.+``, at most 127
characters) and at most ``MAX_PARAMETERS`` parameters; anything else is ``422
invalid_media_type``. A header holding a line break, which used to be stored and then broke
every download of the file, is refused here. An attachment's type must further be one of
``ATTACHMENT_TYPES`` (``415 media_type_not_allowed``): the kinds of file an official document's
appendices are. Only the bare ``type/subtype``, lower-cased, is stored; parameters are dropped.

Download (``served_type``): a file goes out under its own type only when that type is in
``SHOWN_AS_IS`` (a browser displays it without running anything in it); every other file —
text, XML, office documents, archives, and any row stored before these checks existed, HTML or
SVG included — is served as ``application/octet-stream``. The endpoint adds ``nosniff`` and
``Content-Disposition: attachment`` to every download, so nothing is rendered in docex's origin.
"""

from __future__ import annotations

import re

from docex.errors import Unprocessable, UnsupportedMedia

OCTET_STREAM = "application/octet-stream"
MAX_PARAMETERS = 16
_MAX_HEADER_CHARS = 1024

# Grouped by what a clerk attaches; README.md ("Attachments") lists them for people.
ATTACHMENT_TYPES: frozenset[str] = frozenset(
    {
        # documents: PDF, Microsoft Office without macros, OpenDocument, RTF
        "application/pdf",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
        "application/rtf",
        "text/rtf",
        # text and data (edXML is XML)
        "text/plain",
        "text/csv",
        "application/xml",
        "text/xml",
        "application/json",
        # raster images (SVG is not one: it can carry scripts)
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/tiff",
        "image/bmp",
        "image/webp",
        # archives
        "application/zip",
        "application/x-zip-compressed",
        "application/x-7z-compressed",
        "application/vnd.rar",
        "application/x-rar-compressed",
        "application/gzip",
        "application/x-tar",
        # detached signatures (CMS)
        "application/pkcs7-signature",
        "application/pkcs7-mime",
        # a file whose type the sender does not know; served as such
        OCTET_STREAM,
    }
)

# Served under their own type: a browser shows them, never runs them.
SHOWN_AS_IS: frozenset[str] = frozenset({"application/pdf", "image/png", "image/jpeg", "image/gif"})

_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[\t !\x23-\x5b\x5d-\x7e]|\\[\t \x21-\x7e])*"'
_PARAMETER = rf"{_TCHARS}=(?:{_TCHARS}|{_QUOTED})"
_MEDIA_TYPE = re.compile(rf"({_NAME})/({_NAME})((?:[ \t]*;[ \t]*(?:{_PARAMETER})?)*)")
_PARAMETER_START = re.compile(rf";[ \t]*{_TCHARS}=")


def essence(value: str) -> str:
    """The bare ``type/subtype`` of a media type, lower-cased; ``invalid_media_type`` if
    ``value`` is not one (RFC 9110 §8.3.1, names per RFC 6838 §4.2)."""
    text = value.strip(" \t")
    match = _MEDIA_TYPE.fullmatch(text) if len(text) <= _MAX_HEADER_CHARS else None
    if match is None:
        raise Unprocessable(
            f"Content-Type {_shown(value)} is not a media type (type/subtype; parameters)",
            code="invalid_media_type",
        )
    if len(_PARAMETER_START.findall(match.group(3))) > MAX_PARAMETERS:
        raise Unprocessable(
            f"Content-Type has more than {MAX_PARAMETERS} parameters", code="invalid_media_type"
        )
    return f"{match.group(1)}/{match.group(2)}".lower()


def accepted_type(value: str | None, *, role: str) -> str:
    """What intake stores as the type of a ``role`` part (main | attachment) declared as
    ``value`` (None: no Content-Type, an octet stream). The main file's type is checked for
    form only: it is a PDF by its content, and stored as one."""
    if value is None:
        return OCTET_STREAM
    kind = essence(value)
    if role != "main" and kind not in ATTACHMENT_TYPES:
        raise UnsupportedMedia(
            f"attachments of type {kind} are not accepted; send documents (PDF, office), "
            "text, XML, raster images or archives, or the file as application/octet-stream "
            "(README.md, Attachments)",
            code="media_type_not_allowed",
        )
    return kind


def served_type(stored: str) -> str:
    """The Content-Type a download of a file stored as ``stored`` is sent with."""
    return stored if stored in SHOWN_AS_IS else OCTET_STREAM


def _shown(value: str) -> str:
    """The value as the refusal can quote it: escaped, and short."""
    quoted = repr(value[:80])
    return quoted + ("…" if len(value) > 80 else "")
