"""Per agency and Vietnam day, what the supervision centre watches; summed over a period.

Where each figure comes from, and the day it counts on (the Vietnam day, UTC+7, of that time):

- ``sent``: documents the agency sent (``Document.created_at``).
- ``received``: deliveries to it that reached its inbox, 01 (``Delivery.delivered_at``).
- ``accepted`` / ``returned``: its 03 / 02 (the receipt's ``created_at``), one per delivery.
- ``overdue``: deliveries to it that the deadline sweep marked (``Delivery.overdue_at``,
  ``docex.routing.deadlines``: not answered by the end of the working day, or within 1–2 hours
  for flash and very urgent documents).
- ``failed``: deliveries of its documents given up on (``transport = failed``, the delivery's
  ``updated_at``).
- ``signature_refusals``: its sends refused for their PDF's signatures: the audit events
  ``api:request:refused`` whose ``error`` is a signature indication (``docex.signing``), by the
  agency of the refused actor.
- ``to_01``: for its documents, seconds from ``created_at`` to each recipient's 01; ``to_03``:
  for deliveries to it, seconds from ``delivered_at`` to its 03 (on the day of the 01 / 03).

A node knows all of this only for the agencies it hosts: its sends, the 01s that come back to
it and the deliveries to its agencies are its own. Rows of agencies hosted elsewhere come from
the day rows their node pushed (``docex.stats.models.CollectedDay``, at the hub): an agency that
has any such row is read from them only, never from what this node saw of it in passing.

Medians and p90s are computed over the raw latencies of the whole period (never a median of
daily medians): the median of an even count is the mean of the two middle values, the p90 the
nearest-rank value (the ⌈0.9·n⌉-th smallest).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from docex.agencies.models import Agency, GroupMember
from docex.audit import events
from docex.audit.models import AuditEvent
from docex.documents.models import Delivery, Document
from docex.kit.clock import VIETNAM_TZ, as_utc
from docex.routing.models import Receipt
from docex.signing.validation.report import Indication
from docex.stats.models import CollectedDay
from docex.stats.rows import AgencyRow, DayPoint
from docex.vocabulary import statuses
from docex.vocabulary.transport import FAILED

__all__ = [
    "SIGNATURE_REFUSALS",
    "AgencyRow",
    "DayFigures",
    "DayPoint",
    "agency_rows",
    "daily_series",
    "local_days",
    "median",
    "p90",
    "province_of",
    "vietnam_day",
]

# The refusal codes that are a PDF's signatures failing the policy (not a missing or broken file).
SIGNATURE_REFUSALS = frozenset(
    {i.value for i in Indication}
    - {Indication.OK, Indication.NOT_A_PDF, Indication.INVALID_PDF, Indication.ENCRYPTED_PDF}
    - {Indication.RESOURCE_LIMIT}
)

_Query = TypeVar("_Query", bound=Select[*tuple[Any, ...]])


@dataclass
class DayFigures:
    """One agency's figures for one day, with the raw latencies (seconds)."""

    sent: int = 0
    received: int = 0
    accepted: int = 0
    returned: int = 0
    overdue: int = 0
    failed: int = 0
    signature_refusals: int = 0
    to_01: list[float] = field(default_factory=list)
    to_03: list[float] = field(default_factory=list)

    def add(self, other: DayFigures) -> None:
        self.sent += other.sent
        self.received += other.received
        self.accepted += other.accepted
        self.returned += other.returned
        self.overdue += other.overdue
        self.failed += other.failed
        self.signature_refusals += other.signature_refusals
        self.to_01.extend(other.to_01)
        self.to_03.extend(other.to_03)

    def canonical(self) -> dict[str, object]:
        """The figures as the wire and the digests carry them (latencies sorted)."""
        return {
            "sent": self.sent,
            "received": self.received,
            "accepted": self.accepted,
            "returned": self.returned,
            "overdue": self.overdue,
            "failed": self.failed,
            "signature_refusals": self.signature_refusals,
            "to_01": sorted(self.to_01),
            "to_03": sorted(self.to_03),
        }


