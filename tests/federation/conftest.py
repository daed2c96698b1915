"""Two real nodes for the transfer protocol: ``a`` sends (driven by its worker's ``run_once``),
``b`` receives, served over HTTP by uvicorn on a free port in a thread. Each has its own
database (both on the test's backend), data directory and node key; each one's directory
lists both. Both register :class:`FileKind`, a test kind carrying files."""

from __future__ import annotations

import hashlib
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docex.app import create_app
from docex.audit.models import AuditEvent
from docex.config import Settings
from docex.federation import peers
from docex.federation.kinds import Accepted, Inbound, Part
from docex.federation.models import InboundTransfer, Transfer
from docex.federation.peers import Peer
from docex.federation.transport import TransferTransport
from docex.keys.paths import KeyPaths
from docex.node import Node
from docex.signing.keys import create_node_key, load_node_key
from docex.signing.sandbox import ValidatorPool
from docex.vocabulary.transport import JOB_TRANSFER
from tests.cli.conftest import runner, served  # noqa: F401 (the directory CLI tests)

KIND = "test-file"


class AheadClock:
    """The system's clock moved ahead on demand (a's: so that a retry's backoff is over
    without waiting for it)."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.ahead


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    transfer_id: str
    from_node: str
    manifest: dict[str, Any]
    files: dict[str, tuple[str, int]]  # name -> (sha256, size) of the copy kept


@dataclass
class FileKind:
    """Sending: the parts the test gave for a transfer; records what it is told. Receiving:
    keeps a copy of every file (streamed), records what it committed."""

    keep: Path
    kind: str = KIND
    outgoing: dict[str, list[Part]] = field(default_factory=dict)
    sent_receipts: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)
    failures: list[tuple[str, str, bool]] = field(default_factory=list)  # id, reason, final
    committed: list[Received] = field(default_factory=list)
    refuse: Callable[[Inbound], None] | None = None

    def parts(self, session: Session, transfer: Transfer) -> list[Part]:
        return self.outgoing.get(transfer.id, [])

    def sent(self, session: Session, transfer: Transfer, receipt: Mapping[str, Any]) -> None:
        self.sent_receipts.append((transfer.id, receipt))

    def failed(
        self, session: Session, transfer: Transfer, reason: str, *, now: datetime, final: bool
    ) -> None:
        self.failures.append((transfer.id, reason, final))

    def prepare(self, inbound: Inbound) -> object:
        if self.refuse is not None:
            self.refuse(inbound)
        kept: dict[str, tuple[str, int]] = {}
        for name, path in inbound.files.items():
            target = self.keep / f"{inbound.id}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
            shutil.copyfile(path, target)
            digest, size = hashlib.sha256(), 0
            with target.open("rb") as handle:
                while chunk := handle.read(64 * 1024):
                    digest.update(chunk)
                    size += len(chunk)
            kept[name] = (digest.hexdigest(), size)
        return kept

    def commit(self, session: Session, inbound: Inbound, prepared: object) -> Accepted:
        assert isinstance(prepared, dict)
        self.committed.append(
            Received(inbound.id, inbound.from_node, dict(inbound.manifest), dict(prepared))
        )
        return Accepted(detail={"files": {name: size for name, (_, size) in prepared.items()}})


def bytes_part(name: str, data: bytes, content_type: str = "application/pdf") -> Part:
    return Part(name, content_type, len(data), lambda: iter([data]))


class Server:
    """A node's app served by uvicorn on 127.0.0.1:port in a thread, started on demand."""

    def __init__(self, app: FastAPI, port: int) -> None:
        self.app, self.port = app, port
        self.url = f"http://127.0.0.1:{port}"
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/healthz", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("the receiving node did not start")

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(30)


