"""The legal receipt rule with an injected clock: when a delivery is due (pure), and on a real
node (SQLite and PostgreSQL) the sweep that marks it overdue, once, and what each reader sees
of it in ``GET /api/v1/overdue``, the inbox, the outbox and the document."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from docex.app import create_app
from docex.config import DeadlineSettings, Settings
from docex.db import Database
from docex.documents.models import Delivery
from docex.kit.clock import SystemClock, as_utc
from docex.routing.deadlines import OverdueSweep, due_time, mark_overdue
from docex.signing.sandbox import ValidatorPool
from docex.vocabulary.transport import JOB_DELIVERY
from tests.helpers import (
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

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
OVERDUE = "/api/v1/overdue"
EVENT = "routing:delivery:overdue"
RULE = DeadlineSettings()


def vn(day: date, hour: int, minute: int = 0) -> datetime:
    """A Vietnam wall-clock time, as the UTC instant docex keeps."""
    return datetime.combine(day, time(hour, minute), tzinfo=ZONE).astimezone(UTC)


THURSDAY = date(2026, 11, 26)
FRIDAY, SATURDAY, SUNDAY, MONDAY = (THURSDAY + timedelta(days=n) for n in range(1, 5))
TUESDAY = MONDAY + timedelta(days=1)


# -- the rule, pure ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delivered", "urgency", "due"),
    [
        # before the day's end: that day, 17:00 Vietnam time (10:00 UTC)
        (vn(THURSDAY, 16, 59), "normal", vn(THURSDAY, 17)),
        (vn(THURSDAY, 6, 30), "normal", vn(THURSDAY, 17)),
        (vn(THURSDAY, 0, 1), "urgent", vn(THURSDAY, 17)),  # khẩn follows the working day
        # at or after the end: the next working day's end
        (vn(THURSDAY, 17, 0), "normal", vn(FRIDAY, 17)),
        (vn(THURSDAY, 17, 1), "normal", vn(FRIDAY, 17)),
        (vn(THURSDAY, 23, 59), "urgent", vn(FRIDAY, 17)),
        # Friday evening and the weekend roll over to Monday
        (vn(FRIDAY, 17, 1), "normal", vn(MONDAY, 17)),
        (vn(SATURDAY, 9, 0), "normal", vn(MONDAY, 17)),
        (vn(SUNDAY, 16, 0), "normal", vn(MONDAY, 17)),
        # flash: one hour, very urgent: two, whatever the day or hour
        (vn(THURSDAY, 16, 59), "flash", vn(THURSDAY, 17, 59)),
        (vn(FRIDAY, 23, 30), "flash", vn(SATURDAY, 0, 30)),
        (vn(SATURDAY, 9, 0), "very_urgent", vn(SATURDAY, 11)),
        (vn(THURSDAY, 16, 30), "very_urgent", vn(THURSDAY, 18, 30)),
    ],
)
def test_due_time_is_the_end_of_the_recipient_s_working_day_or_hours_for_flash_and_very_urgent(
    delivered: datetime, urgency: str, due: datetime
) -> None:
    assert due_time(delivered, urgency, RULE) == due
    assert due_time(delivered, urgency, RULE).tzinfo is UTC


def test_a_vietnam_day_is_not_the_utc_day() -> None:
    """00:30 Friday in Vietnam is 17:30 Thursday UTC: due Friday 17:00, not Thursday's end."""
    delivered = datetime(2026, 11, 26, 17, 30, tzinfo=UTC)
    assert delivered.astimezone(ZONE).date() == FRIDAY
    assert due_time(delivered, "normal", RULE) == vn(FRIDAY, 17)


def test_a_naive_time_from_sqlite_is_read_as_utc() -> None:
    naive = vn(THURSDAY, 16, 59).replace(tzinfo=None)
    assert due_time(naive, "normal", RULE) == vn(THURSDAY, 17)


def test_holidays_roll_over_like_weekends() -> None:
    rule = DeadlineSettings(holidays=frozenset({MONDAY, TUESDAY}))
    assert due_time(vn(FRIDAY, 18), "normal", rule) == vn(TUESDAY + timedelta(days=1), 17)
    assert due_time(vn(MONDAY, 9), "normal", rule) == vn(TUESDAY + timedelta(days=1), 17)
    assert due_time(vn(MONDAY, 9), "flash", rule) == vn(MONDAY, 10)  # hours are hours


