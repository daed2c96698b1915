"""Cross-node audit: three nodes (real apps, each its own database and keys) witness each other's
audit logs through /federation/v1/audit, so every log is cosigned by the two others; an
operator who rewrites or truncates a node's log, and re-signs it with the log key, is caught
by its peers: fork recorded, nothing cosigned, the node told."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, nullcontext
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from typer.testing import CliRunner

from docex.app import create_app
from docex.audit import checkpoints, events, notes
from docex.audit.models import AuditEvent, Checkpoint, Cosignature, LogEntry, TreeNode
from docex.audit.verify import snapshot, verify_log
from docex.audit.witness import Transport
from docex.cli.main import app
from docex.config import Settings
from docex.federation import peers, witnessing
from docex.federation.models import WitnessState
from docex.federation.peers import Peer
from docex.keys.paths import KeyPaths
from docex.kit.clock import SystemClock
from docex.node import Node
from docex.signing.keys import create_node_key
from docex.signing.sandbox import ValidatorPool
from tests.audit import tampering
from tests.audit.test_witness import rewrite_history
from tests.conftest import _pg_admin, _with_db
from tests.helpers import node_of

NODES = ("hub", "province-a", "province-b")
API = "/federation/v1/audit"


@pytest.fixture
def network(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    keys_template: Settings,
    validator_pool: ValidatorPool,
) -> Iterator[dict[str, TestClient]]:
    """Three nodes, each with its own database, node key and witness key, whose directory
    lists all three with their audit keys; peers reach each other in process."""
    urls: dict[str, str] = {}
    made: list[str] = []
    for node_id in NODES:
        if backend == "sqlite":
            template = request.getfixturevalue("sqlite_template")
            path = tmp_path / f"{node_id}.db"
            shutil.copy(template.url, path)
            urls[node_id] = f"sqlite:///{path}"
        else:
            pg_server: str = request.getfixturevalue("pg_server")
            request.getfixturevalue("pg_template")
            name = f"t_{uuid.uuid4().hex[:12]}"
            _pg_admin(pg_server, f"CREATE DATABASE {name} TEMPLATE docex_template")
            made.append(name)
            urls[node_id] = _with_db(pg_server, name)
    clients: dict[str, TestClient] = {}

    def connect(peer: Peer) -> AbstractContextManager[Transport]:
        return nullcontext(TestClient(clients[peer.id].app))

    with ExitStack() as stack:
        for node_id in NODES:
            data_dir = tmp_path / node_id
            settings = Settings(data_dir=data_dir, database_url=urls[node_id], node_id=node_id)
            settings.dispatcher.enabled = False
            settings.audit.integrator_enabled = False
            template, paths = KeyPaths.of(keys_template), KeyPaths.of(settings)
            shutil.copytree(template.keys_dir, paths.keys_dir)
            shutil.copytree(template.pki_dir, paths.pki_dir)
            paths.node_key.unlink()  # a log key of its own
            paths.node_certificate.unlink()
            create_node_key(paths.node_key)
            settings.blob_dir.mkdir(parents=True)
            app = create_app(settings, validators=validator_pool)
            client = stack.enter_context(TestClient(app, raise_server_exceptions=False))
            clients[node_id] = client
            witness = node_of(client).witnessing
            assert witness is not None
            witness.connect = connect
        directory = [
            Peer(
                node_id,
                f"https://{node_id}.example",
                None if node_id == "hub" else "hub",
                "PEM",
                None,
                c.get("/api/v1/node").json()["audit_key"],  # as the node publishes it
            )
            for node_id, c in clients.items()
        ]
        for client in clients.values():
            with node_of(client).db.write() as session:
                peers.upsert(session, directory, version=1, now=SystemClock().now())
        yield clients
    for name in made:
        _pg_admin(request.getfixturevalue("pg_server"), f"DROP DATABASE {name} WITH (FORCE)")


def _witness(client: TestClient) -> witnessing.PeerWitnessing:
    witness = node_of(client).witnessing
    assert witness is not None
    return witness


def _outcomes(client: TestClient) -> dict[str, str]:
    return {o.peer: o.result for o in _witness(client).run_once()}


def _verify(node: Node, witnesses: list[notes.CosignatureVerifier]) -> tuple[bool, int]:
    with snapshot(node.db) as session:
        report = verify_log(session, node.audit.verifier, witnesses=witnesses)
    return report.ok, report.cosignatures


def grow(node: Node, events_: int = 5) -> None:
    """Some events in the node's log (refusals, as any node records them)."""
    with node.db.write() as session:
        for n in range(events_):
            events.record(
                session,
                events.REQUEST_REFUSED,
                at=node.clock.now(),
                method="GET",
                path=f"/x/{n}",
                status=404,
                error="not_found",
                client="192.0.2.1",
            )


