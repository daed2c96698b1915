"""The signed directory: what the hub signs verifies against the anchor and is applied in one
transaction (nodes replaced, agencies upserted, groups replaced); everything else (unsigned,
garbled, another key, another network, older, stale, malformed) is refused with its precise code
and an audit event, and changes nothing. Fetched over HTTP from a hub served for real; with
the hub down the last good version stays in force and /readyz says how old it is. An agency
moved by a version takes the mail still queued for it along."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from docex.agencies.models import Agency, Group, GroupMember
from docex.app import create_app
from docex.audit import events
from docex.bootstrap import init_node
from docex.config import FederationSettings, Settings
from docex.documents.models import Delivery
from docex.errors import DocexError
from docex.federation import directory, peers
from docex.federation.directory import (
    AgencyEntry,
    Directory,
    DirectoryFetcher,
    GroupEntry,
    NodeEntry,
)
from docex.federation.models import DirectoryVersion, Transfer
from docex.federation.peers import Peer
from docex.keys.paths import KeyPaths
from docex.kit.clock import SystemClock
from docex.signing.jws import NodeSigner, canonical_json
from docex.signing.keys import load_node_key
from docex.signing.sandbox import ValidatorPool
from docex.vocabulary.transport import JOB_DELIVERY
from tests.functional.conftest import free_port
from tests.helpers import (
    A01,
    C1,
    C2,
    G22,
    H26,
    H41,
    I01,
    MovableClock,
    audit_events,
    auth,
    envelope,
    node_of,
    pdf,
    send,
)

NEW = "003.00.41.H41"  # a commune the directory adds
HUB_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return directory.public_pem(key.public_key())


def _node(node_id: str, upstream: str | None) -> NodeEntry:
    return NodeEntry(
        id=node_id,
        base_url=f"https://{node_id}.example",
        upstream=upstream,
        signing_key=_pem(HUB_KEY if node_id == "hub" else OTHER_KEY),
    )


def _agency(code: str, node_id: str, name: str, parent: str | None = None) -> AgencyEntry:
    return AgencyEntry(id=code, name=name, kind="state", node_id=node_id, parent_id=parent)


def network(version: int, issued_at: datetime, **changes: Any) -> Directory:
    """Central agencies on the hub, Nghệ An and its communes (one new) on nghean, Hà Nội on the
    test node; A01 not listed (it stays); two groups, one of them new."""
    data = Directory(
        network="docex",
        version=version,
        issued_at=issued_at,
        publisher="hub",
        nodes=[_node("hub", None), _node("nghean", "hub"), _node("test-node", "hub")],
        agencies=[
            _agency(G22, "hub", "Văn phòng Chính phủ"),
            _agency(I01, "hub", "Ủy ban Trung ương Mặt trận Tổ quốc Việt Nam"),
            _agency(H41, "nghean", "Ủy ban nhân dân tỉnh Nghệ An"),
            _agency(C1, "nghean", "Ủy ban nhân dân xã Diễn Châu", H41),
            _agency(C2, "nghean", "Ủy ban nhân dân xã Quỳnh Lưu", H41),
            _agency(NEW, "nghean", "Ủy ban nhân dân xã Yên Thành", H41),
            _agency(H26, "test-node", "Ủy ban nhân dân thành phố Hà Nội"),
        ],
        groups=[
            GroupEntry(name="provinces", title="Tỉnh, thành phố", members=[H41, H26]),
            GroupEntry(name="nghean-all", title="Nghệ An", members=[H41, C1, C2, NEW]),
        ],
    )
    return data.model_copy(update=changes)


def signed(data: Directory, key: ec.EllipticCurvePrivateKey = HUB_KEY) -> str:
    return directory.sign(NodeSigner(key, "hub"), data)


def accept(client: TestClient, token: str, now: datetime) -> directory.Outcome:
    return directory.accept(
        node_of(client).db,
        token,
        anchor=HUB_KEY.public_key(),
        settings=FederationSettings(max_age_seconds=3600),
        now=now,
        source="test",
    )


def snapshot(client: TestClient) -> dict[str, Any]:
    """Everything a directory changes, to compare before and after a refusal."""
    with node_of(client).db.read() as session:
        return {
            "nodes": [(p.id, p.base_url, p.upstream) for p in peers.peers(session)],
            "agencies": session.execute(
                select(Agency.id, Agency.name, Agency.node_id, Agency.parent_id).order_by(Agency.id)
            ).all(),
            "groups": session.execute(
                select(GroupMember.group_name, GroupMember.agency_id).order_by(
                    GroupMember.group_name, GroupMember.agency_id
                )
            ).all(),
            "versions": session.scalars(select(DirectoryVersion.version)).all(),
        }


def audit(client: TestClient, event: str) -> list[dict[str, Any]]:
    return [dict(e.detail) for e in audit_events(client, event)]


# -- apply ---------------------------------------------------------------------------------------


def test_a_signed_directory_is_applied_nodes_agencies_groups(client: TestClient) -> None:
    now = SystemClock().now()
    with node_of(client).db.write() as session:  # a node an older version listed
        peers.upsert(
            session,
            [Peer("gone", "https://gone.example", "hub", "PEM", None, None)],
            version=0,
            now=now,
        )

    outcome = accept(client, signed(network(4, now)), now)

    assert outcome == directory.Outcome(4, applied=True, moved=(G22, I01, H41, C1, C2))
    with node_of(client).db.read() as session:
        assert [(p.id, p.upstream) for p in peers.peers(session)] == [
            ("hub", None),
            ("nghean", "hub"),
            ("test-node", "hub"),
        ]
        hosts = dict(session.execute(select(Agency.id, Agency.node_id)).all())
        assert hosts[G22] == hosts[I01] == "hub"
        assert hosts[H41] == hosts[C1] == hosts[NEW] == "nghean"
        assert hosts[H26] == "test-node"
        assert hosts[A01] == "test-node"  # not listed any more: kept as it was
        new = session.get(Agency, NEW)
        assert new is not None
        assert new.parent_id == H41
        assert new.name.endswith("Yên Thành")
        groups = {
            g.name: sorted(
                session.scalars(
                    select(GroupMember.agency_id).where(GroupMember.group_name == g.name)
                )
            )
            for g in session.scalars(select(Group))
        }
        assert groups == {"provinces": sorted([H41, H26]), "nghean-all": sorted([H41, C1, C2, NEW])}
        kept = session.get(DirectoryVersion, 4)
        assert kept is not None
        assert kept.source == "fetched"
        assert kept.publisher == "hub"
    assert audit(client, events.DIRECTORY_APPLIED) == [
        {
            "version": 4,
            "publisher": "hub",
            "nodes": 3,
            "agencies": 7,
            "groups": 2,
            "moved": [G22, I01, H41, C1, C2],
        }
    ]

    # The same version again: nothing to do, nothing recorded.
    before = snapshot(client)
    assert accept(client, signed(network(4, now)), now) == directory.Outcome(4, applied=False)
    assert snapshot(client) == before
    assert len(audit(client, events.DIRECTORY_APPLIED)) == 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(data: Directory) -> str:
    header = {"alg": "none", "typ": directory.DIRECTORY_TYPE}
    return f"{_b64(canonical_json(header))}.{_b64(canonical_json(data.model_dump(mode='json')))}."


def _tampered(data: Directory) -> str:
    header, payload, signature = signed(data).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["agencies"][0]["node_id"] = "nghean"  # G22 hijacked
    return f"{header}.{_b64(canonical_json(claims))}.{signature}"


def _case(name: str, now: datetime) -> tuple[str, str]:
    later = network(6, now)
    tokens = {
        "unsigned": (_unsigned(later), "directory_signature_invalid"),
        "plain JSON": (later.model_dump_json(), "directory_signature_invalid"),
        "garbled": ("eyJhbGciOiJFUzI1NiJ9.@@@.xyz", "directory_signature_invalid"),
        "tampered": (_tampered(later), "directory_signature_invalid"),
        "another key": (signed(later, OTHER_KEY), "directory_signature_invalid"),
        "not a directory": (
            NodeSigner(HUB_KEY, "hub").sign(later.model_dump(mode="json")),  # a receipt's typ
            "directory_signature_invalid",
        ),
        "another network": (
            signed(network(6, now, network="elsewhere")),
            "directory_wrong_network",
        ),
        "older": (signed(network(3, now)), "directory_older"),
        "stale": (signed(network(6, now - timedelta(seconds=3601))), "directory_stale"),
        "from the future": (signed(network(6, now + timedelta(hours=1))), "directory_invalid"),
        "unknown parent": (
            signed(
                network(
                    6, now, agencies=[_agency("004.00.41.H41", "nghean", "Xã mới", "009.00.00.H99")]
                )
            ),
            "directory_invalid",
        ),
        "unknown node": (
            signed(network(6, now, agencies=[_agency(H41, "nowhere", "Nghệ An")])),
            "directory_invalid",
        ),
        "unknown member": (
            signed(network(6, now, groups=[GroupEntry(name="g", members=["009.00.00.H99"])])),
            "directory_invalid",
        ),
        "malformed": (
            NodeSigner(HUB_KEY, "hub").sign(
                {"network": "docex", "version": "six"}, typ=directory.DIRECTORY_TYPE
            ),
            "directory_invalid",
        ),
    }
    return tokens[name]


CASES = [
    "unsigned",
    "plain JSON",
    "garbled",
    "tampered",
    "another key",
    "not a directory",
    "another network",
    "older",
    "stale",
    "from the future",
    "unknown parent",
    "unknown node",
    "unknown member",
    "malformed",
]


@pytest.mark.parametrize("case", CASES)
def test_a_bad_directory_is_refused_audited_and_nothing_applied(
    client: TestClient, case: str
) -> None:
    now = SystemClock().now()
    accept(client, signed(network(5, now - timedelta(minutes=5))), now)
    before = snapshot(client)
    token, code = _case(case, now)

    with pytest.raises(DocexError) as refused:
        accept(client, token, now)

    assert refused.value.code == code
    assert snapshot(client) == before
    refusals = audit(client, events.DIRECTORY_REFUSED)
    assert [r["error"] for r in refusals] == [code]
    assert refusals[0]["source"] == "test"


# -- over HTTP: published by a hub, fetched by a province ----------------------------------------


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(SystemClock().now())


def _province_settings(root: Path, hub_url: str, anchor: Path) -> Settings:
    settings = Settings(
        data_dir=root / "nghean",
        node_id="nghean",
        federation=FederationSettings(
            directory_url=f"{hub_url}/federation/v1/directory",
            anchor=anchor,
            max_age_seconds=3600,
        ),
    )
    settings.dispatcher.enabled = False  # the test drives the fetch
    return settings


@pytest.fixture
def hub(client: TestClient) -> TestClient:
    """The test node as the hub: it publishes."""
    node_of(client).settings.federation.publisher = True
    return client


@pytest.fixture
def province(
    hub: TestClient,
    tmp_path: Path,
    served: str,
    clock: MovableClock,
    validator_pool: ValidatorPool,
) -> Iterator[TestClient]:
    """A node of its own (SQLite, its own keys) whose anchor is the hub's node key."""
    anchor = tmp_path / "anchor.pem"
    key = load_node_key(KeyPaths.of(node_of(hub).settings).node_key)
    anchor.write_text(directory.public_pem(key.public_key()))
    settings = _province_settings(tmp_path, served, anchor)
    init_node(settings)
    with TestClient(create_app(settings, clock=clock, validators=validator_pool)) as client:
        yield client