def test_day_end_weekend_hours_and_zone_are_the_node_s_settings() -> None:
    rule = DeadlineSettings(
        day_end=time(16, 30),
        weekend=frozenset({7}),
        flash_hours=0.5,
        very_urgent_hours=4,
    )
    assert due_time(vn(THURSDAY, 16, 29), "normal", rule) == vn(THURSDAY, 16, 30)
    assert due_time(vn(THURSDAY, 16, 31), "normal", rule) == vn(FRIDAY, 16, 30)
    assert due_time(vn(SATURDAY, 10), "normal", rule) == vn(SATURDAY, 16, 30)  # a working day
    assert due_time(vn(SATURDAY, 17), "normal", rule) == vn(MONDAY, 16, 30)
    assert due_time(vn(THURSDAY, 9), "flash", rule) == vn(THURSDAY, 9, 30)
    assert due_time(vn(THURSDAY, 9), "very_urgent", rule) == vn(THURSDAY, 13)
    bangkok = DeadlineSettings(timezone="Asia/Bangkok")  # UTC+7 as well, another name
    assert due_time(vn(THURSDAY, 16, 59), "normal", bangkok) == vn(THURSDAY, 17)
    tokyo = DeadlineSettings(timezone="Asia/Tokyo")  # UTC+9: 17:00 there is 15:00 here
    assert due_time(vn(THURSDAY, 14, 59), "normal", tokyo) == vn(THURSDAY, 15)
    assert due_time(vn(THURSDAY, 15, 1), "normal", tokyo) == vn(FRIDAY, 15)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCEX_DEADLINES__DAY_END", "16:30")
    monkeypatch.setenv("DOCEX_DEADLINES__WEEKEND", "7")
    monkeypatch.setenv("DOCEX_DEADLINES__HOLIDAYS", "2026-04-30, 2026-05-01")
    monkeypatch.setenv("DOCEX_DEADLINES__FLASH_HOURS", "0.5")
    deadlines = Settings().deadlines
    assert deadlines.day_end == time(16, 30)
    assert deadlines.weekend == frozenset({7})
    assert deadlines.holidays == frozenset({date(2026, 4, 30), date(2026, 5, 1)})
    assert deadlines.flash_hours == 0.5
    assert deadlines.very_urgent_hours == 2
    assert deadlines.timezone == "Asia/Ho_Chi_Minh"
    monkeypatch.setenv("DOCEX_DEADLINES__HOLIDAYS", '["2026-09-02"]')
    assert Settings().deadlines.holidays == frozenset({date(2026, 9, 2)})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TIMEZONE", "Mars/Olympus_Mons"),
        ("WEEKEND", "1,2,3,4,5,6,7"),
        ("WEEKEND", "8"),
        ("HOLIDAYS", "2026-02-30"),
        ("DAY_END", "25:00"),
        ("FLASH_HOURS", "0"),
    ],
)
def test_a_wrong_setting_stops_the_node_at_start(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"DOCEX_DEADLINES__{name}", value)
    with pytest.raises(ValueError, match=name.lower()):
        Settings()


# -- on a node, with an injected clock -----------------------------------------------------------


def next_week(weekday: int, hour: int, minute: int = 0) -> datetime:
    """The ISO ``weekday`` of next week at ``hour:minute`` Vietnam time. Documents are sent
    (and signed, and their signatures checked) now; they are delivered at such a time, later."""
    today = SystemClock().now().astimezone(ZONE).date()
    monday = today - timedelta(days=today.isoweekday() - 1) + timedelta(weeks=1)
    return vn(monday + timedelta(days=weekday - 1), hour, minute)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(SystemClock().now())


def _node(settings: Settings, clock: MovableClock, pool: ValidatorPool) -> TestClient:
    return TestClient(
        create_app(settings, clock=clock, validators=pool), raise_server_exceptions=False
    )


@pytest.fixture
def node(
    settings: Settings, clock: MovableClock, validator_pool: ValidatorPool
) -> Iterator[TestClient]:
    with _node(settings, clock, validator_pool) as c:
        yield c


