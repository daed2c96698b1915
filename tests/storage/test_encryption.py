"""The DXB1 segmented AEAD: round trips of every shape, constant memory, and every way to alter a
blob (flip, truncate, drop, append, swap, duplicate, other key, other document) refused."""

from __future__ import annotations

import hashlib
import os
import random
import tracemalloc
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from docex.storage.encryption import (
    DEFAULT_SEGMENT_SIZE,
    HEADER_SIZE,
    MAX_SEGMENT_SIZE,
    TAG_SIZE,
    BlobIntegrityError,
    associated_data,
    decrypt,
    encrypt,
    encrypted_size,
    new_data_key,
    parse_header,
    plaintext_size,
)
from docex.storage.filesystem import FilesystemBlobStore
from docex.vocabulary.levels import Classification

SEG = 64  # small segments keep multi-segment cases fast; the format is the same at 1 MiB
DEK = bytes(range(32))
AAD = associated_data("doc-1", "file-1", "normal")


def _encrypt(data: bytes, *, segment_size: int = SEG, aad: bytes = AAD) -> bytes:
    return b"".join(encrypt([data], DEK, aad, segment_size=segment_size))


def _decrypt(blob: bytes, *, dek: bytes = DEK, aad: bytes = AAD, chunk: int = 0) -> bytes:
    chunks = [blob] if chunk == 0 else [blob[i : i + chunk] for i in range(0, len(blob), chunk)]
    return b"".join(decrypt(chunks, dek, aad))


def _split(blob: bytes, segment_size: int = SEG) -> tuple[bytes, list[bytes]]:
    stride = segment_size + TAG_SIZE
    body = blob[HEADER_SIZE:]
    return blob[:HEADER_SIZE], [body[i : i + stride] for i in range(0, len(body), stride)]


def _reason(blob: bytes, *, dek: bytes = DEK, aad: bytes = AAD) -> str:
    with pytest.raises(BlobIntegrityError) as info:
        _decrypt(blob, dek=dek, aad=aad)
    return info.value.reason