def vietnam_day(at: datetime) -> date:
    return as_utc(at).astimezone(VIETNAM_TZ).date()


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """UTC instants [from, to) covering the Vietnam days start..end."""
    low = datetime.combine(start, time(), tzinfo=VIETNAM_TZ).astimezone(UTC)
    high = datetime.combine(end + timedelta(days=1), time(), tzinfo=VIETNAM_TZ).astimezone(UTC)
    return low, high


def median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def p90(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[max(1, math.ceil(0.9 * len(ordered))) - 1])


def _seconds(later: datetime, earlier: datetime) -> float:
    return (as_utc(later) - as_utc(earlier)).total_seconds()


def local_days(
    session: Session, *, start: date, end: date, agencies: Iterable[str] | None = None
) -> dict[tuple[str, date], DayFigures]:
    """(agency, day) → figures from this node's own data, for ``agencies`` (None: every agency
    with data). Only days with something in them are present."""
    low, high = _bounds(start, end)
    wanted = set(agencies) if agencies is not None else None
    days: dict[tuple[str, date], DayFigures] = defaultdict(DayFigures)

    def keep(agency_id: str | None) -> bool:
        return agency_id is not None and (wanted is None or agency_id in wanted)

    def limit(query: _Query, column: InstrumentedAttribute[Any]) -> _Query:
        return query if wanted is None else query.where(column.in_(wanted))

    for sender_id, created_at in session.execute(
        limit(
            select(Document.sender_id, Document.created_at).where(
                Document.created_at >= low, Document.created_at < high
            ),
            Document.sender_id,
        )
    ):
        days[sender_id, vietnam_day(created_at)].sent += 1

    for recipient_id, delivered_at in session.execute(
        limit(
            select(Delivery.recipient_id, Delivery.delivered_at).where(
                Delivery.delivered_at >= low, Delivery.delivered_at < high
            ),
            Delivery.recipient_id,
        )
    ):
        if delivered_at is not None:
            days[recipient_id, vietnam_day(delivered_at)].received += 1

    for recipient_id, overdue_at in session.execute(
        limit(
            select(Delivery.recipient_id, Delivery.overdue_at).where(
                Delivery.overdue_at >= low, Delivery.overdue_at < high
            ),
            Delivery.recipient_id,
        )
    ):
        if overdue_at is not None:
            days[recipient_id, vietnam_day(overdue_at)].overdue += 1

    for sender_id, updated_at in session.execute(
        limit(
            select(Document.sender_id, Delivery.updated_at)
            .join(Document, Document.id == Delivery.document_id)
            .where(
                Delivery.transport == FAILED,
                Delivery.updated_at >= low,
                Delivery.updated_at < high,
            ),
            Document.sender_id,
        )
    ):
        days[sender_id, vietnam_day(updated_at)].failed += 1

    # 01 back to the sender: the earliest 01 of each delivery (a replayed 01 is one).
    first_01: dict[str, tuple[str, datetime, datetime]] = {}
    for delivery_id, sender_id, created_at, at in session.execute(
        limit(
            select(Receipt.delivery_id, Document.sender_id, Document.created_at, Receipt.created_at)
            .join(Document, Document.id == Receipt.document_id)
            .where(
                Receipt.code == statuses.ARRIVED,
                Receipt.created_at >= low,
                Receipt.created_at < high,
            ),
            Document.sender_id,
        )
    ):
        known = first_01.get(delivery_id)
        if known is None or as_utc(at) < as_utc(known[2]):
            first_01[delivery_id] = (sender_id, created_at, at)
    for sender_id, created_at, at in first_01.values():
        figures = days[sender_id, vietnam_day(at)]
        figures.to_01.append(_seconds(at, created_at))

    # 02 and 03 given by the recipient: one per delivery (the first of each code).
    answers: dict[tuple[str, str], tuple[str, datetime, datetime | None]] = {}
    for delivery_id, code, from_id, at, delivered_at in session.execute(
        limit(
            select(
                Receipt.delivery_id,
                Receipt.code,
                Receipt.from_agency_id,
                Receipt.created_at,
                Delivery.delivered_at,
            )
            .join(Delivery, Delivery.id == Receipt.delivery_id)
            .where(
                Receipt.code.in_((statuses.REJECTED, statuses.ACCEPTED)),
                Receipt.from_agency_id == Delivery.recipient_id,
                Receipt.created_at >= low,
                Receipt.created_at < high,
            ),
            Receipt.from_agency_id,
        )
    ):
        known_answer = answers.get((delivery_id, code))
        if known_answer is None or as_utc(at) < as_utc(known_answer[1]):
            answers[delivery_id, code] = (from_id, at, delivered_at)
    for (_delivery, code), (from_id, at, delivered_at) in answers.items():
        figures = days[from_id, vietnam_day(at)]
        if code == statuses.REJECTED:
            figures.returned += 1
        else:
            figures.accepted += 1
            if delivered_at is not None:
                figures.to_03.append(_seconds(at, delivered_at))

    for agency_id, at, detail in session.execute(
        limit(
            select(AuditEvent.agency_id, AuditEvent.at, AuditEvent.detail).where(
                AuditEvent.event == events.REQUEST_REFUSED,
                AuditEvent.at >= low,
                AuditEvent.at < high,
                AuditEvent.agency_id.is_not(None),
            ),
            AuditEvent.agency_id,
        )
    ):
        error = detail.get("error") if isinstance(detail, Mapping) else None
        if keep(agency_id) and error in SIGNATURE_REFUSALS:
            days[agency_id, vietnam_day(at)].signature_refusals += 1

    return {key: value for key, value in days.items() if keep(key[0])}


