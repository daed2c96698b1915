"""A verifier written from docs/audit-log.md alone (``independent_verifier.py``, nothing from
docex imported) checks a live node: checkpoint signature, cosignatures, every entry, every
inclusion proof, consistency between checkpoints; and refuses what it must."""

from __future__ import annotations

import ast
import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from docex.audit import notes
from docex.audit.models import AuditEvent, LogEntry
from docex.audit.witness import Witness
from docex.kit.clock import SystemClock
from tests.audit import independent_verifier as outside
from tests.audit import tampering
from tests.audit.conftest import activity
from tests.fixtures import fixture_files
from tests.helpers import auth, node_of

HERE = Path(outside.__file__)


def test_the_independent_verifier_imports_nothing_from_docex() -> None:
    tree = ast.parse(HERE.read_text())
    modules = [
        name
        for node in ast.walk(tree)
        for name in (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    ]
    assert modules
    assert not [m for m in modules if m.split(".")[0] in ("docex", "tests")]


def test_it_checks_a_live_nodes_checkpoints_entries_and_proofs(
    client: TestClient, credentials: dict[str, Any], tmp_path: Path
) -> None:
    node = node_of(client)
    auditor = TestClient(client.app, headers=auth(credentials, "auditor"))
    cosigner = notes.Cosigner("auditor.test/w1", ed25519.Ed25519PrivateKey.generate())
    witness = Witness(cosigner, tmp_path / "w.json", auditor, clock=SystemClock())
    activity(client, credentials, documents=1)
    first = node.audit.checkpoint()
    witness.run_once()
    activity(client, credentials, documents=2)
    node.audit.checkpoint()
    witness.run_once()

    log_key = node.audit.verifier.vkey()  # pinned out of band, in real life
    verifier = outside.LogVerifier(auditor, log_key, (cosigner.verifier.vkey(),))
    old, new = verifier.checkpoint(size=first.size), verifier.checkpoint()
    assert new.size > old.size
    entries = verifier.entries(new)
    for head in (old, new):
        for item in entries[: head.size]:
            verifier.prove_inclusion(item["index"], base64.b64decode(item["leaf_hash"]), head)
    verifier.prove_consistency(old, new)
    assert {e["event"]["event"] for e in entries} >= {
        "intake:document:accepted",
        "routing:delivery:delivered",
        "routing:status:recorded",
        "api:request:refused",
    }

    # What it must refuse: another log key, a witness that did not cosign, a tampered entry.
    stranger = notes.EcdsaSigner("test-node/audit", ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(outside.Rejected, match="no signature by the log key"):
        outside.LogVerifier(auditor, stranger.verifier.vkey()).checkpoint()
    absent = notes.Cosigner("auditor.test/w2", ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(outside.Rejected, match="not cosigned"):
        outside.LogVerifier(auditor, log_key, (absent.verifier.vkey(),)).checkpoint()
    with pytest.raises(outside.Rejected):
        verifier.prove_inclusion(0, base64.b64decode(entries[1]["leaf_hash"]), new)
    with node.db.write() as session:
        tampering.unguard(session)
        index = session.scalar(select(LogEntry.event_index).where(LogEntry.position == 3))
        session.execute(
            update(AuditEvent).where(AuditEvent.index == index).values(agency_id="000.00.00.A01")
        )
    with pytest.raises(outside.Rejected, match="entry 3"):
        verifier.entries(new)


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


@pytest.mark.parametrize(
    "path", fixture_files("merkle/testdata", "**/*.json"), ids=lambda p: "/".join(p.parts[-3:])
)
def test_its_proof_checks_pass_the_rfc_6962_vectors(path: Path) -> None:
    case = json.loads(path.read_text())
    proof = [_b64(p) for p in case["proof"] or []]
    try:
        if "leafIdx" in case:
            outside.check_inclusion(
                case["leafIdx"], case["treeSize"], _b64(case["leafHash"]), proof, _b64(case["root"])
            )
        else:
            outside.check_consistency(
                case["size1"], case["size2"], proof, _b64(case["root1"]), _b64(case["root2"])
            )
    except outside.Rejected:
        accepted = False
    else:
        accepted = True
    assert accepted is not case["wantErr"], case["desc"]
