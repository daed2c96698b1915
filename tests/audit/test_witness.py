"""Witnesses: they cosign only checkpoints that extend what they cosigned, and a rewritten log
(even re-signed with the log's own key) is a fork they refuse, report and fail on."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, text

from docex.audit import checkpoints, notes
from docex.audit.integrator import AuditLog
from docex.audit.models import AuditEvent, Checkpoint, Cosignature, LogEntry, TreeNode
from docex.audit.witness import ForkDetected, State, Witness, WitnessError
from docex.kit.clock import SystemClock
from docex.node import Node
from tests.audit import tampering
from tests.audit.conftest import activity
from tests.helpers import auth, node_of


def make_witness(
    client: TestClient, credentials: dict[str, Any], state: Path, **kwargs: Any
) -> Witness:
    transport = TestClient(client.app, headers=auth(credentials, "auditor"))
    cosigner = notes.Cosigner("auditor.test/witness", ed25519.Ed25519PrivateKey.generate())
    return Witness(cosigner, state, transport, clock=SystemClock(), **kwargs)


def rewrite_history(node: Node, *, signer: notes.EcdsaSigner | None = None) -> None:
    """What an operator with the database (and maybe the key) can do: alter an old event,
    throw the log away and let it be rebuilt and re-signed from the altered events."""
    with node.db.write() as session:
        tampering.unguard(session)
        first = session.scalar(select(AuditEvent).order_by(AuditEvent.index).limit(1))
        assert first is not None
        tampering._alter_event(session, random.Random(7), first)  # noqa: S311
        for model in (LogEntry, TreeNode, Cosignature, Checkpoint):
            session.execute(delete(model))
        session.execute(
            text('INSERT INTO audit_pending (event_index) SELECT "index" FROM audit_events')
        )
    audit = (
        node.audit
        if signer is None
        else AuditLog(node.db, signer, node.audit.settings, clock=node.clock)
    )
    audit.checkpoint()


def test_a_witness_cosigns_each_checkpoint_that_extends_the_last(
    client: TestClient, credentials: dict[str, Any], tmp_path: Path
) -> None:
    node = node_of(client)
    activity(client, credentials, documents=1)
    first = node.audit.checkpoint()
    witness = make_witness(client, credentials, tmp_path / "state.json")
    done = witness.run_once()
    assert (done.tree_size, done.previous_size, done.stored) == (first.size, None, True)
    state = State.load(tmp_path / "state.json")
    assert state is not None
    assert state.tree_size == first.size
    assert state.log_key == node.audit.verifier.vkey()  # pinned on first use
    assert (tmp_path / "state.json").stat().st_mode & 0o777 == 0o600
    # The node serves the cosignature with the checkpoint, and it verifies.
    served = client.get("/api/v1/audit/checkpoint", headers=auth(credentials, "auditor")).json()
    note = notes.parse(served["signed"])
    verifier = witness.cosigner.verifier
    assert checkpoints.cosignatures(note, [verifier])[0][0] is verifier

    assert witness.run_once().stored is False  # nothing new: same head, already cosigned
    activity(client, credentials, documents=1)
    second = node.audit.checkpoint()
    done = witness.run_once()
    assert (done.tree_size, done.previous_size, done.stored) == (second.size, first.size, True)


def test_a_log_rewritten_and_resigned_with_its_own_key_is_a_fork(
    client: TestClient, credentials: dict[str, Any], tmp_path: Path
) -> None:
    node = node_of(client)
    activity(client, credentials, documents=1)
    node.audit.checkpoint()
    witness = make_witness(client, credentials, tmp_path / "state.json")
    witness.run_once()
    before = (tmp_path / "state.json").read_bytes()
    rewrite_history(node)
    with pytest.raises(ForkDetected) as fork:
        witness.run_once()
    assert "extend" in fork.value.reason or "different root" in fork.value.reason
    assert (tmp_path / "state.json").read_bytes() == before  # nothing cosigned
    with node.db.read() as session:
        reported = session.scalars(
            select(AuditEvent).where(AuditEvent.event == "audit:fork:reported")
        ).all()
        assert len(reported) == 1
        assert reported[0].detail["reason"] == fork.value.reason
        assert not session.scalars(select(Cosignature)).all()


def test_a_log_resigned_with_another_key_is_a_fork(
    client: TestClient, credentials: dict[str, Any], tmp_path: Path
) -> None:
    node = node_of(client)
    node.audit.checkpoint()
    witness = make_witness(client, credentials, tmp_path / "state.json")
    witness.run_once()
    forger = notes.EcdsaSigner(node.audit.origin, ec.generate_private_key(ec.SECP256R1()))
    rewrite_history(node, signer=forger)
    with pytest.raises(ForkDetected, match="not signed by the pinned log key"):
        witness.run_once()


def test_a_shrunk_log_is_a_fork_that_names_the_first_missing_entry(
    client: TestClient, credentials: dict[str, Any], tmp_path: Path
) -> None:
    node = node_of(client)
    activity(client, credentials, documents=1)
    head = node.audit.checkpoint()
    witness = make_witness(client, credentials, tmp_path / "state.json")
    witness.run_once()
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
    with pytest.raises(ForkDetected) as fork:
        witness.run_once()
    assert fork.value.first_bad_index == cut


def test_a_witness_refuses_a_log_key_other_than_the_one_it_pinned(
    client: TestClient, credentials: dict[str, Any], tmp_path: Path
) -> None:
    node_of(client).audit.checkpoint()
    other = notes.EcdsaSigner("test-node/audit", ec.generate_private_key(ec.SECP256R1()))
    witness = make_witness(client, credentials, tmp_path / "s.json", log_key=other.verifier)
    with pytest.raises(WitnessError, match="does not verify"):
        witness.run_once()
    assert not (tmp_path / "s.json").exists()
    make_witness(client, credentials, tmp_path / "s.json").run_once()
    pinned_elsewhere = make_witness(
        client, credentials, tmp_path / "s.json", log_key=other.verifier
    )
    with pytest.raises(WitnessError, match="pins another log key"):
        pinned_elsewhere.run_once()


def test_a_witness_without_access_cosigns_nothing(
    client: TestClient, credentials: dict[str, Any], tmp_path: Path
) -> None:
    node_of(client).audit.checkpoint()
    transport = TestClient(client.app, headers=auth(credentials, "admin", "admin"))
    cosigner = notes.Cosigner("w", ed25519.Ed25519PrivateKey.generate())
    witness = Witness(cosigner, tmp_path / "s.json", transport, clock=SystemClock())
    with pytest.raises(WitnessError, match="403"):
        witness.run_once()
    (tmp_path / "bad.json").write_text(json.dumps({"nonsense": 1}))
    witness = make_witness(client, credentials, tmp_path / "bad.json")
    with pytest.raises(WitnessError, match="not a witness state file"):
        witness.run_once()
