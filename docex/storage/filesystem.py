"""Filesystem blob store: one file per blob under ``<blob dir>/<last 2 chars of key>/<key>``.

Writes go to a temporary file in the same directory tree, are fsynced, and renamed into place
with ``os.replace`` (atomic on POSIX): no file ever exists under a key with partial content.
The rename becomes durable when its directory is fsynced; ``barrier()`` does that once for all
the directories touched since the last barrier, so concurrent puts share the cost.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from docex.kit.files import fsync_dir
from docex.storage.base import (
    CHUNK_SIZE,
    NO_SPACE_ERRNOS,
    BlobEntry,
    BlobInfo,
    BlobNotFound,
    BlobStoreFull,
    BlobStoreUnavailable,
    check_key,
)


class FilesystemBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / ".tmp"
        self._tmp.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._unsynced: set[Path] = set()
        self._unsynced_lock = threading.Lock()

    def _path(self, key: str) -> Path:
        check_key(key)
        # Shard on the end of the key: server keys start with a timestamp, end with randomness.
        return self.root / key[-2:].lower() / key

    def _install(self, tmp_path: Path, key: str) -> None:
        target = self._path(key)
        if not target.parent.is_dir():
            target.parent.mkdir(exist_ok=True, mode=0o700)
            with self._unsynced_lock:
                self._unsynced.add(self.root)
        os.replace(tmp_path, target)
        with self._unsynced_lock:
            self._unsynced.add(target.parent)

    def barrier(self) -> None:
        with self._unsynced_lock:
            pending, self._unsynced = self._unsynced, set()
        for directory in sorted(pending, key=lambda p: len(p.parts), reverse=True):
            fsync_dir(directory)

    def put_file(self, key: str, path: Path, *, sha256: str, size: int) -> BlobInfo:
        with _no_space_is_full(key):
            return self._put_file(key, path, sha256=sha256, size=size)

    def _put_file(self, key: str, path: Path, *, sha256: str, size: int) -> BlobInfo:
        self._path(key)
        try:
            # Same filesystem (the spool sits beside the blobs by default): a rename, no copy.
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
            tmp = self._tmp / f"{key}.put"
            os.replace(path, tmp)
        except OSError:
            tmp = self._tmp / f"{key}.put"
            try:
                with path.open("rb") as src, tmp.open("wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK_SIZE)
                    dst.flush()
                    os.fsync(dst.fileno())
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            path.unlink(missing_ok=True)
        if tmp.stat().st_size != size:
            tmp.unlink(missing_ok=True)
            raise ValueError(f"blob {key}: size changed while stored")
        self._install(tmp, key)
        return BlobInfo(key=key, size=size, sha256=sha256)

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> BlobInfo:
        with _no_space_is_full(key):
            return self._put_stream(key, chunks)

    def _put_stream(self, key: str, chunks: Iterable[bytes]) -> BlobInfo:
        self._path(key)
        digest = hashlib.sha256()
        size = 0
        fh, tmp = self._temporary(key)
        try:
            with fh:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            self._install(tmp, key)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return BlobInfo(key=key, size=size, sha256=digest.hexdigest())

    def _temporary(self, key: str) -> tuple[BinaryIO, Path]:
        """A new temporary file for ``key``'s bytes, beside the blobs (same filesystem)."""
        fd, name = tempfile.mkstemp(dir=self._tmp, prefix=f"{key}.")
        return os.fdopen(fd, "wb"), Path(name)

    def open(self, key: str) -> Iterator[bytes]:
        try:
            fh = self._path(key).open("rb")
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc
        return _read_chunks(fh)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def iter_keys(self) -> Iterator[str]:
        for entry in self.iter_blobs():
            yield entry.key

    def iter_blobs(self) -> Iterator[BlobEntry]:
        for shard in sorted(self.root.iterdir()):
            if shard.is_dir() and shard.name != ".tmp":
                for entry in sorted(shard.iterdir()):
                    with contextlib.suppress(FileNotFoundError):  # deleted while listing
                        modified = datetime.fromtimestamp(entry.stat().st_mtime, UTC)
                        yield BlobEntry(entry.name, modified)

    def check(self) -> None:
        """Write and remove a probe file: permission bits alone lie to root."""
        try:
            fd, name = tempfile.mkstemp(dir=self._tmp, prefix="probe-")
            os.close(fd)
            os.unlink(name)
        except OSError as exc:
            raise BlobStoreUnavailable(f"blob directory not writable: {exc.strerror}") from exc


@contextlib.contextmanager
def _no_space_is_full(key: str) -> Iterator[None]:
    """A put that runs out of disk (or quota) is ``BlobStoreFull``; its temporary file is gone
    already (the puts remove it on any failure)."""
    try:
        yield
    except OSError as exc:
        if exc.errno in NO_SPACE_ERRNOS:
            raise BlobStoreFull(f"no space left for blob {key}: {exc.strerror}") from exc
        raise


def _read_chunks(fh: BinaryIO) -> Iterator[bytes]:
    with fh:
        while chunk := fh.read(CHUNK_SIZE):
            yield chunk
