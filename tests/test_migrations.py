"""The migrations build exactly what the ORM models declare, on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any


def test_the_migrations_build_exactly_the_tables_the_models_declare(
    database: tuple[str, dict[str, Any]],
) -> None:
    """Every table, column, type, index and constraint: no difference Alembic can see."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from docex.db import Base, make_engine
    from docex.models import import_all

    import_all()
    engine = make_engine(database[0])
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
