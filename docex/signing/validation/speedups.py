"""Two speed-ups of pyHanko and asn1crypto for validation, installed explicitly by ``install()``.

What is guaranteed. With or without them, every function answers the same (results and errors
are the originals', tested in ``tests/signing/test_speedups.py`` against the uninstalled code):
they only take a faster road to the same answer. ``install()`` is idempotent and process-wide (it
replaces a function of ``pyhanko.pdf_utils.generic`` and three members of asn1crypto's ``Name``
and ``RelativeDistinguishedName``); ``uninstall()`` puts the originals back. Nothing is patched
by importing this module: the validator's worker (``docex.signing.sandbox``) installs them when it
starts, and so does any process that validates in-process (the bench, the tests).

- The hex-string reader: pyHanko reads ``<...>`` strings one byte per Python call, and a
  signature's ``/Contents`` is 16-64 KB of hex (half of the validation time).
- Name comparison: asn1crypto prepares every attribute of a name by LDAP string preparation
  (RFC 4518, for RFC 5280 §7.1 comparison) on each call; matching a signer, building paths and
  looking up CRLs do that thousands of times per document (a fifth of the validation time).
"""

from __future__ import annotations

import binascii
import re
from typing import Any

from asn1crypto import x509  # type: ignore[import-untyped]
from pyhanko.pdf_utils import generic, misc

_read_hex_string_slowly = generic.read_hex_string_from_stream
_HEX_DIGITS = re.compile(rb"[0-9A-Fa-f]*")


def _read_hex_string(stream: Any) -> generic.ByteStringObject | generic.TextStringObject:
    """pyHanko's hex-string reader, at C speed for the common case.

    pyHanko reads ``<...>`` strings one byte per Python call; a signature's ``/Contents`` is
    16-64 KB of hex, so that loop was half of the validation time. This reads up to the ``>``
    in blocks and decodes in one call when the string holds only hex digits and PDF whitespace;
    anything else (a ``%``, a bad character, no ``>`` before the end) goes to pyHanko's own
    reader from the same position, so results and errors are pyHanko's.
    """
    start = stream.tell()
    stream.read(1)  # the "<"
    blocks: list[bytes] = []
    while True:
        block = stream.read(65536)
        if not block:
            stream.seek(start)
            return _read_hex_string_slowly(stream)
        end = block.find(b">")
        if end >= 0:
            blocks.append(block[:end])
            break
        blocks.append(block)
    body = b"".join(blocks)
    del blocks
    if b"%" in body:
        stream.seek(start)
        return _read_hex_string_slowly(stream)
    length = len(body)
    digits = body.translate(None, misc.PDF_WHITESPACE)
    del body
    if not _HEX_DIGITS.fullmatch(digits):
        stream.seek(start)
        return _read_hex_string_slowly(stream)
    stream.seek(start + length + 2)
    if len(digits) % 2:
        digits += b"0"
    return generic.pdf_string(binascii.unhexlify(digits))


# asn1crypto compares and hashes names (RFC 5280 §7.1) by running every attribute through LDAP
# string preparation (RFC 4518) on each call. Matching a signer by issuer and serial, building
# paths and looking up CRLs do that thousands of times per document: a fifth of the validation
# time. Both results are functions of the names' DER alone, so they are computed once per
# distinct encoding and remembered (bounded in entries, and encodings over 1 KiB, which no
# real name reaches, are not remembered). Results are asn1crypto's own (tested).
_names_equal_slowly = x509.Name.__eq__
_name_hashable_slowly = x509.Name.hashable.fget
_rdn_values_slowly = x509.RelativeDistinguishedName._get_values
_NAME_CACHE_ENTRIES = 4096
_NAME_CACHE_MAX_DER = 1024
_NAME_KEYS: dict[bytes, str] = {}
_RDN_VALUES: dict[bytes, dict[str, str]] = {}


def _remember(cache: dict[bytes, Any], der: bytes, value: Any) -> None:
    if len(der) <= _NAME_CACHE_MAX_DER:
        if len(cache) >= _NAME_CACHE_ENTRIES:
            cache.clear()
        cache[der] = value


def _name_hashable(self: x509.Name) -> str:
    """``Name.hashable`` (the prepared form registries key certificates by), remembered."""
    der = self.dump()
    key = _NAME_KEYS.get(der)
    if key is None:
        key = _name_hashable_slowly(self)
        _remember(_NAME_KEYS, der, key)
    return key


def _names_equal(self: x509.Name, other: object) -> bool:
    """``Name.__eq__``: the same DER is the same name; different prepared forms are different
    names (equal names prepare equally); only what remains goes to asn1crypto's comparison."""
    if not isinstance(other, x509.Name):
        return False
    if self.dump() == other.dump():
        return True
    if _name_hashable(self) != _name_hashable(other):
        return False
    return bool(_names_equal_slowly(self, other))


def _rdn_values(self: x509.RelativeDistinguishedName, rdn: Any) -> dict[str, str]:
    """The prepared values of one RDN (used by RDN comparison), remembered."""
    der = rdn.dump()
    cached = _RDN_VALUES.get(der)
    if cached is None:
        cached = _rdn_values_slowly(self, rdn)
        _remember(_RDN_VALUES, der, cached)
    return dict(cached)


_installed = False


def install() -> None:
    """Replace the slow functions by the fast ones (idempotent)."""
    global _installed
    generic.read_hex_string_from_stream = _read_hex_string
    x509.Name.__eq__ = _names_equal
    x509.Name.hashable = property(_name_hashable)
    x509.RelativeDistinguishedName._get_values = _rdn_values
    _installed = True


def uninstall() -> None:
    """Put pyHanko's and asn1crypto's own functions back, and forget what was remembered."""
    global _installed
    generic.read_hex_string_from_stream = _read_hex_string_slowly
    x509.Name.__eq__ = _names_equal_slowly
    x509.Name.hashable = property(_name_hashable_slowly)
    x509.RelativeDistinguishedName._get_values = _rdn_values_slowly
    _NAME_KEYS.clear()
    _RDN_VALUES.clear()
    _installed = False


def installed() -> bool:
    """Whether ``install()`` is in effect."""
    return _installed
