"""Database plumbing: declarative Base with naming conventions, engine and session helpers.

SQLite (the embedded default) runs in WAL mode with ``synchronous=FULL`` so a committed
transaction survives a power cut, and write transactions start with ``BEGIN IMMEDIATE`` so two
writers queue on the lock instead of failing half-way when one upgrades from read to write.
PostgreSQL needs none of this. Services never commit: the request or task boundary does, through
``Database.write()``.

No session is ever opened on a thread that runs an asyncio event loop (``read()`` and ``write()``
raise ``BlockingOnEventLoop``): a blocked loop answers nothing, and on SQLite a write that waits
for the lock there waits for a holder that needs the loop to finish, forever. The HTTP layer
opens its sessions in worker threads, and each write transaction begins and ends within one
synchronous call, never across an ``await``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from docex.kit.clock import as_utc

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


_WRITE = "docex_write"


class BlockingOnEventLoop(RuntimeError):
    """Blocking work was attempted on the thread of a running event loop (a bug, never input)."""


def forbid_event_loop(what: str) -> None:
    """Raise if the calling thread runs an asyncio event loop: ``what`` would block it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise BlockingOnEventLoop(f"{what} on the event loop's thread; run it in a worker thread")


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **kwargs)


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so BEGIN is ours to issue.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
        # SQLite's lower() folds ASCII only: "Về" would never match "về" in a search.
        dbapi_connection.create_function("unicode_lower", 1, _unicode_lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def insert_if_missing(session: Session, model: type[Base], keys: list[str], **values: Any) -> None:
    """``INSERT ... ON CONFLICT (keys) DO NOTHING``: a row created once however many
    transactions try at the same time (SQLite and PostgreSQL both speak it)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
    session.execute(insert(model).values(**values).on_conflict_do_nothing(index_elements=keys))


class Database:
    """One engine; ``read()`` sessions never commit, ``write()`` commits or rolls back."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.dialect = self.engine.dialect.name
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            self.engine.execution_options(**{_WRITE: True}), expire_on_commit=False
        )
        # SQLite has one writer at a time. Threads of this process queue on a lock that wakes
        # the next one the moment a commit ends, instead of SQLite's busy handler, which polls
        # with sleeps of up to 100 ms and turns contention into multi-second tail latency.
        self._writer_lock: threading.Lock | None = (
            threading.Lock() if self.dialect == "sqlite" else None
        )

    @contextmanager
    def read(self) -> Iterator[Session]:
        """Closing (not rolling back) ends the transaction and leaves loaded objects readable."""
        forbid_event_loop("a database read")
        with self._read() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        forbid_event_loop("a database write")
        with contextlib.ExitStack() as stack:
            if self._writer_lock is not None:
                stack.enter_context(self._writer_lock)
            session = stack.enter_context(self._write())
            stack.enter_context(session.begin())
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
