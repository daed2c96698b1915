"""Encryption at rest of blobs: a segmented streaming AEAD (AES-256-GCM), format ``DXB1``.

Every blob is encrypted under its own 256-bit data key (DEK, ``new_data_key()``); the DEK is
wrapped by the node's key-encryption key (``docex.signing.keks``) and, for confidential items,
for each recipient agency (``docex.signing.agency_keys``). This module only knows the DEK.

The construction is the "online AEAD" / STREAM of Hoang, Reyhanitabar, Rogaway and Vizár (CRYPTO
2015), as used by Tink's streaming AEAD and by age: the plaintext is cut into fixed-size segments,
each sealed with AES-256-GCM (NIST SP 800-38D) under a nonce that holds the segment index and a
flag marking the final segment.

Format, byte by byte (all integers big-endian)::

    header, 64 bytes
       0   4  magic        b"DXB1"
       4   1  version      1
       5   4  segment_size plaintext bytes per segment, MIN_SEGMENT_SIZE..MAX_SEGMENT_SIZE
       9  16  key_id       random per blob; names this encryption of the blob and salts the
                           key derivation, so even a reused DEK gives a fresh segment key
      25   7  nonce_prefix random per blob
      32  32  commitment   second half of the key derivation below (proves the DEK is the one
                           this blob was written under)
    segments, at least one
       segment i: AES-256-GCM(segment_key, nonce_i, plaintext_i, segment_aad) = ct ‖ 16-byte tag
         nonce_i     = nonce_prefix (7) ‖ i (4) ‖ last (1: 0x01 for the final segment, else 0x00)
         segment_aad = SHA-256(header ‖ associated data)
       every segment but the last carries exactly segment_size plaintext bytes; the last carries
       1..segment_size, or 0 only when the whole plaintext is empty (it always exists).

    segment_key ‖ commitment = HKDF-SHA256(ikm=DEK, salt=key_id, info=b"docex blob DXB1", L=64)

Guarantees, for anyone who does not hold the DEK, against an adversary who can read and rewrite
the stored blob at will (a stolen disk or bucket, a hostile storage operator):

- Confidentiality: the blob reveals nothing about the plaintext but its exact length
  (``plaintext_size``); lengths are not padded.
- Integrity of every segment, of its position (index in the nonce) and of the end of the stream
  (final flag): flipping any byte, reordering, duplicating or dropping segments, truncating
  (at a segment boundary or inside one) or appending anything makes ``decrypt`` raise
  ``BlobIntegrityError``. The header is authenticated through the segment AAD.
- Binding to context: the caller's associated data (``associated_data(document_id, file_id,
  classification)``) enters every segment's AAD, so a blob swapped between documents or files,
  or read under another classification, fails. Changing a document's classification therefore
  means re-encrypting its blobs.
- Key commitment: the header commits to the DEK (HKDF output, 256 bits), so a blob decrypts
  under one key only. GCM alone is not committing; without this a sender could craft one blob
  that decrypts to two different documents under two DEKs wrapped for two recipients.
- Constant memory, whatever the size of the blob: each direction holds one segment buffer
  (reused from segment to segment), the segment it is producing and one input chunk; segments
  are at most 16 MiB, also when a hostile header claims more.

``decrypt`` releases a segment only after its tag verifies, but it streams: when segment 5 is
corrupt, segments 0..4 have already been yielded (they are authentic) before the error. A
consumer that must not act on a partial document (e.g. a download already sending bytes) has to
treat the exception as voiding everything it received, and abort the response.

Limits: at most 2**32 segments per blob (4 PiB at the default 1 MiB segment size). A DEK must
never be shared between two blobs on purpose; the random ``key_id`` salt makes an accidental reuse
safe (distinct segment keys), it is not a licence.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"DXB1"
VERSION = 1
HEADER_SIZE = 64
TAG_SIZE = 16
KEY_SIZE = 32
DEFAULT_SEGMENT_SIZE = 1 << 20
MIN_SEGMENT_SIZE = 16
MAX_SEGMENT_SIZE = 16 << 20
MAX_SEGMENTS = 1 << 32

Chunk = bytes | bytearray | memoryview
"""What the streams carry: any bytes-like object (a producer may refill one ``bytearray``)."""

_HEADER = struct.Struct(">4sBI16s7s32s")
_HKDF_INFO = b"docex blob DXB1"
_AAD_LABEL = b"docex blob aad v1"


class BlobIntegrityError(Exception):
    """The blob cannot be decrypted as it was written: wrong key or context, or altered.

    ``reason`` is a short machine-readable code: ``bad_header``, ``unsupported_version``,
    ``bad_segment_size``, ``wrong_key``, ``truncated``, ``trailing_data``,
    ``segment_auth_failed`` (altered, reordered, or wrong associated data), ``too_many_segments``.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class BlobHeader:
    """The parsed 64-byte header of a ``DXB1`` blob (public values, nothing secret)."""

    version: int
    segment_size: int
    key_id: bytes
    """16 random bytes chosen when the blob was written; callers may store it beside the
    wrapped DEK to match a blob with its key."""
    nonce_prefix: bytes
    commitment: bytes

    def to_bytes(self) -> bytes:
        return _HEADER.pack(
            MAGIC, self.version, self.segment_size, self.key_id, self.nonce_prefix, self.commitment
        )


