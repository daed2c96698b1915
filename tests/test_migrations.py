"""The migrations: they build exactly what the ORM models declare (SQLite and PostgreSQL), and
several replicas migrating one database at once (every container runs ``docex init`` on start)
all succeed, the schema migrated once, to head."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from docex.migrations import head
from tests.conftest import _pg_admin, _with_db
from tests.functional.conftest import DOCEX

REPLICAS = 4


def _env(data_dir: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCEX_")}
    env.update(DOCEX_DATA_DIR=str(data_dir), DOCEX_DATABASE_URL=url, DOCEX_NODE_ID="replica")
    return env


@pytest.mark.functional
@pytest.mark.parametrize("command", [["init"], ["db", "upgrade"]])
def test_replicas_migrating_one_database_at_once_all_succeed(
    backend: str, command: list[str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "postgresql":
        pg_server: str = request.getfixturevalue("pg_server")
        name = f"m_{uuid.uuid4().hex[:12]}"
        _pg_admin(pg_server, f"CREATE DATABASE {name}")
        url = _with_db(pg_server, name)
    else:
        url = f"sqlite:///{tmp_path / 'shared.db'}"
    # Each replica its own data directory (its own node key), one database between them.
    replicas = [
        subprocess.Popen(
            [DOCEX, *command],
            env=_env(tmp_path / f"replica-{n}", url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(REPLICAS)
    ]
    outcomes = [(p.wait(120), *p.communicate()) for p in replicas]
    assert [rc for rc, _, _ in outcomes] == [0] * REPLICAS, outcomes

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert [v for (v,) in versions] == [head()]
    current = subprocess.run(
        [DOCEX, "db", "current", "--json"],
        env=_env(tmp_path / "replica-0", url),
        capture_output=True,
        text=True,
        check=False,
    )
    assert current.returncode == 0, current.stderr
    assert json.loads(current.stdout) == {"current": head(), "head": head(), "up_to_date": True}
    if backend == "postgresql":
        _pg_admin(pg_server, f"DROP DATABASE {name} WITH (FORCE)")


def test_db_current_says_behind_and_exits_1_before_the_first_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    result = subprocess.run(
        [DOCEX, "db", "current", "--json"],
        env=_env(tmp_path / "data", url),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert json.loads(result.stdout) == {"current": None, "head": head(), "up_to_date": False}


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
