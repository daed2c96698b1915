"""Orphan blobs: written by an intake whose transaction then failed (a crash, a lost race).

Blobs are written before the rows that point at them, so a failure in between leaves a blob no
row names. ``sweep_orphans`` deletes such blobs once they are older than a grace period (longer
than any intake can take between writing a blob and committing), so it never races an intake
in flight. It runs periodically in the routing worker's housekeeping loop; every sweep that
deletes something is an audit event.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from docex.audit import events
from docex.db import Database
from docex.documents.models import DocumentFile, DraftFile
from docex.groupcommit import GroupCommitter
from docex.storage.base import BlobStore

log = logging.getLogger(__name__)
BATCH = 500


def sweep_orphans(
    db: Database,
    committer: GroupCommitter,
    store: BlobStore,
    *,
    now: datetime,
    grace: timedelta,
) -> list[str]:
    """Delete blobs older than ``grace`` that no file row (a document's or a draft's)
    references; returns their keys."""
    cutoff = now - grace
    candidates = [entry.key for entry in store.iter_blobs() if entry.modified < cutoff]
    swept: list[str] = []
    for start in range(0, len(candidates), BATCH):
        batch = candidates[start : start + BATCH]
        with db.read() as session:
            referenced = set(
                session.scalars(
                    select(DocumentFile.blob_key).where(DocumentFile.blob_key.in_(batch))
                )
            ) | set(  # a draft's files (documents.drafts) wait in the store too
                session.scalars(select(DraftFile.blob_key).where(DraftFile.blob_key.in_(batch)))
            )
        for key in batch:
            if key not in referenced:
                store.delete(key)
                swept.append(key)
    if swept:
        log.warning("swept %d orphan blobs", len(swept))
        committer.run(
            lambda session: events.record(
                session, events.BLOBS_SWEPT, at=now, count=len(swept), keys=swept[:100]
            )
        )
    return swept
