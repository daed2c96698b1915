"""README's five-minute tour, with real processes and nothing but the ``docex`` command."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.reader import PdfFileReader
from pypdf import PdfReader

from docex.signing.hsm import Pkcs11KeyStore
from docex.signing.keys import NODE_KEY_FILE
from docex.signing.pki import Pki
from tests.functional.conftest import NodeProcess, signed_pdf
from tests.helpers import G22, H41
from tests.signing.softhsm import Token

pytestmark = pytest.mark.functional


def test_readme_tour_send_receive_accept_and_see_the_receipts(
    node_process: NodeProcess, tmp_path: Path
) -> None:
    node = node_process
    node.start("--demo")
    credentials = node.credentials()
    assert set(credentials["agencies"]) >= {G22, H41, "000.00.00.I01"}

    draft = tmp_path / "du-thao.pdf"
    node.cli("sample-pdf", str(draft))
    text = PdfReader(draft).pages[0].extract_text()
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text  # in Vietnamese, diacritics and all
    creds = ["--credentials", str(node.data_dir / "demo-credentials.json"), "--url", node.url]
    # Unsigned, it is refused: Decree 30 wants the signer's signature and the agency seal.
    refused = node.cli(
        "send",
        str(draft),
        "--to",
        H41,
        "--subject",
        "x",
        "--as",
        f"{G22}/clerk",
        *creds,
        check=False,
    )
    assert refused.returncode == 1
    assert "lỗi: tệp PDF chưa được ký số" in refused.stderr
    assert "(unsigned)" in refused.stderr
    assert "Traceback" not in refused.stderr
    # The leader signs with the key the node keeps for them, the clerk applies the seal.
    signed = tmp_path / "da-ky.pdf"
    pdf_path = tmp_path / "cong-van.pdf"
    node.cli(
        "sign", str(draft), "-o", str(signed), "--role", "signer", "--as", f"{G22}/leader", *creds
    )
    node.cli(
        "sign", str(signed), "-o", str(pdf_path), "--role", "seal", "--as", f"{G22}/clerk", *creds
    )

    sent = json.loads(
        node.cli(
            "send",
            str(pdf_path),
            "--to",
            H41,
            "--subject",
            "Về việc thử nghiệm docex",
            "--number",
            "12",
            "--notation",
            "VPCP-TTĐT",
            "--as",
            f"{G22}/clerk",
            "--json",
            *creds,
        ).stdout
    )
    document_id = sent["id"]

    roles = [(sig["role"], sig["agency_code"]) for sig in sent["signatures"]]
    assert ("signer", G22) in roles
    assert ("seal", G22) in roles
    assert all(sig["valid"] and sig["trusted"] for sig in sent["signatures"])

    # Nghệ An's clerk logs in as a person would (no demo token), from any folder: later
    # commands act as them until `docex logout`.
    clerk = credentials["agencies"][H41]["clerk"]
    config = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "DOCEX_URL": node.url}
    node.cli("login", clerk["username"], env=config, DOCEX_PASSWORD=clerk["password"])
    assert (tmp_path / "config" / "docex" / "login.json").stat().st_mode & 0o777 == 0o600
    inbox = json.loads(node.cli("inbox", "--json", env=config).stdout)
    items = inbox["items"] if isinstance(inbox, dict) else inbox
    assert [i["document_id"] for i in items] == [document_id]  # delivered by the dispatcher

    out = tmp_path / "received.pdf"
    node.cli("download", document_id[:8], "-o", str(out), env=config)
    assert out.read_bytes() == pdf_path.read_bytes()

    node.cli("status", document_id[:8], "03", "--incoming-number", "125", env=config)
    table = node.cli("inbox", env=config, COLUMNS="80").stdout
    assert "03 đã tiếp nhận" in table
    assert "số đến 125" in table
    assert max(len(line) for line in table.splitlines()) <= 80
    node.cli("logout", env=config)
    # --as finds the demo credentials through DOCEX_DATA_DIR, whatever the folder.
    receipts = json.loads(
        node.cli(
            "receipts", document_id, "--as", f"{G22}/clerk", "--json", "--url", node.url
        ).stdout
    )
    receipts = receipts["items"] if isinstance(receipts, dict) else receipts
    assert [r["code"] for r in receipts] == ["01", "03"]

    trace = json.loads(
        node.cli("trace", document_id, "--as", f"{G22}/clerk", "--json", *creds).stdout
    )
    events = [i["event"] for i in (trace["items"] if isinstance(trace, dict) else trace)]
    assert events[0] == "intake:document:accepted"
    assert events.count("routing:status:recorded") == 2
    table = node.cli("trace", document_id, "--as", f"{G22}/clerk", *creds, COLUMNS="200").stdout
    assert "routing:delivery:delivered" in table


def test_keys_rotate_command_rewraps_and_documents_stay_readable(
    node_process: NodeProcess, tmp_path: Path
) -> None:
    node = node_process
    node.start("--demo")
    creds = ["--credentials", str(node.data_dir / "demo-credentials.json"), "--url", node.url]
    pdf_path = tmp_path / "a.pdf"
    pdf_path.write_bytes(signed_pdf(node, "Khóa"))
    sent = json.loads(
        node.cli(
            "send",
            str(pdf_path),
            "--to",
            H41,
            "--subject",
            "Khóa",
            "--as",
            f"{G22}/clerk",
            "--json",
            *creds,
        ).stdout
    )
    rotated = json.loads(node.cli("keys", "rotate", "--json").stdout)
    assert rotated == {"kek_version": 2, "rewrapped": 1}
    out = tmp_path / "back.pdf"
    node.cli("download", sent["id"], "-o", str(out), "--as", f"{H41}/clerk", *creds)
    assert out.read_bytes() == pdf_path.read_bytes()


def test_tour_with_every_signing_key_on_a_pkcs11_token(
    node_process: NodeProcess, hsm_token: Token, tmp_path: Path
) -> None:
    """The same tour on a node whose receipt key, seals and leaders' keys are on a PKCS#11
    token (SoftHSM2): only the CA, TSA and OCSP keys of the demo PKI are files."""
    node = node_process
    node.start("--demo", **hsm_token.env())
    creds = ["--credentials", str(node.data_dir / "demo-credentials.json"), "--url", node.url]
    draft, signed, sealed = (tmp_path / n for n in ("draft.pdf", "signed.pdf", "sealed.pdf"))
    node.cli("sample-pdf", str(draft))
    node.cli(
        "sign", str(draft), "-o", str(signed), "--role", "signer", "--as", f"{G22}/leader", *creds
    )
    node.cli(
        "sign", str(signed), "-o", str(sealed), "--role", "seal", "--as", f"{G22}/clerk", *creds
    )
    sent = json.loads(
        node.cli(
            "send", str(sealed), "--to", H41, "--subject", "Ký bằng HSM",
            "--as", f"{G22}/clerk", "--json", *creds,
        ).stdout
    )  # fmt: skip
    assert sorted((s["role"], s["agency_code"]) for s in sent["signatures"]) == [
        ("seal", G22),
        ("signer", G22),
    ]
    assert all(s["valid"] and s["trusted"] for s in sent["signatures"])
    node.cli("status", sent["id"], "03", "--as", f"{H41}/clerk", *creds)
    receipts = json.loads(
        node.cli("receipts", sent["id"], "--as", f"{G22}/clerk", "--json", *creds).stdout
    )
    receipts = receipts["items"] if isinstance(receipts, dict) else receipts
    assert [r["code"] for r in receipts] == ["01", "03"]

    store = Pkcs11KeyStore(hsm_token.module, hsm_token.label, hsm_token.pin)
    try:
        node_key = store.node_key().public_key()
        seal = store.certificate(f"seal:{G22}")
    finally:
        store.close()
    for receipt in receipts:
        header = json.loads(base64.urlsafe_b64decode(receipt["signed"].split(".")[0] + "=="))
        leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
        assert leaf.public_key() == node_key
    pdf_seal = PdfFileReader(io.BytesIO(sealed.read_bytes())).embedded_signatures[-1]
    assert pdf_seal.signer_cert.dump() == seal.public_bytes(serialization.Encoding.DER)
    # The operator's local command signs with the token too, beside the running server.
    local = tmp_path / "local.pdf"
    node.cli(
        "pdf", "sign", str(draft), "-o", str(local), "--key", f"seal:{G22}", env=hsm_token.env()
    )
    local_seal = PdfFileReader(io.BytesIO(local.read_bytes())).embedded_signatures[-1]
    assert local_seal.signer_cert.dump() == seal.public_bytes(serialization.Encoding.DER)
    # Rotating the seal on the token: the running server seals with the new key at once.
    rotated = json.loads(
        node.cli("pki", "rotate", f"seal:{G22}", "--json", env=hsm_token.env()).stdout
    )
    resealed = tmp_path / "resealed.pdf"
    node.cli(
        "sign", str(signed), "-o", str(resealed), "--role", "seal", "--as", f"{G22}/clerk", *creds
    )
    new_seal = PdfFileReader(io.BytesIO(resealed.read_bytes())).embedded_signatures[-1]
    assert format(new_seal.signer_cert.serial_number, "x") == rotated["serial"]
    assert new_seal.signer_cert.dump() != pdf_seal.signer_cert.dump()
    # A leader's key certified by an outside CA: a request signed on the token goes out, the
    # certificate comes back (here the demo PKI plays the national CA) and is installed.
    leader = f"person:{node.credentials()['agencies'][G22]['leader']['username']}"
    request = tmp_path / "leader.csr"
    node.cli("pki", "request", leader, "--rotate", "-o", str(request), env=hsm_token.env())
    csr = x509.load_pem_x509_csr(request.read_bytes())
    assert csr.is_signature_valid
    ca = Pki.open(node.data_dir / "pki", None)
    issued = ca.certificate(
        ca.issue_person(
            leader.removeprefix("person:"),
            csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value,  # type: ignore[arg-type]
            G22,
            agency_name=csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value,  # type: ignore[arg-type]
            now=datetime.now(UTC),
            rotate=True,
            public_key=csr.public_key(),  # type: ignore[arg-type]
        )
    )
    (tmp_path / "leader.pem").write_bytes(issued.public_bytes(serialization.Encoding.PEM))
    wrong = node.cli(
        "pki", "install", f"seal:{H41}", str(tmp_path / "leader.pem"), env=hsm_token.env(),
        check=False,
    )  # fmt: skip
    assert wrong.returncode == 1
    assert f"does not name agency {H41}" in wrong.stderr
    node.cli("pki", "install", leader, str(tmp_path / "leader.pem"), env=hsm_token.env())
    resigned = tmp_path / "resigned.pdf"
    node.cli(
        "sign", str(draft), "-o", str(resigned), "--role", "signer", "--as", f"{G22}/leader",
        *creds,
    )  # fmt: skip
    by_leader = PdfFileReader(io.BytesIO(resigned.read_bytes())).embedded_signatures[-1]
    assert by_leader.signer_cert.dump() == issued.public_bytes(serialization.Encoding.DER)
    assert not (node.data_dir / "keys" / NODE_KEY_FILE).exists()
    assert sorted(p.name for p in (node.data_dir / "pki" / "private").iterdir()) == [
        "issuing.key.pem",
        "ocsp.key.pem",
        "root.key.pem",
        "tsa.key.pem",
    ]
