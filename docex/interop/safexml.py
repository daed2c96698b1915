"""Reading XML that a stranger wrote: a hardened, streaming expat front end.

Guarantees, whatever the input (against a sender who wants to exhaust, probe or confuse us):

- **No DTD at all.** A ``<!DOCTYPE`` is refused the moment expat reports it, so no entity can be
  declared: no billion laughs, no quadratic blow-up, no external entity (file or URL) is ever
  resolved, and parameter-entity parsing is off. An entity reference without a declaration is
  malformed XML. (What defusedxml forbids, enforced on the parser itself.)
- **Bounded work and memory.** At most ``max_bytes`` are read (checked as chunks arrive, before
  parsing them), at most ``max_depth`` nesting levels, ``max_nodes`` elements plus attributes,
  ``max_text_chars`` characters of text per element and ``max_total_text_chars`` in all. Text
  that may be large (edXML's base64 attachments) is handed chunk by chunk to a *sink* chosen by
  the caller for that element's path and never held whole. Input is read 64 KiB at a time.
- **Precise refusals**: ``EdxmlMalformed`` (400) for XML we will not read, ``EdxmlTooLarge``
  (413) for a bound crossed; no other exception escapes for any byte sequence.

One tolerance, for files from the field: a short run of ASCII digits or white space before the
XML declaration (``edoc_new.edxml`` from the national hub's kit starts with ``1212<?xml``) is
skipped and reported in ``warnings``. Anything else before the declaration is refused.

Comments and processing instructions are counted, not kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol
from xml.parsers import expat

from docex.interop.errors import EdxmlMalformed, EdxmlTooLarge

CHUNK = 64 * 1024
_NS_SEPARATOR = " "
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_HEAD = 1024
_STRAY = re.compile(rb"[0-9 \t\r\n]{1,16}(?=<\?xml[ \t\r\n?])")


class Readable(Protocol):
    """Anything read like a binary file: ``read(n)`` returns at most ``n`` bytes, b"" at the end."""

    def read(self, n: int, /) -> bytes: ...


class TextSink(Protocol):
    """Receives the text of one element as it is parsed, instead of the element keeping it."""

    def write(self, text: str) -> None: ...

    def close(self) -> None:
        """The element ended: finish (or raise if what was received is not acceptable)."""


SinkFactory = Callable[[tuple[str, ...]], "TextSink | None"]
"""Given the path of local names from the root to an element, a sink for its text, or None."""


@dataclass(frozen=True)
class XmlLimits:
    max_bytes: int = 512 * 1024 * 1024
    max_depth: int = 32
    max_nodes: int = 200_000
    max_text_chars: int = 1_000_000
    max_total_text_chars: int = 16_000_000


@dataclass(eq=False)
class Element:
    """One element: namespace URI and local name, attributes by local name, children in order,
    and its direct text (concatenated, unstripped) unless a sink took it."""

    name: str
    namespace: str
    attrs: dict[str, str]
    line: int
    children: list[Element] = field(default_factory=list)
    text: str = ""
    sink: TextSink | None = None

    def find(self, name: str) -> list[Element]:
        return [c for c in self.children if c.name == name]

    def iter(self) -> Iterator[Element]:
        yield self
        for child in self.children:
            yield from child.iter()


@dataclass
class XmlDocument:
    root: Element
    warnings: list[str]
    comments: int = 0
    processing_instructions: int = 0


def _split(qualified: str) -> tuple[str, str]:
    namespace, _, local = qualified.rpartition(_NS_SEPARATOR)
    return namespace, local


class _Builder:
    def __init__(self, limits: XmlLimits, sink_for: SinkFactory | None) -> None:
        self.limits = limits
        self.sink_for = sink_for
        self.parser = expat.ParserCreate(namespace_separator=_NS_SEPARATOR)
        self.stack: list[Element] = []
        self.parts: list[list[str]] = []
        self.sizes: list[int] = []
        self.path: list[str] = []
        self.root: Element | None = None
        self.nodes = 0
        self.text_chars = 0
        self.comments = 0
        self.instructions = 0
        p = self.parser
        p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        p.buffer_text = True
        p.buffer_size = CHUNK
        p.StartDoctypeDeclHandler = self._doctype
        p.EntityDeclHandler = self._entity
        p.UnparsedEntityDeclHandler = self._entity
        p.ExternalEntityRefHandler = self._external
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._text
        p.CommentHandler = self._comment
        p.ProcessingInstructionHandler = self._instruction

    def _doctype(self, *_args: object) -> None:
        raise EdxmlMalformed(
            f"a DOCTYPE (line {self.parser.CurrentLineNumber}) is not allowed: edXML packages "
            "carry no DTD, and entity declarations are never processed",
            code="edxml_doctype_forbidden",
        )

    def _entity(self, *_args: object) -> None:
        raise EdxmlMalformed("entity declarations are not allowed", code="edxml_doctype_forbidden")

    def _external(self, *_args: object) -> int:
        raise EdxmlMalformed("external entities are never resolved", code="edxml_doctype_forbidden")

    def _comment(self, _data: str) -> None:
        self.comments += 1

    def _instruction(self, _target: str, _data: str) -> None:
        self.instructions += 1

    def _start(self, qualified: str, attributes: dict[str, str]) -> None:
        limits = self.limits
        if len(self.stack) >= limits.max_depth:
            raise EdxmlTooLarge(
                f"elements nested deeper than {limits.max_depth} levels "
                f"(line {self.parser.CurrentLineNumber})",
                code="edxml_too_deep",
            )
        self.nodes += 1 + len(attributes)
        if self.nodes > limits.max_nodes:
            raise EdxmlTooLarge(
                f"more than {limits.max_nodes} elements and attributes",
                code="edxml_too_many_nodes",
            )
        namespace, name = _split(qualified)
        element = Element(
            name=name,
            namespace=namespace,
            attrs={_split(k)[1]: v for k, v in attributes.items()},
            line=self.parser.CurrentLineNumber,
        )
        self.path.append(name)
        if self.sink_for is not None:
            element.sink = self.sink_for(tuple(self.path))
        if self.stack:
            self.stack[-1].children.append(element)
        else:
            self.root = element
        self.stack.append(element)
        self.parts.append([])
        self.sizes.append(0)

    def _end(self, _qualified: str) -> None:
        element = self.stack.pop()
        element.text = "".join(self.parts.pop())
        self.sizes.pop()
        self.path.pop()
        if element.sink is not None:
            element.sink.close()

    def _text(self, data: str) -> None:
        if not self.stack:
            return
        element = self.stack[-1]
        if element.sink is not None:
            element.sink.write(data)
            return
        current = self.sizes[-1] + len(data)
        if current > self.limits.max_text_chars:
            raise EdxmlTooLarge(
                f"<{element.name}> (line {element.line}) holds more than "
                f"{self.limits.max_text_chars} characters of text",
                code="edxml_text_too_long",
            )
        self.text_chars += len(data)
        if self.text_chars > self.limits.max_total_text_chars:
            raise EdxmlTooLarge(
                f"more than {self.limits.max_total_text_chars} characters of text in all",
                code="edxml_text_too_long",
            )
        self.sizes[-1] = current
        self.parts[-1].append(data)

    def feed(self, data: bytes, final: bool = False) -> None:
        try:
            self.parser.Parse(data, final)
        except expat.ExpatError as exc:
            raise EdxmlMalformed(
                f"not well-formed XML: {expat.ErrorString(exc.code)} "
                f"(line {exc.lineno}, column {exc.offset})",
                code="edxml_malformed",
            ) from None


def _chunks(source: bytes | Readable, max_bytes: int) -> Iterator[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source)
        if len(view) > max_bytes:
            raise EdxmlTooLarge(
                f"{len(view)} bytes is over the limit of {max_bytes}", code="edxml_too_large"
            )
        for start in range(0, len(view), CHUNK):
            yield bytes(view[start : start + CHUNK])
        return
    total = 0
    while chunk := source.read(CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise EdxmlTooLarge(f"over the limit of {max_bytes} bytes", code="edxml_too_large")
        yield chunk


def _skip_stray_prefix(head: bytes, warnings: list[str]) -> bytes:
    if head.startswith(_BOMS) or head[:1] == b"<":
        return head
    stray = _STRAY.match(head)
    if stray is not None:
        warnings.append(
            f"skipped {stray.end()} stray bytes {stray.group().decode('ascii')!r} "
            "before the XML declaration"
        )
        return head[stray.end() :]
    declaration = head.find(b"<?xml")
    if declaration > 0:
        raise EdxmlMalformed(
            f"{declaration} bytes before the XML declaration; only a few stray digits or "
            "spaces are tolerated there",
            code="edxml_junk_before_declaration",
        )
    return head  # expat judges: white space before a root without a declaration is legal


def read_xml(
    source: bytes | Readable,
    limits: XmlLimits | None = None,
    *,
    sink_for: SinkFactory | None = None,
) -> XmlDocument:
    """Parse ``source`` (bytes or a binary stream read to its end) under ``limits``."""
    limits = limits or XmlLimits()
    warnings: list[str] = []
    builder = _Builder(limits, sink_for)
    chunks = _chunks(source, limits.max_bytes)
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= _HEAD:
            break
    if not head.strip():
        raise EdxmlMalformed("the package is empty", code="edxml_malformed")
    builder.feed(_skip_stray_prefix(head, warnings))
    for chunk in chunks:
        builder.feed(chunk)
    builder.feed(b"", final=True)
    if builder.root is None:  # pragma: no cover - expat refuses a document without a root
        raise EdxmlMalformed("no root element", code="edxml_malformed")
    return XmlDocument(builder.root, warnings, builder.comments, builder.instructions)
