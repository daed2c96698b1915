"""S3 backend on a real SeaweedFS: what the contract suite cannot show.

Bounded memory for big unknown-length streams, refused credentials, the store going away and
coming back, abandoned downloads, and how the SeaweedFS under test is itself set up.
"""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from fastapi.testclient import TestClient
from minio.helpers import ObjectWriteResult
from pydantic import SecretStr
from urllib3 import HTTPHeaderDict

from docex.app import build_store, create_app
from docex.config import Settings, StorageSettings
from docex.storage.base import CHUNK_SIZE, BlobStoreUnavailable
from docex.storage.s3 import PART_SIZE, S3BlobStore, S3CredentialsRejected
from tests.helpers import G22, H41, as_sent, auth, counts, deliver, envelope, pdf, send
from tests.storage.seaweed import SeaweedFS

MiB = 1024 * 1024
# Fails in seconds, not minutes: minio's own default is a 5-minute timeout with 5 retries.


@pytest.fixture
def backend() -> str:
    """The database under the API test here: SQLite is enough to show what S3 does."""
    return "sqlite"


@pytest.fixture
def bucket(running_seaweedfs: SeaweedFS) -> Iterator[str]:
    name = running_seaweedfs.create_bucket()
    yield name
    running_seaweedfs.start()  # a test that stopped the server gets it back before cleanup
    running_seaweedfs.remove_bucket(name)


def _store(seaweedfs: SeaweedFS, bucket: str, *, secret_key: str | None = None) -> S3BlobStore:
    return S3BlobStore(
        seaweedfs.endpoint,
        bucket,
        access_key=seaweedfs.access_key,
        secret_key=secret_key or seaweedfs.secret_key,
    )


class _Source:
    """A stream of ``total`` bytes in 256 KiB chunks whose sha256 is known once consumed."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._block = os.urandom(CHUNK_SIZE)
        self._digest = hashlib.sha256()

    def __iter__(self) -> Iterator[bytes]:
        for index in range(self.total // CHUNK_SIZE):
            chunk = index.to_bytes(8, "big") + self._block[8:]  # distinct chunks, cheap to make
            self._digest.update(chunk)
            yield chunk

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def _established_to(port: int) -> int:
    """Open TCP connections of this process to 127.0.0.1:``port`` (from /proc)."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path("/proc/self/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state, inode = fields[2], fields[3], fields[9]
        if state == "01" and inode in inodes and int(remote.split(":")[1], 16) == port:
            count += 1
    return count


def test_a_64_mib_stream_of_unknown_length_round_trips_in_bounded_memory(
    running_seaweedfs: SeaweedFS, bucket: str
) -> None:
    store = _store(running_seaweedfs, bucket)
    source = _Source(64 * MiB)
    tracemalloc.start()
    try:
        info = store.put_stream("big", iter(source))
        _, upload_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        digest = hashlib.sha256()
        size = 0
        for chunk in store.open("big"):
            digest.update(chunk)
            size += len(chunk)
        _, download_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (info.size, info.sha256) == (64 * MiB, source.hexdigest())
    assert (size, digest.hexdigest()) == (info.size, info.sha256)
    # minio's unknown-length loop holds the previous part, the next one and a copy of it while
    # it reads: about three parts, whatever the blob size. Never the blob.
    assert upload_peak < 3.25 * PART_SIZE < info.size
    assert download_peak < 4 * CHUNK_SIZE


def test_put_file_uploads_in_parts_and_consumes_the_file(
    running_seaweedfs: SeaweedFS, bucket: str, tmp_path: Path
) -> None:
    store = _store(running_seaweedfs, bucket)
    spooled = tmp_path / "spooled"
    source = _Source(PART_SIZE + 3 * CHUNK_SIZE)  # two parts: a multipart upload
    with spooled.open("wb") as fh:
        for chunk in source:
            fh.write(chunk)
    info = store.put_file("multi", spooled, sha256=source.hexdigest(), size=source.total)
    assert not spooled.exists()
    stat = running_seaweedfs.client().stat_object(bucket, "multi")
    assert stat.size == source.total
    assert (stat.etag or "").endswith("-2")  # S3's mark of an object completed from 2 parts
    assert hashlib.sha256(b"".join(store.open("multi"))).hexdigest() == info.sha256


