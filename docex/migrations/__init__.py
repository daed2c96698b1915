"""Alembic migrations, shipped inside the package so an installed node can migrate itself.

``upgrade`` is safe to run from several processes at once (replicas that all migrate on
start, a ``migrate`` job beside them): on PostgreSQL the migrations run inside one transaction
that first takes a transaction-level advisory lock (``pg_advisory_xact_lock``), so a second
process waits, then finds the schema at head and does nothing; on SQLite, where DDL is not
transactional, an exclusive ``flock`` on ``<database>.migrate.lock`` beside the database file
serialises them the same way.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

HERE = Path(__file__).parent

# pg_advisory_xact_lock key: "docex migrate" in eight bytes, shared by every docex node.
ADVISORY_LOCK_KEY = int.from_bytes(b"docexmig", "big") & 0x7FFF_FFFF_FFFF_FFFF


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.set_main_option(
        "file_template",
        "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d-%%(rev)s_%%(slug)s",
    )
    return config


@contextlib.contextmanager
def _sqlite_file_lock(url: str) -> Iterator[None]:
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision``, under the migration lock."""
    with _sqlite_file_lock(url):
        command.upgrade(alembic_config(url), revision)


def head() -> str:
    """The newest revision this version of docex ships."""
    revision = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if revision is None:
        raise RuntimeError("no migrations found")
    return revision


def current(url: str) -> str | None:
    """The revision the database at ``url`` is at (None: never migrated)."""
    from docex.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
