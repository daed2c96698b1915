"""The ``BlobStore`` protocol every backend implements, and the contract it promises.

- ``put_file`` / ``put_stream`` return once the blob's bytes are durable (fsynced, or
  acknowledged by the object store); its *name* is durable after the next ``barrier()``, which
  intake runs once per group commit, before the rows that point at the blob are committed.
  A crash before that leaves no blob under the key, never a partial one.
- Keys are chosen by the server (never a client's file name), ``[A-Za-z0-9._-]`` only.
- ``open`` streams in chunks; no backend reads a whole blob into memory.
- A put that finds no room (a full disk, quota or object store) raises ``BlobStoreFull``, not an
  ``OSError`` nor an outage: nothing of it is left under the key.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

CHUNK_SIZE = 256 * 1024
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", re.ASCII)


class BlobNotFound(KeyError):
    pass


class BlobStoreUnavailable(RuntimeError):
    """The backend cannot be reached; callers answer 503, never 500."""


class BlobStoreFull(RuntimeError):
    """The backend has no room for the blob (a full disk or quota, a full object store); the
    put left nothing behind. Callers answer 507 ``storage_full``."""


NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
"""What a local disk answers when it is full, or the process's quota is used up."""


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class BlobEntry:
    key: str
    modified: datetime  # aware UTC: when the blob was written


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key) or ".." in key:
        raise ValueError(f"invalid blob key {key!r}")
    return key


class BlobStore(Protocol):
    def put_file(self, key: str, path: Path, *, sha256: str, size: int) -> BlobInfo:
        """Store a local file already hashed by the caller; the file is consumed (moved/removed)."""
        ...

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> BlobInfo: ...

    def open(self, key: str) -> Iterator[bytes]: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def iter_keys(self) -> Iterator[str]: ...

    def iter_blobs(self) -> Iterator[BlobEntry]:
        """Every blob with its write time (for the orphan sweeper)."""
        ...

    def barrier(self) -> None:
        """Make every blob put so far durable by name (shared by concurrent puts)."""
        ...

    def check(self) -> None:
        """Raise ``BlobStoreUnavailable`` if the store cannot serve requests."""
        ...