def new_data_key() -> bytes:
    """A fresh 256-bit data key from the OS CSPRNG; one per blob."""
    return os.urandom(KEY_SIZE)


def associated_data(document_id: str, file_id: str, classification: str) -> bytes:
    """The canonical associated data of a file: a label, then each field as 4-byte length ‖ UTF-8.

    Length prefixes make the encoding injective: no two distinct triples give the same bytes
    (``("a:b", "c")`` and ``("a", "b:c")`` differ). ``classification`` is the enum value
    (``Classification`` is a ``StrEnum``, so it can be passed as is).
    """
    parts = [_AAD_LABEL]
    for field in (document_id, file_id, str(classification)):
        raw = field.encode("utf-8")
        parts.append(len(raw).to_bytes(4, "big"))
        parts.append(raw)
    return b"".join(parts)


def parse_header(data: bytes) -> BlobHeader:
    """Parse and sanity-check the first ``HEADER_SIZE`` bytes of a blob (not authenticated yet).

    Raises ``BlobIntegrityError`` for a short or foreign header, an unknown version, or a segment
    size outside ``MIN_SEGMENT_SIZE..MAX_SEGMENT_SIZE``.
    """
    if len(data) < HEADER_SIZE:
        raise BlobIntegrityError("bad_header", f"blob shorter than its {HEADER_SIZE}-byte header")
    magic, version, segment_size, key_id, nonce_prefix, commitment = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise BlobIntegrityError("bad_header", "not a docex encrypted blob (bad magic)")
    if version != VERSION:
        raise BlobIntegrityError("unsupported_version", f"format version {version} unknown")
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise BlobIntegrityError("bad_segment_size", f"segment size {segment_size} out of bounds")
    return BlobHeader(version, segment_size, key_id, nonce_prefix, commitment)