@dataclass
class Network:
    a: Node
    b: Node
    kind_a: FileKind
    kind_b: FileKind
    server_b: Server
    key_pem: dict[str, str]  # node id -> its public signing key (PEM)

    @property
    def transport(self) -> TransferTransport:
        transport = self.a.worker.transports[JOB_TRANSFER]
        assert isinstance(transport, TransferTransport)
        return transport

    def send_pass(self) -> None:
        """One pass of a's transfer loop, a second later than the last (any retry's backoff
        is over), waiting for its sends to finish."""
        clock = self.a.clock
        assert isinstance(clock, AheadClock)
        clock.ahead += timedelta(seconds=1)
        self.a.worker.run_once(JOB_TRANSFER)
        assert self.transport.drain(120)

    def transfer(self, transfer_id: str) -> Transfer:
        with self.a.db.read() as session:
            row = session.get(Transfer, transfer_id)
            assert row is not None
            return row

    def inbound_count(self) -> int:
        with self.b.db.read() as session:
            return int(session.scalar(select(func.count()).select_from(InboundTransfer)) or 0)

    def events(self, node: Node, name: str) -> list[AuditEvent]:
        with node.db.read() as session:
            return list(
                session.scalars(
                    select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.index)
                )
            )

    def directory(self, node: Node, keys: Mapping[str, str]) -> None:
        with node.db.write() as session:
            peers.upsert(
                session,
                [
                    Peer("node-a", "http://127.0.0.1:9", None, keys["node-a"], None, None),
                    Peer("node-b", self.server_b.url, None, keys["node-b"], None, None),
                ],
                version=1,
                now=node.clock.now(),
            )


def _database(backend: str, request: pytest.FixtureRequest, tmp_path: Path, tag: str) -> str:
    from tests.conftest import Template, _pg_admin, _with_db

    if backend == "sqlite":
        template: Template = request.getfixturevalue("sqlite_template")
        path = tmp_path / f"{tag}.db"
        shutil.copy(template.url, path)
        return f"sqlite:///{path}"
    pg_server: str = request.getfixturevalue("pg_server")
    request.getfixturevalue("pg_template")
    name = f"t_{uuid.uuid4().hex[:12]}"
    _pg_admin(pg_server, f"CREATE DATABASE {name} TEMPLATE docex_template")
    request.addfinalizer(lambda: _pg_admin(pg_server, f"DROP DATABASE {name} WITH (FORCE)"))
    return _with_db(pg_server, name)


def _settings(url: str, data_dir: Path, node_id: str, keys_template: Settings) -> Settings:
    settings = Settings(data_dir=data_dir, database_url=url, node_id=node_id)
    settings.dispatcher.enabled = False  # the test drives the transfer loop
    settings.federation.backoff_base_seconds = 0.01  # retries due at once
    settings.federation.backoff_cap_seconds = 0.02
    data_dir.mkdir()
    template, paths = KeyPaths.of(keys_template), KeyPaths.of(settings)
    shutil.copytree(template.keys_dir, paths.keys_dir)
    shutil.copytree(template.pki_dir, paths.pki_dir)
    if node_id != "test-node":  # a node key of its own, not certified
        paths.node_key.unlink()
        paths.node_certificate.unlink(missing_ok=True)
        create_node_key(paths.node_key)
    settings.blob_dir.mkdir(parents=True, exist_ok=True)
    return settings


def public_pem(settings: Settings) -> str:
    key = load_node_key(KeyPaths.of(settings).node_key).public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@pytest.fixture
def network(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    keys_template: Settings,
    validator_pool: ValidatorPool,
) -> Iterator[Network]:
    settings_a = _settings(
        _database(backend, request, tmp_path, "a"), tmp_path / "a", "node-a", keys_template
    )
    settings_b = _settings(
        _database(backend, request, tmp_path, "b"), tmp_path / "b", "node-b", keys_template
    )
    app_a = create_app(settings_a, clock=AheadClock(), validators=validator_pool)
    app_b = create_app(settings_b, validators=validator_pool)
    node_a: Node = app_a.state.node
    node_b: Node = app_b.state.node
    (tmp_path / "kept").mkdir()
    kind_a, kind_b = FileKind(tmp_path / "kept"), FileKind(tmp_path / "kept")
    node_a.kinds.register(kind_a)
    node_b.kinds.register(kind_b)
    server_b = Server(app_b, free_port())
    net = Network(
        node_a,
        node_b,
        kind_a,
        kind_b,
        server_b,
        {"node-a": public_pem(settings_a), "node-b": public_pem(settings_b)},
    )
    net.directory(node_a, net.key_pem)
    net.directory(node_b, net.key_pem)
    try:
        yield net
    finally:
        server_b.stop()
        for node in (node_a, node_b):
            for transport in node.worker.transports.values():
                close = getattr(transport, "close", None)
                if close is not None:
                    close()
            node.committer.close()
            node.signatures.close()
            node.db.dispose()
