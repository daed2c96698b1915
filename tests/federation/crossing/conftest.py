"""A network of three real nodes in one process, for the document and status kinds: the hub
(central agencies), ``hanoi`` (Hà Nội) and ``nghean`` (Nghệ An and its communes), each with its
own database (copied from the demo template, on the test's backend), blob store, node key, KEK
and only the custodial keys of the agencies it hosts; the directory (``federation_nodes``) lists
all three, the provinces below the hub.

The wire (signing, streaming, dedup by transfer id) is not what these tests are about: ``carry``
hands node A's queued transfers to node B's kinds the way the protocol does (parts streamed
into spool files, ``prepare`` outside a transaction, ``commit`` inside one), then tells A's kind
the transfer was sent.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update

from docex.agencies.models import Agency
from docex.app import create_app
from docex.config import Settings
from docex.federation import peers
from docex.federation.documents import DocumentKind
from docex.federation.kinds import Accepted, Inbound, Kind
from docex.federation.models import Transfer
from docex.federation.statuses import StatusKind
from docex.federation.transfers import SENT
from docex.keys.node import kek_ring
from docex.keys.paths import KeyPaths
from docex.node import Node
from docex.queue.models import Job
from docex.routing.deliveries import record_failure
from docex.routing.receipts import RemoteReceipts
from docex.signing.keys import create_node_key, load_node_key
from docex.signing.sandbox import ValidatorPool
from docex.stats.collection import StatsKind
from docex.vocabulary.transport import JOB_DELIVERY, JOB_TRANSFER
from tests.conftest import Template, _pg_admin, _with_db
from tests.helpers import A01, C1, C2, G22, H26, H41, I01

HOSTS = {"hub": [G22, I01, A01], "hanoi": [H26], "nghean": [H41, C1, C2]}
UPSTREAM = {"hub": None, "hanoi": "hub", "nghean": "hub"}


@dataclass
class Member:
    """One node of the test network."""

    id: str
    client: TestClient
    settings: Settings
    kinds: dict[str, Kind] = field(default_factory=dict)

    @property
    def node(self) -> Node:
        node: Node = self.client.app.state.node  # type: ignore[attr-defined]
        return node

    def deliver(self) -> int:
        """Run the routing worker's delivery transport until it has nothing left (transfers are
        handed over by the test, not by the node's own transfer transport)."""
        moved = 0
        while n := self.node.worker.run_once(JOB_DELIVERY):
            moved += n
        return moved

    def queued(self, peer: str | None = None, kind: str | None = None) -> list[Transfer]:
        with self.node.db.read() as session:
            query = select(Transfer).where(Transfer.state == "queued")
            if peer is not None:
                query = query.where(Transfer.peer == peer)
            if kind is not None:
                query = query.where(Transfer.kind == kind)
            rows = list(session.scalars(query.order_by(Transfer.created_at, Transfer.id)))
            session.expunge_all()
            return rows


@dataclass
class Network:
    members: dict[str, Member]
    credentials: dict[str, Any]
    spool: Path

    def __getitem__(self, node_id: str) -> Member:
        return self.members[node_id]

    def inbound(self, source: Member, transfer_id: str) -> Inbound:
        """What the wire would hand the receiving kind for one of ``source``'s transfers."""
        with source.node.db.write() as session:
            transfer = session.get(Transfer, transfer_id)
            assert transfer is not None
            kind_name, manifest = transfer.kind, json.loads(transfer.manifest)
            parts = source.kinds[kind_name].parts(session, transfer)
        files: dict[str, Path] = {}
        for part in parts:  # streamed after the session is gone, as the wire does
            path = self.spool / uuid.uuid4().hex
            with path.open("wb") as out:
                for chunk in part.chunks():
                    out.write(chunk)
            assert path.stat().st_size == part.size
            files[part.name] = path
        return Inbound(
            id=transfer_id,
            kind=kind_name,
            from_node=source.id,
            manifest=manifest,
            files=files,
            digest="sha-256=:test:",
            received_at=source.node.clock.now(),
        )

    def receive(self, target: Member, inbound: Inbound) -> Accepted:
        kind = target.kinds[inbound.kind]
        prepared = kind.prepare(inbound)
        with target.node.db.write() as session:
            return kind.commit(session, inbound, prepared)

    def carry(self, source: str, target: str) -> list[Accepted]:
        """Every transfer ``source`` has queued for ``target``, received there and marked sent."""
        src, dst = self[source], self[target]
        accepted = []
        for transfer in src.queued(peer=target):
            accepted.append(self.receive(dst, self.inbound(src, transfer.id)))
            with src.node.db.write() as session:
                row = session.get(Transfer, transfer.id)
                assert row is not None
                src.kinds[row.kind].sent(session, row, {"transfer_id": row.id})
                row.state = SENT
                row.sent_at = src.node.clock.now()
                session.execute(delete(Job).where(Job.kind == JOB_TRANSFER, Job.ref == row.id))
        return accepted

    def fail(self, source: str, target: str, reason: str, *, final: bool) -> None:
        """The wire could not hand ``source``'s transfers to ``target`` (``final``: gave up)."""
        src = self[source]
        for transfer in src.queued(peer=target):
            with src.node.db.write() as session:
                row = session.get(Transfer, transfer.id)
                assert row is not None
                row.attempts += 1
                src.kinds[row.kind].failed(
                    session, row, reason, now=src.node.clock.now(), final=final
                )
                if final:
                    row.state = "failed"