def publish(hub: TestClient) -> int:
    node = node_of(hub)
    key = load_node_key(KeyPaths.of(node.settings).node_key)
    with node.db.write() as session:
        itself = directory.describe(
            session,
            node_id=node.settings.node_id,
            base_url="https://hub.example",
            upstream=None,
            signing_key=directory.public_pem(key.public_key()),
            certificates=None,
            audit_key=None,
        )
        return directory.publish(
            session, node.signer, itself, network="docex", now=SystemClock().now()
        ).version


def test_a_province_fetches_the_hub_directory_and_keeps_it_while_the_hub_is_down(
    hub: TestClient, province: TestClient, clock: MovableClock
) -> None:
    assert hub.get("/federation/v1/directory").json()["error"] == "directory_not_found"
    assert publish(hub) == 1
    served_doc = hub.get("/federation/v1/directory")
    assert served_doc.status_code == 200
    assert served_doc.headers["content-type"] == "application/jose"
    assert hub.get("/readyz").json()["directory"]["version"] == 1

    pnode = node_of(province)
    assert province.get("/readyz").json()["directory"] is None  # federated, nothing yet
    fetcher = DirectoryFetcher(pnode.db, pnode.settings.federation, clock=clock)
    assert fetcher.run_once() == directory.Outcome(1, applied=True, moved=())
    with pnode.db.read() as session:
        # The province knew nothing: it learns every agency, where it is, and the groups.
        by_node = select(Agency.node_id, func.count()).group_by(Agency.node_id)
        hosted = dict(session.execute(by_node).all())
        assert hosted == {"test-node": 7}
        assert session.get(Group, "provinces") is not None
        assert [p.id for p in peers.peers(session)] == ["test-node"]
    assert province.get("/federation/v1/directory").text == served_doc.text

    # A second version, and a fetch: applied.
    assert publish(hub) == 2
    assert fetcher.run_once() == directory.Outcome(2, applied=True, moved=())

    # The hub goes down: the fetch fails, the province keeps version 2 and says how old it is.
    down = pnode.settings.federation.model_copy(
        update={"directory_url": f"http://127.0.0.1:{free_port()}/federation/v1/directory"}
    )
    clock.at = SystemClock().now() + timedelta(hours=2)
    assert DirectoryFetcher(pnode.db, down, clock=clock).run_once() is None
    ready = province.get("/readyz")
    assert ready.status_code == 200  # stale is said, not a reason to stop
    detail = ready.json()["directory"]
    assert detail["version"] == 2
    assert detail["stale"] is True
    assert 7200 <= detail["age_seconds"] < 7200 + 600
    metrics = TestClient(province.app, client=("127.0.0.1", 50000)).get("/metrics").text
    assert re.search(r"^docex_directory_version 2\.0$", metrics, re.M)
    age = re.search(r"^docex_directory_age_seconds (\S+)$", metrics, re.M)
    assert age is not None
    assert float(age.group(1)) >= 7200
    with pnode.db.read() as session:
        assert [p.id for p in peers.peers(session)] == ["test-node"]
        assert session.scalar(select(func.count()).select_from(Agency)) == 7
    assert audit(province, events.DIRECTORY_REFUSED) == []  # down is not a refusal

    # The hub back with the same version: nothing to do (an equal version is not re-checked).
    assert fetcher.run_once() == directory.Outcome(2, applied=False)


