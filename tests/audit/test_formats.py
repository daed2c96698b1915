"""Byte formats: the leaf (docs/audit-log.md §2), signed notes, checkpoints, cosignatures, and
the closed event vocabulary."""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

import docex
from docex.audit import checkpoints, events, leaves, notes
from docex.audit.models import AuditEvent
from tests.audit.conftest import activity
from tests.helpers import node_of

# -- leaves ------------------------------------------------------------------------------------


def test_leaf_bytes_are_those_the_documentation_describes() -> None:
    at = datetime(2026, 11, 23, 1, 2, 3, 456789, tzinfo=UTC)
    leaf = leaves.encode(
        7, 42, at, "intake:document:accepted", None, "000.00.00.G22", "doc-1", {"b": 1, "a": "ệ"}
    )
    micros = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    detail = '{"a":"ệ","b":1}'.encode()
    expected = (
        b"\x01"
        + (7).to_bytes(8, "big")
        + (42).to_bytes(8, "big")
        + micros.to_bytes(8, "big", signed=True)
        + b"\x00\x18intake:document:accepted"
        + b"\x00"
        + b"\x01\x00\x0d000.00.00.G22"
        + b"\x01\x00\x05doc-1"
        + len(detail).to_bytes(4, "big")
        + detail
    )
    assert leaf == expected


texts = st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    position=st.integers(0, 2**63),
    event_id=st.integers(0, 2**63),
    micros=st.integers(-(2**40), 2**50),
    event=texts,
    optional=st.lists(st.none() | texts, min_size=3, max_size=3),
    detail=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
)
def test_leaves_round_trip(
    position: int,
    event_id: int,
    micros: int,
    event: str,
    optional: list[str | None],
    detail: dict[str, Any],
) -> None:
    at = leaves.EPOCH + timedelta(microseconds=micros)
    actor, agency, document = optional
    leaf = leaves.encode(position, event_id, at, event, actor, agency, document, detail)
    decoded = leaves.decode(leaf)
    assert (decoded.position, decoded.event_id, decoded.at, decoded.event) == (
        position,
        event_id,
        at,
        event,
    )
    assert [decoded.actor_id, decoded.agency_id, decoded.document_id] == optional
    assert decoded.detail == detail
    for bad in (leaf + b"\x00", leaf[:-1], b"\x02" + leaf[1:]):
        with pytest.raises(leaves.LeafError):
            leaves.decode(bad)


def test_a_detail_that_is_not_canonical_json_is_refused() -> None:
    at = datetime.now(UTC)
    for detail in ({"x": float("nan")}, {"x": {1: "a", "b": 2}}, {"x": object()}):
        with pytest.raises(leaves.LeafError):
            leaves.encode(0, 1, at, "api:request:refused", None, None, None, detail)


# -- signed notes and checkpoints ----------------------------------------------------------------


class _Ed25519NoteKey:
    """Signed-note type 0x01, only to check our parser against the specification's example."""

    def __init__(self, vkey: str) -> None:
        self.name, self.key_id, raw = notes.parse_vkey(vkey)
        assert raw[0] == 0x01
        self._key = ed25519.Ed25519PublicKey.from_public_bytes(raw[1:])
        assert self.key_id == hashlib.sha256(self.name.encode() + b"\n" + raw).digest()[:4]

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            self._key.verify(signature, text)
        except Exception:
            return False
        return True

    def vkey(self) -> str:
        return ""


