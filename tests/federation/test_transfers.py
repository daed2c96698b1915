"""The transfer protocol between two real nodes over HTTP: a transfer is sent once, stored
once, its receipt verified; replays answer the same receipt; forged and altered transfers are
refused with precise codes, audited, nothing stored; a peer down is waited for and then
delivered once; a big file crosses streamed."""

from __future__ import annotations

import hashlib
import json
import threading
import tracemalloc
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from http_message_signatures import HTTPMessageSigner
from http_message_signatures.algorithms import ECDSA_P256_SHA256
from sqlalchemy import select

from docex.audit import events
from docex.errors import Unprocessable
from docex.federation import peers, transfers, wire
from docex.federation.kinds import Inbound, Part
from docex.federation.models import InboundTransfer
from docex.federation.peers import Peer
from docex.kit.ids import uuid7
from docex.queue import jobs
from docex.queue.models import Job
from docex.signing.jws import EcdsaKey, ecdsa_key
from docex.vocabulary.transport import JOB_TRANSFER
from tests.federation.conftest import KIND, Network, bytes_part
from tests.routing.receiver import receiving

PDF = b"%PDF-1.7\n" + b"x" * 5000 + b"\n%%EOF\n"


def queue(net: Network, parts: list[Part], manifest: dict[str, Any] | None = None) -> str:
    with net.a.db.write() as session:
        transfer = transfers.queue(
            session,
            kind=KIND,
            peer="node-b",
            manifest=manifest or {"subject": "Công văn", "files": [p.name for p in parts]},
            now=net.a.clock.now(),
        )
        net.kind_a.outgoing[transfer.id] = parts
        return transfer.id


def node_a_key(net: Network) -> EcdsaKey:
    from docex.keys.paths import KeyPaths
    from docex.signing.keys import load_node_key

    return ecdsa_key(load_node_key(KeyPaths.of(net.a.settings).node_key))


def request_for(
    net: Network,
    *,
    transfer_id: str | None = None,
    manifest: bytes = b'{"subject":"x"}',
    parts: list[Part] | None = None,
    key: EcdsaKey | None = None,
    node_id: str = "node-a",
    created_offset: float = 0,
    kind: str = KIND,
) -> tuple[str, dict[str, str], bytes]:
    """A transfer request to b signed as ``node_id`` with ``key`` (a's by default)."""
    transfer_id = transfer_id or uuid7()
    body = wire.Body(transfer_id, manifest, parts or [bytes_part("file:1", PDF)])
    data = b"".join(body.chunks())
    digest = wire.content_digest(iter([data]))
    url = f"{net.server_b.url}{wire.PATH}"
    headers = wire.sign(
        key or node_a_key(net),
        node_id,
        url,
        wire.headers_for(transfer_id, kind, body, digest),
        created=net.a.clock.now() + timedelta(seconds=created_offset),
    )
    return url, headers, data


def post(url: str, headers: dict[str, str], data: bytes) -> httpx.Response:
    headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
    return httpx.post(url, headers=headers, content=data, timeout=60)


@pytest.fixture
def net(network: Network) -> Network:
    network.server_b.start()
    return network


