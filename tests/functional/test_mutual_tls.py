"""Mutual TLS on a real ``docex serve``: a throwaway server CA and client CA made here, the node
serving HTTPS and requiring a client certificate from the client CA. A peer with one (the
federation peer client, configured as a node configures it) gets its answer; a client without
one, or with one from another CA, has its handshake refused and gets no HTTP answer. And a
peer witnesses the real node's audit log over that mutual TLS, as production does."""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import typer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from docex.audit import notes
from docex.cli.main import tls_options
from docex.config import FederationSettings, Settings, TlsSettings
from docex.db import Database
from docex.federation import peers, witnessing
from docex.federation.peers import Peer, peer_client
from docex.kit.clock import SystemClock
from docex.migrations import upgrade
from tests.functional.conftest import DOCEX, free_port

pytestmark = pytest.mark.functional


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _key_file(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


class Ca:
    def __init__(self, directory: Path, name: str) -> None:
        self.dir = directory
        self.name = name
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        self.pem = directory / f"{name}.pem"
        self.pem.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, common: str, *, server: bool) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
        cert = builder.sign(self.key, hashes.SHA256())
        pem = self.dir / f"{common}.pem"
        pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return Issued(pem, _key_file(self.dir / f"{common}.key", key))


@dataclass(frozen=True)
class Pki:
    server_ca: Ca
    client_ca: Ca
    server: Issued
    client: Issued
    rogue: Issued  # a client certificate from a CA the node does not trust


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    directory = tmp_path / "tls"
    directory.mkdir()
    server_ca, client_ca = Ca(directory, "server-ca"), Ca(directory, "client-ca")
    rogue_ca = Ca(directory, "rogue-ca")
    return Pki(
        server_ca,
        client_ca,
        server_ca.issue("hub.node", server=True),
        client_ca.issue("province-a.node", server=False),
        rogue_ca.issue("intruder.node", server=False),
    )


@pytest.fixture
def https_node(tmp_path: Path, pki: Pki) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCEX_")}
    env.update(
        DOCEX_DATA_DIR=str(tmp_path / "node"),
        DOCEX_HOST="127.0.0.1",
        DOCEX_PORT=str(port),
        DOCEX_NODE_ID="hub",
        DOCEX_TLS__CERT_FILE=str(pki.server.cert),
        DOCEX_TLS__KEY_FILE=str(pki.server.key),
        DOCEX_TLS__CLIENT_CA_FILE=str(pki.client_ca.pem),
        DOCEX_TLS__CLIENT_CERT_REQUIRED="true",
        DOCEX_AUDIT__CHECKPOINT_INTERVAL_SECONDS="0.5",  # a checkpoint soon after start
    )
    log = tmp_path / "node.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([DOCEX, "serve"], env=env, stdout=out, stderr=out)
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _trusting(ca: Ca, client: Issued | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca.pem))
    if client is not None:
        context.load_cert_chain(str(client.cert), str(client.key))
    return context