def collected_days(
    session: Session, *, start: date, end: date, agencies: Iterable[str] | None = None
) -> dict[tuple[str, date], DayFigures]:
    """(agency, day) → the figures the agency's hosting node pushed here."""
    query = (
        select(CollectedDay)
        .join(Agency, Agency.id == CollectedDay.agency_id)
        .where(
            CollectedDay.node_id == Agency.node_id,
            CollectedDay.day >= start,
            CollectedDay.day <= end,
        )
    )
    if agencies is not None:
        query = query.where(CollectedDay.agency_id.in_(set(agencies)))
    found: dict[tuple[str, date], DayFigures] = {}
    for row in session.scalars(query):
        found[row.agency_id, row.day] = DayFigures(
            sent=row.sent,
            received=row.received,
            accepted=row.accepted,
            returned=row.returned,
            overdue=row.overdue,
            failed=row.failed,
            signature_refusals=row.signature_refusals,
            to_01=[float(v) for v in row.to_01],
            to_03=[float(v) for v in row.to_03],
        )
    return found


def _collected_agencies(session: Session) -> set[str]:
    """Agencies whose hosting node has pushed rows here (read from those rows only)."""
    return set(
        session.scalars(
            select(CollectedDay.agency_id)
            .join(Agency, Agency.id == CollectedDay.agency_id)
            .where(CollectedDay.node_id == Agency.node_id)
            .distinct()
        )
    )


def province_of(agency_id: str, parents: Mapping[str, str | None]) -> str | None:
    """The province-level agency (code ``000.00.00.Hnn``) at or above ``agency_id`` in the
    registry tree; None for an agency under no province (a ministry, the Government Office)."""
    seen: set[str] = set()
    current: str | None = agency_id
    while current is not None and current not in seen:
        if _is_province(current):
            return current
        seen.add(current)
        current = parents.get(current)
    return None


def _is_province(code: str) -> bool:
    parts = code.split(".")
    return len(parts) == 4 and parts[:3] == ["000", "00", "00"] and parts[3].startswith("H")