def encrypted_size(plaintext_size: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> int:
    """Exact size of the blob that ``encrypt`` writes for ``plaintext_size`` bytes."""
    _check_segment_size(segment_size)
    if plaintext_size < 0:
        raise ValueError("negative size")
    segments = max(1, -(-plaintext_size // segment_size))
    return HEADER_SIZE + plaintext_size + segments * TAG_SIZE


def plaintext_size(encrypted_size: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> int:
    """Size of the plaintext inside a well-formed blob of ``encrypted_size`` bytes.

    Raises ``ValueError`` for a size no blob of this segment size can have (a truncated blob).
    """
    _check_segment_size(segment_size)
    body = encrypted_size - HEADER_SIZE
    if body < TAG_SIZE:
        raise ValueError(f"{encrypted_size} bytes cannot hold a header and a final segment")
    stride = segment_size + TAG_SIZE
    segments = -(-body // stride)
    last = body - (segments - 1) * stride
    if last < TAG_SIZE or (segments > 1 and last == TAG_SIZE):
        raise ValueError(f"{encrypted_size} bytes is not the size of a blob of this segment size")
    return body - segments * TAG_SIZE


def encrypt(
    chunks: Iterable[Chunk],
    dek: bytes,
    aad: bytes,
    *,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
) -> Iterator[bytes]:
    """Encrypt a stream: yields the header, then one ciphertext segment at a time.

    Input chunks may have any sizes (empty ones included), and the producer may refill the same
    ``bytearray`` between chunks. Memory: one segment buffer, reused, plus the segment yielded.
    """
    _check_key(dek)
    _check_segment_size(segment_size)
    key_id = os.urandom(16)
    segment_key, commitment = _derive(dek, key_id)
    header = BlobHeader(VERSION, segment_size, key_id, os.urandom(7), commitment)
    return _encrypt_segments(chunks, header, AESGCM(segment_key), _segment_aad(header, aad))


def decrypt(chunks: Iterable[Chunk], dek: bytes, aad: bytes) -> Iterator[bytes]:
    """Decrypt a stream written by ``encrypt``: yields each segment's plaintext once authentic.

    Raises ``BlobIntegrityError`` (see its ``reason``) when the blob is not exactly what
    ``encrypt`` wrote under this DEK and this associated data. Segments before a bad one have
    been yielded already; see the module docstring.
    """
    _check_key(dek)
    return _decrypt_segments(_Reader(chunks), dek, aad)


def _encrypt_segments(
    chunks: Iterable[Chunk], header: BlobHeader, aead: AESGCM, aad: bytes
) -> Iterator[bytes]:
    yield header.to_bytes()
    size = header.segment_size
    prefix = header.nonce_prefix
    # One buffer, grown to a segment once and then refilled in place: a fresh segment-sized
    # allocation per segment costs more than the AES itself.
    buf = bytearray()
    filled = 0
    index = 0
    for chunk in chunks:
        view = memoryview(chunk).cast("B")
        pos = 0
        end = len(view)
        while pos < end:
            if filled == size:
                # More input follows a full buffer, so this segment is not the last one.
                sealed = aead.encrypt(_nonce(prefix, index, last=False), buf, aad)
                filled = 0
                index = _next_index(index)
                yield sealed
                del sealed
            elif filled == 0 and end - pos > size:
                # Whole segments straight from a large input chunk, without a copy. Safe even if
                # the producer reuses its buffer: it is sealed before the next chunk is pulled.
                sealed = aead.encrypt(
                    _nonce(prefix, index, last=False), view[pos : pos + size], aad
                )
                pos += size
                index = _next_index(index)
                yield sealed
                del sealed
            else:
                take = min(size - filled, end - pos)
                if filled + take <= len(buf):
                    buf[filled : filled + take] = view[pos : pos + take]
                else:  # still growing towards one segment: len(buf) == filled here
                    buf += view[pos : pos + take]
                filled += take
                pos += take
        del view, chunk
    with memoryview(buf) as rest:
        sealed = aead.encrypt(_nonce(prefix, index, last=True), rest[:filled], aad)
    del buf
    yield sealed


def _decrypt_segments(reader: _Reader, dek: bytes, aad: bytes) -> Iterator[bytes]:
    header = parse_header(bytes(reader.read(HEADER_SIZE)))
    segment_key, commitment = _derive(dek, header.key_id)
    if not hmac.compare_digest(commitment, header.commitment):
        raise BlobIntegrityError("wrong_key", "the blob was not encrypted under this data key")
    aead = AESGCM(segment_key)
    segment_aad = _segment_aad(header, aad)
    stride = header.segment_size + TAG_SIZE
    index = 0
    while True:
        sealed = reader.read(stride)
        last = reader.at_eof()
        if len(sealed) < TAG_SIZE:
            raise BlobIntegrityError(
                "truncated", f"segment {index} is {len(sealed)} bytes, shorter than its tag"
            )
        try:
            plain = aead.decrypt(_nonce(header.nonce_prefix, index, last=last), sealed, segment_aad)
        except InvalidTag:
            raise _diagnose(aead, header, index, sealed, segment_aad, last=last) from None
        del sealed
        yield plain
        del plain
        if last:
            return
        if index + 1 >= MAX_SEGMENTS:
            raise BlobIntegrityError("too_many_segments", "more than 2**32 segments")
        index += 1


def _diagnose(
    aead: AESGCM,
    header: BlobHeader,
    index: int,
    sealed: Chunk,
    aad: bytes,
    *,
    last: bool,
) -> BlobIntegrityError:
    """Name the failure: does the segment verify with the other final flag? (failure path only)"""
    try:
        aead.decrypt(_nonce(header.nonce_prefix, index, last=not last), sealed, aad)
    except InvalidTag:
        return BlobIntegrityError(
            "segment_auth_failed",
            f"segment {index} does not authenticate: altered, out of order, "
            "or read with the wrong associated data",
        )
    if last:
        return BlobIntegrityError("truncated", f"the blob ends after segment {index}, not final")
    return BlobIntegrityError("trailing_data", f"data follows the final segment {index}")


class _Reader:
    """Exact-size reads over an iterator of chunks, with end-of-stream lookahead.

    ``read(n)`` returns a view of the current chunk when it is immutable and holds the span
    asked for (no copy); otherwise it assembles the span in one buffer reused from read to read.
    """

    def __init__(self, chunks: Iterable[Chunk]) -> None:
        self._chunks = iter(chunks)
        self._chunk: Chunk = b""
        self._pos = 0
        self._buf = bytearray()  # reused to assemble reads that span chunks

    def _fill(self) -> bool:
        while self._pos >= len(self._chunk):
            self._chunk = b""  # drop the spent chunk before pulling the next one
            self._pos = 0
            try:
                self._chunk = next(self._chunks)
            except StopIteration:
                return False
        return True

    def read(self, n: int) -> Chunk:
        """Up to ``n`` bytes, fewer only at the end of the stream; valid until the next read."""
        if not self._fill():
            return b""
        chunk = self._chunk
        if type(chunk) is bytes and len(chunk) - self._pos >= n:
            # Immutable, so a view stays valid after the producer resumes for the lookahead; a
            # bytearray the producer may refill is copied instead.
            view = memoryview(chunk)[self._pos : self._pos + n]
            self._pos += n
            return view
        if len(self._buf) < n:
            self._buf = bytearray(n)
        out = memoryview(self._buf)
        got = 0
        while got < n and self._fill():
            take = min(n - got, len(self._chunk) - self._pos)
            out[got : got + take] = memoryview(self._chunk)[self._pos : self._pos + take]
            got += take
            self._pos += take
        return out[:got]

    def at_eof(self) -> bool:
        return not self._fill()


def _derive(dek: bytes, salt: bytes) -> tuple[bytes, bytes]:
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=salt, info=_HKDF_INFO).derive(dek)
    return okm[:32], okm[32:]


def _segment_aad(header: BlobHeader, aad: bytes) -> bytes:
    return hashlib.sha256(header.to_bytes() + aad).digest()


def _nonce(prefix: bytes, index: int, *, last: bool) -> bytes:
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def _next_index(index: int) -> int:
    if index + 1 >= MAX_SEGMENTS:
        raise ValueError("plaintext too long: more than 2**32 segments")
    return index + 1


def _check_key(dek: bytes) -> None:
    if len(dek) != KEY_SIZE:
        raise ValueError(f"a data key is {KEY_SIZE} bytes, not {len(dek)}")


def _check_segment_size(segment_size: int) -> None:
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise ValueError(
            f"segment size must be within {MIN_SEGMENT_SIZE}..{MAX_SEGMENT_SIZE}, "
            f"not {segment_size}"
        )