def test_a_directory_signed_by_another_key_is_refused_over_http(
    hub: TestClient, province: TestClient, clock: MovableClock, tmp_path: Path
) -> None:
    publish(hub)
    pnode = node_of(province)
    wrong = tmp_path / "wrong-anchor.pem"
    wrong.write_text(_pem(OTHER_KEY))
    settings = pnode.settings.federation.model_copy(update={"anchor": wrong})
    with pytest.raises(DocexError) as refused:
        DirectoryFetcher(pnode.db, settings, clock=clock).run_once()
    assert refused.value.code == "directory_signature_invalid"
    assert [r["error"] for r in audit(province, events.DIRECTORY_REFUSED)] == [
        "directory_signature_invalid"
    ]
    assert province.get("/readyz").json()["directory"] is None
    with pnode.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Agency)) == 0


def test_the_anchor_may_be_a_certificate(hub: TestClient, tmp_path: Path) -> None:
    node = node_of(hub)
    chain = KeyPaths.of(node.settings).node_certificate
    assert chain.exists()  # the demo PKI certified the node key
    key = load_node_key(KeyPaths.of(node.settings).node_key)
    assert directory.public_pem(directory.load_anchor(chain)) == directory.public_pem(
        key.public_key()
    )
    not_p256 = tmp_path / "p384.pem"
    not_p256.write_text(directory.public_pem(ec.generate_private_key(ec.SECP384R1()).public_key()))
    with pytest.raises(ValueError, match="not a P-256 public key"):
        directory.load_anchor(not_p256)