@dataclass(frozen=True)
class _Agency:
    id: str
    name: str
    node_id: str | None
    province: str | None


def _agencies(
    session: Session,
    *,
    group: str | None,
    agency_id: str | None,
    province: str | None,
) -> list[_Agency]:
    rows = session.execute(select(Agency.id, Agency.name, Agency.node_id, Agency.parent_id)).all()
    parents = {row.id: row.parent_id for row in rows}
    members: set[str] | None = None
    if group is not None:
        members = set(
            session.scalars(select(GroupMember.agency_id).where(GroupMember.group_name == group))
        )
    found = []
    for row in sorted(rows, key=lambda r: r.id):
        if agency_id is not None and row.id != agency_id:
            continue
        if members is not None and row.id not in members:
            continue
        home = province_of(row.id, parents)
        if province is not None and home != province:
            continue
        found.append(_Agency(row.id, row.name, row.node_id, home))
    return found


def _days(
    session: Session, *, start: date, end: date, agencies: list[_Agency], here: str | None
) -> dict[tuple[str, date], DayFigures]:
    ids = {a.id for a in agencies}
    collected = _collected_agencies(session) & ids
    local = {a.id for a in agencies if a.id not in collected and here in (None, a.node_id)}
    days: dict[tuple[str, date], DayFigures] = {}
    if local:
        days.update(local_days(session, start=start, end=end, agencies=local))
    if collected:
        days.update(collected_days(session, start=start, end=end, agencies=collected))
    return days


def agency_rows(
    session: Session,
    *,
    start: date,
    end: date,
    group: str | None = None,
    agency_id: str | None = None,
    province: str | None = None,
    here: str | None = None,
) -> list[AgencyRow]:
    """One row per agency of the registry (filtered by ``group``, ``agency_id``, ``province``)
    over the Vietnam days ``start``..``end`` (both included), by agency id.

    ``here`` is this node's id: agencies hosted elsewhere that never pushed rows here are then
    zeros rather than what this node saw of them in passing (None: computed from local data)."""
    agencies = _agencies(session, group=group, agency_id=agency_id, province=province)
    days = _days(session, start=start, end=end, agencies=agencies, here=here)
    totals: dict[str, DayFigures] = defaultdict(DayFigures)
    for (agency, _day), figures in days.items():
        totals[agency].add(figures)
    rows = []
    for one in agencies:
        total = totals.get(one.id) or DayFigures()
        rows.append(
            AgencyRow(
                agency_id=one.id,
                name=one.name,
                node_id=one.node_id,
                province=one.province,
                sent=total.sent,
                received=total.received,
                accepted=total.accepted,
                returned=total.returned,
                overdue=total.overdue,
                failed=total.failed,
                signature_refusals=total.signature_refusals,
                median_to_01_s=median(total.to_01),
                p90_to_01_s=p90(total.to_01),
                median_to_03_s=median(total.to_03),
                p90_to_03_s=p90(total.to_03),
            )
        )
    return rows


def daily_series(
    session: Session,
    *,
    start: date,
    end: date,
    agency_id: str | None = None,
    here: str | None = None,
) -> list[DayPoint]:
    """One point per Vietnam day ``start``..``end`` (every day, zeros included): the sums over
    the agencies (or the one ``agency_id``) and the median of the day's latencies to 03."""
    agencies = _agencies(session, group=None, agency_id=agency_id, province=None)
    days = _days(session, start=start, end=end, agencies=agencies, here=here)
    per_day: dict[date, DayFigures] = defaultdict(DayFigures)
    for (_agency, day), figures in days.items():
        per_day[day].add(figures)
    points = []
    day = start
    while day <= end:
        total = per_day.get(day) or DayFigures()
        points.append(
            DayPoint(
                day=day,
                sent=total.sent,
                received=total.received,
                overdue=total.overdue,
                median_to_03_s=median(total.to_03),
            )
        )
        day += timedelta(days=1)
    return points
