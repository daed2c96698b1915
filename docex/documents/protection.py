"""How a document's files are protected at rest, and opened again for a reader.

On intake every file is encrypted (``storage.encryption``, format DXB1) under a fresh data key
(DEK) while it streams into the blob store; its associated data binds the document id, file id
and classification, so a blob swapped between files or documents does not decrypt.

- A **normal** document's DEK is wrapped by the node's versioned KEK (``signing.keks``).
- A **classified** document's DEK is wrapped only for the public encryption key of each party
  agency (the sender and every recipient; HPKE, ``signing.agency_keys``), never by the KEK: whoever
  holds only the node's KEK — an operator, a relaying node, a stolen disk with its key files —
  cannot read it. The hosting node unwraps with the agency's custodial private key, only for a
  principal the access policy has already let through (agency membership + clearance).

Reading checks the SHA-256 recorded at intake as the plaintext streams out: a flipped byte,
truncated or swapped blob, or a wrapped key that fails its own authentication raises
``StoredFileCorrupt``, never serves bad bytes. A key that is only *unavailable* — a KEK version
or agency key file missing (not yet restored from a backup), one that the passphrase does not
open (added by another process under another passphrase) — raises ``KeyUnavailable`` (503): the
data is intact and reads again once the key is back, so nothing is flagged. The same holds on
intake: no usable KEK is a 503 before any blob is written. A full disk or bucket while storing
is ``StorageFull`` (507), not a fault of the data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from docex.db import Database
from docex.documents.models import Document, DocumentFile
from docex.errors import KeyUnavailable, StorageFull, StoredFileCorrupt, Unprocessable
from docex.signing import keks as kek_errors
from docex.signing.agency_keys import AgencyKeyStore, unwrap_for_agency, wrap_for_agency
from docex.signing.keks import KekRing, WrappedKey
from docex.storage.base import CHUNK_SIZE, BlobStore, BlobStoreFull
from docex.storage.encryption import (
    BlobIntegrityError,
    associated_data,
    decrypt,
    encrypt,
    new_data_key,
)
from docex.vocabulary.levels import Classification

__all__ = [
    "ProtectedFile",
    "SealedFile",
    "StoredFileCorrupt",
    "data_key",
    "open_sealed",
    "protect",
    "require_party_keys",
    "reveal",
    "rotate_data_keys",
]


@dataclass(frozen=True)
class ProtectedFile:
    stored_size: int
    kek_version: int | None
    wrapped_key: bytes | None
    agency_wraps: dict[str, bytes]


def _read(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            yield chunk


def protect(
    store: BlobStore,
    keks: KekRing,
    *,
    key: str,
    source: Path,
    document_id: str,
    file_id: str,
    classification: Classification,
    party_keys: dict[str, str],
) -> ProtectedFile:
    """Encrypt ``source`` into the blob store under ``key``; wrap its DEK as the rules say.

    ``party_keys`` maps each party agency to its published public key (PEM); it is only used,
    and must cover every party, when the document is classified.
    """
    dek = new_data_key()
    aad = associated_data(document_id, file_id, classification.value)
    agency_wraps: dict[str, bytes] = {}
    wrapped: WrappedKey | None = None
    if classification is Classification.NORMAL:
        try:
            wrapped = keks.wrap(dek, aad)
        except kek_errors.KeyUnavailable as exc:
            raise KeyUnavailable(f"the node's key-encryption key is unavailable: {exc}") from exc
    else:
        for agency_id, public_pem in party_keys.items():
            agency_wraps[agency_id] = wrap_for_agency(
                dek, public_pem.encode(), agency_id=agency_id, context=aad
            )
    try:
        info = store.put_stream(key, encrypt(_read(source), dek, aad))
    except BlobStoreFull as exc:
        raise StorageFull(f"the blob store has no room for the file: {exc}") from exc
    source.unlink(missing_ok=True)
    return ProtectedFile(
        stored_size=info.size,
        kek_version=wrapped.version if wrapped else None,
        wrapped_key=wrapped.blob if wrapped else None,
        agency_wraps=agency_wraps,
    )


def require_party_keys(
    classification: Classification, parties: Sequence[str], published: dict[str, str | None]
) -> dict[str, str]:
    """The public keys a classified document needs, or 422 naming the agencies without one."""
    if classification is Classification.NORMAL:
        return {}
    missing = [a for a in parties if not published.get(a)]
    if missing:
        raise Unprocessable(
            "no published encryption key for "
            + ", ".join(missing)
            + "; a classified document can only go to agencies that have one",
            code="recipient_without_encryption_key",
        )
    return {a: str(published[a]) for a in parties}


def data_key(
    keks: KekRing,
    agency_keys: AgencyKeyStore,
    *,
    document_id: str,
    file_id: str,
    classification: Classification,
    kek_version: int | None,
    wrapped_key: bytes | None,
    agency_wrap: bytes | None,
    reader_agency: str,
) -> bytes:
    """The file's data key: unwrapped by the KEK version it names, or by the reader agency's
    custodial key. ``KeyUnavailable`` (503, nothing flagged) when that key is missing or will not
    open; ``StoredFileCorrupt`` only when the wrapped key itself fails authentication."""
    aad = associated_data(document_id, file_id, classification.value)
    try:
        if wrapped_key is not None and kek_version is not None:
            return keks.unwrap(WrappedKey(kek_version, wrapped_key), aad)
        if agency_wrap is None:
            raise StoredFileCorrupt(f"no data key for {reader_agency} on file {file_id}")
        return agency_keys.unwrap(reader_agency, agency_wrap, aad)
    except kek_errors.KeyUnavailable as exc:
        raise KeyUnavailable(f"the key that opens file {file_id} is unavailable: {exc}") from exc
    except kek_errors.UnwrapError as exc:
        raise StoredFileCorrupt(f"the data key of file {file_id} fails authentication") from exc


def reveal(
    chunks: Iterable[bytes],
    dek: bytes,
    *,
    document_id: str,
    file_id: str,
    classification: Classification,
    sha256: str,
    size: int,
) -> Iterator[bytes]:
    """Plaintext of a stored blob, authenticated segment by segment; the final chunk is held
    back until the whole file's SHA-256 and size match what intake recorded."""
    aad = associated_data(document_id, file_id, classification.value)
    digest = hashlib.sha256()
    seen = 0
    pending: bytes | None = None
    try:
        for piece in decrypt(chunks, dek, aad):
            if pending is not None:
                yield pending
            digest.update(piece)
            seen += len(piece)
            pending = piece
    except BlobIntegrityError as exc:
        raise StoredFileCorrupt(f"file {file_id} failed authentication ({exc.reason})") from exc
    if seen != size or digest.hexdigest() != sha256:
        raise StoredFileCorrupt(f"file {file_id} does not match its recorded SHA-256")
    if pending is not None:
        yield pending