def _ready(client: httpx.Client, url: str) -> httpx.Response:
    """The node answers once its startup is done (it listens a little before)."""
    deadline = time.monotonic() + 60
    while True:
        response = client.get(f"{url}/readyz")
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_a_peer_with_a_client_certificate_is_served_and_others_are_refused_at_the_handshake(
    https_node: str, pki: Pki
) -> None:
    federation = FederationSettings(
        tls_client_cert=pki.client.cert, tls_client_key=pki.client.key, tls_ca=pki.server_ca.pem
    )
    with peer_client(federation) as peer:
        assert _ready(peer, https_node).status_code == 200
        assert peer.get(f"{https_node}/healthz").status_code == 200
        served = peer.get(f"{https_node}/federation/v1/audit/checkpoint")
        assert served.status_code in (200, 404)  # an HTTP answer: the handshake was accepted

    # No client certificate: the handshake is refused, no HTTP answer at all.
    with (
        httpx.Client(verify=_trusting(pki.server_ca)) as anonymous,
        pytest.raises(httpx.TransportError),
    ):
        anonymous.get(f"{https_node}/healthz")
    # A certificate from a CA the node does not trust: refused too.
    with (
        httpx.Client(verify=_trusting(pki.server_ca, pki.rogue)) as intruder,
        pytest.raises(httpx.TransportError),
    ):
        intruder.get(f"{https_node}/healthz")
    # Precisely: in TLS 1.2 the handshake itself fails; in TLS 1.3 (where the client's side of
    # the handshake ends before the server has checked its certificate) the server closes the
    # connection before a single byte of HTTP.
    port = int(https_node.rsplit(":", 1)[1])
    tls12 = ssl.create_default_context(cafile=str(pki.server_ca.pem))
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        pytest.raises((ssl.SSLError, ConnectionError)),
    ):
        tls12.wrap_socket(raw, server_hostname="127.0.0.1")
    tls13 = ssl.create_default_context(cafile=str(pki.server_ca.pem))
    tls13.minimum_version = ssl.TLSVersion.TLSv1_3
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        answer = b""
        try:
            with tls13.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                answer = tls.recv(1024)
        except (ssl.SSLError, ConnectionError):
            pass
        assert answer == b""
    # And with its certificate, the same raw request is answered.
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        _trusting(pki.server_ca, pki.client).wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert tls.recv(1024).startswith(b"HTTP/1.1 200 ")
    # The node's own name is on its server certificate: a client that expects another refuses.
    with (
        httpx.Client(verify=_trusting(pki.client_ca, pki.client)) as wrong_trust,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        wrong_trust.get(f"{https_node}/healthz")


def test_a_peer_witnesses_the_node_over_mutual_tls(
    https_node: str, pki: Pki, tmp_path: Path
) -> None:
    """The production path of cross-node audit: the peer client (mutual TLS) at the peer's
    URL, its checkpoint fetched and verified, the cosignature accepted by the real node because
    its directory lists the witness's key, and served with its checkpoint."""
    federation = FederationSettings(
        tls_client_cert=pki.client.cert, tls_client_key=pki.client.key, tls_ca=pki.server_ca.pem
    )
    with peer_client(federation) as client:
        assert _ready(client, https_node).status_code == 200
        hub_key = client.get(f"{https_node}/api/v1/node").json()["audit_key"]
    # This side: a province node's database and witness key.
    url = f"sqlite:///{tmp_path / 'province.db'}"
    upgrade(url)
    db = Database(url)
    cosigner = notes.Cosigner("province-a/witness", ed25519.Ed25519PrivateKey.generate())
    log_key = notes.EcdsaSigner("province-a/audit", ec.generate_private_key(ec.SECP256R1()))
    directory = [
        Peer("hub", https_node, None, "PEM", None, hub_key),
        Peer(
            "province-a",
            "https://province-a.example",
            "hub",
            "PEM",
            None,
            witnessing.published_audit_key(log_key.verifier, cosigner.verifier),
        ),
    ]
    hub_db = Database(f"sqlite:///{tmp_path / 'node' / 'docex.db'}")
    try:
        for each in (db, hub_db):
            with each.write() as session:
                peers.upsert(session, directory, version=1, now=SystemClock().now())
        witness = witnessing.PeerWitnessing(
            db,
            cosigner,
            node_id="province-a",
            clock=SystemClock(),
            connect=witnessing.peer_transports(federation),
        )
        deadline = time.monotonic() + 30
        while (outcome := witness.run_once()[0]).result == "failed":
            assert time.monotonic() < deadline, outcome  # until the node's first checkpoint
            time.sleep(0.5)
        assert (outcome.peer, outcome.result) == ("hub", "cosigned"), outcome
    finally:
        db.dispose()
        hub_db.dispose()
    with peer_client(federation) as client:
        served = client.get(f"{https_node}/federation/v1/audit/checkpoint").json()
    assert [c["name"] for c in served["cosignatures"]] == ["province-a/witness"]
    assert served["tree_size"] == outcome.tree_size
    # Without a client certificate the witness gets nothing at all.
    stranger = witnessing.peer_transports(FederationSettings(tls_ca=pki.server_ca.pem))
    with stranger(directory[0]) as transport, pytest.raises(httpx.TransportError):
        transport.get("/federation/v1/audit/checkpoint")


def test_tls_settings_become_uvicorn_options(tmp_path: Path, pki: Pki) -> None:
    settings = Settings(data_dir=tmp_path)
    assert tls_options(settings) == {}  # plain HTTP behind a proxy that terminates TLS
    settings.tls = TlsSettings(
        cert_file=pki.server.cert, key_file=pki.server.key, client_ca_file=pki.client_ca.pem
    )
    options = tls_options(settings)
    assert options["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    assert options["ssl_ca_certs"] == str(pki.client_ca.pem)
    settings.tls.client_cert_required = False
    assert tls_options(settings)["ssl_cert_reqs"] == ssl.CERT_OPTIONAL
    settings.tls = TlsSettings(cert_file=tmp_path / "missing.pem")
    with pytest.raises(typer.Exit):  # "DOCEX_TLS__CERT_FILE: no file ..." on stderr
        tls_options(settings)
