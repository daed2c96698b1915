"""Each rule raises its alert once over many evaluations while its condition holds, resolves
it when the condition clears, and raises a new one if it comes back; every change audited."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update

from docex.alerts.models import Alert
from docex.audit import events
from docex.audit.models import Checkpoint, Cosignature
from docex.documents.models import Delivery
from docex.federation.models import FederationNode, InboundTransfer, WitnessState
from docex.keys import inventory
from docex.keys.paths import KeyPaths
from docex.kit.clock import as_utc, rfc3339
from docex.vocabulary.transport import JOB_DELIVERY
from tests.alerts.conftest import MovableClock, watch_of
from tests.helpers import G22, H41, audit_events, auth, envelope, node_of, pdf, send

PEER = "peer-province"


def evaluate(c: TestClient, times: int = 3) -> tuple[list[str], list[str]]:
    """Run the rules ``times`` times; every key raised and resolved over those runs."""
    raised: list[str] = []
    resolved: list[str] = []
    for _ in range(times):
        up, down = watch_of(c).run_once()
        raised += up
        resolved += down
    return raised, resolved


def of_rule(keys: list[str], rule: str) -> list[str]:
    return [k for k in keys if k.startswith(f"{rule}:")]


def alert_events(c: TestClient, event: str, key: str) -> int:
    return sum(1 for e in audit_events(c, event) if e.detail.get("key") == key)


def sent(c: TestClient, credentials: dict[str, Any], **fields: Any) -> str:
    response = send(c, auth(credentials, G22), envelope([H41], **fields), pdf())
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def add_peer(c: TestClient, clock: MovableClock) -> None:
    with node_of(c).db.write() as session:
        session.add(
            FederationNode(
                id=PEER,
                base_url="https://peer.example.vn",
                upstream=None,
                signing_key="-",
                certificates=None,
                audit_key=None,
                directory_version=1,
                updated_at=clock.now(),
            )
        )


def test_overdue_flash_document_raises_once_and_resolves_when_answered(
    node: TestClient, credentials: dict[str, Any], clock: MovableClock
) -> None:
    document_id = sent(node, credentials, urgency="flash")
    normal_id = sent(node, credentials)  # not urgent: never an alert
    assert node_of(node).worker.run_once(JOB_DELIVERY) == 2
    raised, _ = evaluate(node)
    assert of_rule(raised, "overdue_urgent") == []  # not yet due

    clock.at += timedelta(hours=1, minutes=5)  # flash: due one hour after delivery
    raised, resolved = evaluate(node)
    key = f"overdue_urgent:{H41}"
    assert of_rule(raised, "overdue_urgent") == [key]
    assert alert_events(node, events.ALERT_RAISED, key) == 1
    with node_of(node).db.read() as session:
        alert = session.scalars(select(Alert).where(Alert.key == key)).one()
    assert alert.severity == "critical"
    assert alert.detail["counts"] == {"flash": 1}
    assert normal_id not in str(alert.detail)

    answer = node.post(
        f"/api/v1/documents/{document_id}/statuses",
        json={"code": "02", "note": "Không đúng thẩm quyền"},
        headers=auth(credentials, H41),
    )
    assert answer.status_code == 201, answer.text
    raised, resolved = evaluate(node)
    assert of_rule(raised, "overdue_urgent") == []
    assert of_rule(resolved, "overdue_urgent") == [key]
    assert alert_events(node, events.ALERT_RESOLVED, key) == 1


def test_an_urgent_document_unanswered_near_its_deadline_warns_before_it_is_missed(
    node: TestClient, credentials: dict[str, Any], clock: MovableClock
) -> None:
    document_id = sent(node, credentials, urgency="flash")  # due one hour after delivery
    sent(node, credentials)  # not urgent: never an alert
    assert node_of(node).worker.run_once(JOB_DELIVERY) == 2
    raised, _ = evaluate(node)
    assert of_rule(raised, "due_soon") == []  # due in an hour: more than 30 minutes away

    clock.at += timedelta(minutes=35)
    raised, _ = evaluate(node)
    key = f"due_soon:{H41}"
    assert of_rule(raised, "due_soon") == [key]
    assert of_rule(raised, "overdue_urgent") == []
    assert alert_events(node, events.ALERT_RAISED, key) == 1
    with node_of(node).db.read() as session:
        alert = session.scalars(select(Alert).where(Alert.key == key)).one()
    assert (alert.severity, alert.detail["counts"]) == ("warning", {"flash": 1})
    with node_of(node).db.read() as session:
        delivery = session.scalars(
            select(Delivery).where(Delivery.document_id == document_id)
        ).one()
    assert delivery.due_at is not None
    assert alert.detail["next_due"] == rfc3339(as_utc(delivery.due_at))

    clock.at += timedelta(minutes=30)  # the deadline passed unanswered: overdue instead
    raised, resolved = evaluate(node)
    assert of_rule(resolved, "due_soon") == [key]
    assert of_rule(raised, "overdue_urgent") == [f"overdue_urgent:{H41}"]


def test_an_urgent_document_answered_in_time_raises_nothing(
    node: TestClient, credentials: dict[str, Any], clock: MovableClock
) -> None:
    document_id = sent(node, credentials, urgency="very_urgent")
    assert node_of(node).worker.run_once(JOB_DELIVERY) == 1
    answer = node.post(
        f"/api/v1/documents/{document_id}/statuses",
        json={"code": "03", "incoming_number": "7"},
        headers=auth(credentials, H41),
    )
    assert answer.status_code == 201, answer.text
    for _ in range(4):
        clock.at += timedelta(hours=1)
        raised, _ = evaluate(node, times=1)
        assert of_rule(raised, "due_soon") + of_rule(raised, "overdue_urgent") == []


def test_old_queue_raises_once_and_resolves_when_drained(
    node: TestClient, credentials: dict[str, Any], clock: MovableClock
) -> None:
    sent(node, credentials)
    raised, _ = evaluate(node)
    assert of_rule(raised, "queue_age") == []
    clock.at += timedelta(minutes=31)
    raised, _ = evaluate(node)
    assert of_rule(raised, "queue_age") == [f"queue_age:{JOB_DELIVERY}"]
    assert node_of(node).worker.run_once(JOB_DELIVERY) == 1
    raised, resolved = evaluate(node)
    assert of_rule(raised, "queue_age") == []
    assert of_rule(resolved, "queue_age") == [f"queue_age:{JOB_DELIVERY}"]


def test_silent_peer_raises_once_resolves_on_exchange_and_again_when_silent(
    node: TestClient, clock: MovableClock
) -> None:
    add_peer(node, clock)
    assert of_rule(evaluate(node)[0], "node_silent") == []
    clock.at += timedelta(minutes=31)
    key = f"node_silent:{PEER}"
    assert of_rule(evaluate(node)[0], "node_silent") == [key]

    with node_of(node).db.write() as session:
        session.add(
            InboundTransfer(
                id="00000000-0000-7000-8000-000000000001",
                kind="status",
                from_node=PEER,
                digest="sha-256=:AA==:",
                document_id=None,
                receipt="-",
                received_at=clock.now(),
            )
        )
    raised, resolved = evaluate(node)
    assert (of_rule(raised, "node_silent"), of_rule(resolved, "node_silent")) == ([], [key])

    clock.at += timedelta(minutes=31)
    assert of_rule(evaluate(node)[0], "node_silent") == [key]  # back: a new alert
    with node_of(node).db.read() as session:
        episodes = session.scalars(select(Alert).where(Alert.key == key)).all()
    assert sorted(a.state for a in episodes) == ["open", "resolved"]
    assert alert_events(node, events.ALERT_RAISED, key) == 2


def test_checkpoint_not_cosigned_raises_once_and_resolves_when_cosigned(
    node: TestClient, clock: MovableClock
) -> None:
    add_peer(node, clock)
    with node_of(node).db.write() as session:
        size = 10**9  # beyond anything the integrator signs during the test
        session.add(
            Checkpoint(tree_size=size, root_hash=b"\0" * 32, note="-", created_at=clock.now())
        )
    assert of_rule(evaluate(node)[0], "checkpoint_uncosigned") == []
    clock.at += timedelta(minutes=31)
    key = "checkpoint_uncosigned:audit_log"
    # The peer stays silent too: only this rule is looked at.
    assert of_rule(evaluate(node)[0], "checkpoint_uncosigned") == [key]
    with node_of(node).db.write() as session:
        session.add(
            Cosignature(
                tree_size=size,
                name="witness.peer",
                key_id="00000000",
                public_key=b"\0" * 32,
                timestamp=int(clock.now().timestamp()),
                line="-",
                created_at=clock.now(),
            )
        )
    raised, resolved = evaluate(node)
    assert of_rule(raised, "checkpoint_uncosigned") == []
    assert of_rule(resolved, "checkpoint_uncosigned") == [key]


def test_witnessed_fork_raises_once_and_resolves_when_cleared(
    node: TestClient, clock: MovableClock
) -> None:
    fork(node, clock)
    key = f"witness_fork:{PEER}"
    assert of_rule(evaluate(node)[0], "witness_fork") == [key]
    with node_of(node).db.write() as session:
        session.execute(update(WitnessState).values(fork_at=None, fork_reason=None))
    raised, resolved = evaluate(node)
    assert (of_rule(raised, "witness_fork"), of_rule(resolved, "witness_fork")) == ([], [key])


def fork(c: TestClient, clock: MovableClock) -> None:
    with node_of(c).db.write() as session:
        session.execute(delete(WitnessState).where(WitnessState.peer == PEER))
        session.add(
            WitnessState(
                peer=PEER,
                origin="peer.example.vn/log",
                log_key="-",
                tree_size=5,
                root_hash=base64.b64encode(b"\0" * 32).decode(),
                checkpoint="-",
                signed=None,
                timestamp=0,
                updated_at=clock.now(),
                fork_at=clock.now(),
                fork_reason="two roots for size 5",
            )
        )


def test_expiring_certificate_raises_once_by_the_one_30_day_rule(
    node: TestClient, settings: Any, clock: MovableClock
) -> None:
    lines = inventory.certificates(
        node_of(node).signatures.pki, KeyPaths.of(settings).node_certificate, clock.now()
    )
    first = min(lines, key=lambda line: line.not_after)
    start = clock.at
    clock.at = first.not_after - inventory.EXPIRY_WARNING - timedelta(days=1)
    assert f"certificate_expiring:{first.key_id}" not in evaluate(node)[0]
    clock.at = first.not_after - inventory.EXPIRY_WARNING + timedelta(days=1)
    raised, _ = evaluate(node)
    assert f"certificate_expiring:{first.key_id}" in raised
    assert alert_events(node, events.ALERT_RAISED, f"certificate_expiring:{first.key_id}") == 1
    clock.at = start
    assert f"certificate_expiring:{first.key_id}" in evaluate(node)[1]
