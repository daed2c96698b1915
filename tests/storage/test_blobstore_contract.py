"""The contract every BlobStore backend passes: the filesystem, and S3 on a real SeaweedFS."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from docex.storage.base import BlobNotFound, BlobStore
from docex.storage.filesystem import FilesystemBlobStore
from docex.storage.s3 import S3BlobStore
from tests.storage.seaweed import SeaweedFS


@pytest.fixture(params=["filesystem", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "filesystem":
        yield FilesystemBlobStore(tmp_path / "blobs")
        return
    seaweedfs: SeaweedFS = request.getfixturevalue("running_seaweedfs")
    bucket = seaweedfs.create_bucket()  # a fresh, empty bucket per test
    yield S3BlobStore(
        seaweedfs.endpoint,
        bucket,
        access_key=seaweedfs.access_key,
        secret_key=seaweedfs.secret_key,
    )
    seaweedfs.remove_bucket(bucket)


def _chunks(total: int, size: int = 100_000) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield os.urandom(n)
        sent += n


def test_put_stream_hashes_on_the_way_in_and_reads_back_identical(store: BlobStore) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    info = store.put_stream("blob-1", iter([data[:1000], data[1000:]]))
    assert (info.size, info.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert b"".join(store.open("blob-1")) == data
    assert store.exists("blob-1")


def test_put_file_consumes_the_spooled_file(store: BlobStore, tmp_path: Path) -> None:
    spooled = tmp_path / "spooled"
    spooled.write_bytes(b"%PDF-1.7 content")
    digest = hashlib.sha256(b"%PDF-1.7 content").hexdigest()
    info = store.put_file("blob-2", spooled, sha256=digest, size=16)
    assert info.sha256 == digest
    assert not spooled.exists()
    assert b"".join(store.open("blob-2")) == b"%PDF-1.7 content"


def test_reads_are_streamed_in_bounded_chunks(store: BlobStore) -> None:
    store.put_stream("big", _chunks(5 * 1024 * 1024))
    assert max(len(c) for c in store.open("big")) <= 1024 * 1024


def test_a_failed_write_leaves_nothing_under_the_key(store: BlobStore) -> None:
    def broken() -> Iterator[bytes]:
        yield b"partial"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        store.put_stream("half", broken())
    assert not store.exists("half")
    assert list(store.iter_keys()) == []


def test_missing_blob_and_delete(store: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        list(store.open("nope"))
    store.put_stream("gone", iter([b"x"]))
    store.delete("gone")
    store.delete("gone")  # idempotent
    assert not store.exists("gone")


@pytest.mark.parametrize("key", ["../escape", "a/b", "", ".hidden", "x" * 200, "ké"])
def test_unsafe_keys_are_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="invalid blob key"):
        store.put_stream(key, iter([b"x"]))


def test_check_passes_on_a_writable_store(store: BlobStore) -> None:
    store.check()


def test_blobs_are_listed_with_their_write_time(store: BlobStore) -> None:
    from datetime import UTC, datetime, timedelta

    store.put_stream("listed", iter([b"x"]))
    [entry] = [e for e in store.iter_blobs() if e.key == "listed"]
    assert entry.modified.tzinfo is not None
    assert abs(entry.modified - datetime.now(UTC)) < timedelta(minutes=10)