def test_a_transfer_is_sent_stored_once_and_its_receipt_verified(net: Network) -> None:
    transfer_id = queue(net, [bytes_part("file:main", PDF), bytes_part("file:2", b"appendix")])
    net.send_pass()

    transfer = net.transfer(transfer_id)
    assert transfer.state == transfers.SENT
    assert transfer.sent_at is not None
    assert transfer.attempts == 1
    assert transfer.last_error is None
    assert transfer.digest is not None
    assert transfer.digest.startswith("sha-256=:")
    # The receipt verifies with b's key and binds the transfer, the digest and each part.
    assert transfer.receipt is not None
    claims = wire.verify_receipt(
        transfer.receipt,
        peer_key_pem=net.key_pem["node-b"],
        transfer_id=transfer_id,
        kind=KIND,
        from_node="node-a",
        to_node="node-b",
        digest=transfer.digest,
    )
    assert claims["parts"]["file:main"] == hashlib.sha256(PDF).hexdigest()
    assert claims["parts"]["manifest"] == hashlib.sha256(transfer.manifest.encode()).hexdigest()
    assert claims["accepted"] == {"files": {"file:main": len(PDF), "file:2": 8}}
    assert net.kind_a.sent_receipts == [(transfer_id, claims)]
    with net.a.db.read() as session:
        assert session.scalars(select(Job).where(Job.ref == transfer_id)).all() == []
    (sent,) = net.events(net.a, events.TRANSFER_SENT)
    assert sent.detail["transfer_id"] == transfer_id
    assert sent.detail["peer"] == "node-b"

    # b stored it once, with the files intact and the manifest exactly as sent.
    assert net.inbound_count() == 1
    (received,) = net.kind_b.committed
    assert received.from_node == "node-a"
    assert received.manifest == json.loads(transfer.manifest)
    assert received.files["file:main"] == (hashlib.sha256(PDF).hexdigest(), len(PDF))
    (event,) = net.events(net.b, events.TRANSFER_RECEIVED)
    assert event.detail == {
        "transfer_id": transfer_id,
        "kind": KIND,
        "from_node": "node-a",
        "digest": transfer.digest,
    }
    with net.b.db.read() as session:
        row = session.get(InboundTransfer, transfer_id)
        assert row is not None
        assert row.receipt == transfer.receipt


def test_a_replayed_transfer_answers_the_same_receipt_and_stores_nothing(net: Network) -> None:
    url, headers, data = request_for(net)
    first = post(url, headers, data)
    assert first.status_code == 201, first.text
    again = post(url, headers, data)  # the very same signed request, replayed
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    # A retry with a fresh signature over the same content: the same answer too.
    transfer_id = first.json()["transfer_id"]
    url, headers, data = request_for(net, transfer_id=transfer_id)
    assert post(url, headers, data).json() == first.json()
    assert net.inbound_count() == 1
    assert len(net.kind_b.committed) == 1
    assert len(net.events(net.b, events.TRANSFER_RECEIVED)) == 1


def test_two_identical_transfers_at_once_store_once(net: Network) -> None:
    url, headers, data = request_for(net)
    barrier = threading.Barrier(2)
    answers: list[httpx.Response] = []

    def send() -> None:
        barrier.wait()
        answers.append(post(url, headers, data))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200, 201]
    assert answers[0].json() == answers[1].json()
    assert net.inbound_count() == 1
    assert len(net.events(net.b, events.TRANSFER_RECEIVED)) == 1


# Refused before the peer is authenticated: anyone's, audited by the refusal tally
# (api:request:refused, the first of each window at once), never a row a request.
ANONYMOUS = {
    "federation_signature_missing",
    "federation_signature_invalid",
    "federation_signature_stale",
    "federation_unknown_node",
}


