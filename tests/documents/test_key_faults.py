"""Faults named right: a key that is missing, locked or foreign is ``503 key_unavailable`` with
Retry-After and flags nothing (the document reads again once the key is back); only data that
fails its own authentication is ``stored_file_corrupt``; a full store is ``507 storage_full``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from docex.app import create_app
from docex.config import Settings
from docex.documents.models import Delivery, Document, DocumentFile
from docex.signing.keks import KekRing, WrappedKey
from docex.signing.sandbox import ValidatorPool
from docex.storage.encryption import associated_data
from docex.storage.filesystem import FilesystemBlobStore
from tests.helpers import G22, H41, as_sent, audit_events, auth, counts, deliver, envelope, node_of
from tests.helpers import pdf as sample
from tests.helpers import send as post

ANOTHER_PASSPHRASE = "another process's passphrase"


def _sent(client: TestClient, credentials: dict[str, Any], **fields: Any) -> dict[str, Any]:
    main = sample("Công văn thử khóa")
    role = "leader" if fields.get("classification") not in (None, "normal") else "clerk"
    response = post(client, auth(credentials, G22, role), envelope(**fields), main)
    assert response.status_code == 201, response.text
    deliver(client)
    return {"document": response.json(), "main": as_sent(main)}


def _download(client: TestClient, credentials: dict[str, Any], document: dict[str, Any]) -> Any:
    file_id = document["files"][0]["id"]
    return client.get(
        f"/api/v1/documents/{document['id']}/files/{file_id}", headers=auth(credentials, H41)
    )


def _flags(client: TestClient, document_id: str) -> set[str | None]:
    with node_of(client).db.read() as session:
        return set(
            session.scalars(select(Delivery.flag).where(Delivery.document_id == document_id))
        )


def _assert_key_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "key_unavailable"
    assert int(response.headers["retry-after"]) > 0


@pytest.fixture
def restarted(
    client: TestClient, settings: Settings, validator_pool: ValidatorPool
) -> Iterator[TestClient]:
    """The same node started again (same data directory and database): a fresh process holds
    no key in memory, as after a restart or a restore from backup."""
    with TestClient(
        create_app(settings, validators=validator_pool), raise_server_exceptions=False
    ) as again:
        yield again


def test_a_kek_file_moved_away_is_503_then_the_document_reads_again_once_restored(
    client: TestClient, restarted: TestClient, credentials: dict[str, Any], tmp_path: Path
) -> None:
    sent = _sent(client, credentials)
    document = sent["document"]
    kek_file = node_of(restarted).keks.directory / "v0001.key"
    aside = tmp_path / "backup-v0001.key"
    shutil.move(kek_file, aside)

    _assert_key_unavailable(_download(restarted, credentials, document))
    assert _flags(restarted, document["id"]) == {None}
    assert audit_events(restarted, "storage:file:corrupt") == []

    shutil.move(aside, kek_file)  # restored from the backup
    again = _download(restarted, credentials, document)
    assert again.status_code == 200
    assert again.content == sent["main"]
    assert _flags(restarted, document["id"]) == {None}


def test_a_kek_under_another_passphrase_is_key_unavailable_for_intake_and_reading(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    """Another process, configured with another passphrase, added a KEK version: this node
    cannot open it. Intake is 503 with nothing stored; a file wrapped under it is 503, never
    flagged; once the foreign version is gone, intake works again."""
    earlier = _sent(client, credentials)["document"]
    node = node_of(client)
    foreign = KekRing(node.keks.directory, ANOTHER_PASSPHRASE)
    version = foreign.rotate()
    # The other process rewraps one file's data key under its new version.
    with node.db.write() as session:
        file = session.get(DocumentFile, earlier["files"][0]["id"])
        assert file is not None
        assert file.wrapped_key is not None
        assert file.kek_version is not None
        aad = associated_data(earlier["id"], file.id, "normal")
        dek = node.keks.unwrap(WrappedKey(file.kek_version, file.wrapped_key), aad)
        rewrapped = foreign.wrap(dek, aad)
        assert rewrapped.version == version
        file.kek_version, file.wrapped_key = rewrapped.version, rewrapped.blob
    before = counts(client)

    refused = post(client, auth(credentials, G22), envelope(), sample("Không lưu được"))
    _assert_key_unavailable(refused)
    assert counts(client) == before
    assert list(node.settings.spool_dir.iterdir()) == []

    _assert_key_unavailable(_download(client, credentials, earlier))
    assert _flags(client, earlier["id"]) == {None}
    assert audit_events(client, "storage:file:corrupt") == []

    (node.keks.directory / f"v{version:04d}.key").unlink()
    assert post(client, auth(credentials, G22), envelope(), sample()).status_code == 201


def test_intake_with_no_kek_at_all_is_503_and_stores_nothing(
    client: TestClient, credentials: dict[str, Any], tmp_path: Path
) -> None:
    node = node_of(client)
    before = counts(client)
    shutil.move(node.keks.directory, tmp_path / "kek-aside")
    response = post(client, auth(credentials, G22), envelope(), sample())
    _assert_key_unavailable(response)
    assert counts(client) == before
    assert audit_events(client, "intake:document:accepted") == []


def test_a_kek_version_the_ring_does_not_hold_is_key_unavailable_not_corrupt(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    document = _sent(client, credentials)["document"]
    with node_of(client).db.write() as session:
        session.execute(update(DocumentFile).values(kek_version=99))
    _assert_key_unavailable(_download(client, credentials, document))
    assert _flags(client, document["id"]) == {None}


def test_a_wrapped_key_that_fails_its_own_authentication_is_corrupt_and_flagged(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    document = _sent(client, credentials)["document"]
    with node_of(client).db.write() as session:
        file = session.get(DocumentFile, document["files"][0]["id"])
        assert file is not None
        assert file.wrapped_key is not None
        altered = bytearray(file.wrapped_key)
        altered[-1] ^= 0x01
        file.wrapped_key = bytes(altered)
    response = _download(client, credentials, document)
    assert response.status_code == 500
    assert response.json()["error"] == "stored_file_corrupt"
    assert _flags(client, document["id"]) == {"stored_file_corrupt"}
    [event] = audit_events(client, "storage:file:corrupt")
    assert event.document_id == document["id"]


def test_a_missing_agency_key_is_key_unavailable_until_restored(
    client: TestClient, credentials: dict[str, Any], tmp_path: Path
) -> None:
    """A confidential file opens with the recipient agency's custodial key: a key file not yet
    restored is 503 (not "the agency holds its key", not corrupt)."""
    sent = _sent(client, credentials, recipients=[H41], classification="confidential")
    document = sent["document"]
    key_file = node_of(client).agency_keys.directory / f"{H41}.pem"
    aside = tmp_path / "h41.pem"
    shutil.move(key_file, aside)

    _assert_key_unavailable(_download(client, credentials, document))
    assert _flags(client, document["id"]) == {None}

    shutil.move(aside, key_file)
    again = _download(client, credentials, document)
    assert again.status_code == 200
    assert again.content == sent["main"]


def test_an_altered_blob_is_still_corrupt(client: TestClient, credentials: dict[str, Any]) -> None:
    document = _sent(client, credentials)["document"]
    node = node_of(client)
    with node.db.read() as session:
        key = session.scalar(
            select(DocumentFile.blob_key).where(DocumentFile.id == document["files"][0]["id"])
        )
    [blob] = [p for p in node.settings.blob_dir.rglob("*") if p.name == key]
    data = bytearray(blob.read_bytes())
    data[200] ^= 0x01
    blob.write_bytes(bytes(data))
    response = _download(client, credentials, document)
    assert response.status_code == 500
    assert response.json()["error"] == "stored_file_corrupt"
    assert _flags(client, document["id"]) == {"stored_file_corrupt"}


class _FullDisk(FilesystemBlobStore):
    """The filesystem store on a disk with no room left: every blob's bytes go to /dev/full,
    which answers each write with the kernel's own ENOSPC."""

    def _temporary(self, key: str) -> tuple[BinaryIO, Path]:
        _, placeholder = super()._temporary(key)
        return Path("/dev/full").open("wb"), placeholder


def test_a_full_disk_while_storing_is_507_storage_full_and_stores_nothing(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    node = node_of(client)
    node.store = _FullDisk(node.settings.blob_dir)
    before = counts(client)
    response = post(client, auth(credentials, G22), envelope(), sample("Đĩa đầy"))
    assert response.status_code == 507, response.text
    assert response.json()["error"] == "storage_full"
    assert counts(client) == before
    assert [p for p in node.settings.blob_dir.rglob("*") if p.is_file()] == []
    assert list(node.settings.spool_dir.iterdir()) == []
    with node.db.read() as session:
        assert session.scalars(select(Document)).all() == []