# -- agency moves ------------------------------------------------------------------------------


def test_mail_queued_for_an_agency_follows_it_when_a_version_moves_it(
    client: TestClient, credentials: dict[str, Any]
) -> None:
    """Where a delivery goes is read from the directory in force when the routing worker moves
    it: mail sent under one version and still queued when the next one applies follows the
    agency to its new node."""
    node = node_of(client)
    now = SystemClock().now()
    # Version 1: Nghệ An is hosted by the nghean node.
    accept(client, signed(network(1, now)), now)
    first = send(client, auth(credentials, G22), envelope([H41]), pdf()).json()

    # Version 2 moves Nghệ An to the hub before the worker moved the mail: it goes to the hub.
    moved = network(2, now, agencies=[_agency(H41, "hub", "Ủy ban nhân dân tỉnh Nghệ An")])
    assert accept(client, signed(moved), now).moved == (H41,)
    assert node.worker.run_once(JOB_DELIVERY) == 1  # its job done: handed to a transfer
    with node.db.read() as session:
        [transfer] = session.scalars(
            select(Transfer).where(Transfer.document_id == first["id"])
        ).all()
        assert (transfer.kind, transfer.peer) == ("document", "hub")
        delivery = session.scalars(
            select(Delivery).where(Delivery.document_id == first["id"])
        ).one()
        assert (delivery.transport, delivery.node_id) == ("queued", "hub")

    # Version 3 moves it here (a merger): mail queued for it is delivered here, once.
    second = send(client, auth(credentials, G22), envelope([H41]), pdf()).json()
    here = network(3, now, agencies=[_agency(H41, "test-node", "Ủy ban nhân dân tỉnh Nghệ An")])
    accept(client, signed(here), now)
    assert node.worker.run_once(JOB_DELIVERY) == 1
    inbox = client.get("/api/v1/inbox", headers=auth(credentials, H41)).json()["items"]
    assert [item["document_id"] for item in inbox] == [second["id"]]