def _database(backend: str, request: pytest.FixtureRequest, path: Path) -> tuple[str, str | None]:
    if backend == "sqlite":
        template: Template = request.getfixturevalue("sqlite_template")
        shutil.copy(template.url, path)
        return f"sqlite:///{path}", None
    pg_server: str = request.getfixturevalue("pg_server")
    request.getfixturevalue("pg_template")
    name = f"t_{uuid.uuid4().hex[:12]}"
    _pg_admin(pg_server, f"CREATE DATABASE {name} TEMPLATE docex_template")
    return _with_db(pg_server, name), name


def _settings(node_id: str, url: str, root: Path, keys_template: Settings) -> Settings:
    """A node's data directory: the demo PKI (any node may sign a sender's PDF), but a node key,
    a KEK and custodial agency keys of its own (only those of the agencies it hosts)."""
    data_dir = root / node_id
    settings = Settings(data_dir=data_dir, database_url=url, node_id=node_id)
    settings.dispatcher.enabled = False
    data_dir.mkdir()
    template, paths = KeyPaths.of(keys_template), KeyPaths.of(settings)
    shutil.copytree(template.keys_dir, paths.keys_dir)
    shutil.copytree(template.pki_dir, paths.pki_dir)
    paths.node_key.unlink()
    create_node_key(paths.node_key)
    paths.node_certificate.unlink(missing_ok=True)  # certified the template's key, not this one
    shutil.rmtree(paths.kek_dir)
    kek_ring(settings).create_if_missing()
    for key in paths.agency_keys_dir.iterdir():
        if key.stem not in HOSTS[node_id]:
            key.unlink()
    settings.blob_dir.mkdir(parents=True, exist_ok=True)
    return settings


def _public_pem(settings: Settings) -> str:
    from cryptography.hazmat.primitives import serialization

    key = load_node_key(KeyPaths.of(settings).node_key)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture
def network(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    keys_template: Settings,
    validator_pool: ValidatorPool,
) -> Iterator[Network]:
    template: Template = request.getfixturevalue(
        f"{'sqlite' if backend == 'sqlite' else 'pg'}_template"
    )
    urls: dict[str, str] = {}
    pg_names: list[str] = []
    for node_id in HOSTS:
        url, name = _database(backend, request, tmp_path / f"{node_id}.db")
        urls[node_id] = url
        if name:
            pg_names.append(name)
    all_settings = {n: _settings(n, urls[n], tmp_path, keys_template) for n in HOSTS}
    directory = [
        peers.Peer(n, f"https://{n}.example", UPSTREAM[n], _public_pem(s), None, None)
        for n, s in all_settings.items()
    ]
    members: dict[str, Member] = {}
    with_clients = []
    try:
        for node_id, settings in all_settings.items():
            client = TestClient(create_app(settings, validators=validator_pool))
            client.__enter__()
            with_clients.append(client)
            member = Member(node_id, client, settings)
            node = member.node
            with node.db.write() as session:
                for host, agencies in HOSTS.items():
                    session.execute(
                        update(Agency).where(Agency.id.in_(agencies)).values(node_id=host)
                    )
                peers.upsert(session, directory, version=1, now=node.clock.now())
            member.kinds = {
                "document": DocumentKind(
                    node.db,
                    node.store,
                    node.keks,
                    node.agency_keys,
                    node.signer,
                    fail=record_failure,
                ),
                "status": StatusKind(
                    node.db,
                    node_id=node_id,
                    record=RemoteReceipts(settings.deadlines),
                    fail=record_failure,
                ),
                "stats": StatsKind(node.db, node_id=node_id),
            }
            members[node_id] = member
        spool = tmp_path / "spool"
        spool.mkdir()
        yield Network(members, template.credentials, spool)
    finally:
        for client in with_clients:
            client.__exit__(None, None, None)
        if pg_names:
            pg_server: str = request.getfixturevalue("pg_server")
            for name in pg_names:
                _pg_admin(pg_server, f"DROP DATABASE {name} WITH (FORCE)")
