"""Files that must never be seen half-written: keys, indexes, credentials.

- :func:`atomic_write` replaces ``path`` with ``data`` in one step (temporary file, fsync,
  rename, directory fsync): a reader sees the old content or the new, never a mix, and the new
  content survives a crash once it returns.
- :func:`create_exclusively` writes ``path`` only if it does not exist, atomically: the
  temporary file is hard-linked into place, which fails rather than replace an existing file.
  For keys, where replacing one would orphan everything it protects.

Both create files with ``mode`` (0600 by default) from the start, never wider.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make the directory entries of ``path`` (creations, renames) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temporary(path: Path, data: bytes, mode: int) -> str:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise
    return name


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` atomically and durably."""
    name = _temporary(path, data, mode)
    try:
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise
    fsync_dir(path.parent)


def create_exclusively(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create ``path`` with ``data`` atomically and durably; ``FileExistsError`` if it exists
    (it is never replaced)."""
    name = _temporary(path, data, mode)
    try:
        os.link(name, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
    fsync_dir(path.parent)