def _rng(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 (shapes of test data, not secrets)


def _pieces(data: bytes, rng: random.Random, largest: int) -> Iterator[bytes]:
    pos = 0
    while pos < len(data):
        n = rng.randrange(0, largest + 1)  # empty chunks included
        yield data[pos : pos + n]
        pos += n


@pytest.mark.parametrize("size", [0, 1, SEG - 1, SEG, SEG + 1, 2 * SEG, 5 * SEG + 3])
def test_round_trip_at_segment_boundaries(size: int) -> None:
    data = os.urandom(size)
    blob = _encrypt(data)
    assert len(blob) == encrypted_size(size, SEG)
    assert plaintext_size(len(blob), SEG) == size
    assert _decrypt(blob) == data
    assert _decrypt(blob, chunk=1) == data


@pytest.mark.parametrize(
    "size",
    [0, 1, DEFAULT_SEGMENT_SIZE - 1, DEFAULT_SEGMENT_SIZE, DEFAULT_SEGMENT_SIZE + 1, 3 << 20],
)
def test_round_trip_at_the_default_segment_size(size: int) -> None:
    data = os.urandom(size)
    blob = b"".join(encrypt(_pieces(data, _rng(size), 300_000), DEK, AAD))
    assert len(blob) == encrypted_size(size)
    assert b"".join(decrypt(_pieces(blob, _rng(~size), 300_000), DEK, AAD)) == data


@pytest.mark.parametrize("seed", range(40))
def test_random_sizes_and_chunkings_round_trip(seed: int) -> None:
    # hypothesis is not installed in the venv; a seeded search over the same space instead.
    rng = _rng(seed)
    segment_size = rng.choice([16, 17, 64, 1000])
    size = rng.choice([0, segment_size, rng.randrange(0, 20 * segment_size)])
    data = rng.randbytes(size)
    kinds: list[type[bytes] | type[bytearray]] = [bytes, bytearray]
    chunks = (rng.choice(kinds)(c) for c in _pieces(data, rng, 3 * segment_size))
    blob = b"".join(encrypt(chunks, DEK, AAD, segment_size=segment_size))
    assert len(blob) == encrypted_size(size, segment_size)
    assert b"".join(decrypt(_pieces(blob, rng, 3 * segment_size), DEK, AAD)) == data


def test_fifty_mib_stream_round_trips_through_the_blob_store_in_bounded_memory(
    tmp_path: Path,
) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    size = 50 << 20
    sent = hashlib.sha256()

    def source() -> Iterator[bytes]:
        for _ in range(size // 65536):
            piece = os.urandom(65536)
            sent.update(piece)
            yield piece

    received = hashlib.sha256()
    received_size = 0
    tracemalloc.start()
    try:
        info = store.put_stream("blob-50m", encrypt(source(), DEK, AAD))
        for plain in decrypt(store.open("blob-50m"), DEK, AAD):
            received.update(plain)
            received_size += len(plain)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.size == encrypted_size(size)
    assert (received_size, received.digest()) == (size, sent.digest())
    assert peak < 4 * DEFAULT_SEGMENT_SIZE, f"peak {peak / DEFAULT_SEGMENT_SIZE:.2f} segments"


def test_producers_that_reuse_their_buffer_are_safe() -> None:
    # A readinto()-style producer refills one bytearray; decrypt looks ahead a chunk before it
    # authenticates, so it must not keep a view of the buffer the producer is about to refill.
    def refilling(chunks: Iterable[bytes]) -> Iterator[bytearray]:
        buf = bytearray()
        for chunk in chunks:
            if len(buf) != len(chunk):
                buf = bytearray(len(chunk))
            buf[:] = chunk
            yield buf

    data = os.urandom(10 * SEG + 5)
    pieces = [data[i : i + SEG] for i in range(0, len(data), SEG)]
    blob = list(encrypt(refilling(pieces), DEK, AAD, segment_size=SEG))
    assert [len(c) for c in blob[:3]] == [HEADER_SIZE, SEG + TAG_SIZE, SEG + TAG_SIZE]
    assert b"".join(decrypt(refilling(blob), DEK, AAD)) == data


def test_ciphertext_shows_no_plaintext_and_differs_each_time() -> None:
    data = b"QUYET DINH so 123/QD-TTg " * 100
    first, second = _encrypt(data), _encrypt(data)
    assert b"QUYET DINH" not in first
    assert first[HEADER_SIZE:] != second[HEADER_SIZE:]
    assert parse_header(first).key_id != parse_header(second).key_id


def test_every_single_byte_flip_is_detected() -> None:
    blob = _encrypt(os.urandom(3 * SEG + 10))
    for i in range(len(blob)):
        altered = bytearray(blob)
        altered[i] ^= 0x01
        with pytest.raises(BlobIntegrityError):
            _decrypt(bytes(altered))


@pytest.mark.parametrize(
    ("offset", "reason"),
    [
        (0, "bad_header"),  # magic
        (4, "unsupported_version"),
        (9, "wrong_key"),  # key id: salts the key derivation
        (25, "segment_auth_failed"),  # nonce prefix
        (40, "wrong_key"),  # key commitment
        (HEADER_SIZE + 3, "segment_auth_failed"),  # ciphertext of segment 0
        (HEADER_SIZE + SEG + 2, "segment_auth_failed"),  # tag of segment 0
        (-1, "segment_auth_failed"),  # tag of the final segment
    ],
)
def test_flipped_byte_names_what_failed(offset: int, reason: str) -> None:
    altered = bytearray(_encrypt(os.urandom(2 * SEG + 10)))
    altered[offset] ^= 0x80
    assert _reason(bytes(altered)) == reason


@pytest.mark.parametrize("size", [10, 3 * SEG])
def test_segment_size_in_the_header_is_authenticated(size: int) -> None:
    # With one short segment, the framing would still line up: only the AAD catches it.
    blob = bytearray(_encrypt(os.urandom(size)))
    blob[5:9] = (SEG * 2).to_bytes(4, "big")
    assert _reason(bytes(blob)) == "segment_auth_failed"


@pytest.mark.parametrize("claimed", [0, 15, MAX_SEGMENT_SIZE + 1, 0xFFFFFFFF])
def test_absurd_segment_size_is_refused_before_any_read(claimed: int) -> None:
    blob = bytearray(_encrypt(b"x"))
    blob[5:9] = claimed.to_bytes(4, "big")
    assert _reason(bytes(blob)) == "bad_segment_size"


def test_every_truncation_is_detected() -> None:
    blob = _encrypt(os.urandom(3 * SEG + 10))
    for length in range(len(blob)):
        with pytest.raises(BlobIntegrityError):
            _decrypt(blob[:length])


def test_truncation_at_a_segment_boundary_is_reported_as_truncated() -> None:
    header, segments = _split(_encrypt(os.urandom(3 * SEG + 10)))
    assert _reason(header + b"".join(segments[:2])) == "truncated"


def test_truncation_inside_a_segment_fails() -> None:
    blob = _encrypt(os.urandom(3 * SEG + 10))
    assert _reason(blob[: HEADER_SIZE + SEG + TAG_SIZE + 20]) == "segment_auth_failed"


def test_dropping_the_final_segment_is_reported_as_truncated() -> None:
    header, segments = _split(_encrypt(os.urandom(3 * SEG)))  # the final segment is full
    assert _reason(header + b"".join(segments[:-1])) == "truncated"


def test_header_alone_is_truncated() -> None:
    assert _reason(_encrypt(b"")[:HEADER_SIZE]) == "truncated"


def test_empty_input_is_not_a_blob() -> None:
    assert _reason(b"") == "bad_header"


def test_appending_a_segment_is_reported_as_trailing_data() -> None:
    header, segments = _split(_encrypt(os.urandom(3 * SEG)))
    assert _reason(header + b"".join([*segments, segments[1]])) == "trailing_data"


def test_appending_bytes_after_the_final_segment_fails() -> None:
    blob = _encrypt(os.urandom(3 * SEG))
    assert _reason(blob + b"\x00") == "trailing_data"
    assert _reason(_encrypt(os.urandom(SEG + 5)) + b"\x00") == "segment_auth_failed"


def test_swapped_segments_fail() -> None:
    header, s = _split(_encrypt(os.urandom(4 * SEG + 1)))
    assert _reason(header + b"".join([s[0], s[2], s[1], s[3], s[4]])) == "segment_auth_failed"


def test_duplicated_segment_fails() -> None:
    header, s = _split(_encrypt(os.urandom(3 * SEG + 1)))
    assert _reason(header + b"".join([s[0], s[0], *s[1:]])) == "segment_auth_failed"


def test_segments_spliced_from_another_blob_under_the_same_key_fail() -> None:
    header_a, a = _split(_encrypt(os.urandom(3 * SEG + 1)))
    _, b = _split(_encrypt(os.urandom(3 * SEG + 1)))
    assert _reason(header_a + b"".join([a[0], b[1], a[2], a[3]])) == "segment_auth_failed"


def test_blob_swapped_between_documents_fails() -> None:
    blob = _encrypt(b"%PDF-1.7 the decision", aad=associated_data("doc-1", "file-1", "normal"))
    for other in [
        associated_data("doc-2", "file-1", "normal"),
        associated_data("doc-1", "file-2", "normal"),
        associated_data("doc-1", "file-1", "confidential"),
    ]:
        assert _reason(blob, aad=other) == "segment_auth_failed"


def test_wrong_data_key_is_reported_as_wrong_key() -> None:
    assert _reason(_encrypt(b"content"), dek=new_data_key()) == "wrong_key"


def test_no_plaintext_of_a_bad_segment_or_after_it_is_released() -> None:
    data = os.urandom(4 * SEG)
    header, s = _split(_encrypt(data))
    altered = bytearray(s[2])
    altered[0] ^= 1
    released: list[bytes] = []

    def read_all() -> None:
        released.extend(decrypt([header, s[0], s[1], bytes(altered), s[3]], DEK, AAD))

    with pytest.raises(BlobIntegrityError) as info:
        read_all()
    assert info.value.reason == "segment_auth_failed"
    assert released == [data[:SEG], data[SEG : 2 * SEG]]


def test_unknown_version_is_refused() -> None:
    blob = bytearray(_encrypt(b"x"))
    blob[4] = 2
    with pytest.raises(BlobIntegrityError, match="unsupported_version"):
        _decrypt(bytes(blob))


def test_associated_data_encoding_is_unambiguous() -> None:
    assert associated_data("a:b", "c", "normal") != associated_data("a", "b:c", "normal")
    assert associated_data("a", "", "bc") != associated_data("a", "b", "c")
    assert associated_data("d", "f", Classification.SECRET) == associated_data("d", "f", "secret")


def test_sizes_of_impossible_blobs_are_rejected() -> None:
    with pytest.raises(ValueError, match="cannot hold"):
        plaintext_size(HEADER_SIZE + TAG_SIZE - 1, SEG)
    with pytest.raises(ValueError, match="not the size"):
        plaintext_size(HEADER_SIZE + (SEG + TAG_SIZE) + TAG_SIZE, SEG)  # empty final after full
    assert plaintext_size(encrypted_size(0, SEG), SEG) == 0


@pytest.mark.parametrize("dek", [b"", b"k" * 16, b"k" * 33])
def test_data_keys_are_256_bit(dek: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        list(encrypt([b"x"], dek, AAD))
    with pytest.raises(ValueError, match="32 bytes"):
        list(decrypt([b"x"], dek, AAD))


@pytest.mark.parametrize("segment_size", [0, 15, MAX_SEGMENT_SIZE + 1])
def test_segment_size_outside_bounds_is_refused_when_writing(segment_size: int) -> None:
    with pytest.raises(ValueError, match="segment size"):
        list(encrypt([b"x"], DEK, AAD, segment_size=segment_size))


def _consume(chunks: Iterable[bytes]) -> int:
    return sum(len(c) for c in chunks)


def test_decrypt_consumes_its_input_lazily() -> None:
    pulled = 0

    def counting(blob: bytes) -> Iterator[bytes]:
        nonlocal pulled
        for i in range(0, len(blob), SEG + TAG_SIZE):
            pulled += 1
            yield blob[i : i + SEG + TAG_SIZE]

    blob = _encrypt(os.urandom(20 * SEG))
    plain = decrypt(counting(blob), DEK, AAD)
    next(plain)
    assert pulled <= 3  # first read spans header + part of segment 0, then the lookahead
    assert _consume(plain) == 19 * SEG