def test_the_signed_note_specifications_example_parses_and_verifies() -> None:
    note = notes.parse(
        "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXp"
        "pzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
    )
    key = _Ed25519NoteKey("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
    assert note.text == "This is an example message.\n"
    assert notes.verify(note, [key]) == [key]
    forged = notes.Note("This is an example message!\n", note.signatures)
    with pytest.raises(notes.NoteError):
        notes.verify(forged, [key])


def test_the_cosignature_specifications_example_line_carries_its_timestamp() -> None:
    line = (
        "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dl"
        "rDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
    )
    sig = notes.parse_signature_line(line)
    (timestamp,) = struct.unpack(">Q", sig.signature[:8])
    assert timestamp == 1679315147  # "time 1679315147" in c2sp.org/tlog-cosignature
    assert len(sig.signature) == 8 + 64


def test_a_checkpoint_signed_with_the_node_key_verifies_and_nothing_else_does() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    signer = notes.EcdsaSigner("node.test/audit", key)
    head = checkpoints.TreeHead("node.test/audit", 20852163, hashlib.sha256(b"x").digest())
    signed = checkpoints.sign(signer, head)
    assert signed.startswith("node.test/audit\n20852163\n")
    vkey = signer.verifier.vkey()
    _, key_id, raw = notes.parse_vkey(vkey)
    assert raw[0] == 0x02
    assert key_id == hashlib.sha256(raw[1:]).digest()[:4]  # SHA-256(DER SPKI)[:4]
    verifier = notes.log_verifier_from_vkey(vkey)
    assert checkpoints.open_checkpoint(signed, verifier)[0] == head
    other = notes.EcdsaSigner("node.test/audit", ec.generate_private_key(ec.SECP256R1()))
    for bad in (
        signed.replace("20852163", "20852164"),
        checkpoints.sign(other, head),
        signed.replace("node.test/audit\n", "other.test/audit\n", 1),
        signed.replace("\n\n", "\n"),
        signed + "\x07",
    ):
        with pytest.raises(notes.NoteError):
            checkpoints.open_checkpoint(bad, verifier)


def test_cosignatures_are_over_the_documented_message() -> None:
    witness_key = ed25519.Ed25519PrivateKey.generate()
    cosigner = notes.Cosigner("auditor.test/w1", witness_key)
    body = "log.test\n3\n" + base64.b64encode(b"\x01" * 32).decode() + "\n"
    sig = cosigner.cosign(body, 1700000000)
    message = b"cosignature/v1\ntime 1700000000\n" + body.encode()
    witness_key.public_key().verify(sig.signature[8:], message)  # raises if not
    assert sig.signature[:8] == (1700000000).to_bytes(8, "big")
    public = cosigner.verifier.public_key
    assert sig.key_id == hashlib.sha256(b"auditor.test/w1\n\x04" + public).digest()[:4]
    verifier = notes.CosignatureVerifier.from_vkey(cosigner.verifier.vkey())
    note = notes.Note(body, (sig,))
    assert checkpoints.cosignatures(note, [verifier]) == [(verifier, 1700000000)]
    with pytest.raises(notes.NoteError):
        checkpoints.cosignatures(notes.Note(body.replace("\n3\n", "\n4\n"), (sig,)), [verifier])


@pytest.mark.parametrize(
    "body",
    [
        "o\n01\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "o\n-1\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "o\n1\n" + base64.b64encode(bytes(31)).decode() + "\n",
        "\n1\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "o\n1\n" + base64.b64encode(bytes(32)).decode(),
        "o\n1\n" + base64.b64encode(bytes(32)).decode() + "\n\n",
    ],
)
def test_malformed_checkpoint_bodies_are_refused(body: str) -> None:
    with pytest.raises(notes.NoteError):
        checkpoints.parse_body(body)


# -- the closed vocabulary -------------------------------------------------------------------


def test_record_refuses_a_name_outside_the_vocabulary(client: TestClient) -> None:
    node = node_of(client)
    with node.db.write() as session:
        for name in ("intake:document:acepted", "audit:anything", "FOO:BAR:BAZ"):
            with pytest.raises(events.UnknownEvent):
                events.record(session, name, at=datetime.now(UTC))
        assert not session.new
        with pytest.raises(leaves.LeafError):
            events.record(session, events.BLOBS_SWEPT, at=datetime.now(UTC), ratio=float("inf"))
        assert not session.new


def test_every_event_constant_is_in_the_vocabulary() -> None:
    constants = {
        name: value
        for name, value in vars(events).items()
        if name.isupper() and isinstance(value, str) and not name.startswith("_")
    }
    assert constants
    assert set(constants.values()) == events.vocabulary()


def test_every_record_call_in_docex_names_a_vocabulary_constant() -> None:
    """An event name written as a literal (or a misspelt constant) anywhere in docex fails
    here, before it could fail in production."""
    calls = 0
    for path in Path(docex.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "record"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "events"
            ):
                continue
            calls += 1
            name = node.args[1] if len(node.args) > 1 else None
            where = f"{path.name}:{node.lineno}"
            if isinstance(name, ast.Name | ast.Subscript):
                continue  # a variable or a table of constants: record() checks it when it runs
            assert isinstance(name, ast.Attribute), where
            assert isinstance(name.value, ast.Name), where
            assert name.value.id == "events", where
            assert getattr(events, name.attr, None) in events.vocabulary(), where
    assert calls >= 10


def test_every_stored_event_speaks_the_vocabulary(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    activity(client, credentials)
    with node_of(client).db.read() as session:
        names = set(session.scalars(select(AuditEvent.event)))
        details = list(session.scalars(select(AuditEvent.detail)))
    assert names
    assert names <= events.vocabulary()
    assert all(json.loads(leaves.canonical_detail(d)) == d for d in details)
