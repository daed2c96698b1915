"""edXML attachments decoded from base64 into spool files while the XML is parsed, hashed on
the way; removed again if the package is refused."""

from __future__ import annotations

import binascii
import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from docex.interop.errors import EdxmlInvalid, EdxmlTooLarge
from docex.interop.packages import (
    EdxmlLimits,
)

_ATTACHMENT_DATA = ("edXML", "AttachmentEncoded", "Attachment", "ContentTransferEncoded")


class Base64Spool:
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


class Spools:
    def __init__(self, limits: EdxmlLimits, directory: Path | None) -> None:
        self.limits = limits
        self.directory = directory
        self.spools: list[Base64Spool] = []

    def sink_for(self, path: tuple[str, ...]) -> Base64Spool | None:
        if path != _ATTACHMENT_DATA:
            return None
        if len(self.spools) >= self.limits.max_files:
            raise EdxmlTooLarge(
                f"more than {self.limits.max_files} attachments", code="edxml_too_many_files"
            )
        spool = Base64Spool(self.directory)
        self.spools.append(spool)
        return spool

    def discard(self) -> None:
        for spool in self.spools:
            spool.discard()
