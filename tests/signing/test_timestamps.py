"""The node's time-stamper is chosen by configuration: an outside RFC 3161 authority over HTTP
(``DOCEX_SIGNING__TSA_URL``) stamps the signatures when set. The outside authority here is a
real one on a real socket: the node's own TSA served by an HTTP server on a free port."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from asn1crypto import tsp  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader

from docex.kit.samplepdf import sample_pdf
from docex.signing.errors import SigningError
from docex.signing.pki import Pki, build_pki
from docex.signing.service import NodeSignatures, SignedPdf, ValidationLimits
from docex.signing.timestamps import (
    QUERY_TYPE,
    REPLY_TYPE,
    HttpTimeStamper,
    InProcessTimeStamper,
    TimeStampAuthority,
    authority_from_pki,
)
from docex.signing.validation import STRICT_DECREE_30, validate_pdf
from docex.signing.wiring import build_signatures

PASSPHRASE = "correct horse battery staple"
AGENCY = ("000.00.00.G22", "Văn phòng Chính phủ")
LEADER = ("lanhdao.vpcp", "Nguyễn Văn An", AGENCY[0])


@dataclass
class Recorded:
    """The audit recorder of these tests: what was signed, in order."""

    signed: list[SignedPdf] = field(default_factory=list)

    def pdf_signed(self, signed: SignedPdf, *, actor_id: str | None, at: datetime) -> None:
        self.signed.append(signed)


@dataclass
class Authority:
    """An RFC 3161 authority on HTTP (§3.4); ``answer`` replaces its answers when set."""

    url: str
    requests: list[bytes]
    answer: tuple[int, str, bytes] | None = None


def _serve(authority: TimeStampAuthority) -> Iterator[Authority]:
    served = Authority(url="", requests=[])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            served.requests.append(body)
            if served.answer is not None:
                status, kind, reply = served.answer
            elif self.headers.get("Content-Type") != QUERY_TYPE:
                status, kind, reply = 415, "text/plain", b"not a time-stamp query"
            else:
                status, kind, reply = 200, REPLY_TYPE, authority.respond(body)
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{server.server_address[1]}/pki/tsa"
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("node")
    build_pki(directory / "pki", [AGENCY], [LEADER], passphrase=PASSPHRASE, now=datetime.now(UTC))
    return directory


@pytest.fixture(scope="module")
def pki(data_dir: Path) -> Pki:
    return Pki.open(data_dir / "pki", PASSPHRASE)


@pytest.fixture
def outside(pki: Pki) -> Iterator[Authority]:
    yield from _serve(authority_from_pki(pki))


@pytest.fixture
def signatures(data_dir: Path, outside: Authority) -> Iterator[NodeSignatures]:
    node = build_signatures(
        data_dir / "pki",
        passphrase=PASSPHRASE,
        audit=Recorded(),
        tsa_url=outside.url,
        limits=ValidationLimits(workers=1),
    )
    yield node
    node.close()


def _token_certificates(data: bytes) -> list[set[bytes]]:
    """The DER of the certificates in each signature's time-stamp token."""
    reader = PdfFileReader(io.BytesIO(data))
    found = []
    for signature in reader.embedded_signatures:
        token = signature.signer_info["unsigned_attrs"][0]["values"][0]
        found.append({choice.chosen.dump() for choice in token["content"]["certificates"]})
    return found


def test_the_wiring_uses_the_configured_authority_or_the_nodes_own(
    data_dir: Path, outside: Authority
) -> None:
    configured = build_signatures(
        data_dir / "pki", passphrase=PASSPHRASE, audit=Recorded(), tsa_url=outside.url
    )
    default = build_signatures(data_dir / "pki", passphrase=PASSPHRASE, audit=Recorded())
    try:
        assert isinstance(configured.timestamper, HttpTimeStamper)
        assert configured.timestamper.url == outside.url
        assert isinstance(default.timestamper, InProcessTimeStamper)
    finally:
        configured.close()
        default.close()


def test_an_outside_authority_stamps_signatures_that_validate(
    signatures: NodeSignatures, outside: Authority, pki: Pki, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    signed = signatures.sign(
        io.BytesIO(sample_pdf("Công văn qua TSA ngoài")),
        role="signer",
        agency_id=AGENCY[0],
        username=LEADER[0],
        now=now,
    )
    sealed = signatures.sign(
        io.BytesIO(signed.data), role="seal", agency_id=AGENCY[0], username=None, now=now
    )
    assert outside.requests  # every token came over the socket
    assert all(tsp.TimeStampReq.load(body).native["version"] == "v1" for body in outside.requests)
    tsa = pki.tsa_credentials()[0].public_bytes(serialization.Encoding.DER)
    tokens = _token_certificates(sealed.data)
    assert len(tokens) == 2
    assert all(tsa in certificates for certificates in tokens)
    assert signatures.trust is not None
    (tmp_path / "sealed.pdf").write_bytes(sealed.data)
    report = validate_pdf(
        tmp_path / "sealed.pdf",
        sender_agency=AGENCY[0],
        trust=signatures.trust,
        policy=STRICT_DECREE_30,
    )
    assert report.passed, report.detail
    assert all(s.timestamp_time is not None for s in report.signatures)


@pytest.mark.parametrize(
    "answer",
    [
        (500, "text/plain", b"down for maintenance"),
        (200, REPLY_TYPE, b"\x30\x03\x02\x01"),  # not DER
        (200, REPLY_TYPE, b"\x30" * 70_000),  # more than a token could be
    ],
    ids=["http-500", "not-der", "too-large"],
)
def test_an_authority_that_fails_is_timestamp_unavailable(
    signatures: NodeSignatures, outside: Authority, answer: tuple[int, str, bytes]
) -> None:
    outside.answer = answer
    recorded = signatures._audit
    with pytest.raises(SigningError) as refused:
        signatures.sign(
            io.BytesIO(sample_pdf("x")),
            role="seal",
            agency_id=AGENCY[0],
            username=None,
            now=datetime.now(UTC),
        )
    assert refused.value.code == "timestamp_unavailable"
    assert refused.value.kind == "unavailable"
    assert isinstance(recorded, Recorded)
    assert recorded.signed == []  # nothing signed, nothing recorded


def test_an_authority_that_refuses_is_timestamp_unavailable(
    signatures: NodeSignatures, outside: Authority
) -> None:
    rejection = tsp.TimeStampResp(
        {"status": tsp.PKIStatusInfo({"status": "rejection", "fail_info": {"bad_alg"}})}
    )
    from docex.signing.timestamps import encode_response

    outside.answer = (200, REPLY_TYPE, encode_response(rejection))
    with pytest.raises(SigningError) as refused:
        signatures.sign(
            io.BytesIO(sample_pdf("x")),
            role="seal",
            agency_id=AGENCY[0],
            username=None,
            now=datetime.now(UTC),
        )
    assert refused.value.code == "timestamp_unavailable"


def test_an_unreachable_authority_is_timestamp_unavailable(data_dir: Path) -> None:
    for served in _serve(authority_from_pki(Pki.open(data_dir / "pki", PASSPHRASE))):
        url = served.url  # a port that was just closed
    node = build_signatures(data_dir / "pki", passphrase=PASSPHRASE, audit=Recorded(), tsa_url=url)
    try:
        with pytest.raises(SigningError) as refused:
            node.sign(
                io.BytesIO(sample_pdf("x")),
                role="seal",
                agency_id=AGENCY[0],
                username=None,
                now=datetime.now(UTC),
            )
        assert refused.value.code == "timestamp_unavailable"
    finally:
        node.close()