def _events(node: Node, name: str) -> list[AuditEvent]:
    with node.db.read() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def test_each_node_s_log_is_cosigned_by_the_two_others_and_verifies(
    network: dict[str, TestClient],
) -> None:
    for client in network.values():
        node_of(client).audit.checkpoint()
    for node_id, client in network.items():
        others = {n: "cosigned" for n in NODES if n != node_id}
        assert _outcomes(client) == others
    for node_id, client in network.items():
        node = node_of(client)
        keys = [_witness(network[n]).cosigner.verifier for n in NODES if n != node_id]
        served = TestClient(client.app).get(f"{API}/checkpoint").json()  # no credentials
        note = notes.parse(served["signed"])
        checkpoints.open_checkpoint(served["signed"], node.audit.verifier)
        assert {w.name for w, _ in checkpoints.cosignatures(note, keys)} == {
            f"{n}/witness" for n in NODES if n != node_id
        }
        assert _verify(node, keys) == (True, 2)

    # The log grows: the next checkpoint is cosigned after a consistency proof from the last.
    hub = node_of(network["hub"])
    grow(hub)
    head = hub.audit.checkpoint()
    assert _outcomes(network["province-a"]) == {"hub": "cosigned", "province-b": "unchanged"}
    with hub.db.read() as session:
        assert len(checkpoints.stored_cosignatures(session, head.size)) == 1
    with node_of(network["province-a"]).db.read() as session:
        state = session.get(WitnessState, "hub")
        assert state is not None
        assert state.tree_size == head.size
        assert state.fork_at is None
    a_key = _witness(network["province-a"]).cosigner.verifier
    b_key = _witness(network["province-b"]).cosigner.verifier
    assert _verify(hub, [a_key, b_key]) == (True, 3)
    # And so says `docex audit verify` on the hub, given its peers' witness keys.
    settings = hub.settings
    verified = CliRunner().invoke(
        app,
        [
            "audit",
            "verify",
            "--data-dir",
            str(settings.data_dir),
            "--witness",
            a_key.vkey(),
            "--witness",
            b_key.vkey(),
            "--json",
        ],
        env={"DOCEX_DATABASE_URL": settings.resolved_database_url, "DOCEX_NODE_ID": "hub"},
    )
    assert verified.exit_code == 0, verified.output
    report = json.loads(verified.stdout)
    assert (report["ok"], report["cosignatures"]) == (True, 3)


def _truncate(node: Node) -> None:
    """Cut the last entries (and their events), rebuild and re-sign with the log key."""
    head = node.audit.checkpoint()
    cut = head.size - 3
    with node.db.write() as session:
        tampering.unguard(session)
        gone = list(session.scalars(select(LogEntry.event_index).where(LogEntry.position >= cut)))
        session.execute(delete(LogEntry).where(LogEntry.position >= cut))
        session.execute(delete(AuditEvent).where(AuditEvent.index.in_(gone)))
        session.execute(delete(Cosignature))
        session.execute(delete(Checkpoint).where(Checkpoint.tree_size > cut))
        for level in range(1, head.size.bit_length() + 1):
            session.execute(
                delete(TreeNode).where(TreeNode.level == level, TreeNode.idx >= cut >> level)
            )
    node.audit.checkpoint()


@pytest.mark.parametrize("tamper", ["rewrite", "truncate"])
def test_a_node_whose_operator_rewrites_its_log_is_caught_by_its_peers(
    network: dict[str, TestClient], tamper: str
) -> None:
    hub = node_of(network["hub"])
    grow(hub, 10)
    hub.audit.checkpoint()
    assert _outcomes(network["province-a"])["hub"] == "cosigned"
    assert _outcomes(network["province-b"])["hub"] == "cosigned"

    if tamper == "rewrite":
        rewrite_history(hub)  # an old event altered, the tree rebuilt and re-signed
    else:
        _truncate(hub)
    for watcher in ("province-a", "province-b"):
        assert _outcomes(network[watcher])["hub"] == "fork"
        node = node_of(network[watcher])
        [detected] = _events(node, "audit:peer_fork:detected")
        assert detected.detail["peer"] == "hub"
        with node.db.read() as session:
            state = session.get(WitnessState, "hub")
            assert state is not None
            assert state.fork_at is not None
        # Visible to the operator: the gauge on /metrics (read from the database).
        scrape = TestClient(network[watcher].app, client=("127.0.0.1", 5000)).get("/metrics")
        assert 'docex_federation_witness_fork{peer="hub"} 1.0' in scrape.text
        # And it stays so: the peer is not witnessed (nor cosigned) again until cleared.
        assert _outcomes(network[watcher])["hub"] == "forked"
    with hub.db.read() as session:
        assert session.scalars(select(Cosignature)).all() == []  # nobody cosigned the rewrite
    # The rewritten node was told, with evidence it can check: a checkpoint it signed,
    # cosigned by the witness that reports.
    reports = _events(hub, "audit:fork:reported")
    assert {r.detail["witness"] for r in reports} == {"province-a", "province-b"}
    for report in reports:
        note = notes.parse(report.detail["cosigned"])
        assert checkpoints.cosignatures(
            note, [_witness(network[report.detail["witness"]]).cosigner.verifier]
        )

    # The operator sees it (exit 3), investigates, clears it; witnessing resumes from scratch.
    province = node_of(network["province-a"]).settings
    env = {"DOCEX_DATABASE_URL": province.resolved_database_url, "DOCEX_NODE_ID": "province-a"}
    shown = CliRunner().invoke(
        app, ["audit", "peers", "--data-dir", str(province.data_dir), "--json"], env=env
    )
    assert shown.exit_code == 3, shown.output
    [row] = json.loads(shown.stdout)["peers"]
    assert row["peer"] == "hub"
    assert row["fork_reason"]
    cleared = CliRunner().invoke(
        app,
        ["audit", "peers", "--data-dir", str(province.data_dir), "--clear-fork", "hub", "--forget"],
        env=env,
    )
    assert cleared.exit_code == 0, cleared.output
    assert _outcomes(network["province-a"])["hub"] == "cosigned"