def test_the_hub_does_not_sign_what_every_node_would_refuse(hub: TestClient) -> None:
    node = node_of(hub)
    with node.db.write() as session:
        session.add(
            Agency(
                id="007.00.41.H41",
                name="Xã chưa có nút",
                kind="state",
                node_id="not-imported",
                status="active",
                search_key="",
                created_at=SystemClock().now(),
                updated_at=SystemClock().now(),
            )
        )
    with pytest.raises(DocexError) as refused:
        publish(hub)
    assert refused.value.code == "directory_invalid"
    assert "not-imported" in refused.value.detail
    with node.db.read() as session:
        assert directory.current(session) is None
        assert peers.peers(session) == []
    assert audit(hub, events.DIRECTORY_PUBLISHED) == []


def test_the_routing_worker_fetches_at_start_and_on_its_interval(
    hub: TestClient, served: str, tmp_path: Path, validator_pool: ValidatorPool
) -> None:
    publish(hub)
    anchor = tmp_path / "anchor.pem"
    key = load_node_key(KeyPaths.of(node_of(hub).settings).node_key)
    anchor.write_text(directory.public_pem(key.public_key()))
    settings = _province_settings(tmp_path, served, anchor)
    settings.dispatcher.enabled = True
    settings.federation.fetch_interval_seconds = 0.2
    init_node(settings)

    def in_force(client: TestClient, want: int) -> int | None:
        """The directory version the node's /readyz shows once it is ``want`` (30 s at most)."""
        deadline = time.monotonic() + 30
        found = None
        while time.monotonic() < deadline:
            found = client.get("/readyz").json()["directory"]
            if found is not None and found["version"] == want:
                break
            time.sleep(0.05)
        return None if found is None else int(found["version"])

    with TestClient(create_app(settings, validators=validator_pool)) as province:
        assert in_force(province, 1) == 1  # fetched at start
        publish(hub)
        assert in_force(province, 2) == 2  # and again, an interval later
        assert [e["version"] for e in audit(province, events.DIRECTORY_APPLIED)] == [1, 2]
