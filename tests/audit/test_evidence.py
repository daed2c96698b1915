"""The evidence bundle of one document (``GET /documents/{id}/evidence``, ``docex audit
evidence | verify-bundle``): it verifies offline for each party who may see the document, any
changed byte in any member is caught and named, it never holds a file's contents, and whoever
may not see the document gets 404."""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from docex.audit import notes
from docex.cli.main import app
from docex.evidence import bundle
from tests.functional.conftest import NodeProcess
from tests.helpers import G22, H26, H41, as_sent, auth, deliver, envelope, node_of, pdf, send

ATTACHMENT = b"Phu luc: bang so lieu chi tiet " * 40


def _fetch(client: TestClient, headers: dict[str, str], document_id: str) -> bytes:
    response = client.get(f"/api/v1/documents/{document_id}/evidence", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    return bytes(response.content)


@pytest.fixture
def sent(client: TestClient, credentials: dict[str, Any]) -> tuple[str, bytes]:
    """A document sent by G22 to H41, delivered, received (status 03) and checkpointed; its id
    and the main file's bytes as sent."""
    main = pdf("Công văn cần chứng cứ")
    response = send(
        client,
        auth(credentials, G22),
        envelope(),
        main,
        attachments=[("phu-luc.txt", ATTACHMENT)],
    )
    assert response.status_code == 201, response.text
    document_id = response.json()["id"]
    deliver(client)
    status = client.post(
        f"/api/v1/documents/{document_id}/statuses",
        json={"code": "03"},
        headers=auth(credentials, H41),
    )
    assert status.status_code == 201, status.text
    head = node_of(client).audit.checkpoint()
    auditor = auth(credentials, "auditor")
    signed = client.get("/api/v1/audit/checkpoint", headers=auditor).json()["signed"]
    cosigner = notes.Cosigner("auditor.test/w1", ed25519.Ed25519PrivateKey.generate())
    line = cosigner.cosign(notes.parse(signed).text, int(time.time())).line().rstrip("\n")
    cosigned = client.post(
        "/api/v1/audit/cosignatures",
        json={"tree_size": head.size, "signature": line, "vkey": cosigner.verifier.vkey()},
        headers=auditor,
    )
    assert cosigned.status_code == 201, cosigned.text
    return document_id, as_sent(main)


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {i.filename.removeprefix("evidence/"): archive.read(i) for i in archive.infolist()}


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(f"evidence/{name}", data)
    return out.getvalue()


@pytest.mark.parametrize("who", [G22, H41, "auditor"])
def test_the_bundle_of_a_sent_and_received_document_verifies_offline(
    client: TestClient, credentials: dict[str, Any], sent: tuple[str, bytes], who: str
) -> None:
    document_id, _ = sent
    data = _fetch(client, auth(credentials, who), document_id)
    node = node_of(client)
    report = bundle.verify(data, log_key=node.audit.verifier.vkey(), node_kid=node.signer.kid)
    assert report.problems == []
    assert report.document_id == document_id
    members = _members(data)
    assert set(members) == {bundle.MANIFEST, *bundle.MEMBERS}
    entries = json.loads(members[bundle.ENTRIES])
    events = {e["event"]["event"] for e in entries["entries"]}
    assert entries["tree_size"] > 0
    assert len(entries["entries"]) >= 3, events
    assert all(e["event"]["document_id"] == document_id for e in entries["entries"])
    receipts = json.loads(members[bundle.RECEIPTS])
    assert any(r["code"] == "03" for r in receipts)
    signed = [r for r in receipts if r["signed"]]
    assert f"{len(signed)} signed receipt(s)" in report.checked
    assert "2 file hash(es) match the document" in report.checked
    assert "cosignature by auditor.test/w1" in report.checked
    files = json.loads(members[bundle.FILES])
    assert {f["role"] for f in files} == {"main", "attachment"}


def test_the_bundle_holds_no_file_contents(
    client: TestClient, credentials: dict[str, Any], sent: tuple[str, bytes]
) -> None:
    document_id, main = sent
    data = _fetch(client, auth(credentials, G22), document_id)
    blobs = [data, *_members(data).values()]
    for content in (main, ATTACHMENT):
        windows = [content[i : i + 48] for i in range(0, len(content) - 48, len(content) // 8)]
        for blob in blobs:
            assert content not in blob
            assert not any(w in blob for w in windows)
            assert base64.b64encode(content[:48]) not in blob


def test_any_changed_byte_in_any_member_fails_and_is_named(
    client: TestClient, credentials: dict[str, Any], sent: tuple[str, bytes]
) -> None:
    document_id, _ = sent
    members = _members(_fetch(client, auth(credentials, H41), document_id))
    for name, data in members.items():
        for at in {0, len(data) // 2, len(data) - 2}:
            changed = bytearray(data)
            changed[at] ^= 0x01
            report = bundle.verify(_zip({**members, name: bytes(changed)}))
            assert not report.ok, (name, at)
            assert name in {member for member, _ in report.problems}, (name, report.problems)
    dropped = bundle.verify(_zip({k: v for k, v in members.items() if k != bundle.RECEIPTS}))
    assert (bundle.RECEIPTS, "missing from the bundle") in dropped.problems
    assert bundle.verify(b"PK not a zip").problems[0][0] == "bundle"
    twice = io.BytesIO()
    with zipfile.ZipFile(twice, "w") as archive:
        for name, data in members.items():
            archive.writestr(f"evidence/{name}", data)
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr(f"evidence/{bundle.RECEIPTS}", b"[]\n")
    doubled = bundle.verify(twice.getvalue())
    assert (bundle.RECEIPTS, "appears twice in the zip") in doubled.problems


def _resigned(client: TestClient, members: dict[str, bytes], name: str, data: bytes) -> bytes:
    """The bundle with ``name`` replaced and the manifest signed again by the node key: what a
    lying node could hand out. The checks below the manifest must still catch it."""
    members = {**members, name: data}
    manifest = bundle._jws_claims(
        members[bundle.MANIFEST].decode().strip(),
        bundle._node_keys(members, bundle.BundleReport()),
    )
    import hashlib

    manifest["members"] = {
        k: hashlib.sha256(v).hexdigest() for k, v in members.items() if k != bundle.MANIFEST
    }
    signer = node_of(client).signer
    members[bundle.MANIFEST] = signer.sign(manifest, typ=bundle.MANIFEST_TYPE).encode()
    return _zip(members)


def test_a_bad_proof_leaf_receipt_or_hash_is_caught_even_under_a_valid_manifest(
    client: TestClient, credentials: dict[str, Any], sent: tuple[str, bytes]
) -> None:
    document_id, _ = sent
    members = _members(_fetch(client, auth(credentials, G22), document_id))
    entries = json.loads(members[bundle.ENTRIES])
    target = next(e for e in entries["entries"] if e["proof"])
    target["proof"][0] = base64.b64encode(bytes(32)).decode()
    report = bundle.verify(_resigned(client, members, bundle.ENTRIES, bundle._json(entries)))
    assert [m for m, p in report.problems if "inclusion proof" in p] == [
        f"{bundle.ENTRIES} entry {entries['entries'].index(target)}"
    ]

    receipts = json.loads(members[bundle.RECEIPTS])
    token = receipts[0]["signed"]
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["status"] = "06"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    receipts[0]["signed"] = f"{head}.{forged}.{sig}"
    report = bundle.verify(_resigned(client, members, bundle.RECEIPTS, bundle._json(receipts)))
    assert report.problems == [
        (f"{bundle.RECEIPTS} {receipts[0]['id']}", "the signature does not verify")
    ]

    files = json.loads(members[bundle.FILES])
    files[0]["sha256"] = "0" * 64
    report = bundle.verify(_resigned(client, members, bundle.FILES, bundle._json(files)))
    assert [m for m, _ in report.problems] == [bundle.FILES]

    other_node = bundle.verify(_zip(members), node_kid="not-the-node")
    assert {m for m, _ in other_node.problems} == {bundle.JWKS, bundle.MANIFEST}
    other_log = bundle.verify(_zip(members), log_key=_other_log_key())
    assert {m for m, _ in other_log.problems} == {bundle.LOG_KEY, bundle.CHECKPOINT}


def _other_log_key() -> str:
    from cryptography.hazmat.primitives.asymmetric import ec

    return notes.EcdsaSigner(
        "test-node/audit", ec.generate_private_key(ec.SECP256R1())
    ).verifier.vkey()


def test_another_agency_gets_404_like_the_document_itself(
    client: TestClient, credentials: dict[str, Any], sent: tuple[str, bytes]
) -> None:
    document_id, _ = sent
    headers = auth(credentials, H26)
    plain = client.get(f"/api/v1/documents/{document_id}", headers=headers)
    response = client.get(f"/api/v1/documents/{document_id}/evidence", headers=headers)
    assert plain.status_code == response.status_code == 404
    assert response.json()["error"] == plain.json()["error"] == "document_not_found"
    assert client.get(f"/api/v1/documents/{document_id}/evidence").status_code == 401
    missing = client.get("/api/v1/documents/not-an-id/evidence", headers=auth(credentials, G22))
    assert missing.status_code == 404


def test_verify_bundle_command_exits_1_and_names_the_member(
    client: TestClient, credentials: dict[str, Any], sent: tuple[str, bytes], tmp_path: Any
) -> None:
    document_id, _ = sent
    data = _fetch(client, auth(credentials, G22), document_id)
    path = tmp_path / "evidence.zip"
    path.write_bytes(data)
    node = node_of(client)
    pinned = ["--log-key", node.audit.verifier.vkey(), "--node-kid", node.signer.kid]
    runner = CliRunner()
    good = runner.invoke(app, ["audit", "verify-bundle", str(path), *pinned])
    assert good.exit_code == 0, good.output
    assert f"OK: evidence bundle of {document_id}" in good.stdout

    members = _members(data)
    changed = bytearray(members[bundle.SIGNATURES])
    changed[1] ^= 0x20
    path.write_bytes(_zip({**members, bundle.SIGNATURES: bytes(changed)}))
    bad = runner.invoke(app, ["audit", "verify-bundle", str(path), "--json"])
    assert bad.exit_code == 1, bad.output
    out = json.loads(bad.stdout)
    assert out["ok"] is False
    assert {p["member"] for p in out["problems"]} == {bundle.SIGNATURES}


@pytest.mark.functional
def test_the_commands_fetch_a_bundle_from_a_node_and_verify_it_offline(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "node")
    node.cli("init", "--demo")
    node.start()
    try:
        creds = ["--credentials", str(node.data_dir / "demo-credentials.json"), "--url", node.url]
        draft, signed, sealed = (tmp_path / n for n in ("draft.pdf", "signed.pdf", "sealed.pdf"))
        node.cli("sample-pdf", str(draft))
        node.cli(
            "sign",
            str(draft),
            "-o",
            str(signed),
            "--role",
            "signer",
            "--as",
            f"{G22}/leader",
            *creds,
        )
        node.cli(
            "sign", str(signed), "-o", str(sealed), "--role", "seal", "--as", f"{G22}/clerk", *creds
        )
        sent = node.cli(
            "send",
            str(sealed),
            "--to",
            H41,
            "--subject",
            "Chứng cứ",
            "--as",
            f"{G22}/clerk",
            "--json",
            *creds,
        )
        document_id = json.loads(sent.stdout)["id"]
        head = json.loads(node.cli("audit", "checkpoint", "--json").stdout)
        out = tmp_path / "evidence.zip"
        node.cli(
            "audit", "evidence", document_id[:8], "-o", str(out), "--as", f"{G22}/clerk", *creds
        )
        refused = node.cli(
            "audit",
            "evidence",
            document_id,
            "-o",
            str(tmp_path / "no.zip"),
            "--as",
            f"{H26}/clerk",
            *creds,
            check=False,
        )
        assert refused.returncode != 0
        assert "(document_not_found)" in refused.stderr
        assert not (tmp_path / "no.zip").exists()
    finally:
        node.stop()
    # Offline: the node is gone.
    ok = node.cli("audit", "verify-bundle", str(out), "--log-key", head["log_key"])
    assert f"OK: evidence bundle of {document_id}" in ok.stdout
    assert sealed.read_bytes()[1000:1100] not in out.read_bytes()
    members = _members(out.read_bytes())
    entries = json.loads(members[bundle.ENTRIES])
    entries["entries"][0]["leaf"] = base64.b64encode(
        b"x" + base64.b64decode(entries["entries"][0]["leaf"])
    ).decode()
    out.write_bytes(_zip({**members, bundle.ENTRIES: bundle._json(entries)}))
    bad = node.cli("audit", "verify-bundle", str(out), check=False)
    assert bad.returncode == 1
    assert f"FAIL  {bundle.ENTRIES}: changed" in bad.stdout
