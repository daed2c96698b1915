"""Security operations are events: signing a PDF through the service, rotating a signing key or
the KEK, exporting and removing an agency key each write an audit event, through the key store
that holds the key (the CLI deletes no key file by path); creating an agency gives it its keys
whichever face creates it; the password rule holds for every face."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from docex.agencies.models import Agency
from docex.auth.policy import Kind
from docex.auth.service import create_principal
from docex.cli.main import app as cli
from docex.config import Settings
from docex.documents.models import DocumentFile
from docex.errors import Unprocessable
from docex.keys.paths import KeyPaths
from docex.kit.clock import SystemClock
from docex.kit.samplepdf import sample_pdf
from docex.signing.keystore import FileKeyStore
from tests.helpers import G22, H41, audit_events, auth, deliver, envelope, node_of, pdf, send

NEW_AGENCY = "003.00.41.H41"


@pytest.fixture
def docex(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> CliRunner:
    """``docex`` run by the node's operator, on the test node's data directory and database."""
    for name in ("DOCEX_URL", "DOCEX_TOKEN", "DOCEX_CREDENTIALS", "DOCEX_SIGNING__KEY_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCEX_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DOCEX_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("DOCEX_NODE_ID", settings.node_id)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return CliRunner()


def _run(runner: CliRunner, *args: str) -> Any:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_signing_a_pdf_through_the_service_is_an_audit_event(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    draft = sample_pdf("Quyết định số 9")
    response = client.post(
        "/api/v1/pdf/sign",
        files={"file": ("qd.pdf", draft, "application/pdf")},
        data={"as": "signer"},
        headers=auth(credentials, G22, "leader"),
    )
    assert response.status_code == 200, response.text
    [event] = audit_events(client, "signing:pdf:signed")
    assert event.agency_id == G22
    assert event.actor_id is not None
    assert event.detail["key_id"] == "person:lanhdao.vpcp"
    assert event.detail["role"] == "signer"
    assert event.detail["sha256_in"] == hashlib.sha256(draft).hexdigest()
    assert event.detail["sha256_out"] == hashlib.sha256(response.content).hexdigest()
    signing = node_of(client).signatures.key_store
    assert signing is not None
    serial = signing.certificate("person:lanhdao.vpcp").serial_number
    assert event.detail["certificate_serial"] == format(serial, "x")


def test_a_refused_signature_is_no_signing_event(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    refused = client.post(
        "/api/v1/pdf/sign",
        files={"file": ("x.pdf", b"not a pdf at all", "application/pdf")},
        data={"as": "seal"},
        headers=auth(credentials, G22),
    )
    assert refused.status_code == 415
    assert refused.json()["error"] == "not_a_pdf"
    assert audit_events(client, "signing:pdf:signed") == []


def test_rotating_a_seal_from_the_command_line_is_an_audit_event(
    client: TestClient, settings: Settings, docex: CliRunner
) -> None:
    store = FileKeyStore(KeyPaths.of(settings).pki_dir, None)
    old = store.certificate(f"seal:{G22}")
    result = _run(docex, "pki", "rotate", f"seal:{G22}", "--json")
    new = FileKeyStore(KeyPaths.of(settings).pki_dir, None).certificate(f"seal:{G22}")
    assert new.serial_number != old.serial_number
    [event] = audit_events(client, "keys:signing_key:rotated")
    assert event.detail == {
        "key_id": f"seal:{G22}",
        "serial": json.loads(result.stdout)["serial"],
        "sha256": new.fingerprint(hashes.SHA256()).hex(),
    }


def test_a_rotation_that_fails_writes_no_event(client: TestClient, docex: CliRunner) -> None:
    result = docex.invoke(cli, ["pki", "rotate", "seal:000.00.00.X99"])
    assert result.exit_code == 1
    assert "no signing key seal:000.00.00.X99" in result.output
    assert audit_events(client, "keys:signing_key:rotated") == []


def test_rotating_the_kek_is_an_audit_event_and_files_still_read(
    client: TestClient, credentials: dict[str, Any], docex: CliRunner
) -> None:
    main = pdf("Trước khi đổi khóa")
    sent = send(client, auth(credentials, G22), envelope(), main)
    assert sent.status_code == 201
    deliver(client)
    result = _run(docex, "keys", "rotate", "--json")
    assert json.loads(result.stdout) == {"kek_version": 2, "rewrapped": 1}
    [event] = audit_events(client, "keys:kek:rotated")
    assert event.detail == {"version": 2}
    with node_of(client).db.read() as session:
        assert set(session.scalars(select(DocumentFile.kek_version))) == {2}
    document = sent.json()
    file_id = document["files"][0]["id"]
    download = client.get(
        f"/api/v1/documents/{document['id']}/files/{file_id}", headers=auth(credentials, H41)
    )
    assert download.status_code == 200


def test_exporting_an_agency_key_then_removing_it_are_events_through_the_key_store(
    client: TestClient, credentials: dict[str, Any], docex: CliRunner, tmp_path: Path
) -> None:
    node = node_of(client)
    custodial = node.agency_keys.private_pem(H41)
    kept = tmp_path / "h41-copy.pem"
    _run(docex, "agency", "export-key", H41, "-o", str(kept))
    assert kept.read_bytes() == custodial
    assert node.agency_keys.has(H41)
    handed = tmp_path / "h41.pem"
    _run(docex, "agency", "export-key", H41, "-o", str(handed), "--remove")
    assert handed.read_bytes() == custodial
    assert not node.agency_keys.has(H41)
    assert node.agency_keys.released(H41)
    exported = audit_events(client, "keys:agency_key:exported")
    assert [e.agency_id for e in exported] == [H41, H41]
    [removed] = audit_events(client, "keys:agency_key:removed")
    assert removed.agency_id == H41
    assert removed.index > exported[-1].index

    # The node now tells its people that their agency holds the key itself.
    sent = send(
        client,
        auth(credentials, G22, "leader"),
        envelope([H41], classification="confidential"),
        pdf("Mật"),
    )
    assert sent.status_code == 201, sent.text
    deliver(client)
    document = sent.json()
    download = client.get(
        f"/api/v1/documents/{document['id']}/files/{document['files'][0]['id']}",
        headers=auth(credentials, H41),
    )
    assert download.status_code == 409
    assert download.json()["error"] == "agency_holds_key"


def test_an_export_that_cannot_be_written_removes_nothing_and_records_nothing(
    client: TestClient, docex: CliRunner, tmp_path: Path
) -> None:
    node = node_of(client)
    taken = tmp_path / "exists.pem"
    taken.write_bytes(b"someone else's file")
    result = docex.invoke(cli, ["agency", "export-key", H41, "-o", str(taken), "--remove"])
    assert result.exit_code == 1
    assert taken.read_bytes() == b"someone else's file"
    assert node.agency_keys.has(H41)
    assert audit_events(client, "keys:agency_key:exported") == []
    assert audit_events(client, "keys:agency_key:removed") == []


def test_an_agency_gets_its_keys_whichever_face_creates_it(
    client: TestClient, credentials: dict[str, Any], docex: CliRunner
) -> None:
    admin = {"Authorization": f"Bearer {credentials['admin']['token']}"}
    created = client.post(
        "/api/v1/agencies",
        json={"id": "004.00.41.H41", "name": "Ủy ban nhân dân xã Yên Thành", "kind": "state"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    _run(docex, "agency", "add", NEW_AGENCY, "--name", "Ủy ban nhân dân xã Nghi Lộc")
    node = node_of(client)
    with node.db.read() as session:
        for code in ("004.00.41.H41", NEW_AGENCY):
            agency = session.get(Agency, code)
            assert agency is not None
            assert agency.encryption_key is not None
            assert node.agency_keys.public_pem(code).decode() == agency.encryption_key


@pytest.mark.parametrize("password", ["", "ngan", "123456789"])
def test_a_short_password_is_refused_by_the_service(
    client: TestClient, password: str, docex: CliRunner
) -> None:
    node = node_of(client)
    with node.db.write() as session, pytest.raises(Unprocessable) as refused:
        create_principal(
            session,
            kind=Kind.CLERK,
            agency_id=G22,
            username="ngan.qua",
            password=password,
            now=SystemClock().now(),
        )
    assert refused.value.code == "password_too_short"
    result = docex.invoke(
        cli,
        ["user", "add", "ngan.qua", "--kind", "clerk", "--agency", G22],
        env={"DOCEX_NEW_PASSWORD": password or " "},
    )
    assert result.exit_code == 1
    assert "password_too_short" in result.output
