"""The admin console (Quản trị): each sub-page lists the right rows, each form changes what it
says and is audited, bad input is a 4xx page with nothing changed, clerks and auditors get the
403 page, a form without its CSRF token is refused; a failed delivery re-queued from the
console is delivered once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from docex.agencies.models import Agency
from docex.app import create_app
from docex.auth.models import Principal, Token
from docex.bootstrap import DEMO_AGENCIES
from docex.config import Settings
from docex.db import Base
from docex.documents.models import Delivery
from docex.federation import peers
from docex.federation.models import WitnessState
from docex.routing.deliveries import DeliveryTransport
from docex.routing.models import Receipt
from docex.routing.webhooks.models import WebhookEndpoint
from docex.routing.worker import Worker
from docex.signing.sandbox import ValidatorPool
from docex.vocabulary.transport import JOB_DELIVERY
from tests.helpers import (
    G22,
    H26,
    H41,
    MovableClock,
    audit_events,
    auth,
    deliver,
    envelope,
    node_of,
    pdf,
    send,
)
from tests.web.conftest import BASE, login, person_of

PAGES = (
    "/ui/admin",
    "/ui/admin/agencies",
    "/ui/admin/users",
    "/ui/admin/tokens",
    "/ui/admin/webhooks",
    "/ui/admin/peers",
    "/ui/admin/deliveries",
    "/ui/admin/keys",
)


def rows(client: TestClient, model: type[Base]) -> int:
    with node_of(client).db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def refusals(client: TestClient, error: str) -> list[dict[str, Any]]:
    return [
        e.detail
        for e in audit_events(client, "api:request:refused")
        if e.detail.get("error") == error
    ]


def principal(client: TestClient, username: str) -> Principal:
    with node_of(client).db.read() as session:
        found = session.scalars(select(Principal).where(Principal.username == username)).one()
        session.expunge(found)
        return found


def agency(client: TestClient, code: str) -> Agency:
    with node_of(client).db.read() as session:
        found = session.get_one(Agency, code)
        session.expunge(found)
        return found


def test_every_sub_page_is_the_operators_and_refused_to_a_clerk_and_an_auditor(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    login(web, credentials, "admin")
    for path in PAGES:
        page = web.get(path)
        assert page.status_code == 200, (path, page.text)
        assert "Quản trị" in page.text
        assert 'aria-current="page"' in page.text
    home = web.get("/ui/admin").text
    for section in ("Cơ quan", "Người dùng", "Mã truy cập hệ thống", "Chuyển phát thất bại"):
        assert section in home

    for who in (G22, "auditor"):
        web.cookies.clear()
        csrf = login(web, credentials, who)
        assert 'href="/ui/admin"' not in web.get("/ui/account").text  # not in their menu
        for path in PAGES:
            refused = web.get(path)
            assert refused.status_code == 403, (who, path)
            assert "Vai trò của bạn không được phép" in refused.text
        before = rows(web, Agency)
        posted = web.post(
            "/ui/admin/agencies",
            data={"csrf": csrf, "code": "000.00.00.G98", "name": "Bộ thử", "kind": "state"},
        )
        assert posted.status_code == 403
        assert rows(web, Agency) == before
    assert {d["path"] for d in refusals(web, "forbidden")} >= set(PAGES)


def test_a_form_without_its_csrf_token_changes_nothing(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    login(web, credentials, "admin")
    before = rows(web, Agency)
    refused = web.post(
        "/ui/admin/agencies", data={"code": "000.00.00.G98", "name": "Bộ thử", "kind": "state"}
    )
    assert refused.status_code == 403
    assert "Biểu mẫu đã hết hạn" in refused.text
    forged = web.post(f"/ui/admin/agencies/{H41}/retire", data={"csrf": "forged"})
    assert forged.status_code == 403
    assert rows(web, Agency) == before
    assert agency(web, H41).status == "active"
    assert [d["path"] for d in refusals(web, "csrf_invalid")] == [
        "/ui/admin/agencies",
        f"/ui/admin/agencies/{H41}/retire",
    ]


def test_the_agencies_are_listed_searched_and_one_is_added(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    csrf = login(web, credentials, "admin")
    listed = web.get("/ui/admin/agencies").text
    assert G22 in listed
    assert "Văn phòng Chính phủ" in listed
    found = web.get("/ui/admin/agencies", params={"q": "nghe an"}).text
    assert f"<code>{H41}</code>" in found
    assert f"<code>{G22}</code>" not in found

    added = web.post(
        "/ui/admin/agencies",
        data={
            "csrf": csrf,
            "code": "000.00.00.G98",
            "name": "Bộ Khoa học và Công nghệ",
            "kind": "state",
            "parent": "",
            "home_node": "",
        },
    )
    assert added.status_code == 303
    assert added.headers["location"] == "/ui/admin/agencies?done=agency_added"
    page = web.get(added.headers["location"]).text
    assert "Đã thêm cơ quan." in page
    assert "Bộ Khoa học và Công nghệ" in page
    made = agency(web, "000.00.00.G98")
    assert (made.node_id, made.status, made.encryption_key is not None) == (
        "test-node",
        "active",
        True,
    )
    (event,) = audit_events(web, "registry:agency:created")[-1:]
    assert event.agency_id == "000.00.00.G98"
    assert event.actor_id == principal(web, person_of(credentials, "admin")[0]).id


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"code": "G98", "name": "Bộ thử", "kind": "state"}, 422, "invalid_agency_code"),
        ({"code": "000.00.00.G98", "name": " ", "kind": "state"}, 422, "invalid_agency_name"),
        ({"code": "000.00.00.G98", "name": "Bộ thử", "kind": "empire"}, 422, None),
        ({"code": G22, "name": "Bộ thử", "kind": "state"}, 409, "agency_exists"),
        (
            {"code": "000.00.00.G98", "name": "Bộ thử", "kind": "state", "parent": G22[:-1]},
            422,
            None,
        ),
    ],
)
def test_a_bad_agency_is_refused_with_nothing_added(
    web: TestClient, credentials: dict[str, Any], form: dict[str, str], status: int, error: str
) -> None:
    csrf = login(web, credentials, "admin")
    before = rows(web, Agency)
    refused = web.post("/ui/admin/agencies", data={"csrf": csrf, **form})
    assert refused.status_code == status, refused.text
    assert "<h1>" in refused.text  # the error page, not JSON
    assert rows(web, Agency) == before
    audited = audit_events(web, "api:request:refused")[-1].detail
    assert audited["path"] == "/ui/admin/agencies"
    if error:
        assert audited["error"] == error


def test_an_agency_mail_reaches_is_retired_only_with_a_successor(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    csrf = login(web, credentials, "admin")
    alone = web.post(f"/ui/admin/agencies/{H26}/retire", data={"csrf": csrf, "successor": ""})
    assert alone.status_code == 422  # H26 is in the group "provinces"
    assert "successor_required" in alone.text
    assert agency(web, H26).status == "active"
    unknown = web.post(
        f"/ui/admin/agencies/{H26}/retire", data={"csrf": csrf, "successor": "000.00.00.H99"}
    )
    assert unknown.status_code == 404
    assert agency(web, H26).status == "active"
    assert [d["error"] for d in audit_events_of(web)] == ["successor_required", "agency_not_found"]

    retired = web.post(f"/ui/admin/agencies/{H26}/retire", data={"csrf": csrf, "successor": H41})
    assert retired.status_code == 303
    assert (agency(web, H26).status, agency(web, H26).successor_id) == ("retired", H41)
    (event,) = audit_events(web, "registry:agency:updated")[-1:]
    assert (event.agency_id, event.detail["status"], event.detail["successor_id"]) == (
        H26,
        "retired",
        H41,
    )
    page = web.get(retired.headers["location"]).text
    assert "Đã thôi sử dụng mã cơ quan." in page
    assert f"/ui/admin/agencies/{H26}/retire" not in page  # nothing left to retire


def audit_events_of(client: TestClient) -> list[dict[str, Any]]:
    return [e.detail for e in audit_events(client, "api:request:refused")]


def test_a_person_is_created_changed_disabled_and_enabled_each_audited(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    csrf = login(web, credentials, "admin")
    listed = web.get("/ui/admin/users").text
    for username in ("vanthu.vpcp", "lanhdao.nghean", "kiemtra", "quantri"):
        assert username in listed
    assert "(bạn)" in listed  # the admin's own row: no form to change it

    made = web.post(
        "/ui/admin/users",
        data={
            "csrf": csrf,
            "username": "vanthu2.vpcp",
            "full_name": "Nguyễn Thị Hoa",
            "kind": "clerk",
            "agency": G22,
            "clearance": "confidential",
            "password": "một mật khẩu dài",
        },
    )
    assert made.status_code == 303, made.text
    person = principal(web, "vanthu2.vpcp")
    assert (person.kind, person.agency_id, person.clearance, person.active) == (
        "clerk",
        G22,
        "confidential",
        True,
    )
    (created,) = audit_events(web, "auth:principal:created")[-1:]
    assert created.actor_id == principal(web, "quantri").id
    assert created.detail["username"] == "vanthu2.vpcp"
    # The new clerk signs in.
    token = web.post(
        "/api/v1/auth/token", data={"username": "vanthu2.vpcp", "password": "một mật khẩu dài"}
    ).json()["access_token"]
    me = {"Authorization": f"Bearer {token}"}
    assert web.get("/api/v1/me", headers=me).json()["kind"] == "clerk"

    changed = web.post(
        f"/ui/admin/users/{person.id}/role",
        data={"csrf": csrf, "kind": "leader", "clearance": "secret"},
    )
    assert changed.status_code == 303
    assert (principal(web, "vanthu2.vpcp").kind, principal(web, "vanthu2.vpcp").clearance) == (
        "leader",
        "secret",
    )
    (updated,) = audit_events(web, "auth:principal:updated")
    assert (updated.detail["kind"], updated.detail["clearance"]) == ("leader", "secret")

    disabled = web.post(
        f"/ui/admin/users/{person.id}/active", data={"csrf": csrf, "active": "false"}
    )
    assert disabled.headers["location"] == "/ui/admin/users?done=person_disabled"
    assert principal(web, "vanthu2.vpcp").active is False
    assert web.get("/api/v1/me", headers=me).status_code == 401  # their token stops at once
    assert "Đã khóa" in web.get("/ui/admin/users").text
    (off,) = audit_events(web, "auth:principal:disabled")
    assert off.detail["principal_id"] == person.id

    web.post(f"/ui/admin/users/{person.id}/active", data={"csrf": csrf, "active": "true"})
    assert principal(web, "vanthu2.vpcp").active is True
    assert len(audit_events(web, "auth:principal:enabled")) == 1
    assert web.get("/api/v1/me", headers=me).status_code == 200


def test_an_admin_removes_a_linked_persons_password_and_gives_a_new_one(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    csrf = login(web, credentials, "admin")
    username, password = person_of(credentials, G22)
    clerk = principal(web, username)
    url = f"/ui/admin/users/{clerk.id}/password"

    def signs_in(secret: str) -> int:
        form = {"username": username, "password": secret}
        return int(web.post("/api/v1/auth/token", data=form).status_code)

    # Not linked to an identity: taking the password away would leave no way in.
    refused = web.post(url, data={"csrf": csrf, "remove": "true"})
    assert refused.status_code == 409, refused.text
    assert refusals(web, "identity_not_linked")
    assert principal(web, username).password_hash == clerk.password_hash
    assert signs_in(password) == 200

    web.post(f"/ui/admin/users/{clerk.id}/identity", data={"csrf": csrf, "identity": "0010990001"})
    removed = web.post(url, data={"csrf": csrf, "remove": "true"})
    assert removed.headers["location"] == "/ui/admin/users?done=password_removed"
    assert principal(web, username).password_hash is None
    assert signs_in(password) == 401
    assert "Không có: chỉ đăng nhập một lần" in web.get("/ui/admin/users").text
    assert audit_events(web, "auth:principal:updated")[-1].detail["password"] == "removed"

    short = web.post(url, data={"csrf": csrf, "password": "ngắn"})
    assert short.status_code == 422
    assert principal(web, username).password_hash is None
    given = web.post(url, data={"csrf": csrf, "password": "mật khẩu mới đủ dài"})
    assert given.headers["location"] == "/ui/admin/users?done=password_set"
    assert signs_in("mật khẩu mới đủ dài") == 200
    (event,) = audit_events(web, "auth:principal:updated")[-1:]
    assert event.detail["password"] == "set"
    assert "mật khẩu mới" not in str([e.detail for e in audit_events(web)])

    # Nobody changes their own password here, and a clerk changes nobody's.
    own = web.post(
        f"/ui/admin/users/{principal(web, 'quantri').id}/password",
        data={"csrf": csrf, "password": "mật khẩu của tôi"},
    )
    assert own.status_code == 409
    other = TestClient(web.app, base_url=BASE, follow_redirects=False)
    clerk_csrf = login(other, credentials, H41)
    forbidden = other.post(url, data={"csrf": clerk_csrf, "password": "mật khẩu của kẻ lạ"})
    assert forbidden.status_code == 403
    assert signs_in("mật khẩu mới đủ dài") == 200


def test_a_supervisor_keeps_their_role_in_the_console(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    login(web, credentials, "admin")
    page = web.get("/ui/admin/users").text
    supervisor = principal(web, "giamsat")
    row = page[page.index(f"/ui/admin/users/{supervisor.id}/role") :]
    row = row[: row.index("</select>")]
    assert '<option value="supervisor" selected>' in row


def test_a_disabled_persons_web_session_ends(web: TestClient, credentials: dict[str, Any]) -> None:
    clerk = TestClient(web.app, base_url=BASE, follow_redirects=False)
    login(clerk, credentials, G22)
    assert clerk.get("/ui/account").status_code == 200
    csrf = login(web, credentials, "admin")
    clerk_id = principal(web, person_of(credentials, G22)[0]).id
    web.post(f"/ui/admin/users/{clerk_id}/active", data={"csrf": csrf, "active": "false"})
    assert clerk.get("/ui/account").status_code == 303  # back to sign-in
    assert audit_events(web, "auth:session:closed")[-1].detail["reason"] == "disabled"


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"password": "short"}, 422, "password_too_short"),
        ({"username": "vanthu.vpcp"}, 409, "username_taken"),
        ({"username": "a b"}, 422, "invalid_username"),
        ({"kind": "admin"}, 422, "invalid_role"),  # an admin acts for the node, not G22
        ({"kind": "system"}, 422, "invalid_role"),
        ({"kind": "emperor"}, 422, None),
        ({"clearance": "cosmic"}, 422, None),
        ({"agency": "000.00.00.H99"}, 422, "unknown_agency"),
        ({"full_name": "\u202eHoa"}, 422, "invalid_full_name"),
    ],
)
def test_a_bad_person_is_refused_with_nobody_added(
    web: TestClient, credentials: dict[str, Any], form: dict[str, str], status: int, error: str
) -> None:
    csrf = login(web, credentials, "admin")
    before = rows(web, Principal)
    good = {
        "username": "vanthu2.vpcp",
        "full_name": "Nguyễn Thị Hoa",
        "kind": "clerk",
        "agency": G22,
        "clearance": "normal",
        "password": "một mật khẩu dài",
    }
    refused = web.post("/ui/admin/users", data={"csrf": csrf, **good, **form})
    assert refused.status_code == status, refused.text
    assert rows(web, Principal) == before
    if error:
        assert audit_events(web, "api:request:refused")[-1].detail["error"] == error


def test_a_role_change_that_would_move_a_person_or_touch_ones_own_account_is_refused(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    csrf = login(web, credentials, "admin")
    clerk = principal(web, person_of(credentials, G22)[0])
    me = principal(web, "quantri")
    for target, form, status, error in (
        (clerk.id, {"kind": "admin", "clearance": "normal"}, 422, "invalid_role"),
        (me.id, {"kind": "auditor", "clearance": "normal"}, 409, "own_account"),
        ("nobody", {"kind": "clerk", "clearance": "normal"}, 404, "principal_not_found"),
    ):
        refused = web.post(f"/ui/admin/users/{target}/role", data={"csrf": csrf, **form})
        assert refused.status_code == status
        assert audit_events(web, "api:request:refused")[-1].detail["error"] == error
    own = web.post(f"/ui/admin/users/{me.id}/active", data={"csrf": csrf, "active": "false"})
    assert own.status_code == 409
    assert principal(web, "quantri").active is True
    assert (principal(web, clerk.username or "").kind, principal(web, "quantri").kind) == (
        "clerk",
        "admin",
    )
    assert audit_events(web, "auth:principal:updated") == []


def test_a_system_token_is_shown_once_works_and_is_revoked(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    csrf = login(web, credentials, "admin")
    listed = web.get("/ui/admin/tokens").text
    for code, *_ in DEMO_AGENCIES:  # the demo systems' tokens, one per agency
        assert f"<code>{code}</code>" in listed
    made = web.post("/ui/admin/tokens", data={"csrf": csrf, "agency": H41, "name": "QLVB Nghệ An"})
    assert made.status_code == 201
    secret = made.text.split('<code class="secret">')[1].split("</code>")[0]
    assert secret.startswith("dxt")
    bearer = {"Authorization": f"Bearer {secret}"}
    me = web.get("/api/v1/me", headers=bearer).json()
    assert (me["kind"], me["agency_id"]) == ("system", H41)
    again = web.get("/ui/admin/tokens").text
    assert "QLVB Nghệ An" in again
    assert secret not in again  # never shown again

    with node_of(web).db.read() as session:
        token_id = session.scalars(select(Token.id).where(Token.name == "QLVB Nghệ An")).one()
    revoked = web.post(f"/ui/admin/tokens/{token_id}/revoke", data={"csrf": csrf})
    assert revoked.headers["location"] == "/ui/admin/tokens?done=token_revoked"
    assert web.get("/api/v1/me", headers=bearer).status_code == 401
    (event,) = audit_events(web, "auth:token:revoked")
    assert (event.agency_id, event.detail["token_id"]) == (H41, token_id)
    twice = web.post(f"/ui/admin/tokens/{token_id}/revoke", data={"csrf": csrf})
    assert twice.status_code == 409
    assert len(audit_events(web, "auth:token:revoked")) == 1


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"agency": "000.00.00.H99", "name": "QLVB"}, "unknown_agency"),
        ({"agency": H41, "name": "   "}, "invalid_token_name"),
        ({"agency": H41, "name": "QLVB\x00"}, "invalid_token_name"),
    ],
)
def test_a_bad_token_request_issues_nothing(
    web: TestClient, credentials: dict[str, Any], form: dict[str, str], error: str
) -> None:
    csrf = login(web, credentials, "admin")
    before = (rows(web, Token), rows(web, Principal))
    refused = web.post("/ui/admin/tokens", data={"csrf": csrf, **form})
    assert refused.status_code == 422
    assert "dxt" not in refused.text
    assert (rows(web, Token), rows(web, Principal)) == before
    assert audit_events(web, "api:request:refused")[-1].detail["error"] == error


def test_a_webhook_is_switched_off_and_deleted(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    url = "https://93.184.215.14/hooks/docex"
    made = web.post("/api/v1/webhooks", json={"url": url}, headers=auth(credentials, G22, "system"))
    assert made.status_code == 201, made.text
    endpoint_id = made.json()["id"]
    csrf = login(web, credentials, "admin")
    assert url in web.get("/ui/admin/webhooks").text

    off = web.post(
        f"/ui/admin/webhooks/{endpoint_id}/enabled", data={"csrf": csrf, "enabled": "false"}
    )
    assert off.headers["location"] == "/ui/admin/webhooks?done=webhook_disabled"
    assert len(audit_events(web, "webhooks:endpoint:disabled")) == 1
    assert "Bật" in web.get("/ui/admin/webhooks").text  # the button to switch it on again

    gone = web.post(f"/ui/admin/webhooks/{endpoint_id}/delete", data={"csrf": csrf})
    assert gone.status_code == 303
    assert url not in web.get("/ui/admin/webhooks").text
    assert len(audit_events(web, "webhooks:endpoint:deleted")) == 1
    unknown = web.post(f"/ui/admin/webhooks/{endpoint_id}/delete", data={"csrf": csrf})
    assert unknown.status_code == 404
    assert rows(web, WebhookEndpoint) == 1  # deleted is marked, not forgotten


def test_the_peers_page_shows_the_directory_nodes_and_witness_state(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    login(web, credentials, "admin")
    assert "Nút này chưa có danh bạ" in web.get("/ui/admin/peers").text
    now = datetime.now(UTC)
    with node_of(web).db.write() as session:
        peers.upsert(
            session,
            [
                peers.Peer("test-node", "https://hub.example", None, "PEM", None, None),
                peers.Peer("nghean", "https://nghean.example", "test-node", "PEM", None, None),
            ],
            version=3,
            now=now,
        )
        session.add(
            WitnessState(
                peer="nghean",
                origin="nghean.example/log",
                log_key="k",
                tree_size=42,
                root_hash="r",
                checkpoint="c",
                signed=None,
                timestamp=0,
                updated_at=now,
                fork_at=now,
                fork_reason="two roots for size 42",
            )
        )
    page = web.get("/ui/admin/peers").text
    assert "https://nghean.example" in page
    assert "<td>7</td>" in page  # the demo agencies, all on this node
    assert "phát hiện rẽ nhánh" in page
    assert "two roots for size 42" in page


def _fail_a_delivery(web: TestClient, credentials: dict[str, Any]) -> str:
    """A document to H26 while it lives on a node with no route: failed after one attempt."""
    node = node_of(web)
    with node.db.write() as session:
        session.execute(update(Agency).where(Agency.id == H26).values(node_id="elsewhere"))
    send(web, auth(credentials, G22), envelope([H26]), pdf())
    mine = node.worker.transports[JOB_DELIVERY]
    assert isinstance(mine, DeliveryTransport)
    transport = DeliveryTransport(
        node.db,
        node.signer,
        node_id=node.settings.node_id,
        deadlines=node.settings.deadlines,
        batch_size=50,
        policy=replace(mine.policy, max_attempts=1),
    )
    Worker(node.db, [transport], node.settings.dispatcher, clock=node.clock, owner="w").run_once()
    with node.db.write() as session:  # the route is fixed
        session.execute(update(Agency).where(Agency.id == H26).values(node_id="test-node"))
        return session.scalars(select(Delivery.id).where(Delivery.recipient_id == H26)).one()


def test_a_failed_delivery_requeued_from_the_console_is_delivered_once(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    delivery_id = _fail_a_delivery(web, credentials)
    csrf = login(web, credentials, "admin")
    page = web.get("/ui/admin/deliveries").text
    assert f"/ui/admin/deliveries/{delivery_id}/retry" in page
    assert "no route to node" in page
    assert "Chuyển phát thất bại: 1" in web.get("/ui/admin").text

    requeued = web.post(f"/ui/admin/deliveries/{delivery_id}/retry", data={"csrf": csrf})
    assert requeued.headers["location"] == "/ui/admin/deliveries?done=delivery_requeued"
    (event,) = audit_events(web, "routing:delivery:requeued")
    assert event.detail["delivery_id"] == delivery_id
    assert event.actor_id == principal(web, "quantri").id
    after = web.get("/ui/admin/deliveries").text
    assert "Không có chuyển phát thất bại." in after
    assert '<th scope="row">Chuyển phát văn bản</th><td>1</td>' in after  # the queue's depth

    deliver(web)
    with node_of(web).db.read() as session:
        arrivals = session.scalar(
            select(func.count()).where(Receipt.delivery_id == delivery_id, Receipt.code == "01")
        )
        assert session.get_one(Delivery, delivery_id).transport == "delivered"
    assert arrivals == 1
    twice = web.post(f"/ui/admin/deliveries/{delivery_id}/retry", data={"csrf": csrf})
    assert twice.status_code == 409
    assert audit_events(web, "api:request:refused")[-1].detail["error"] == "delivery_not_failed"
    deliver(web)
    with node_of(web).db.read() as session:
        assert (
            session.scalar(
                select(func.count()).where(Receipt.delivery_id == delivery_id, Receipt.code == "01")
            )
            == 1
        )


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(datetime.now(UTC))


@pytest.fixture
def clocked(
    settings: Settings, validator_pool: ValidatorPool, clock: MovableClock
) -> Iterator[TestClient]:
    with TestClient(
        create_app(settings, clock=clock, validators=validator_pool),
        base_url=BASE,
        raise_server_exceptions=False,
        follow_redirects=False,
    ) as client:
        yield client


def test_the_keys_page_warns_of_certificates_near_or_past_their_end(
    clocked: TestClient, clock: MovableClock, credentials: dict[str, Any]
) -> None:
    pki = node_of(clocked).signatures.pki
    assert pki is not None
    seal = pki.current(f"seal:{G22}")
    assert seal is not None

    login(clocked, credentials, "admin")
    page = clocked.get("/ui/admin/keys").text
    assert f"seal:{G22}" in page
    assert "còn hiệu lực" in page
    assert "sắp hết hạn" not in page
    assert "đã hết hạn" not in page
    assert node_of(clocked).signer.kid in page

    clock.at = seal.not_after - timedelta(days=10)
    login(clocked, credentials, "admin")
    assert "sắp hết hạn" in clocked.get("/ui/admin/keys").text
    clock.at = seal.not_after + timedelta(days=1)
    login(clocked, credentials, "admin")
    assert "đã hết hạn" in clocked.get("/ui/admin/keys").text