def sent(
    c: TestClient, credentials: dict, recipients: list[str] | None = None, **fields: Any
) -> str:
    response = send(c, auth(credentials, G22), envelope(recipients or [H41], **fields), pdf())
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def deliver_at(c: TestClient, at: datetime) -> None:
    worker = node_of(c).worker
    batch = worker.claim(JOB_DELIVERY, at)
    assert batch
    assert worker.move(JOB_DELIVERY, batch, at) == len(batch)


def delivery(c: TestClient, document_id: str, recipient: str = H41) -> Delivery:
    with node_of(c).db.read() as session:
        return session.scalars(
            select(Delivery).where(
                Delivery.document_id == document_id, Delivery.recipient_id == recipient
            )
        ).one()


def sweep(c: TestClient, at: datetime) -> int:
    return node_of(c).overdue.run_once(at)


def answer(
    c: TestClient, clock: MovableClock, credentials: dict, document_id: str, code: str, at: datetime
) -> None:
    clock.at = at
    body = {"code": code, **({"note": "Không đúng thẩm quyền"} if code == "02" else {})}
    response = c.post(
        f"/api/v1/documents/{document_id}/statuses", json=body, headers=auth(credentials, H41)
    )
    assert response.status_code == 201, response.text


def overdue_items(
    c: TestClient, credentials: dict, who: str, role: str = "clerk", **params: Any
) -> list[dict[str, Any]]:
    response = c.get(OVERDUE, params=params, headers=auth(credentials, who, role))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def by_document(c: TestClient, path: str, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = c.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return {item["document_id"]: item for item in response.json()["items"]}


def test_due_at_is_stored_with_the_01_across_the_working_day_end(
    node: TestClient, credentials: dict
) -> None:
    before, after = sent(node, credentials), sent(node, credentials, subject="Muộn")
    deliver_at(node, next_week(4, 16, 59))  # both: Thursday 16:59
    assert as_utc(delivery(node, before).due_at) == next_week(4, 17)  # type: ignore[arg-type]
    late = sent(node, credentials, subject="Sau giờ")
    deliver_at(node, next_week(4, 17, 1))
    assert as_utc(delivery(node, late).due_at) == next_week(5, 17)  # type: ignore[arg-type]
    assert as_utc(delivery(node, after).due_at) == next_week(4, 17)  # type: ignore[arg-type]

    assert sweep(node, next_week(4, 17)) == 0  # due at 17:00, overdue after it
    assert sweep(node, next_week(4, 17, 0) + timedelta(microseconds=1)) == 2
    assert delivery(node, late).overdue_at is None
    assert sweep(node, next_week(5, 17, 1)) == 1
    assert len(audit_events(node, EVENT)) == 3


def test_friday_evening_and_saturday_are_due_monday_17_00(
    node: TestClient, credentials: dict
) -> None:
    friday = sent(node, credentials)
    deliver_at(node, next_week(5, 18))
    saturday = sent(node, credentials, subject="Thứ bảy")
    deliver_at(node, next_week(6, 9))
    monday_end = next_week(1, 17) + timedelta(weeks=1)
    for document_id in (friday, saturday):
        assert as_utc(delivery(node, document_id).due_at) == monday_end  # type: ignore[arg-type]
    assert sweep(node, monday_end - timedelta(minutes=1)) == 0
    assert sweep(node, monday_end + timedelta(minutes=1)) == 2


def test_a_configured_holiday_is_not_a_working_day(
    settings: Settings, clock: MovableClock, validator_pool: ValidatorPool, credentials: dict
) -> None:
    monday = (next_week(1, 12) + timedelta(weeks=1)).astimezone(ZONE).date()
    settings.deadlines.holidays = frozenset({monday})
    with _node(settings, clock, validator_pool) as c:
        document_id = sent(c, credentials)
        deliver_at(c, next_week(5, 17, 30))
        assert as_utc(delivery(c, document_id).due_at) == vn(monday + timedelta(days=1), 17)  # type: ignore[arg-type]


def test_flash_is_due_in_one_hour_and_very_urgent_in_two(
    node: TestClient, credentials: dict
) -> None:
    flash = sent(node, credentials, urgency="flash")
    very = sent(node, credentials, urgency="very_urgent", subject="Thượng khẩn")
    normal = sent(node, credentials, subject="Thường")
    at = next_week(6, 10)  # a Saturday: hours are hours
    deliver_at(node, at)
    assert as_utc(delivery(node, flash).due_at) == at + timedelta(hours=1)  # type: ignore[arg-type]
    assert as_utc(delivery(node, very).due_at) == at + timedelta(hours=2)  # type: ignore[arg-type]
    assert sweep(node, at + timedelta(minutes=59)) == 0
    assert sweep(node, at + timedelta(minutes=61)) == 1
    assert delivery(node, flash).overdue_at is not None
    assert delivery(node, very).overdue_at is None
    assert sweep(node, at + timedelta(minutes=121)) == 1
    assert delivery(node, very).overdue_at is not None
    assert delivery(node, normal).overdue_at is None


@pytest.mark.parametrize("code", ["02", "03"])
def test_answered_in_time_is_never_overdue(
    node: TestClient, clock: MovableClock, credentials: dict, code: str
) -> None:
    document_id = sent(node, credentials)
    deliver_at(node, next_week(2, 9))
    answer(node, clock, credentials, document_id, code, next_week(2, 16, 59))
    assert sweep(node, next_week(2, 17, 1)) == 0
    assert sweep(node, next_week(3, 17, 1) + timedelta(weeks=4)) == 0
    assert delivery(node, document_id).overdue_at is None
    assert audit_events(node, EVENT) == []
    assert overdue_items(node, credentials, H41) == []
    inbox = node.get("/api/v1/inbox", headers=auth(credentials, H41)).json()["items"]
    assert inbox[0]["overdue"] is False


def test_a_later_status_that_implies_receipt_answers_too(
    node: TestClient, clock: MovableClock, credentials: dict
) -> None:
    """A system reports 03 then 05 quickly; what counts is that an answer came by the due time,
    whatever the delivery's last status is when the sweep looks."""
    document_id = sent(node, credentials)
    deliver_at(node, next_week(2, 9))
    answer(node, clock, credentials, document_id, "03", next_week(2, 10))
    answer(node, clock, credentials, document_id, "05", next_week(2, 11))
    assert sweep(node, next_week(3, 9)) == 0


def test_a_recall_request_is_not_the_recipient_s_answer(
    node: TestClient, clock: MovableClock, credentials: dict
) -> None:
    document_id = sent(node, credentials)
    deliver_at(node, next_week(2, 9))
    clock.at = next_week(2, 10)
    recall = node.post(
        f"/api/v1/documents/{document_id}/statuses",
        json={"code": "13", "note": "Gửi nhầm"},
        headers=auth(credentials, G22),
    )
    assert recall.status_code == 201, recall.text
    assert sweep(node, next_week(2, 17, 1)) == 1


def test_answered_late_keeps_overdue_at_and_says_answered(
    node: TestClient, clock: MovableClock, credentials: dict
) -> None:
    document_id = sent(node, credentials)
    deliver_at(node, next_week(2, 9))
    marked_at = next_week(2, 17, 1)
    assert sweep(node, marked_at) == 1
    answer(node, clock, credentials, document_id, "03", next_week(3, 8))
    assert sweep(node, next_week(3, 17, 1)) == 0
    row = delivery(node, document_id)
    assert as_utc(row.overdue_at) == marked_at  # type: ignore[arg-type]
    assert row.status == "03"
    (item,) = overdue_items(node, credentials, H41)
    assert item["answered"] is True
    assert item["status"] == "03"
    assert item["overdue_at"] == marked_at.isoformat().replace("+00:00", "Z")
    assert overdue_items(node, credentials, H41, answered="false") == []
    assert len(overdue_items(node, credentials, H41, answered="true")) == 1
    assert len(audit_events(node, EVENT)) == 1


def test_answered_late_before_the_sweep_looked_is_still_marked(
    node: TestClient, clock: MovableClock, credentials: dict
) -> None:
    """The node was down at 17:00: an answer at 17:30 was late all the same."""
    document_id = sent(node, credentials)
    deliver_at(node, next_week(2, 9))
    answer(node, clock, credentials, document_id, "03", next_week(2, 17, 30))
    assert sweep(node, next_week(2, 18)) == 1
    assert overdue_items(node, credentials, H41)[0]["answered"] is True


def test_the_sweep_marks_once_and_records_one_event(node: TestClient, credentials: dict) -> None:
    document_id = sent(node, credentials, [H41, H26])
    deliver_at(node, next_week(2, 9))
    later = next_week(2, 17, 1)
    assert sweep(node, later) == 2
    assert sweep(node, later) == 0
    assert sweep(node, later + timedelta(days=3)) == 0
    events = audit_events(node, EVENT)
    assert sorted(str(e.agency_id) for e in events) == sorted([H41, H26])
    assert {e.document_id for e in events} == {document_id}
    assert {e.detail["due_at"] for e in events} == {
        next_week(2, 17).isoformat().replace("+00:00", "Z")
    }
    assert {e.detail["to"] for e in events} == {G22}


def test_a_sweep_takes_batches_and_says_when_more_wait(node: TestClient, credentials: dict) -> None:
    for n in range(3):
        sent(node, credentials, subject=f"Công văn {n}")
    deliver_at(node, next_week(2, 9))
    with node_of(node).db.write() as session:
        assert len(mark_overdue(session, next_week(2, 18), limit=2)) == 2
    with node_of(node).db.write() as session:
        assert len(mark_overdue(session, next_week(2, 18), limit=2)) == 1
    assert len(audit_events(node, EVENT)) == 3


def test_two_sweeps_at_once_mark_each_delivery_once(
    node: TestClient, settings: Settings, credentials: dict
) -> None:
    """Two processes' sweeps (two engines), the second starting while the first is between
    choosing its rows and marking them: each delivery is marked by one of them, one event
    each. On PostgreSQL the second commits first and the first's conditional UPDATE skips
    those rows; on SQLite the second waits for the first's write lock and finds nothing."""
    recipients = [H41, H26, I01]
    sent(node, credentials, recipients)
    deliver_at(node, next_week(2, 9))
    now = next_week(2, 18)
    first, second = (
        Database(settings.resolved_database_url),
        Database(settings.resolved_database_url),
    )
    outcome: dict[str, int] = {}

    def run_second() -> None:
        outcome["second"] = OverdueSweep(second, SystemClock(), RULE).run_once(now)

    other = threading.Thread(target=run_second)

    @event.listens_for(first.engine, "before_cursor_execute")
    def _between(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE DELIVERIES") and other.ident is None:
            other.start()
            other.join(2)  # PostgreSQL: it ends; SQLite: it waits for this transaction

    try:
        outcome["first"] = OverdueSweep(first, SystemClock(), RULE).run_once(now)
        other.join(30)
        assert not other.is_alive()
    finally:
        first.dispose()
        second.dispose()
    assert other.ident is not None, "the second sweep ran between the first's choice and mark"
    assert sorted(outcome.values()) == [0, len(recipients)]
    assert sorted(str(e.agency_id) for e in audit_events(node, EVENT)) == sorted(recipients)


# -- who sees what ---------------------------------------------------------------------------------


def test_overdue_lists_the_agency_s_own_by_side_and_the_node_s_for_admins_and_auditors(
    node: TestClient, credentials: dict
) -> None:
    to_h41 = sent(node, credentials, [H41], subject="Về việc báo cáo")
    secret = sent(node, credentials, [H41], subject="Kế hoạch mật", classification="confidential")
    deliver_at(node, next_week(2, 9))
    from_h41 = send(node, auth(credentials, H41), envelope([H26], subject="Tỉnh gửi"), pdf())
    assert from_h41.status_code == 201, from_h41.text
    deliver_at(node, next_week(2, 10))
    assert sweep(node, next_week(2, 17, 1)) == 3

    mine = {(i["document_id"], i["side"]) for i in overdue_items(node, credentials, H41)}
    assert mine == {(to_h41, "recipient"), (secret, "recipient"), (from_h41.json()["id"], "sender")}
    g22 = overdue_items(node, credentials, G22)
    assert {(i["document_id"], i["recipient_id"], i["side"]) for i in g22} == {
        (to_h41, H41, "sender"),
        (secret, H41, "sender"),
    }
    assert overdue_items(node, credentials, I01) == []  # another agency: nothing of it

    # The one access policy: the confidential subject only for readers cleared for it.
    by_id = {i["document_id"]: i for i in overdue_items(node, credentials, H41)}
    assert by_id[secret]["subject"] == "Kế hoạch mật"  # a clerk is cleared for confidential
    uncleared = {i["document_id"]: i for i in overdue_items(node, credentials, H41, "system")}
    assert uncleared[secret]["content_withheld"] is True
    assert "Kế hoạch mật" not in uncleared[secret]["subject"]
    assert uncleared[to_h41]["subject"] == "Về việc báo cáo"

    for who in ("admin", "auditor"):
        items = by_document(node, OVERDUE, auth(credentials, who))
        assert set(items) == {to_h41, secret, from_h41.json()["id"]}
        assert {i["side"] for i in items.values()} == {None}
        assert items[secret]["content_withheld"] is True  # neither is cleared for it
        assert "Kế hoạch mật" not in str(items[secret])
    admin = by_document(node, OVERDUE, auth(credentials, "admin"))
    assert admin[to_h41]["content_withheld"] is True  # an admin never reads content
    auditor = by_document(node, OVERDUE, auth(credentials, "auditor"))
    assert auditor[to_h41]["subject"] == "Về việc báo cáo"


def test_overdue_pages_by_cursor_latest_due_first(node: TestClient, credentials: dict) -> None:
    due = []
    for hour in (9, 10, 11, 12, 13):
        sent(node, credentials, urgency="flash", subject=f"Hỏa tốc {hour}")
        deliver_at(node, next_week(2, hour))
        due.append(next_week(2, hour + 1))
    assert sweep(node, next_week(2, 20)) == 5
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = node.get(OVERDUE, params=params, headers=auth(credentials, H41)).json()
        seen += [i["due_at"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [d.isoformat().replace("+00:00", "Z") for d in reversed(due)]
    bad = node.get(OVERDUE, params={"cursor": "bm90LWEtY3Vyc29y"}, headers=auth(credentials, H41))
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_cursor"


def test_overdue_without_credentials_is_401(node: TestClient) -> None:
    response = node.get(OVERDUE)
    assert response.status_code == 401


def test_the_overdue_flag_in_inbox_outbox_and_the_document(
    node: TestClient, clock: MovableClock, credentials: dict
) -> None:
    late = sent(node, credentials, [H41, H26], subject="Chậm")
    on_time = sent(node, credentials, [H41], subject="Kịp")
    deliver_at(node, next_week(2, 9))
    answer(node, clock, credentials, on_time, "03", next_week(2, 10))
    assert sweep(node, next_week(2, 17, 1)) == 2

    inbox = by_document(node, "/api/v1/inbox", auth(credentials, H41))
    assert {k: v["overdue"] for k, v in inbox.items()} == {late: True, on_time: False}
    outbox = by_document(node, "/api/v1/outbox", auth(credentials, G22))
    assert {k: v["overdue"] for k, v in outbox.items()} == {late: True, on_time: False}
    document = node.get(f"/api/v1/documents/{late}", headers=auth(credentials, G22)).json()
    assert {r["agency_id"]: r["overdue"] for r in document["recipients"]} == {H41: True, H26: True}
    own = node.get(f"/api/v1/documents/{on_time}", headers=auth(credentials, H41)).json()
    assert [r["overdue"] for r in own["recipients"]] == [False]


def test_the_node_sweeps_by_itself_where_the_dispatcher_runs(
    settings: Settings, clock: MovableClock, validator_pool: ValidatorPool, credentials: dict
) -> None:
    settings.dispatcher.enabled = True
    settings.deadlines.sweep_interval_seconds = 0.05
    with _node(settings, clock, validator_pool) as c:
        document_id = sent(c, credentials, urgency="flash")
        waited = 0
        while delivery(c, document_id).due_at is None and waited < 600:
            threading.Event().wait(0.05)
            waited += 1
        clock.at = as_utc(delivery(c, document_id).due_at) + timedelta(seconds=1)  # type: ignore[arg-type]
        while delivery(c, document_id).overdue_at is None and waited < 600:
            threading.Event().wait(0.05)
            waited += 1
        assert delivery(c, document_id).overdue_at is not None
        assert len(audit_events(c, EVENT)) == 1


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        ({"answered": "maybe"}, 422, "invalid_request"),
        ({"limit": "0"}, 422, "invalid_request"),
        ({"cursor": "%%%"}, 400, "invalid_cursor"),
    ],
)
def test_bad_overdue_queries_are_refused_audited_and_change_nothing(
    node: TestClient, credentials: dict, params: dict[str, str], status: int, error: str
) -> None:
    before = len(audit_events(node, "api:request:refused"))
    response = node.get(OVERDUE, params=params, headers=auth(credentials, H41))
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert len(audit_events(node, "api:request:refused")) == before + 1
    assert audit_events(node, EVENT) == []
