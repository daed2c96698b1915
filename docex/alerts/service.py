"""Raising, resolving, listing and acknowledging alerts.

``evaluate`` is the rules' one writer: in one transaction it raises an alert for every finding
whose key has no live alert (``alerts:alert:raised``, and one send per configured channel,
queued as jobs of the outbound queue), and resolves every live alert whose key the rules no
longer find (``alerts:alert:resolved``). An alert is therefore raised once while its condition
holds, however often the rules run; the partial unique index on live keys keeps it so when two
workers evaluate at once (the second one's transaction fails and its next pass finds nothing
new). An acknowledged alert stays acknowledged until its condition clears.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from docex.alerts import rules
from docex.alerts.models import ACKNOWLEDGED, OPEN, RESOLVED, Alert, AlertSend
from docex.alerts.schemas import AlertOut
from docex.audit import events
from docex.auth.policy import Action, Actor, authorize
from docex.config import AlertSettings
from docex.errors import AlertNotFound, AlertNotOpen
from docex.kit.clock import as_utc, rfc3339
from docex.kit.ids import uuid7
from docex.queue import jobs
from docex.vocabulary.transport import JOB_ALERT_MAIL, JOB_ALERT_WEBHOOK

WEBHOOK, MAIL = "webhook", "mail"
ALERT_RAISED_EVENT = "alert.raised"
_JOB_OF = {WEBHOOK: JOB_ALERT_WEBHOOK, MAIL: JOB_ALERT_MAIL}


def channels(settings: AlertSettings) -> list[str]:
    """Where a raised alert goes: the channels the operator configured."""
    found = []
    if settings.webhook_url and settings.webhook_secret is not None:
        found.append(WEBHOOK)
    if settings.smtp_host and settings.mail_to:
        found.append(MAIL)
    return found


def out(alert: Alert) -> AlertOut:
    title, title_en = rules.TITLES.get(alert.rule, (alert.rule, alert.rule))
    return AlertOut(
        id=alert.id,
        key=alert.key,
        rule=alert.rule,
        subject=alert.subject,
        severity=alert.severity,
        state=alert.state,
        title=title,
        title_en=title_en,
        detail=alert.detail,
        raised_at=rfc3339(as_utc(alert.raised_at)),
        resolved_at=rfc3339(as_utc(alert.resolved_at)) if alert.resolved_at else None,
        acknowledged_at=rfc3339(as_utc(alert.acknowledged_at)) if alert.acknowledged_at else None,
        acknowledged_by=alert.acknowledged_by,
        note=alert.note,
    )


def payload(alert: Alert, now: datetime) -> str:
    """The body every channel carries: the same bytes on every retry."""
    return json.dumps(
        {
            "type": ALERT_RAISED_EVENT,
            "timestamp": rfc3339(now),
            "data": out(alert).model_dump(),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def evaluate(
    session: Session,
    found: Sequence[rules.Finding],
    *,
    now: datetime,
    settings: AlertSettings,
) -> tuple[list[Alert], list[Alert]]:
    """Raise what is new, resolve what cleared; returns (raised, resolved)."""
    live = {a.key: a for a in session.scalars(select(Alert).where(Alert.resolved_at.is_(None)))}
    wanted = {f.key: f for f in found}
    raised: list[Alert] = []
    resolved: list[Alert] = []
    for key in sorted(set(live) - set(wanted)):
        alert = live[key]
        alert.state, alert.resolved_at = RESOLVED, now
        events.record(
            session,
            events.ALERT_RESOLVED,
            at=now,
            alert_id=alert.id,
            key=alert.key,
        )
        resolved.append(alert)
    sends = channels(settings)
    for key in sorted(set(wanted) - set(live)):
        finding = wanted[key]
        alert = Alert(
            id=uuid7(),
            key=key,
            rule=finding.rule,
            subject=finding.subject,
            severity=finding.severity,
            state=OPEN,
            detail=dict(finding.detail),
            raised_at=now,
        )
        session.add(alert)
        events.record(
            session,
            events.ALERT_RAISED,
            at=now,
            alert_id=alert.id,
            key=key,
            severity=finding.severity,
        )
        body = payload(alert, now)
        for channel in sends:
            send_id = uuid7()
            session.add(
                AlertSend(
                    id=send_id,
                    alert_id=alert.id,
                    channel=channel,
                    state="queued",
                    attempts=0,
                    payload=body,
                )
            )
            jobs.enqueue(session, _JOB_OF[channel], [send_id], now=now)
        raised.append(alert)
    session.flush()
    return raised, resolved


def list_alerts(session: Session, actor: Actor, *, state: str | None) -> list[Alert]:
    """Alerts newest first; ``state`` narrows them (open, acknowledged, resolved)."""
    authorize(actor, Action.READ_ALERTS)
    query = select(Alert).order_by(Alert.raised_at.desc(), Alert.id.desc()).limit(500)
    if state is not None:
        query = query.where(Alert.state == state)
    return list(session.scalars(query))


def acknowledge(
    session: Session, actor: Actor, alert_id: str, *, note: str | None, now: datetime
) -> Alert:
    """An operator says the alert is being handled; once only, and only while it is open."""
    authorize(actor, Action.ACK_ALERTS)
    alert = session.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise AlertNotFound
    if alert.state != OPEN:
        raise AlertNotOpen(f"the alert is {alert.state}, not open")
    alert.state, alert.acknowledged_at, alert.acknowledged_by = ACKNOWLEDGED, now, actor.id
    alert.note = (note.strip() or None) if note else None
    events.record(
        session,
        events.ALERT_ACKNOWLEDGED,
        at=now,
        actor_id=actor.id,
        alert_id=alert.id,
        key=alert.key,
    )
    session.flush()
    return alert
