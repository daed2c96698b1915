"""``docex backup DEST``: a consistent copy of a running node on SQLite and filesystem blobs.

The copy is itself a data directory: restoring is copying it to where the new node's
``DOCEX_DATA_DIR`` points and starting ``docex serve`` there with the same passphrase
(docs/runbook.md). It is taken while the node runs, in an order that makes it consistent:

1. **the database**, with SQLite's online backup API: a snapshot of one instant, taken while
   writers go on (WAL mode lets them);
2. **the blobs**, after it: a blob is written (and made durable) before the transaction that
   names it commits, so every blob a row of the snapshot names is already in place. Blobs
   written after the snapshot are copied too, named by no row of it: orphans, which the
   restored node's orphan sweep deletes after its grace period;
3. **the keys** (``keys/``: node key, KEK ring, agency keys) and the PKI (``pki/``), still
   encrypted with the node's passphrase, which is *not* in the copy. A KEK rotated after the
   snapshot is still in the ring, so every data key of the snapshot can be unwrapped.

A node on PostgreSQL or S3 is backed up with their own tools (``pg_dump``, a bucket mirror),
in the same order: database, then blobs, then keys (docs/runbook.md).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from docex.config import Settings
from docex.keys.paths import KeyPaths
from docex.kit.clock import SystemClock

MANIFEST = "backup.json"
# Copied beside the database and blobs when present (the demo logins of a demo node).
_EXTRA_FILES = ("demo-credentials.json",)


class BackupError(RuntimeError):
    """The node cannot be backed up by ``docex backup`` (and the message says what to do)."""


@dataclass(frozen=True)
class BackupResult:
    dest: Path
    database_bytes: int
    blobs: int
    key_files: int


def _sqlite_path(settings: Settings) -> Path:
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise BackupError(
            "docex backup copies an SQLite database; back up PostgreSQL with pg_dump "
            "(docs/runbook.md)"
        )
    return Path(url.database)


def _copy_tree(src: Path, dest: Path, *, skip: tuple[str, ...] = ()) -> int:
    """Copies regular files of ``src`` under ``dest``; a file deleted meanwhile (a swept
    orphan, a temporary file renamed) is skipped. Returns how many were copied."""
    copied = 0
    for root, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if d not in skip]
        target = dest / Path(root).relative_to(src)
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name in files:
            try:
                shutil.copy2(Path(root) / name, target / name)
            except FileNotFoundError:
                continue
            copied += 1
    return copied


def backup(settings: Settings, dest: Path) -> BackupResult:
    """Writes a restorable copy of the node to ``dest`` (which must not exist)."""
    database = _sqlite_path(settings)
    if settings.storage.resolved_backend != "filesystem":
        raise BackupError(
            "docex backup copies filesystem blobs; mirror the S3 bucket after the database "
            "(docs/runbook.md)"
        )
    if not database.exists():
        raise BackupError(f"no database at {database}")
    if dest.exists():
        raise BackupError(f"{dest} exists; a backup goes to a new directory")
    dest.mkdir(parents=True, mode=0o700)
    taken_at = SystemClock().now()

    source = sqlite3.connect(database, timeout=30)
    (dest / "docex.db").touch(mode=0o600)
    target = sqlite3.connect(dest / "docex.db")
    try:
        with target:
            source.backup(target)
    finally:
        target.close()
        source.close()

    blobs = _copy_tree(settings.blob_dir, dest / "blobs", skip=(".tmp",))
    key_files = _copy_tree(settings.keys_dir, dest / "keys")
    pki_dir = KeyPaths.of(settings).pki_dir
    if pki_dir.exists():
        key_files += _copy_tree(pki_dir, dest / pki_dir.relative_to(settings.data_dir))
    for name in _EXTRA_FILES:
        if (settings.data_dir / name).exists():
            shutil.copy2(settings.data_dir / name, dest / name)
    manifest = {
        "node_id": settings.node_id,
        "taken_at": taken_at.isoformat(),
        "database": "docex.db",
        "blobs": blobs,
        "key_files": key_files,
        "passphrase_needed": settings.passphrase is not None,
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return BackupResult(
        dest=dest,
        database_bytes=(dest / "docex.db").stat().st_size,
        blobs=blobs,
        key_files=key_files,
    )
