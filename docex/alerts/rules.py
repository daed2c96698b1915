"""The early-warning rules. Each reads the node's state at ``now`` and returns a ``Finding``
per subject whose condition holds; none writes anything. A rule's subject is stable (a node
id, an agency code, a queue kind, a certificate's key id, a peer), so the alert it raises has a
stable key and is raised once while the condition lasts (``docex.alerts.service``).

- ``node_silent``: a peer node of the directory with no successful exchange (a transfer sent to
  it, or one accepted from it) for ``node_silent_minutes``; never exchanged with: counted from
  when the directory first listed it.
- ``due_soon``: the early warning proper: an agency holding urgent, very urgent or flash
  deliveries not yet answered whose due time (``docex.routing.deadlines``) comes within
  ``due_soon_minutes``, so the centre can call the unit before the deadline is missed.
- ``overdue_urgent``: an agency holding urgent, very urgent or flash deliveries past their due
  time and still not answered.
- ``queue_age``: the outbound queue's oldest job of a kind older than ``queue_age_minutes``
  (the alerts' own sends left out: a mail server that is down must not alert about itself).
- ``certificate_expiring``: a certificate the node uses that ``docex.keys.inventory.expiry``
  calls expiring (within 30 days) or expired: the one 30-day rule.
- ``checkpoint_uncosigned``: on a node with peers (witnesses), a signed checkpoint of the audit
  log older than ``checkpoint_cosign_minutes`` that no witness has cosigned, nor any later one.
- ``witness_fork``: this node, witnessing a peer's audit log, saw it fork.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docex.audit.models import Checkpoint, Cosignature
from docex.config import AlertSettings
from docex.documents.models import Delivery, Document
from docex.federation.models import FederationNode, InboundTransfer, Transfer, WitnessState
from docex.keys.inventory import CertificateLine, Expiry
from docex.kit.clock import as_utc, rfc3339
from docex.queue import jobs
from docex.queue.models import Job
from docex.routing.deadlines import ANSWERS
from docex.routing.models import Receipt
from docex.vocabulary.transport import DELIVERED, JOB_ALERT_MAIL, JOB_ALERT_WEBHOOK

NODE_SILENT: Final = "node_silent"
DUE_SOON: Final = "due_soon"
OVERDUE_URGENT: Final = "overdue_urgent"
QUEUE_AGE: Final = "queue_age"
CERTIFICATE_EXPIRING: Final = "certificate_expiring"
CHECKPOINT_UNCOSIGNED: Final = "checkpoint_uncosigned"
WITNESS_FORK: Final = "witness_fork"
RULES: Final = (
    NODE_SILENT,
    DUE_SOON,
    OVERDUE_URGENT,
    QUEUE_AGE,
    CERTIFICATE_EXPIRING,
    CHECKPOINT_UNCOSIGNED,
    WITNESS_FORK,
)

WARNING, CRITICAL = "warning", "critical"
URGENT_LEVELS: Final = ("urgent", "very_urgent", "flash")

# What each rule's alert says, Vietnamese first (the mail, the web) and English.
TITLES: Final[dict[str, tuple[str, str]]] = {
    NODE_SILENT: ("Nút mạng không liên lạc", "Peer node silent"),
    DUE_SOON: ("Văn bản khẩn sắp đến hạn", "Urgent documents due soon"),
    OVERDUE_URGENT: ("Văn bản khẩn quá hạn", "Overdue urgent documents"),
    QUEUE_AGE: ("Hàng đợi gửi đi bị ứ đọng", "Outbound queue backed up"),
    CERTIFICATE_EXPIRING: ("Chứng thư số sắp hết hạn", "Certificate expiring"),
    CHECKPOINT_UNCOSIGNED: ("Điểm kiểm tra chưa được đồng ký", "Checkpoint not cosigned"),
    WITNESS_FORK: ("Nhật ký kiểm toán bị rẽ nhánh", "Audit log fork seen by a witness"),
}

Certificates = Callable[[datetime], Sequence[CertificateLine]]


@dataclass(frozen=True)
class Finding:
    rule: str
    subject: str
    severity: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.rule}:{self.subject}"


def node_silent(
    session: Session, now: datetime, settings: AlertSettings, *, node_id: str
) -> list[Finding]:
    limit = now - timedelta(minutes=settings.node_silent_minutes)
    sent = dict(
        session.execute(
            select(Transfer.peer, func.max(Transfer.sent_at))
            .where(Transfer.sent_at.is_not(None))
            .group_by(Transfer.peer)
        ).all()
    )
    received = dict(
        session.execute(
            select(InboundTransfer.from_node, func.max(InboundTransfer.received_at)).group_by(
                InboundTransfer.from_node
            )
        ).all()
    )
    found = []
    peers = session.execute(
        select(FederationNode.id, FederationNode.updated_at).where(FederationNode.id != node_id)
    ).all()
    for peer, listed_at in peers:
        seen = [as_utc(t) for t in (sent.get(peer), received.get(peer)) if t is not None]
        last = max(seen) if seen else None
        if (last or as_utc(listed_at)) < limit:
            found.append(
                Finding(
                    NODE_SILENT,
                    peer,
                    CRITICAL,
                    {"last_exchange": rfc3339(last) if last else None},
                )
            )
    return found


def _unanswered_urgent(
    session: Session, after: datetime | None, before: datetime
) -> dict[str, dict[str, Any]]:
    """Per recipient agency: its delivered, unanswered urgent deliveries due in [after, before),
    counted by urgency, with the earliest due time."""
    answered = (
        select(Receipt.id)
        .where(Receipt.delivery_id == Delivery.id, Receipt.code.in_(ANSWERS))
        .exists()
    )
    due = [Delivery.due_at < before] + ([Delivery.due_at >= after] if after is not None else [])
    rows = session.execute(
        select(Delivery.recipient_id, Document.urgency, func.count(), func.min(Delivery.due_at))
        .join(Document, Document.id == Delivery.document_id)
        .where(
            Delivery.transport == DELIVERED,
            *due,
            Document.urgency.in_(URGENT_LEVELS),
            ~answered,
        )
        .group_by(Delivery.recipient_id, Document.urgency)
    ).all()
    by_agency: dict[str, dict[str, Any]] = {}
    for agency_id, urgency, count, first_due in rows:
        earliest = as_utc(first_due or before)  # not NULL: selected on due_at < before
        entry = by_agency.setdefault(agency_id, {"counts": {}, "due": earliest})
        entry["counts"][urgency] = int(count)
        entry["due"] = min(entry["due"], earliest)
    return by_agency


def _severity(counts: dict[str, int]) -> str:
    return CRITICAL if set(counts) & {"flash", "very_urgent"} else WARNING


def due_soon(session: Session, now: datetime, settings: AlertSettings) -> list[Finding]:
    horizon = now + timedelta(minutes=settings.due_soon_minutes)
    return [
        Finding(
            DUE_SOON,
            agency_id,
            WARNING,
            {"counts": entry["counts"], "next_due": rfc3339(entry["due"])},
        )
        for agency_id, entry in sorted(_unanswered_urgent(session, now, horizon).items())
    ]


def overdue_urgent(session: Session, now: datetime) -> list[Finding]:
    return [
        Finding(
            OVERDUE_URGENT,
            agency_id,
            _severity(entry["counts"]),
            {"counts": entry["counts"], "oldest_due": rfc3339(entry["due"])},
        )
        for agency_id, entry in sorted(_unanswered_urgent(session, None, now).items())
    ]


def queue_age(session: Session, now: datetime, settings: AlertSettings) -> list[Finding]:
    limit = now - timedelta(minutes=settings.queue_age_minutes)
    rows = session.execute(
        select(Job.kind, func.min(Job.queued_at), func.count())
        .where(Job.state == jobs.QUEUED, Job.kind.not_in([JOB_ALERT_WEBHOOK, JOB_ALERT_MAIL]))
        .group_by(Job.kind)
    ).all()
    return [
        Finding(QUEUE_AGE, kind, WARNING, {"oldest": rfc3339(as_utc(oldest)), "queued": count})
        for kind, oldest, count in sorted(rows)
        if as_utc(oldest) < limit
    ]


def certificate_expiring(lines: Sequence[CertificateLine]) -> list[Finding]:
    return [
        Finding(
            CERTIFICATE_EXPIRING,
            line.key_id,
            CRITICAL if line.expiry is Expiry.EXPIRED else WARNING,
            {
                "subject": line.subject,
                "not_after": rfc3339(line.not_after),
                "days_left": line.days_left,
            },
        )
        for line in lines
        if line.expiry in (Expiry.EXPIRING, Expiry.EXPIRED)
    ]


def checkpoint_uncosigned(
    session: Session, now: datetime, settings: AlertSettings, *, node_id: str
) -> list[Finding]:
    has_peers = session.scalar(
        select(func.count()).select_from(FederationNode).where(FederationNode.id != node_id)
    )
    if not has_peers:
        return []  # no witness to cosign: nothing is late
    cosigned = session.scalar(select(func.max(Cosignature.tree_size))) or 0
    limit = now - timedelta(minutes=settings.checkpoint_cosign_minutes)
    oldest = session.execute(
        select(Checkpoint.tree_size, Checkpoint.created_at)
        .where(Checkpoint.tree_size > cosigned, Checkpoint.created_at < limit)
        .order_by(Checkpoint.tree_size)
        .limit(1)
    ).first()
    if oldest is None:
        return []
    return [
        Finding(
            CHECKPOINT_UNCOSIGNED,
            "audit_log",
            WARNING,
            {
                "tree_size": int(oldest.tree_size),
                "created_at": rfc3339(as_utc(oldest.created_at)),
                "last_cosigned_size": int(cosigned),
            },
        )
    ]


def witness_fork(session: Session, now: datetime) -> list[Finding]:
    rows = session.execute(
        select(WitnessState.peer, WitnessState.fork_at, WitnessState.fork_reason)
        .where(WitnessState.fork_at.is_not(None))
        .order_by(WitnessState.peer)
    ).all()
    return [
        Finding(
            WITNESS_FORK,
            peer,
            CRITICAL,
            {"fork_at": rfc3339(as_utc(fork_at or now)), "reason": (reason or "")[:500]},
        )
        for peer, fork_at, reason in rows
    ]


def findings(
    session: Session,
    now: datetime,
    settings: AlertSettings,
    *,
    node_id: str,
    certificates: Certificates,
) -> list[Finding]:
    """Everything every rule finds at ``now``."""
    return [
        *node_silent(session, now, settings, node_id=node_id),
        *due_soon(session, now, settings),
        *overdue_urgent(session, now),
        *queue_age(session, now, settings),
        *certificate_expiring(certificates(now)),
        *checkpoint_uncosigned(session, now, settings, node_id=node_id),
        *witness_fork(session, now),
    ]
