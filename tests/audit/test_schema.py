"""The audit tables the migrations build are the ones the models describe, and the
migration queues the events recorded before it for the integrator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text

from docex.audit.models import AuditEvent, AuditPending
from docex.db import Base, Database
from docex.migrations import upgrade
from docex.models import import_all

AUDIT_TABLES = {
    "audit_events",
    "audit_pending",
    "audit_log",
    "audit_tree",
    "audit_checkpoints",
    "audit_cosignatures",
}


def _table_of(diff: Any) -> str | None:
    for part in diff if isinstance(diff, list) else [diff]:
        for item in part[1:] if isinstance(part, tuple) else []:
            name = getattr(item, "name", None)
            table = getattr(item, "table", None)
            if table is not None and getattr(table, "name", None):
                return str(table.name)
            if isinstance(item, str) and item in AUDIT_TABLES:
                return item
            if name in AUDIT_TABLES:
                return str(name)
    return None


def test_the_migrated_audit_tables_match_the_models(database: tuple[str, Any]) -> None:
    import_all()
    db = Database(database[0])
    try:
        with db.engine.connect() as connection:
            diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        db.dispose()
    audit_diffs = [d for d in diffs if _table_of(d) in AUDIT_TABLES]
    assert audit_diffs == []


def test_the_migration_queues_events_recorded_before_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0004")
    db = Database(url)
    try:
        with db.write() as session:
            session.execute(
                text(
                    "INSERT INTO audit_events (at, event, detail) VALUES "
                    "('2026-01-01 00:00:00.000000', 'registry:agency:created', '{}'), "
                    "('2026-01-01 00:00:01.000000', 'registry:group:created', '{}')"
                )
            )
        upgrade(url)
        with db.read() as session:
            events = session.scalar(select(func.count()).select_from(AuditEvent))
            queued = session.scalar(select(func.count()).select_from(AuditPending))
        assert events == queued == 2
    finally:
        db.dispose()
