"""The audit API (/api/v1/audit): auditors only, every answer checkable, every bad parameter a
4xx with its code (and audited like any refusal)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi.testclient import TestClient

from docex.audit import checkpoints, leaves, merkle, notes
from tests.audit.conftest import activity
from tests.helpers import G22, H41, auth, node_of

B64 = base64.b64decode


@pytest.fixture
def logged(client: TestClient, credentials: dict[str, Any]) -> dict[str, str]:
    """Traffic, integrated and checkpointed; returns the auditor's headers."""
    activity(client, credentials, documents=2)
    node_of(client).audit.checkpoint()
    return auth(credentials, "auditor")


def _checkpoint(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/audit/checkpoint", headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _entries(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    start: int | None = 0
    while start is not None:
        page = client.get(
            "/api/v1/audit/entries", headers=headers, params={"start": start, "end": start + 5}
        ).json()
        items += page["items"]
        start = page["next"]
    return items


def test_checkpoint_is_a_signed_note_with_the_log_key(
    client: TestClient, logged: dict[str, str]
) -> None:
    body = _checkpoint(client, logged)
    key = notes.log_verifier_from_vkey(body["log_key"])
    head, _ = checkpoints.open_checkpoint(body["signed"], key)
    assert head.origin == body["origin"] == "test-node/audit"
    assert head.size == body["tree_size"] > 5
    assert base64.b64encode(head.root).decode() == body["root_hash"]
    assert body["cosignatures"] == []
    # The log key is the node key: the one that signs receipts (JWKS).
    jwk = client.get("/.well-known/jwks.json").json()["keys"][0]
    public = key.public_key.public_numbers()
    assert B64(jwk["x"] + "==", altchars=b"-_") == public.x.to_bytes(32, "big")


def test_entries_rehash_to_the_checkpoint_root(client: TestClient, logged: dict[str, str]) -> None:
    body = _checkpoint(client, logged)
    items = _entries(client, logged)
    assert [e["index"] for e in items] == list(range(body["tree_size"]))
    hashes = []
    for item in items:
        leaf = B64(item["leaf"])
        assert merkle.leaf_hash(leaf) == B64(item["leaf_hash"])
        decoded = leaves.decode(leaf)
        assert decoded.position == item["index"]
        assert decoded.event_id == item["event"]["id"]
        assert decoded.event == item["event"]["event"]
        assert decoded.detail == item["event"]["detail"]
        assert decoded.at == datetime.fromisoformat(item["event"]["at"])
        hashes.append(merkle.leaf_hash(leaf))
    assert merkle.root(hashes) == B64(body["root_hash"])


def test_every_inclusion_and_consistency_proof_verifies(
    client: TestClient, credentials: dict[str, Any], logged: dict[str, str]
) -> None:
    first = _checkpoint(client, logged)
    activity(client, credentials, documents=1)
    node_of(client).audit.checkpoint()
    second = _checkpoint(client, logged)
    assert second["tree_size"] > first["tree_size"]
    items = _entries(client, logged)
    for cp in (first, second):
        for item in items[: cp["tree_size"]]:
            proof = client.get(
                "/api/v1/audit/proofs/inclusion",
                headers=logged,
                params={"index": item["index"], "tree_size": cp["tree_size"]},
            ).json()
            assert proof["leaf_hash"] == item["leaf_hash"]
            merkle.verify_inclusion(
                proof["leaf_index"],
                proof["tree_size"],
                B64(proof["leaf_hash"]),
                [B64(p) for p in proof["proof"]],
                B64(cp["root_hash"]),
            )
    consistency = client.get(
        "/api/v1/audit/proofs/consistency",
        headers=logged,
        params={"first": first["tree_size"], "second": second["tree_size"]},
    ).json()
    merkle.verify_consistency(
        first["tree_size"],
        second["tree_size"],
        [B64(p) for p in consistency["proof"]],
        B64(first["root_hash"]),
        B64(second["root_hash"]),
    )
    # The older checkpoint is still served by size.
    assert _checkpoint(client, logged, size=first["tree_size"])["signed"] == first["signed"]


def test_search_by_document_agency_principal_event_and_time(
    client: TestClient, credentials: dict[str, Any], logged: dict[str, str]
) -> None:
    def search(**params: Any) -> list[dict[str, Any]]:
        response = client.get("/api/v1/audit/search", headers=logged, params=params)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    accepted = search(event="intake:document:accepted")
    assert len(accepted) == 2
    document = accepted[0]["event"]["document_id"]
    trail = search(document=document)
    assert {e["event"]["event"] for e in trail} >= {
        "intake:document:accepted",
        "routing:delivery:delivered",
    }
    assert all(e["event"]["document_id"] == document for e in trail)
    assert all(e["index"] is not None and e["leaf_hash"] for e in trail)
    assert all(e["event"]["agency_id"] == H41 for e in search(agency=H41))
    actor = accepted[0]["event"]["actor_id"]
    assert all(e["event"]["actor_id"] == actor for e in search(principal=actor))
    now = datetime.now(UTC)
    assert len(search(**{"from": (now - timedelta(hours=1)).isoformat()})) >= len(trail)
    assert search(to=(now - timedelta(hours=1)).isoformat()) == []
    # Paged by cursor, without gaps or repeats.
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 3}
    while True:
        page = client.get("/api/v1/audit/search", headers=logged, params=params).json()
        seen += [e["event"]["id"] for e in page["items"]]
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == sorted(set(seen))
    assert len(seen) == len(search(limit=500))
    # Not-yet-integrated events are found too, without a position. (An authenticated
    # refusal: each is its own event, where anonymous ones are tallied per window.)
    bad = client.get("/api/v1/audit/entries", headers=logged, params={"start": 5, "end": 2})
    assert bad.status_code == 422, bad.text
    refused = search(event="api:request:refused")
    assert refused[-1]["index"] is None


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/entries", {"start": 5, "end": 2}, 422, "invalid_range"),
        ("/entries", {"start": -1}, 422, "invalid_request"),
        ("/entries", {"start": "x"}, 422, "invalid_request"),
        ("/proofs/inclusion", {"index": 3, "tree_size": 3}, 422, "invalid_proof_request"),
        ("/proofs/inclusion", {"index": 0, "tree_size": 10**9}, 404, "tree_size_unknown"),
        ("/proofs/inclusion", {"index": 0}, 422, "invalid_request"),
        ("/proofs/inclusion", {"index": 0, "tree_size": 2**70}, 422, "invalid_request"),
        ("/proofs/consistency", {"first": 0, "second": 3}, 422, "invalid_proof_request"),
        ("/proofs/consistency", {"first": 4, "second": 3}, 422, "invalid_proof_request"),
        ("/proofs/consistency", {"first": 1, "second": 10**9}, 404, "tree_size_unknown"),
        ("/checkpoint", {"size": 10**9}, 404, "checkpoint_not_found"),
        ("/search", {"event": "intake:document:stolen"}, 422, "unknown_event"),
        ("/search", {"from": "2026-01-01T00:00:00"}, 422, "invalid_request"),
        (
            "/search",
            {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
            422,
            "invalid_range",
        ),
        ("/search", {"cursor": "!!"}, 400, "invalid_cursor"),
        ("/search", {"limit": 0}, 422, "invalid_request"),
    ],
)
def test_bad_parameters_are_refused_with_a_code_and_audited(
    client: TestClient,
    logged: dict[str, str],
    path: str,
    params: dict[str, Any],
    status: int,
    code: str,
) -> None:
    response = client.get(f"/api/v1/audit{path}", headers=logged, params=params)
    assert (response.status_code, response.json()["error"]) == (status, code), response.text
    refused = client.get(
        "/api/v1/audit/search", headers=logged, params={"event": "api:request:refused"}
    ).json()["items"]
    assert refused[-1]["event"]["detail"]["error"] == code