def rotate_data_keys(db: Database, keks: KekRing, *, batch: int = 500) -> int:
    """Rewrap every KEK-wrapped data key to the current KEK version; blobs are not touched.

    Run after ``KekRing.rotate()`` (``docex keys rotate``). Idempotent and resumable: each batch
    commits on its own, and rows already on the current version are skipped.
    """
    current = keks.current_version
    done = 0
    while True:
        with db.write() as session:
            pairs = session.execute(
                select(DocumentFile, Document.classification)
                .join(Document, Document.id == DocumentFile.document_id)
                .where(DocumentFile.kek_version.is_not(None), DocumentFile.kek_version != current)
                .limit(batch)
            ).all()
            for file, classification in pairs:
                if file.kek_version is None or file.wrapped_key is None:
                    continue  # excluded by the query; keeps the types honest
                aad = associated_data(file.document_id, file.id, classification)
                rewrapped = keks.rewrap(WrappedKey(file.kek_version, file.wrapped_key), aad)
                file.kek_version, file.wrapped_key = rewrapped.version, rewrapped.blob
        done += len(pairs)
        if len(pairs) < batch:
            return done


@dataclass(frozen=True)
class SealedFile:
    """A classified file as stored (DXB1 ciphertext) plus its data key wrapped for one agency:
    everything that agency's own system needs to read it with its own private key."""

    classification: Classification
    agency_wrap: bytes
    chunks: Iterator[bytes]


def open_sealed(
    chunks: Iterable[bytes],
    *,
    private_pem: bytes,
    agency_id: str,
    agency_wrap: bytes,
    document_id: str,
    file_id: str,
    classification: Classification,
    sha256: str,
    size: int,
    passphrase: str | None = None,
) -> Iterator[bytes]:
    """Decrypt a sealed file with the agency's own private key, outside any docex node (what
    ``docex decrypt`` and integrators run); checked against the SHA-256 like a download."""
    aad = associated_data(document_id, file_id, classification.value)
    try:
        dek = unwrap_for_agency(
            agency_wrap, private_pem, agency_id=agency_id, context=aad, passphrase=passphrase
        )
    except kek_errors.KeyUnavailable as exc:
        raise KeyUnavailable(f"this key cannot open file {file_id}: {exc}") from exc
    except kek_errors.UnwrapError as exc:
        raise StoredFileCorrupt(f"this key cannot open file {file_id}: {exc}") from exc
    return reveal(
        chunks,
        dek,
        document_id=document_id,
        file_id=file_id,
        classification=classification,
        sha256=sha256,
        size=size,
    )
