"""Recipient groups managed by admins (issue 11): POST/PATCH /groups and ``docex group ...``,
every change audited, every bad input refused with its code and nothing stored; a send to
``group:<name>`` records what the group expanded to; a broadcast to a thousand agencies is a
bounded number of statements and every recipient gets its 01."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, insert, select
from typer.testing import CliRunner

from docex.agencies.models import Agency, Group, GroupMember
from docex.agencies.service import search_key
from docex.cli.main import app as cli
from docex.config import Settings
from docex.documents.models import Delivery
from docex.routing.models import Receipt
from tests.documents.test_bad_input import REFUSED
from tests.helpers import (
    A01,
    C1,
    C2,
    G22,
    H26,
    H41,
    I01,
    audit_events,
    auth,
    deliver,
    envelope,
    node_of,
    pdf,
    send,
)

GROUPS = "/api/v1/groups"
CREATED, UPDATED = "registry:group:created", "registry:group:updated"
RESOLVED = "intake:recipient:resolved"
ADMIN = "admin"


@dataclass(frozen=True)
class Groups:
    rows: list[tuple[str, str, str, tuple[str, ...]]]
    group_events: int
    refused: int


def groups(client: TestClient) -> Groups:
    with node_of(client).db.read() as session:
        members: dict[str, list[str]] = {}
        for name, code in session.execute(
            select(GroupMember.group_name, GroupMember.agency_id).order_by(GroupMember.agency_id)
        ):
            members.setdefault(name, []).append(code)
        rows = [
            (g.name, g.title, g.description, tuple(members.get(g.name, [])))
            for g in session.scalars(select(Group).order_by(Group.name))
        ]
    changes = [e for e in audit_events(client) if e.event in (CREATED, UPDATED)]
    return Groups(rows, len(changes), len(audit_events(client, REFUSED)))


def assert_refused(
    client: TestClient, response: Any, status: int, error: str, before: Groups
) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error, response.json()
    after = groups(client)
    assert after.rows == before.rows, "a refused change was stored"
    assert after.group_events == before.group_events
    assert after.refused == before.refused + 1, "the refusal was not audited exactly once"
    assert audit_events(client, REFUSED)[-1].detail["error"] == error


def listed(client: TestClient, credentials: dict) -> dict[str, dict[str, Any]]:
    response = client.get(GROUPS, headers=auth(credentials, C1))
    assert response.status_code == 200, response.text
    return {g["name"]: g for g in response.json()["items"]}


# -- creating, changing, listing -----------------------------------------------------------------


def test_an_admin_creates_a_group_that_is_listed_and_audited(
    client: TestClient, credentials: dict
) -> None:
    body = {"name": "mien-trung", "title": "Miền Trung", "members": [H41, C1, H41]}
    response = client.post(GROUPS, json=body, headers=auth(credentials, ADMIN))
    assert response.status_code == 201, response.text
    created = {"name": "mien-trung", "title": "Miền Trung", "description": "", "members": [H41, C1]}
    assert response.json() == created
    assert listed(client, credentials)["mien-trung"] == created
    [recorded] = audit_events(client, CREATED)[-1:]
    assert recorded.detail == {"group": "mien-trung", "title": "Miền Trung", "members": [H41, C1]}
    assert recorded.actor_id is not None


def test_demo_groups_have_a_title_and_keep_their_description(
    client: TestClient, credentials: dict
) -> None:
    provinces = listed(client, credentials)["provinces"]
    assert provinces["title"] == provinces["description"] == "Tỉnh, thành phố"


def test_patch_replaces_the_members_and_the_event_says_who_came_and_went(
    client: TestClient, credentials: dict
) -> None:
    response = client.patch(
        f"{GROUPS}/provinces",
        json={"title": "Các tỉnh", "members": [H41, C2]},
        headers=auth(credentials, ADMIN),
    )
    assert response.status_code == 200, response.text
    assert response.json()["members"] == [H41, C2]  # in code order
    assert response.json()["title"] == "Các tỉnh"
    assert listed(client, credentials)["provinces"]["members"] == [H41, C2]
    [recorded] = audit_events(client, UPDATED)
    assert recorded.detail == {
        "group": "provinces",
        "title": "Các tỉnh",
        "added": [C2],
        "removed": [H26],
    }


def test_patch_adds_and_removes_members(client: TestClient, credentials: dict) -> None:
    headers = auth(credentials, ADMIN)
    response = client.patch(
        f"{GROUPS}/central", json={"add": [H41, I01], "remove": [A01, C1]}, headers=headers
    )
    assert response.status_code == 200, response.text
    # I01 was a member already and C1 was not one: neither changes anything.
    assert response.json()["members"] == [G22, H41, I01]
    assert response.json()["title"] == "Cơ quan Trung ương"
    [recorded] = audit_events(client, UPDATED)
    assert recorded.detail == {"group": "central", "added": [H41], "removed": [A01]}


def test_a_send_after_a_change_uses_the_new_members_and_the_old_send_keeps_its_own(
    client: TestClient, credentials: dict
) -> None:
    sender = auth(credentials, G22)
    first = send(client, sender, envelope(["group:provinces"]), pdf())
    assert first.status_code == 201, first.text
    changed = client.patch(
        f"{GROUPS}/provinces", json={"remove": [H26]}, headers=auth(credentials, ADMIN)
    )
    assert changed.status_code == 200, changed.text
    second = send(client, sender, envelope(["group:provinces"], subject="Lần hai"), pdf("Hai"))
    assert second.status_code == 201, second.text
    assert sorted(r["agency_id"] for r in first.json()["recipients"]) == sorted([H26, H41])
    assert [r["agency_id"] for r in second.json()["recipients"]] == [H41]
    again = client.get(f"/api/v1/documents/{first.json()['id']}", headers=sender).json()
    assert sorted(r["agency_id"] for r in again["recipients"]) == sorted([H26, H41])


# -- a send records the expansion it used --------------------------------------------------------


def test_a_send_to_a_group_records_its_expansion_in_one_event(
    client: TestClient, credentials: dict
) -> None:
    sender = auth(credentials, G22)
    response = send(client, sender, envelope(["group:provinces", C1]), pdf())
    assert response.status_code == 201, response.text
    document = response.json()
    rows = {r["agency_id"]: r["addressed_as"] for r in document["recipients"]}
    assert rows == {H41: "group:provinces", H26: "group:provinces", C1: C1}
    with node_of(client).db.read() as session:
        ids = {
            row.recipient_id: row.id
            for row in session.execute(
                select(Delivery.recipient_id, Delivery.id).where(
                    Delivery.document_id == document["id"]
                )
            )
        }
    trace = client.get(f"/api/v1/documents/{document['id']}/trace", headers=sender).json()
    [expansion] = [i for i in trace["items"] if i["event"] == RESOLVED]
    assert expansion["agency_id"] == G22
    assert expansion["detail"]["addressed_as"] == "group:provinces"
    assert expansion["detail"]["group"] == "provinces"
    assert sorted(
        (d["agency_id"], d["delivery_id"]) for d in expansion["detail"]["deliveries"]
    ) == sorted([(H26, ids[H26]), (H41, ids[H41])])
    # The code written as such keeps its own queued event; the group's members have none.
    queued = [i for i in trace["items"] if i["event"] == "routing:delivery:queued"]
    assert [(q["agency_id"], q["detail"]["delivery_id"]) for q in queued] == [(C1, ids[C1])]
    # A recipient sees neither the expansion (it names every member) nor another's events.
    deliver(client)
    seen = client.get(
        f"/api/v1/documents/{document['id']}/trace", headers=auth(credentials, H41)
    ).json()
    assert RESOLVED not in {i["event"] for i in seen["items"]}


def test_the_expansion_names_the_successor_a_retired_member_led_to(
    client: TestClient, credentials: dict
) -> None:
    retired = client.patch(
        f"/api/v1/agencies/{H26}",
        json={"status": "retired", "successor_id": C2},
        headers=auth(credentials, ADMIN),
    )
    assert retired.status_code == 200, retired.text
    response = send(client, auth(credentials, G22), envelope(["group:provinces"]), pdf())
    assert response.status_code == 201, response.text
    [expansion] = audit_events(client, RESOLVED)
    by_agency = {d["agency_id"]: d for d in expansion.detail["deliveries"]}
    assert set(by_agency) == {H41, C2}
    assert by_agency[C2]["succession"] == [H26, C2]


# -- who may, and bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "role"), [(G22, "clerk"), (G22, "leader"), (G22, "system"), ("auditor", "clerk")]
)
def test_only_an_admin_creates_or_changes_a_group(
    client: TestClient, credentials: dict, who: str, role: str
) -> None:
    headers = auth(credentials, who, role)
    before = groups(client)
    body = {"name": "x", "title": "X", "members": [H41]}
    response = client.post(GROUPS, json=body, headers=headers)
    assert_refused(client, response, 403, "forbidden", before)
    before = groups(client)
    response = client.patch(f"{GROUPS}/provinces", json={"add": [C1]}, headers=headers)
    assert_refused(client, response, 403, "forbidden", before)


TOO_MANY = [f"{n % 1000:03d}.{n // 1000:02d}.99.X99" for n in range(10_001)]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"name": "x", "title": "X", "members": [H41, "000.00.00.X99"]}, 422, "unknown_member"),
        ({"name": "x", "title": "X", "members": ["../etc"]}, 422, "invalid_agency_code"),
        ({"name": "Tỉnh", "title": "X", "members": [H41]}, 422, "invalid_group_name"),
        ({"name": "x" * 65, "title": "X", "members": [H41]}, 422, "invalid_group_name"),
        ({"name": "x", "title": "  ", "members": [H41]}, 422, "invalid_group_title"),
        ({"name": "x", "title": "a\u202eb", "members": [H41]}, 422, "invalid_group_title"),
        ({"name": "x", "title": "X" * 301, "members": [H41]}, 422, "invalid_group_title"),
        ({"name": "provinces", "title": "X", "members": [H41]}, 409, "group_exists"),
        ({"name": "x", "title": "X", "members": TOO_MANY}, 422, "invalid_request"),
        ({"name": "x", "title": "X", "members": [H41], "owner": G22}, 422, "invalid_request"),
        ({"name": "x", "title": "X", "members": "000.00.00.H41"}, 422, "invalid_request"),
        ({"name": "x", "title": "X"}, 422, "invalid_request"),
    ],
    ids=[
        "unknown-member",
        "not-a-code",
        "vietnamese-name",
        "long-name",
        "blank-title",
        "bidi-title",
        "long-title",
        "exists",
        "10001-members",
        "unknown-field",
        "members-not-a-list",
        "no-members",
    ],
)
def test_a_bad_group_is_refused_and_nothing_is_stored(
    client: TestClient, credentials: dict, body: dict[str, Any], status: int, error: str
) -> None:
    before = groups(client)
    response = client.post(GROUPS, json=body, headers=auth(credentials, ADMIN))
    assert_refused(client, response, status, error, before)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"members": [H41, "000.00.00.X99"]}, "unknown_member"),
        ({"add": ["000.00.00.X99"]}, "unknown_member"),
        ({"remove": ["not a code"]}, "invalid_agency_code"),
        ({"members": [H41], "add": [C1]}, "conflicting_member_changes"),
        ({"title": ""}, "invalid_group_title"),
        ({"name": "renamed"}, "invalid_request"),
    ],
    ids=["unknown-member", "unknown-added", "bad-removed", "both-ways", "empty-title", "rename"],
)
def test_a_bad_change_is_refused_and_nothing_is_stored(
    client: TestClient, credentials: dict, body: dict[str, Any], error: str
) -> None:
    before = groups(client)
    response = client.patch(f"{GROUPS}/provinces", json=body, headers=auth(credentials, ADMIN))
    assert_refused(client, response, 422, error, before)


def test_a_retired_agency_cannot_join_a_group(client: TestClient, credentials: dict) -> None:
    headers = auth(credentials, ADMIN)
    retired = client.patch(
        f"/api/v1/agencies/{C2}", json={"status": "retired", "successor_id": C1}, headers=headers
    )
    assert retired.status_code == 200, retired.text
    before = groups(client)
    response = client.patch(f"{GROUPS}/central", json={"add": [C2]}, headers=headers)
    assert_refused(client, response, 422, "member_retired", before)


def test_a_group_grows_to_ten_thousand_members_and_no_further(
    client: TestClient, credentials: dict
) -> None:
    codes = seed_communes(client, 10_001)
    headers = auth(credentials, ADMIN)
    body = {"name": "big", "title": "Lớn", "members": codes[:10_000]}
    created = client.post(GROUPS, json=body, headers=headers)
    assert created.status_code == 201, created.text
    before = groups(client)
    response = client.patch(f"{GROUPS}/big", json={"add": codes[10_000:]}, headers=headers)
    assert_refused(client, response, 422, "too_many_members", before)


@pytest.mark.parametrize("name", ["nowhere", "a.b", "PROVINCES"])
def test_changing_an_unknown_group_is_404(client: TestClient, credentials: dict, name: str) -> None:
    before = groups(client)
    response = client.patch(
        f"{GROUPS}/{name}", json={"title": "X"}, headers=auth(credentials, ADMIN)
    )
    assert_refused(client, response, 404, "group_not_found", before)


# -- the CLI -------------------------------------------------------------------------------------


def run_cli(settings: Settings, *args: str) -> Any:
    env = {
        "DOCEX_DATA_DIR": str(settings.data_dir),
        "DOCEX_DATABASE_URL": settings.resolved_database_url,
        "DOCEX_NODE_ID": settings.node_id,
    }
    return CliRunner().invoke(cli, ["group", *args], env=env)


def test_the_cli_adds_sets_and_lists_groups_with_the_same_rules(
    client: TestClient, credentials: dict, settings: Settings
) -> None:
    added = run_cli(settings, "add", "xa", "--title", "Xã", "-m", C1, "--member", C2)
    assert added.exit_code == 0, added.output
    changed = run_cli(settings, "set", "xa", "--add", H41, "--remove", C2, "--title", "Các xã")
    assert changed.exit_code == 0, changed.output
    listing = run_cli(settings, "list", "--json")
    assert listing.exit_code == 0, listing.output
    assert {"name": "xa", "title": "Các xã", "description": "", "members": [H41, C1]} in (
        json.loads(listing.output)
    )
    assert [e.detail for e in audit_events(client, UPDATED)] == [
        {"group": "xa", "title": "Các xã", "added": [H41], "removed": [C2]}
    ]
    before = groups(client)
    refused = run_cli(settings, "set", "xa", "--member", "000.00.00.X99")
    assert refused.exit_code == 1, refused.output
    assert "unknown_member:" in refused.output
    assert groups(client).rows == before.rows


# -- a broadcast at scale ------------------------------------------------------------------------

BROADCAST = 1000


def seed_communes(client: TestClient, count: int) -> list[str]:
    now = datetime.now(UTC)
    codes = [f"{n % 1000:03d}.{n // 1000:02d}.98.X98" for n in range(count)]
    node = node_of(client)
    with node.db.write() as session:
        session.execute(
            insert(Agency),
            [
                {
                    "id": code,
                    "name": f"Xã {n}",
                    "search_key": search_key(code, f"Xã {n}"),
                    "kind": "state",
                    "node_id": node.settings.node_id,
                    "status": "active",
                    "created_at": now,
                    "updated_at": now,
                }
                for n, code in enumerate(codes)
            ],
        )
    return codes


@pytest.fixture
def statements(client: TestClient) -> Iterator[list[str]]:
    """Every SQL statement the node's engine runs while the test records (executemany once)."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(" ".join(str(args[2]).split()))

    engine = node_of(client).db.engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_a_broadcast_to_a_thousand_inserts_its_deliveries_at_once_and_all_get_01(
    client: TestClient, credentials: dict, statements: list[str]
) -> None:
    codes = seed_communes(client, BROADCAST)
    headers = auth(credentials, ADMIN)
    body = {"name": "communes", "title": "Xã", "members": codes}
    created = client.post(GROUPS, json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert len(created.json()["members"]) == BROADCAST
    sender = auth(credentials, G22)
    document = pdf()
    send(client, sender, envelope([H41]), document)  # signs the PDF, warms the session
    statements.clear()
    response = send(client, sender, envelope(["group:communes"], subject="Tất cả"), document)
    assert response.status_code == 201, response.text
    assert len(response.json()["recipients"]) == BROADCAST

    inserts = [s for s in statements if s.startswith("INSERT INTO deliveries")]
    events_written = [s for s in statements if s.startswith("INSERT INTO audit_events")]
    assert len(inserts) == 1, inserts
    assert len(events_written) <= 3, events_written  # accepted, the expansion
    assert len(statements) < 40, Counter(s[:60] for s in statements).most_common(5)
    [expansion] = audit_events(client, RESOLVED)
    assert len(expansion.detail["deliveries"]) == BROADCAST

    delivered = 0
    while step := deliver(client):
        delivered += step
    assert delivered == BROADCAST + 1
    document_id = response.json()["id"]
    with node_of(client).db.read() as session:
        arrived = session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.document_id == document_id, Delivery.status == "01")
        )
        receipts = session.scalar(
            select(func.count())
            .select_from(Receipt)
            .where(Receipt.document_id == document_id, Receipt.code == "01")
        )
    assert arrived == receipts == BROADCAST