def _refused(net: Network, response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert net.inbound_count() == 0
    assert net.kind_b.committed == []
    if code in ANONYMOUS:
        tallied = net.events(net.b, events.REQUEST_REFUSED)
        assert code in [e.detail["error"] for e in tallied]
        assert code not in [e.detail["error"] for e in net.events(net.b, events.TRANSFER_REFUSED)]
    else:
        refused = net.events(net.b, events.TRANSFER_REFUSED)
        assert refused[-1].detail["error"] == code


def test_forged_and_altered_transfers_are_refused_audited_and_not_stored(net: Network) -> None:
    # No signature at all.
    url, headers, data = request_for(net)
    bare = {k: v for k, v in headers.items() if k not in ("Signature", "Signature-Input")}
    _refused(net, post(url, bare, data), 401, "federation_signature_missing")

    # Signed by another key than the one the directory gives for node-a.
    impostor = ecdsa_key(ec.generate_private_key(ec.SECP256R1()))
    url, headers, data = request_for(net, key=impostor)
    _refused(net, post(url, headers, data), 401, "federation_signature_invalid")

    # A node the directory does not list.
    url, headers, data = request_for(net, key=impostor, node_id="node-x")
    _refused(net, post(url, headers, data), 403, "federation_unknown_node")

    # A signature made too long ago (a replay of an old capture), or too far ahead.
    url, headers, data = request_for(net, created_offset=-600)
    _refused(net, post(url, headers, data), 401, "federation_signature_stale")
    url, headers, data = request_for(net, created_offset=600)
    _refused(net, post(url, headers, data), 401, "federation_signature_stale")

    # A signature whose sender gave it an expiry, now past.
    url, headers, data = request_for(net)
    bare = {k: v for k, v in headers.items() if k not in ("Signature", "Signature-Input")}
    signer = HTTPMessageSigner(signature_algorithm=ECDSA_P256_SHA256)
    message = wire.Message("POST", url, bare)
    prepared = signer.prepare(
        message,
        key_id="node-a",
        created=net.a.clock.now() - timedelta(seconds=20),
        expires=net.a.clock.now() - timedelta(seconds=10),
        label=wire.LABEL,
        tag=wire.TAG,
        covered_component_ids=wire.COVERED,
        use_existing_digest=True,
    )
    der = node_a_key(net).sign(prepared.signature_base)
    signer.apply(message, prepared, ECDSA_P256_SHA256.signature_from_der(der))
    _refused(net, post(url, bare, data), 401, "federation_signature_stale")

    # The body altered after signing (a file's byte changed): the digest does not match.
    url, headers, data = request_for(net)
    altered = data.replace(b"xxxx", b"xxxy", 1)
    assert len(altered) == len(data)
    _refused(net, post(url, headers, altered), 400, "federation_digest_mismatch")

    # The manifest altered after signing, with a Content-Digest recomputed to match: the
    # signature covers the digest, so it no longer verifies.
    url, headers, data = request_for(net, manifest=b'{"subject":"x"}')
    forged = data.replace(b'{"subject":"x"}', b'{"subject":"y"}', 1)
    headers = {**headers, "Content-Digest": wire.content_digest(iter([forged]))}
    _refused(net, post(url, headers, forged), 401, "federation_signature_invalid")

    # A transfer signed for another node's URL (replayed from elsewhere to b).
    url, headers, data = request_for(net)
    elsewhere = wire.sign(
        node_a_key(net),
        "node-a",
        "http://127.0.0.1:9/federation/v1/transfers",
        {k: v for k, v in headers.items() if k not in ("Signature", "Signature-Input")},
        created=net.a.clock.now(),
    )
    _refused(net, post(url, elsewhere, data), 401, "federation_signature_invalid")

    # A kind b does not accept.
    url, headers, data = request_for(net, kind="parcel")
    _refused(net, post(url, headers, data), 400, "federation_unknown_kind")

    # Not the protocol's body: the manifest is not the first part.
    transfer_id = uuid7()
    body = wire.Body(transfer_id, b"{}", [bytes_part("file:1", PDF)])
    data = b"".join(body.chunks()).replace(b'name="manifest"', b'name="zzzzzzzz"', 1)
    digest = wire.content_digest(iter([data]))
    url = f"{net.server_b.url}{wire.PATH}"
    headers = wire.sign(
        node_a_key(net),
        "node-a",
        url,
        wire.headers_for(transfer_id, KIND, body, digest),
        created=net.a.clock.now(),
    )
    _refused(net, post(url, headers, data), 400, "federation_malformed_body")

    # The kind's own refusal: audited, nothing kept.
    def refuse(inbound: Inbound) -> None:
        raise Unprocessable("the sender agency is not hosted by node-a", code="not_hosted")

    net.kind_b.refuse = refuse
    url, headers, data = request_for(net)
    _refused(net, post(url, headers, data), 422, "not_hosted")
    net.kind_b.refuse = None

    # The four refused after the peer's signature verified are audited one by one, with the
    # peer; the eight before it went to the tally.
    refused = net.events(net.b, events.TRANSFER_REFUSED)
    assert [e.detail["error"] for e in refused] == [
        "federation_digest_mismatch",
        "federation_unknown_kind",
        "federation_malformed_body",
        "not_hosted",
    ]
    assert {e.detail["peer"] for e in refused} == {"node-a"}


def test_a_flood_of_unsigned_transfers_is_tallied_not_logged_a_row_each(net: Network) -> None:
    url, headers, data = request_for(net)
    bare = {k: v for k, v in headers.items() if k not in ("Signature", "Signature-Input")}
    for _ in range(40):
        assert post(url, bare, data).status_code == 401
    node = net.b
    immediate = [
        e
        for e in net.events(node, events.REQUEST_REFUSED)
        if e.detail["error"] == "federation_signature_missing"
    ]
    assert len(immediate) == 1  # the first of the window
    assert net.events(node, events.TRANSFER_REFUSED) == []
    node.refusals.flush(everything=True)
    counted = [
        e
        for e in net.events(node, events.REQUEST_REFUSED)
        if e.detail["error"] == "federation_signature_missing"
    ]
    assert sum(int(e.detail["count"]) for e in counted) == 40
    assert net.inbound_count() == 0


def test_the_same_transfer_id_with_other_content_is_a_conflict(net: Network) -> None:
    url, headers, data = request_for(net)
    assert post(url, headers, data).status_code == 201
    transfer_id = headers["Docex-Transfer-Id"]
    url, headers, data = request_for(net, transfer_id=transfer_id, manifest=b'{"subject":"z"}')
    response = post(url, headers, data)
    assert response.status_code == 409
    assert response.json()["error"] == ("federation_transfer_conflict")
    assert net.inbound_count() == 1
    assert len(net.kind_b.committed) == 1


def test_a_receipt_signed_by_the_wrong_key_is_refused_by_the_sender(net: Network) -> None:
    # a's directory has a wrong key for node-b: b's genuine receipt does not verify with it.
    wrong = ec.generate_private_key(ec.SECP256R1()).public_key()
    from cryptography.hazmat.primitives import serialization

    pem = wrong.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    net.directory(net.a, {**net.key_pem, "node-b": pem})
    transfer_id = queue(net, [bytes_part("file:1", PDF)])
    net.send_pass()
    transfer = net.transfer(transfer_id)
    assert transfer.state == transfers.QUEUED
    assert transfer.receipt is None
    assert transfer.last_error is not None
    assert "receipt is refused" in transfer.last_error
    assert net.kind_a.sent_receipts == []
    assert net.events(net.a, events.TRANSFER_SENT) == []

    # The directory is right again: the retry gets b's original receipt (a replay there).
    net.directory(net.a, net.key_pem)
    net.send_pass()
    transfer = net.transfer(transfer_id)
    assert transfer.state == transfers.SENT
    assert transfer.attempts == 2
    assert net.inbound_count() == 1
    assert len(net.kind_b.committed) == 1
    assert [t for t, _ in net.kind_a.sent_receipts] == [transfer_id]


def test_a_peer_down_is_waited_for_then_delivered_once(network: Network) -> None:
    net = network  # b is not started: nothing listens on its port
    transfer_id = queue(net, [bytes_part("file:1", PDF)])
    net.send_pass()
    net.send_pass()
    transfer = net.transfer(transfer_id)
    assert transfer.state == transfers.QUEUED
    assert transfer.attempts == 2
    assert transfer.last_error is not None
    assert "node-b" in transfer.last_error
    digest = transfer.digest
    assert digest is not None  # fixed on the first attempt
    assert net.kind_a.failures == [
        (transfer_id, "waiting for node node-b", False),
        (transfer_id, "waiting for node node-b", False),
    ]

    net.server_b.start()
    net.send_pass()
    transfer = net.transfer(transfer_id)
    assert transfer.state == transfers.SENT
    assert transfer.attempts == 3
    assert transfer.digest == digest  # the same bytes as first computed
    assert net.inbound_count() == 1
    assert len(net.kind_b.committed) == 1
    net.send_pass()  # nothing left to send
    assert net.inbound_count() == 1
    assert len(net.kind_a.sent_receipts) == 1


def test_a_refusal_by_the_peer_is_final(net: Network) -> None:
    def refuse(inbound: Inbound) -> None:
        raise Unprocessable("not for this node", code="not_hosted")

    net.kind_b.refuse = refuse
    transfer_id = queue(net, [bytes_part("file:1", PDF)])
    net.send_pass()
    transfer = net.transfer(transfer_id)
    assert transfer.state == transfers.FAILED
    assert transfer.attempts == 1
    assert transfer.last_error == "node node-b answered HTTP 422 not_hosted"
    ((told_id, reason, final),) = net.kind_a.failures
    assert told_id == transfer_id
    assert final
    assert "not_hosted" in reason
    (failed,) = net.events(net.a, events.TRANSFER_FAILED)
    assert failed.detail["transfer_id"] == transfer_id
    with net.a.db.read() as session:
        job = session.scalars(select(Job).where(Job.ref == transfer_id)).one()
        assert job.state == "failed"


BIG = 50 * 1024 * 1024
BLOCK = 64 * 1024


def _big_chunks() -> Iterator[bytes]:
    for index in range(BIG // BLOCK):
        yield hashlib.sha256(index.to_bytes(8, "big")).digest() * (BLOCK // 32)


def test_a_big_file_crosses_streamed_never_whole_in_memory(net: Network) -> None:
    expected = hashlib.sha256()
    for chunk in _big_chunks():
        expected.update(chunk)
    transfer_id = queue(net, [Part("file:big", "application/pdf", BIG, _big_chunks)])
    tracemalloc.start()
    try:
        net.send_pass()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert net.transfer(transfer_id).state == transfers.SENT
    (received,) = net.kind_b.committed
    assert received.files["file:big"] == (expected.hexdigest(), BIG)
    # Both nodes run in this process: 50 MB went out (twice: digest, then send) and came in
    # (spooled, copied) with well under a tenth of it allocated at any moment.
    assert peak < BIG // 10, f"peak {peak} bytes"


def test_a_slow_peer_holds_up_no_other_peer(net: Network) -> None:
    release = threading.Event()

    def hang(_headers: dict[str, str], _body: bytes) -> int:
        release.wait(120)
        return 503

    with receiving(hang) as slow:
        keys = {**net.key_pem, "node-c": net.key_pem["node-b"]}
        net.directory(net.a, keys)
        with net.a.db.write() as session:
            peers.upsert(
                session,
                [Peer("node-c", slow.url.removesuffix("/hook"), None, keys["node-c"], None, None)],
                version=1,
                now=net.a.clock.now(),
            )
            stuck = transfers.queue(
                session, kind=KIND, peer="node-c", manifest={"n": 1}, now=net.a.clock.now()
            ).id
        net.kind_a.outgoing[stuck] = [bytes_part("file:1", PDF)]
        moving = queue(net, [bytes_part("file:1", PDF)])
        net.a.worker.run_once(JOB_TRANSFER)
        # node-c has the first transfer and does not answer; node-b's goes through meanwhile.
        for _ in range(600):
            if net.transfer(moving).state == transfers.SENT:
                break
            release.wait(0.1)
        assert net.transfer(moving).state == transfers.SENT
        assert net.transfer(stuck).state == transfers.QUEUED
        assert slow.all() == []  # node-c still holds its first request
        release.set()
        assert net.transport.drain(120)
    assert net.kind_a.failures == [(stuck, "waiting for node node-c", False)]


def test_an_operator_requeues_a_failed_transfer(net: Network) -> None:
    def refuse(inbound: Inbound) -> None:
        raise Unprocessable("not now", code="not_hosted")

    net.kind_b.refuse = refuse
    transfer_id = queue(net, [bytes_part("file:1", PDF)])
    net.send_pass()
    assert net.transfer(transfer_id).state == transfers.FAILED
    net.kind_b.refuse = None
    with net.a.db.write() as session:
        assert jobs.requeue(session, JOB_TRANSFER, transfer_id, now=net.a.clock.now())
    net.send_pass()
    assert net.transfer(transfer_id).state == transfers.SENT
    assert net.inbound_count() == 1


def test_a_transfer_over_the_limits_is_refused_while_it_streams_in(net: Network) -> None:
    limits = net.b.settings.federation
    limits.max_parts = 2
    parts = [bytes_part(f"file:{n}", PDF) for n in range(3)]
    url, headers, data = request_for(net, parts=parts)
    _refused(net, post(url, headers, data), 413, "federation_too_many_parts")

    limits.max_manifest_bytes = 1024
    url, headers, data = request_for(net, manifest=json.dumps({"x": "y" * 2000}).encode())
    _refused(net, post(url, headers, data), 413, "federation_manifest_too_large")

    limits.max_transfer_bytes = 4096
    url, headers, data = request_for(net)
    _refused(net, post(url, headers, data), 413, "federation_transfer_too_large")
    assert list(net.b.settings.spool_dir.iterdir()) == []  # nothing left in the spool