def test_an_acknowledgement_without_an_etag_is_checked_not_believed(
    running_seaweedfs: SeaweedFS, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some stores answer CompleteMultipartUpload with 200 and the error in the body."""
    store = _store(running_seaweedfs, bucket)
    spooled = tmp_path / "spooled"
    spooled.write_bytes(b"%PDF-1.7 never stored")

    def acknowledged_but_not_stored(*args: object, **kwargs: object) -> ObjectWriteResult:
        return ObjectWriteResult(bucket, "lost", None, None, HTTPHeaderDict())

    monkeypatch.setattr(store._client, "fput_object", acknowledged_but_not_stored)
    digest = hashlib.sha256(spooled.read_bytes()).hexdigest()
    with pytest.raises(BlobStoreUnavailable, match="without storing it whole"):
        store.put_file("lost", spooled, sha256=digest, size=21)
    assert spooled.exists()  # still the caller's to retry or clean up


def test_refused_credentials_are_an_unavailable_store_naming_the_setting(
    running_seaweedfs: SeaweedFS, bucket: str
) -> None:
    """Decision: a node whose credentials are refused cannot store anything until an operator
    fixes its settings; that is "unavailable" (503 with Retry-After, /readyz failing), not a
    client error and not a 500. The subclass and the message tell the operator what to fix."""
    wrong = "not-the-secret-" + os.urandom(4).hex()
    store = _store(running_seaweedfs, bucket, secret_key=wrong)
    with pytest.raises(S3CredentialsRejected, match="DOCEX_STORAGE__S3_SECRET_KEY") as refused:
        store.check()
    assert isinstance(refused.value, BlobStoreUnavailable)
    assert wrong not in str(refused.value)
    assert running_seaweedfs.secret_key not in str(refused.value)
    with pytest.raises(S3CredentialsRejected):
        store.put_stream("nope", iter([b"x"]))
    with pytest.raises(S3CredentialsRejected):
        store.open("nope")
    assert list(_store(running_seaweedfs, bucket).iter_keys()) == []


def test_a_missing_bucket_is_an_unavailable_store(running_seaweedfs: SeaweedFS) -> None:
    store = _store(running_seaweedfs, "no-such-bucket-here")
    with pytest.raises(BlobStoreUnavailable, match="does not exist"):
        store.check()
    with pytest.raises(BlobStoreUnavailable, match="does not exist"):
        store.put_stream("x", iter([b"x"]))


def test_stopped_store_fails_fast_and_works_again_after_restart(
    running_seaweedfs: SeaweedFS, bucket: str
) -> None:
    store = _store(running_seaweedfs, bucket)
    store.put_stream("before", iter([b"kept across the restart"]))
    running_seaweedfs.stop()
    try:
        for attempt in (
            store.check,
            lambda: store.put_stream("during", iter([b"x"])),
            lambda: store.open("before"),
            lambda: store.exists("before"),
            lambda: list(store.iter_keys()),
        ):
            # Bounded connect timeouts and retries make these fail in seconds; tests assert
            # the behaviour, not the clock (the suite's own timeout catches a hang).
            with pytest.raises(BlobStoreUnavailable):
                attempt()
    finally:
        running_seaweedfs.start()
    store.check()
    assert b"".join(store.open("before")) == b"kept across the restart"
    assert not store.exists("during")
    store.put_stream("after", iter([b"works again"]))
    assert sorted(store.iter_keys()) == ["after", "before"]


def test_store_killed_mid_upload_leaves_no_object(
    running_seaweedfs: SeaweedFS, bucket: str
) -> None:
    store = _store(running_seaweedfs, bucket)

    def crash_after_the_first_part() -> Iterator[bytes]:
        source = iter(_Source(3 * PART_SIZE))
        for _ in range((PART_SIZE + CHUNK_SIZE) // CHUNK_SIZE):
            yield next(source)  # the first part is read whole and sent before the next is read
        running_seaweedfs.kill()
        yield from source

    with pytest.raises(BlobStoreUnavailable):
        store.put_stream("half", crash_after_the_first_part())
    running_seaweedfs.start()
    assert not store.exists("half")
    assert list(store.iter_keys()) == []


def test_abandoned_downloads_give_their_connections_back(
    running_seaweedfs: SeaweedFS, bucket: str
) -> None:
    store = _store(running_seaweedfs, bucket)
    data = os.urandom(4 * CHUNK_SIZE + 5)
    store.put_stream("doc", iter([data]))
    s3_port = running_seaweedfs.ports.s3
    pool_size = 10 + _established_to(s3_port)  # the store's pool, plus what others hold open

    # Consumers that stop after the first chunk and close, all still holding their readers.
    readers = [store.open("doc") for _ in range(50)]
    for reader in readers:
        assert next(reader) == data[:CHUNK_SIZE]
    for reader in readers:
        reader.close()  # type: ignore[attr-defined]
    assert _established_to(s3_port) <= pool_size  # not one per abandoned read

    # Consumers that stop after the first chunk and just drop the reader, or never start.
    for index in range(50):
        reader = store.open("doc")
        if index % 2:
            next(reader)
        del reader
    assert _established_to(s3_port) <= pool_size

    assert b"".join(store.open("doc")) == data  # no half-read body was left in the pool


def test_seaweedfs_listens_on_loopback_only(running_seaweedfs: SeaweedFS) -> None:
    listening = running_seaweedfs.listening()
    ports = running_seaweedfs.ports
    assert {port for _, port in listening} >= {ports.s3, ports.filer, ports.master, ports.volume}
    assert {address for address, _ in listening} == {"127.0.0.1"}


def test_seaweedfs_refuses_anonymous_requests(running_seaweedfs: SeaweedFS) -> None:
    http = urllib3.PoolManager(retries=False, timeout=5.0)
    answer = http.request("GET", f"http://{running_seaweedfs.endpoint}/{running_seaweedfs.bucket}")
    assert answer.status == 403
    put = http.request(
        "PUT", f"http://{running_seaweedfs.endpoint}/{running_seaweedfs.bucket}/anon", body=b"x"
    )
    assert put.status == 403


def test_seaweedfs_fsyncs_bucket_writes(running_seaweedfs: SeaweedFS) -> None:
    locations = running_seaweedfs.filer_configuration()["locations"]
    assert isinstance(locations, list)
    assert {"locationPrefix": "/buckets/", "fsync": True}.items() <= next(
        loc for loc in locations if loc["locationPrefix"] == "/buckets/"
    ).items()


def test_settings_select_the_s3_backend(running_seaweedfs: SeaweedFS, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        storage=StorageSettings(
            backend="s3",
            s3_endpoint=running_seaweedfs.endpoint,
            s3_bucket=running_seaweedfs.bucket,
            s3_access_key=SecretStr(running_seaweedfs.access_key),
            s3_secret_key=SecretStr(running_seaweedfs.secret_key),
        ),
    )
    store = build_store(settings)
    assert isinstance(store, S3BlobStore)
    store.check()
    assert running_seaweedfs.secret_key not in repr(store)


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCEX_STORAGE__BACKEND", "s3")
    monkeypatch.setenv("DOCEX_STORAGE__S3_ENDPOINT", "127.0.0.1:9")
    monkeypatch.setenv("DOCEX_STORAGE__S3_ACCESS_KEY", "node")
    monkeypatch.setenv("DOCEX_STORAGE__S3_SECRET_KEY", "s3cr3t-value")
    settings = Settings(data_dir=tmp_path)
    assert settings.storage.s3_secret_key is not None
    assert "s3cr3t-value" not in repr(settings)
    store = build_store(settings)
    assert isinstance(store, S3BlobStore)
    assert (store.endpoint, store.bucket) == ("127.0.0.1:9", "docex")
    with pytest.raises(BlobStoreUnavailable):  # nothing listens on port 9 (discard)
        store.check()


def test_s3_settings_without_credentials_are_refused_by_name(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        storage=StorageSettings(
            backend="s3", s3_endpoint="127.0.0.1:9", s3_secret_key=SecretStr("hidden-value")
        ),
    )
    with pytest.raises(ValueError, match="DOCEX_STORAGE__S3_ACCESS_KEY") as refused:
        build_store(settings)
    assert "hidden-value" not in str(refused.value)
    assert "SECRET_KEY" not in str(refused.value)


def test_an_endpoint_with_a_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="host:port"):
        S3BlobStore("http://127.0.0.1:9000", "docex", access_key="a", secret_key="b")


@pytest.fixture
def s3_client(
    settings: Settings, running_seaweedfs: SeaweedFS, bucket: str
) -> Iterator[TestClient]:
    """A node whose blobs live in a fresh SeaweedFS bucket."""
    settings.storage = StorageSettings(
        backend="s3",
        s3_endpoint=running_seaweedfs.endpoint,
        s3_bucket=bucket,
        s3_access_key=SecretStr(running_seaweedfs.access_key),
        s3_secret_key=SecretStr(running_seaweedfs.secret_key),
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_the_api_answers_503_with_retry_after_while_seaweedfs_is_down(
    s3_client: TestClient, credentials: dict[str, object], running_seaweedfs: SeaweedFS
) -> None:
    main = pdf("Công văn trên SeaweedFS")
    sent = send(s3_client, auth(credentials, G22), envelope(), main)
    assert sent.status_code == 201, sent.text
    document = sent.json()
    assert deliver(s3_client) == 1
    url = f"/api/v1/documents/{document['id']}/files/{document['files'][0]['id']}"
    assert s3_client.get(url, headers=auth(credentials, H41)).content == as_sent(main)

    running_seaweedfs.stop()
    try:
        refused = send(s3_client, auth(credentials, G22), envelope(), pdf("Không lưu được"))
        download = s3_client.get(url, headers=auth(credentials, H41))
        ready = s3_client.get("/readyz")
    finally:
        running_seaweedfs.start()
    for answer in (refused, download):
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"] == "storage_unavailable"
        assert "retry-after" in answer.headers
    assert ready.status_code == 503
    assert counts(s3_client)["documents"] == 1  # the refused one left no row

    assert s3_client.get(url, headers=auth(credentials, H41)).content == as_sent(main)
    again = send(s3_client, auth(credentials, G22), envelope(), pdf("Lưu lại được"))
    assert again.status_code == 201, again.text
    totals = counts(s3_client)
    assert (totals["documents"], totals["files"], totals["blobs"]) == (2, 2, 2)