def test_only_peers_of_the_directory_may_cosign_and_bad_ones_are_refused(
    network: dict[str, TestClient],
) -> None:
    hub_client = network["hub"]
    hub = node_of(hub_client)
    head = hub.audit.checkpoint()
    with hub.db.read() as session:
        text = notes.parse(checkpoints.at_size(session, head.size).note).text  # type: ignore[union-attr]
    anonymous = TestClient(hub_client.app)
    stranger = notes.Cosigner("stranger/witness", ed25519.Ed25519PrivateKey.generate())
    line = stranger.cosign(text, 1_790_000_000).line().rstrip("\n")
    body = {"tree_size": head.size, "signature": line, "vkey": stranger.verifier.vkey()}
    refused = anonymous.post(f"{API}/cosignatures", json=body)
    assert (refused.status_code, refused.json()["error"]) == (403, "unknown_witness")
    # The node's own witness key is not a peer's.
    own = _witness(hub_client).cosigner
    body = {
        "tree_size": head.size,
        "signature": own.cosign(text, 1_790_000_000).line().rstrip("\n"),
        "vkey": own.verifier.vkey(),
    }
    refused = anonymous.post(f"{API}/cosignatures", json=body)
    assert (refused.status_code, refused.json()["error"]) == (403, "unknown_witness")

    peer = _witness(network["province-a"]).cosigner
    vkey = peer.verifier.vkey()
    forged = stranger.cosign(text, 1_790_000_000)
    bad_line = notes.Signature(peer.name, peer.verifier.key_id, forged.signature).line()
    for tree_size, signature, status, code in [
        (head.size, bad_line.rstrip("\n"), 422, "bad_cosignature"),
        (head.size, "not a line", 422, "bad_cosignature"),
        (head.size + 5, peer.cosign(text, 1_790_000_000).line(), 404, "checkpoint_not_found"),
    ]:
        answer = anonymous.post(
            f"{API}/cosignatures",
            json={"tree_size": tree_size, "signature": signature, "vkey": vkey},
        )
        assert (answer.status_code, answer.json()["error"]) == (status, code), answer.text
    fork = {"reason": "x", "seen": "y", "cosigned": "not a note", "vkey": vkey}
    answer = anonymous.post(f"{API}/forks", json=fork)
    assert (answer.status_code, answer.json()["error"]) == (422, "bad_fork_report")
    answer = anonymous.post(f"{API}/forks", json={**fork, "vkey": stranger.verifier.vkey()})
    assert (answer.status_code, answer.json()["error"]) == (403, "unknown_witness")
    with hub.db.read() as session:
        assert session.scalars(select(Cosignature)).all() == []
    assert _events(hub, "audit:fork:reported") == []
    refusals = [e.detail["error"] for e in _events(hub, "api:request:refused")]
    assert {"unknown_witness", "bad_cosignature", "bad_fork_report"} <= set(refusals)

    # A real peer's cosignature is taken (201), once (200 the second time).
    line = peer.cosign(text, 1_790_000_000).line().rstrip("\n")
    body = {"tree_size": head.size, "signature": line, "vkey": vkey}
    assert anonymous.post(f"{API}/cosignatures", json=body).status_code == 201
    assert anonymous.post(f"{API}/cosignatures", json=body).status_code == 200


def test_the_witness_chore_runs_in_the_routing_worker(network: dict[str, TestClient]) -> None:
    node = node_of(network["hub"])
    chores = {loop.name: loop for loop in node.worker._chores}
    assert "docex-witness" in chores
    for client in network.values():
        node_of(client).audit.checkpoint()
    assert chores["docex-witness"]._step() is False  # one round, as the loop runs it
    with node.db.read() as session:
        assert {w.peer for w in witnessing.witnessed(session)} == {"province-a", "province-b"}
