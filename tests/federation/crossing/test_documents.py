"""Documents and statuses crossing nodes: stored once with the same ids on every node, delivered
there, their statuses recorded back at the sender's node; confidential ones relayed as
ciphertext; one transfer per next hop; forged or misaddressed transfers refused, nothing
stored."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from docex.audit import events
from docex.audit.models import AuditEvent
from docex.documents.models import Delivery, Document, DocumentFile, FileKeyWrap
from docex.documents.protection import data_key
from docex.errors import (
    DocexError,
    KeyUnavailable,
    StoredFileCorrupt,
)
from docex.federation.documents import DOCUMENT_TYPE
from docex.federation.kinds import Inbound
from docex.federation.models import FederationDocument
from docex.federation.statuses import NOTICE_TYPE
from docex.queue.models import Job
from docex.routing.models import Receipt
from docex.signing.jws import NodeSigner, canonical_json
from docex.signing.keys import load_node_key
from docex.vocabulary.levels import Classification
from docex.vocabulary.transport import JOB_DELIVERY
from docex_client import models as client_models
from tests.federation.crossing.conftest import Member, Network
from tests.helpers import A01, C1, C2, G22, H26, H41, auth, envelope, pdf, send


def _counts(member: Member) -> dict[str, int]:
    with member.node.db.read() as session:
        result = {
            name: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in (
                ("documents", Document),
                ("files", DocumentFile),
                ("deliveries", Delivery),
                ("receipts", Receipt),
                ("wraps", FileKeyWrap),
            )
        }
    result["blobs"] = sum(1 for _ in member.node.store.iter_keys())
    return result


def _recipient(view: dict[str, Any], agency: str) -> dict[str, Any]:
    return next(r for r in view["recipients"] if r["agency_id"] == agency)


def _send(network: Network, node: str, sender: str, recipients: list[str], **fields: Any) -> str:
    response = send(
        network[node].client,
        auth(network.credentials, sender),
        envelope(recipients, **fields),
        pdf("Công văn liên tỉnh", size=20_000),
        attachments=[("phu-luc.txt", b"phu luc " * 500)],
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_a_document_crosses_to_the_next_node_stored_once_with_its_ids_and_its_statuses_return(
    network: Network,
) -> None:
    hub, nghean = network["hub"], network["nghean"]
    document_id = _send(network, "hub", G22, [H41])
    assert hub.deliver() == 1
    [transfer] = hub.queued()
    assert (transfer.kind, transfer.peer, transfer.document_id) == (
        "document",
        "nghean",
        document_id,
    )
    sender = auth(network.credentials, G22)
    view = hub.client.get(f"/api/v1/documents/{document_id}", headers=sender).json()
    assert _recipient(view, H41) | {"updated_at": None} == _recipient(view, H41) | {
        "transport": "queued",
        "status": None,
        "node": "nghean",
        "waiting_for": None,
        "updated_at": None,
    }

    # The peer is down: the sender reads why its recipient waits.
    network.fail("hub", "nghean", "connection refused", final=False)
    view = hub.client.get(f"/api/v1/documents/{document_id}", headers=sender).json()
    assert _recipient(view, H41)["waiting_for"] == "nghean"
    assert _recipient(view, H41)["reason"] == "waiting for node nghean"
    outbox = hub.client.get("/api/v1/outbox", headers=sender).json()["items"][0]
    assert outbox["waiting"] == [{"agency_id": H41, "node": "nghean", "waiting_for": "nghean"}]
    # The client library reads the same.
    assert client_models.Document.from_json(view).recipients[0].waiting_for == "nghean"
    [waiting] = client_models.OutboxItem.from_json(outbox).waiting
    assert (waiting.agency_id, waiting.node, waiting.waiting_for) == (H41, "nghean", "nghean")

    [accepted] = network.carry("hub", "nghean")
    assert accepted.document_id == document_id
    assert accepted.detail["recipients"] == [H41]
    view = hub.client.get(f"/api/v1/documents/{document_id}", headers=sender).json()
    assert _recipient(view, H41)["waiting_for"] is None
    assert _recipient(view, H41)["transport"] == "queued"  # until the recipient's node says 01

    # Stored once on the receiving node, with the same document and file ids and digests.
    with hub.node.db.read() as session:
        sent = session.get(Document, document_id)
        assert sent is not None
        sent_files = [(f.id, f.role, f.name, f.size, f.sha256) for f in sent.files]
        message_id = sent.message_id
    with nghean.node.db.read() as session:
        received = session.get(Document, document_id)
        assert received is not None
        assert [(f.id, f.role, f.name, f.size, f.sha256) for f in received.files] == sent_files
        assert received.message_id == message_id
        assert received.sender_principal_id is None
        journey = session.get(FederationDocument, document_id)
        assert journey is not None
        assert [hop["node"] for hop in journey.trace] == ["hub", "nghean"]
    assert _counts(nghean) | {"receipts": 0} == {
        "documents": 1,
        "files": 2,
        "deliveries": 1,
        "receipts": 0,
        "wraps": 0,
        "blobs": 2,
    }

    # Delivered there: the recipient reads it, and its 01 goes back to the hub.
    assert nghean.deliver() == 1
    recipient = auth(network.credentials, H41)
    inbox = nghean.client.get("/api/v1/inbox", headers=recipient).json()["items"]
    assert [i["document_id"] for i in inbox] == [document_id]
    main = sent_files[0][0]
    body = nghean.client.get(f"/api/v1/documents/{document_id}/files/{main}", headers=recipient)
    original = hub.client.get(f"/api/v1/documents/{document_id}/files/{main}", headers=sender)
    assert body.status_code == original.status_code == 200
    assert body.content == original.content
    [status] = nghean.queued(peer="hub")
    assert status.kind == "status"
    network.carry("nghean", "hub")
    view = hub.client.get(f"/api/v1/documents/{document_id}", headers=sender).json()
    assert (_recipient(view, H41)["transport"], _recipient(view, H41)["status"]) == (
        "delivered",
        "01",
    )
    receipts = hub.client.get(f"/api/v1/documents/{document_id}/receipts", headers=sender).json()
    [arrived] = receipts["items"]
    assert (arrived["code"], arrived["from_agency_id"]) == ("01", H41)
    assert (
        NodeSigner(
            load_node_key(nghean.settings.keys_dir / "node-signing-key.pem"), "nghean"
        ).verify(arrived["signed"])["status"]
        == "01"
    )

    # 03 from the recipient comes back too, with its incoming number.
    posted = nghean.client.post(
        f"/api/v1/documents/{document_id}/statuses", json={"code": "03"}, headers=recipient
    )
    assert posted.status_code == 201, posted.text
    network.carry("nghean", "hub")
    view = hub.client.get(f"/api/v1/documents/{document_id}", headers=sender).json()
    assert _recipient(view, H41)["status"] == "03"
    assert _recipient(view, H41)["incoming_number"] == posted.json()["incoming_number"]
    codes = [
        r["code"]
        for r in hub.client.get(f"/api/v1/documents/{document_id}/receipts", headers=sender).json()[
            "items"
        ]
    ]
    assert codes == ["01", "03"]
    # Each receipt has the same id on both nodes.
    with hub.node.db.read() as a, nghean.node.db.read() as b:
        assert set(a.scalars(select(Receipt.id))) == set(b.scalars(select(Receipt.id)))


def test_the_same_receipt_twice_is_recorded_once(network: Network) -> None:
    hub, nghean = network["hub"], network["nghean"]
    document_id = _send(network, "hub", G22, [H41])
    hub.deliver()
    network.carry("hub", "nghean")
    nghean.deliver()
    [status] = nghean.queued(peer="hub")
    inbound = network.inbound(nghean, status.id)
    network.receive(hub, inbound)
    again = network.receive(hub, dataclasses.replace(inbound, id="another-transfer-id"))
    assert again.detail["recorded"] == []
    with hub.node.db.read() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Receipt).where(Receipt.document_id == document_id)
            )
            == 1
        )


def test_the_same_document_arriving_twice_is_stored_once(network: Network) -> None:
    hub, nghean = network["hub"], network["nghean"]
    _send(network, "hub", G22, [H41])
    hub.deliver()
    [transfer] = hub.queued()
    inbound = network.inbound(hub, transfer.id)
    first = network.receive(nghean, inbound)
    before = _counts(nghean)
    # Another path, another transfer: the same document.
    again = network.receive(nghean, dataclasses.replace(network.inbound(hub, transfer.id), id="x"))
    assert first.detail["duplicate"] is False
    assert again.detail == {"recipients": [], "duplicate": True}
    assert _counts(nghean) == before


def test_a_confidential_document_relayed_by_the_hub_is_ciphertext_there_and_delivered(
    network: Network,
) -> None:
    hanoi, hub, nghean = network["hanoi"], network["hub"], network["nghean"]
    secret = pdf("Tài liệu MẬT về kế hoạch", size=30_000)
    response = send(
        hanoi.client,
        auth(network.credentials, H26),
        envelope([H41], classification="confidential"),
        secret,
    )
    assert response.status_code == 201, response.text
    document_id = response.json()["id"]
    file_id = response.json()["files"][0]["id"]
    sent = hanoi.client.get(
        f"/api/v1/documents/{document_id}/files/{file_id}", headers=auth(network.credentials, H26)
    ).content

    assert hanoi.deliver() == 1
    assert [t.peer for t in hanoi.queued()] == ["hub"]  # a province sends through the hub
    network.carry("hanoi", "hub")
    assert hub.deliver() == 1  # the hub's delivery to H41 becomes its transfer onward
    assert [t.peer for t in hub.queued(kind="document")] == ["nghean"]
    network.carry("hub", "nghean")
    assert nghean.deliver() == 1

    # The recipient reads it: the plaintext as sent.
    leader = auth(network.credentials, H41, "leader")
    got = nghean.client.get(f"/api/v1/documents/{document_id}/files/{file_id}", headers=leader)
    assert got.status_code == 200
    assert got.content == sent
    with nghean.node.db.read() as session:
        journey = session.get(FederationDocument, document_id)
        assert journey is not None
        assert [hop["node"] for hop in journey.trace] == ["hanoi", "hub", "nghean"]

    # The hub stored only what it cannot decrypt: no plaintext in its blob directory, no KEK
    # wrap, and no agency wrap it holds a key for.
    needle = sent[len(sent) // 2 : len(sent) // 2 + 64]
    blobs = [p for p in Path(hub.settings.blob_dir).rglob("*") if p.is_file()]
    assert blobs
    assert all(needle not in p.read_bytes() for p in blobs)
    with hub.node.db.read() as session:
        [file] = session.scalars(
            select(DocumentFile).where(DocumentFile.document_id == document_id)
        )
        assert file.wrapped_key is None
        assert file.kek_version is None
        wraps = list(session.scalars(select(FileKeyWrap).where(FileKeyWrap.file_id == file.id)))
    assert {w.agency_id for w in wraps} == {H26, H41}
    for wrap in wraps:
        with pytest.raises((KeyUnavailable, StoredFileCorrupt)):
            data_key(
                hub.node.keks,
                hub.node.agency_keys,
                document_id=document_id,
                file_id=file_id,
                classification=Classification.CONFIDENTIAL,
                kek_version=None,
                wrapped_key=None,
                agency_wrap=wrap.wrapped,
                reader_agency=wrap.agency_id,
            )
    # The relay's own people never see it; nor would the recipient's, were any kept here: a
    # recipient is a party once the document is in its inbox, and the relay forwarded it.
    for who, role in ((G22, "clerk"), (G22, "leader"), (G22, "system"), (H41, "leader")):
        headers = auth(network.credentials, who, role)
        assert (
            hub.client.get(f"/api/v1/documents/{document_id}", headers=headers).status_code == 404
        )
        assert hub.client.get("/api/v1/inbox", headers=headers).json()["items"] == []
        assert hub.client.get("/api/v1/outbox", headers=headers).json()["items"] == []

    # Its auditors see that it passed, never what it says.
    audited = hub.client.get(
        f"/api/v1/documents/{document_id}", headers=auth(network.credentials, "auditor")
    )
    assert audited.status_code == 200
    assert audited.json()["content_withheld"] is True
    assert audited.json()["envelope"]["subject"] != envelope()["subject"]
    assert envelope()["subject"] not in json.dumps(audited.json(), ensure_ascii=False)

    # 01 travels back through the hub to the sender's node.
    network.carry("nghean", "hub")
    assert [t.peer for t in hub.queued(kind="status")] == ["hanoi"]
    network.carry("hub", "hanoi")
    view = hanoi.client.get(
        f"/api/v1/documents/{document_id}", headers=auth(network.credentials, H26)
    ).json()
    assert (_recipient(view, H41)["transport"], _recipient(view, H41)["status"]) == (
        "delivered",
        "01",
    )
    with hub.node.db.read() as session:
        relayed = session.scalars(
            select(AuditEvent.event).where(AuditEvent.document_id == document_id)
        ).all()
        assert events.FEDERATION_STATUS_RELAYED in relayed
        assert session.scalar(select(func.count()).select_from(Receipt)) == 0
        assert session.scalars(select(Delivery.transport)).all() == ["forwarded"]


def test_a_broadcast_spanning_two_nodes_sends_each_next_hop_one_transfer(network: Network) -> None:
    hub, hanoi, nghean = network["hub"], network["hanoi"], network["nghean"]
    document_id = _send(network, "hub", G22, [H26, H41, "group:nghean-communes"])
    assert hub.deliver() == 4
    transfers = hub.queued()
    assert sorted((t.peer, t.document_id) for t in transfers) == [
        ("hanoi", document_id),
        ("nghean", document_id),
    ]
    carried = {t.peer: json.loads(t.manifest)["recipients"] for t in transfers}
    assert sorted(r["agency_id"] for r in carried["nghean"]) == sorted([H41, C1, C2])
    assert [r["agency_id"] for r in carried["hanoi"]] == [H26]
    network.carry("hub", "hanoi")
    network.carry("hub", "nghean")
    assert (hanoi.deliver(), nghean.deliver()) == (1, 3)
    # Each node sends its 01s back in one status transfer.
    assert len(nghean.queued(peer="hub")) == 1
    network.carry("nghean", "hub")
    network.carry("hanoi", "hub")
    view = hub.client.get(
        f"/api/v1/documents/{document_id}", headers=auth(network.credentials, G22)
    ).json()
    assert {
        (r["agency_id"], r["transport"], r["status"], r["node"]) for r in view["recipients"]
    } == {
        (H26, "delivered", "01", "hanoi"),
        (H41, "delivered", "01", "nghean"),
        (C1, "delivered", "01", "nghean"),
        (C2, "delivered", "01", "nghean"),
    }


def test_a_broadcast_larger_than_a_batch_still_sends_each_next_hop_one_transfer(
    network: Network,
) -> None:
    hub, nghean = network["hub"], network["nghean"]
    hub.node.worker.transports[JOB_DELIVERY].batch_size = 1  # type: ignore[misc]
    document_id = _send(network, "hub", G22, [H26, H41, "group:nghean-communes", A01])
    assert hub.deliver() == 5
    transfers = hub.queued()
    assert sorted(t.peer for t in transfers) == ["hanoi", "nghean"]
    carried = {t.peer: json.loads(t.manifest)["recipients"] for t in transfers}
    assert sorted(r["agency_id"] for r in carried["nghean"]) == sorted([H41, C1, C2])
    with hub.node.db.read() as session:
        left = select(func.count()).select_from(Job).where(Job.kind == JOB_DELIVERY)
        assert session.scalar(left) == 0
        moved = dict(
            session.execute(
                select(Delivery.recipient_id, Delivery.node_id).where(
                    Delivery.document_id == document_id
                )
            ).all()
        )
    assert moved == {H26: "hanoi", H41: "nghean", C1: "nghean", C2: "nghean", A01: "hub"}
    network.carry("hub", "nghean")
    assert nghean.deliver() == 3


def test_a_transfer_given_up_fails_its_deliveries_and_tells_the_sender(network: Network) -> None:
    hub = network["hub"]
    document_id = _send(network, "hub", G22, [H41])
    hub.deliver()
    network.fail("hub", "nghean", "connection refused", final=True)
    view = hub.client.get(
        f"/api/v1/documents/{document_id}", headers=auth(network.credentials, G22)
    ).json()
    recipient = _recipient(view, H41)
    assert recipient["transport"] == "failed"
    assert recipient["waiting_for"] is None
    assert "nghean" in recipient["reason"]
    assert [e.detail["delivery_id"] for e in _events(hub, events.DELIVERY_FAILED)]


def _events(member: Member, name: str) -> list[AuditEvent]:
    with member.node.db.read() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def _resigned(inbound: Inbound, signer: NodeSigner, **changes: Any) -> Inbound:
    manifest = json.loads(json.dumps(inbound.manifest))
    manifest["document"].update(changes)
    manifest["signature"] = signer.sign(manifest["document"], typ=DOCUMENT_TYPE)
    return dataclasses.replace(inbound, manifest=manifest)


@pytest.mark.parametrize(
    ("forgery", "code"),
    [
        ("altered", "origin_signature_invalid"),
        ("wrong_key", "origin_signature_invalid"),
        ("not_host", "origin_not_host"),
        ("unknown_node", "origin_not_host"),
        ("stray_recipient", "recipient_not_addressed"),
        ("altered_file", "file_digest_mismatch"),
        ("missing_file", "missing_file_part"),
        ("bad_manifest", "invalid_manifest"),
    ],
)
def test_a_forged_or_misaddressed_document_is_refused_and_nothing_stored(
    network: Network, forgery: str, code: str
) -> None:
    hub, hanoi, nghean = network["hub"], network["hanoi"], network["nghean"]
    _send(network, "hub", G22, [H41])
    hub.deliver()
    [transfer] = hub.queued()
    inbound = network.inbound(hub, transfer.id)
    manifest = inbound.manifest
    if forgery == "altered":  # a relay edits the subject, keeps the origin's signature
        forged = json.loads(json.dumps(manifest))
        forged["document"]["subject"] = "Sửa đổi"
        inbound = dataclasses.replace(inbound, manifest=forged)
    elif forgery == "wrong_key":  # signed by some key claiming to be the hub
        from cryptography.hazmat.primitives.asymmetric import ec

        inbound = _resigned(inbound, NodeSigner(ec.generate_private_key(ec.SECP256R1()), "hub"))
    elif forgery == "not_host":  # hanoi, with its own key, speaks for an agency of the hub
        inbound = _resigned(inbound, hanoi.node.signer, iss="hanoi")
    elif forgery == "unknown_node":
        inbound = _resigned(inbound, hanoi.node.signer, iss="elsewhere")
    elif forgery == "stray_recipient":
        forged = json.loads(json.dumps(manifest))
        forged["recipients"].append({"agency_id": C1, "addressed_as": C1})
        inbound = dataclasses.replace(inbound, manifest=forged)
    elif forgery == "missing_file":
        inbound = dataclasses.replace(inbound, files={})
    elif forgery == "bad_manifest":
        inbound = dataclasses.replace(inbound, manifest={**manifest, "version": 2})
    else:
        [path] = [
            p
            for name, p in inbound.files.items()
            if name.endswith(manifest["document"]["files"][0]["id"])
        ]
        data = bytearray(path.read_bytes())
        data[100] ^= 1
        path.write_bytes(bytes(data))
    before = _counts(nghean)
    with pytest.raises(DocexError) as refused:
        network.receive(nghean, inbound)
    assert refused.value.code == code
    assert 400 <= refused.value.status < 500
    assert _counts(nghean) == before


def test_a_recall_asked_on_the_senders_node_takes_effect_on_both(network: Network) -> None:
    hub, nghean = network["hub"], network["nghean"]
    document_id = _send(network, "hub", G22, [H41])
    hub.deliver()
    network.carry("hub", "nghean")
    nghean.deliver()
    network.carry("nghean", "hub")
    asked = hub.client.post(
        f"/api/v1/documents/{document_id}/statuses",
        json={"code": "13", "note": "Ban hành nhầm"},
        headers=auth(network.credentials, G22),
    )
    assert asked.status_code == 201, asked.text
    network.carry("hub", "nghean")
    recipient = auth(network.credentials, H41)
    view = nghean.client.get(f"/api/v1/documents/{document_id}", headers=recipient).json()
    assert _recipient(view, H41)["status"] == "13"
    agreed = nghean.client.post(
        f"/api/v1/documents/{document_id}/statuses", json={"code": "15"}, headers=recipient
    )
    assert agreed.status_code == 201, agreed.text
    network.carry("nghean", "hub")
    view = hub.client.get(
        f"/api/v1/documents/{document_id}", headers=auth(network.credentials, G22)
    ).json()
    assert (_recipient(view, H41)["status"], _recipient(view, H41)["business_state"]) == (
        "15",
        "recalled",
    )
    main = view["files"][0]["id"]
    gone = nghean.client.get(f"/api/v1/documents/{document_id}/files/{main}", headers=recipient)
    assert gone.status_code == 410


def test_a_relay_that_cannot_reach_the_next_node_tells_the_senders_node(
    network: Network,
) -> None:
    hanoi, hub = network["hanoi"], network["hub"]
    document_id = _send(network, "hanoi", H26, [H41])
    sender = auth(network.credentials, H26)
    hanoi.deliver()
    network.carry("hanoi", "hub")
    hub.deliver()

    def seen() -> dict[str, Any]:
        view = hanoi.client.get(f"/api/v1/documents/{document_id}", headers=sender).json()
        return _recipient(view, H41)

    network.fail("hub", "nghean", "connection refused", final=False)
    network.fail("hub", "nghean", "connection refused", final=False)
    assert len(hub.queued(peer="hanoi")) == 1  # told once, not once per attempt
    network.carry("hub", "hanoi")
    assert (seen()["transport"], seen()["waiting_for"], seen()["reason"]) == (
        "queued",
        "nghean",
        "waiting for node nghean",
    )
    network.carry("hub", "nghean")  # through after all
    network.carry("hub", "hanoi")
    assert (seen()["transport"], seen()["waiting_for"], seen()["reason"]) == ("queued", None, None)


def test_a_relay_giving_up_fails_the_senders_deliveries(network: Network) -> None:
    hanoi, hub = network["hanoi"], network["hub"]
    document_id = _send(network, "hanoi", H26, [H41])
    hanoi.deliver()
    network.carry("hanoi", "hub")
    hub.deliver()
    network.fail("hub", "nghean", "connection refused", final=True)
    network.carry("hub", "hanoi")
    view = hanoi.client.get(
        f"/api/v1/documents/{document_id}", headers=auth(network.credentials, H26)
    ).json()
    assert _recipient(view, H41)["transport"] == "failed"
    assert _recipient(view, H41)["reason"].startswith("node hub gave up")
    assert [e.detail["delivery_id"] for e in _events(hanoi, events.DELIVERY_FAILED)]


def test_a_notice_from_a_node_off_the_route_is_refused(network: Network) -> None:
    hanoi, hub = network["hanoi"], network["hub"]
    document_id = _send(network, "hub", G22, [H41])  # hub -> nghean: hanoi is not on the way
    hub.deliver()
    with hub.node.db.read() as session:
        document = session.get(Document, document_id)
        assert document is not None
        manifest = {
            "version": 1,
            "statuses": [
                {
                    "notice": hanoi.node.signer.sign(
                        {
                            "iss": "hanoi",
                            "at": "2026-11-26T07:00:00Z",
                            "document_id": document_id,
                            "sender_id": G22,
                            "recipients": [H41],
                            "waiting_for": None,
                            "failed": "gave up",
                        },
                        typ=NOTICE_TYPE,
                    ),
                    "issuer": "hanoi",
                    "document_id": document_id,
                }
            ],
        }
    inbound = Inbound(
        id="n1",
        kind="status",
        from_node="hanoi",
        manifest=manifest,
        files={},
        digest="sha-256=:x:",
        received_at=hub.node.clock.now(),
    )
    with pytest.raises(DocexError) as refused:
        network.receive(hub, inbound)
    assert refused.value.code == "notice_not_on_route"
    view = hub.client.get(
        f"/api/v1/documents/{document_id}", headers=auth(network.credentials, G22)
    ).json()
    assert _recipient(view, H41)["transport"] == "queued"


def test_the_same_document_by_two_paths_at_once_is_stored_once(network: Network) -> None:
    hub, nghean = network["hub"], network["nghean"]
    document_id = _send(network, "hub", G22, [H41])
    hub.deliver()
    [transfer] = hub.queued()
    kind = nghean.kinds["document"]
    first = network.inbound(hub, transfer.id)
    second = dataclasses.replace(network.inbound(hub, transfer.id), id="other-path")
    prepared = [kind.prepare(first), kind.prepare(second)]  # both before either commits
    for inbound, ready in zip((first, second), prepared, strict=True):
        with nghean.node.db.write() as session:
            kind.commit(session, inbound, ready)
    counts = _counts(nghean)
    assert (counts["documents"], counts["files"], counts["deliveries"]) == (1, 2, 1)
    with nghean.node.db.read() as session:
        kept = set(
            session.scalars(
                select(DocumentFile.blob_key).where(DocumentFile.document_id == document_id)
            )
        )
    assert kept < set(nghean.node.store.iter_keys())  # the loser's blobs: the sweeper's


@pytest.mark.parametrize("forgery", ["other_issuer", "altered"])
def test_a_forged_status_is_refused_and_nothing_recorded(network: Network, forgery: str) -> None:
    hub, hanoi, nghean = network["hub"], network["hanoi"], network["nghean"]
    _send(network, "hub", G22, [H41])
    hub.deliver()
    network.carry("hub", "nghean")
    nghean.deliver()
    [status] = nghean.queued(peer="hub")
    inbound = network.inbound(nghean, status.id)
    entry = dict(inbound.manifest["statuses"][0])
    header, payload, signature = entry["receipt"].split(".")
    if forgery == "other_issuer":  # hanoi signs a 01 for an agency it does not host
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["iss"] = "hanoi"
        entry.update(receipt=hanoi.node.signer.sign(claims), issuer="hanoi")
    else:  # a relay turns the 01 into a 03, keeping the signature
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["status"] = "03"
        forged = base64.urlsafe_b64encode(canonical_json(claims)).rstrip(b"=").decode()
        entry["receipt"] = f"{header}.{forged}.{signature}"
    forged_inbound = dataclasses.replace(inbound, manifest={"version": 1, "statuses": [entry]})
    before = _counts(hub)
    with pytest.raises(DocexError) as refused:
        network.receive(hub, forged_inbound)
    assert refused.value.code == "receipt_signature_invalid"
    assert _counts(hub) == before