@pytest.mark.parametrize(("who", "role"), [(G22, "clerk"), (H41, "system"), ("admin", "admin")])
@pytest.mark.parametrize("path", ["/checkpoint", "/entries", "/search"])
def test_only_auditors_read_the_log(
    client: TestClient, credentials: dict[str, Any], who: str, role: str, path: str
) -> None:
    response = client.get(f"/api/v1/audit{path}", headers=auth(credentials, who, role))
    assert (response.status_code, response.json()["error"]) == (403, "forbidden")
    assert client.get(f"/api/v1/audit{path}").status_code == 401


def test_a_cosignature_is_checked_stored_and_served(
    client: TestClient, credentials: dict[str, Any], logged: dict[str, str]
) -> None:
    body = _checkpoint(client, logged)
    cosigner = notes.Cosigner("auditor.test/w1", ed25519.Ed25519PrivateKey.generate())
    text = notes.parse(body["signed"]).text
    line = cosigner.cosign(text, int(datetime.now(UTC).timestamp())).line().rstrip("\n")
    post = {"tree_size": body["tree_size"], "signature": line, "vkey": cosigner.verifier.vkey()}

    def cosign(data: dict[str, Any], headers: dict[str, str] = logged) -> tuple[int, str]:
        response = client.post("/api/v1/audit/cosignatures", json=data, headers=headers)
        return response.status_code, response.json().get("error", "")

    assert cosign(post) == (201, "")
    assert cosign(post) == (200, "")
    served = _checkpoint(client, logged)
    assert served["cosignatures"][0]["signature"] == line
    note = notes.parse(served["signed"])
    witness = notes.CosignatureVerifier.from_vkey(cosigner.verifier.vkey())
    assert [w.name for w, _ in checkpoints.cosignatures(note, [witness])] == ["auditor.test/w1"]
    log_key = notes.log_verifier_from_vkey(served["log_key"])
    checkpoints.open_checkpoint(served["signed"], log_key)  # still verifies with the log key

    other = notes.Cosigner("auditor.test/w2", ed25519.Ed25519PrivateKey.generate())
    wrong_text = text.replace(f"\n{body['tree_size']}\n", "\n1\n")
    w2 = other.verifier.vkey()
    future = int((datetime.now(UTC) + timedelta(days=1)).timestamp())
    for bad, expected in (
        ({**post, "tree_size": 10**9}, (404, "checkpoint_not_found")),
        ({**post, "vkey": other.verifier.vkey()}, (422, "bad_cosignature")),
        ({**post, "signature": "— auditor.test/w1 AAAA"}, (422, "bad_cosignature")),
        ({**post, "vkey": "nonsense"}, (422, "bad_cosignature")),
        (
            {**post, "signature": other.cosign(wrong_text, 1).line(), "vkey": w2},
            (422, "bad_cosignature"),
        ),
        (
            {**post, "signature": other.cosign(text, future).line(), "vkey": w2},
            (422, "bad_cosignature"),
        ),
        ({**post, "extra": 1}, (422, "invalid_request")),
    ):
        assert cosign(bad) == expected, bad
    assert cosign(post, auth(credentials, "admin", "admin")) == (403, "forbidden")
    assert len(_checkpoint(client, logged)["cosignatures"]) == 1


def test_a_reported_fork_is_recorded_in_the_log(client: TestClient, logged: dict[str, str]) -> None:
    body = _checkpoint(client, logged)
    response = client.post(
        "/api/v1/audit/forks",
        json={"reason": "same size, different root", "seen": body["signed"], "cosigned": None},
        headers=logged,
    )
    assert response.status_code == 202, response.text
    events = client.get(
        "/api/v1/audit/search", headers=logged, params={"event": "audit:fork:reported"}
    ).json()["items"]
    assert events[0]["event"]["id"] == response.json()["event_id"]
    assert events[0]["event"]["detail"]["reason"] == "same size, different root"
