"""Sending raised alerts: two job kinds of the one outbound queue (``alert_webhook`` and
``alert_mail``), moved by the routing worker like every other kind.

- A webhook is POSTed with the Standard Webhooks headers (``webhook-id`` = the send's id, the
  same on every retry; ``webhook-timestamp``; ``webhook-signature`` under the configured
  ``whsec_`` secret, ``docex.routing.webhooks.secrets.signature``), so a receiver verifies it
  with an existing library and drops a replay by its id.
- A mail goes over SMTP (optional STARTTLS and login) with ``Message-ID`` derived from the
  send's id, Vietnamese first and the English below.

At least once, exactly once visible: a send is marked ``sent`` and its job completed in one
transaction after the receiver accepted it; a job claimed again after a crash between the two
is sent again with the same id (the receiver deduplicates), and a job whose send is already
``sent`` is completed without sending. A send that fails is retried with backoff until the
settings' time-to-live, then left ``failed`` (a dead letter an operator may re-queue).
"""

from __future__ import annotations

import base64
import json
import logging
import smtplib
import ssl
from collections.abc import Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import httpx
from sqlalchemy import select, update

from docex.alerts.models import AlertSend
from docex.config import AlertSettings
from docex.db import Database
from docex.kit.clock import Clock
from docex.queue import jobs
from docex.queue.jobs import Claimed, RetryPolicy
from docex.routing.webhooks.secrets import PREFIX, signature
from docex.vocabulary.transport import JOB_ALERT_MAIL, JOB_ALERT_WEBHOOK

log = logging.getLogger(__name__)

SENT, FAILED = "sent", "failed"


def secret_bytes(text: str) -> bytes:
    """A ``whsec_`` secret (or its bare base64) as the bytes it stands for."""
    return base64.b64decode(text.removeprefix(PREFIX))


def mail_of(
    body: str, *, send_id: str, node_id: str, sender: str, to: Sequence[str]
) -> EmailMessage:
    """The alert as a mail: subject and text in Vietnamese, the English below."""
    data: dict[str, Any] = json.loads(body)["data"]
    detail = json.dumps(data["detail"], ensure_ascii=False, sort_keys=True)
    message = EmailMessage()
    message["Subject"] = f"[docex {node_id}] Cảnh báo: {data['title']} — {data['subject']}"
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Message-ID"] = f"<{send_id}@{node_id}.docex>"
    message["Date"] = format_datetime(datetime.fromisoformat(data["raised_at"]))
    message.set_content(
        "\n".join(
            [
                f"Cảnh báo: {data['title']}",
                f"Đối tượng: {data['subject']}",
                f"Mức độ: {'nghiêm trọng' if data['severity'] == 'critical' else 'cảnh báo'}",
                f"Thời điểm phát hiện: {data['raised_at']}",
                f"Chi tiết: {detail}",
                f"Nút: {node_id}",
                "",
                "---",
                f"Alert: {data['title_en']}",
                f"Subject: {data['subject']}",
                f"Severity: {data['severity']}",
                f"Raised at: {data['raised_at']}",
                f"Detail: {detail}",
                f"Node: {node_id}",
                f"Alert id: {data['id']}",
            ]
        )
    )
    return message


class _AlertTransport:
    kind: str
    batch_size = 20

    def __init__(
        self, db: Database, settings: AlertSettings, *, clock: Clock, node_id: str
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.node_id = node_id
        self.policy = RetryPolicy(
            base=timedelta(seconds=settings.backoff_base_seconds),
            cap=timedelta(seconds=settings.backoff_cap_seconds),
            max_attempts=None,
            ttl=timedelta(seconds=settings.ttl_seconds),
        )

    def send(self, send_id: str, body: str) -> str | None:
        """One attempt; None when the receiver accepted it, else why not."""
        raise NotImplementedError

    def close(self) -> None:
        """Nothing held between sends by default."""

    def move(self, batch: Sequence[Claimed], now: datetime) -> int:
        with self.db.read() as session:
            rows = {
                s.id: (s.state, s.payload)
                for s in session.scalars(
                    select(AlertSend).where(AlertSend.id.in_([j.ref for j in batch]))
                )
            }
        completed = 0
        for job in batch:
            state, body = rows.get(job.ref, (SENT, ""))
            # Already sent (a replay after a crash between the send and its record): done.
            error = None if state == SENT else self.send(job.ref, body)
            completed += self._record(job, error, now if error is None else self.clock.now())
        return completed

    def _record(self, job: Claimed, error: str | None, now: datetime) -> int:
        with self.db.write() as session:
            if error is None:
                if not jobs.complete(session, [job]):
                    return 0
                session.execute(
                    update(AlertSend)
                    .where(AlertSend.id == job.ref)
                    .values(state=SENT, attempts=job.attempts, last_error=None, sent_at=now)
                    .execution_options(synchronize_session=False)
                )
                return 1
            log.warning("alert send %s (%s) failed: %s", job.ref, self.kind, error)
            state = jobs.retry(session, job, error, now=now, policy=self.policy)
            if state is not None:
                session.execute(
                    update(AlertSend)
                    .where(AlertSend.id == job.ref)
                    .values(
                        state=FAILED if state == jobs.FAILED else AlertSend.state,
                        attempts=job.attempts,
                        last_error=error[:500],
                    )
                    .execution_options(synchronize_session=False)
                )
        return 0


class AlertWebhookTransport(_AlertTransport):
    kind = JOB_ALERT_WEBHOOK

    def __init__(
        self, db: Database, settings: AlertSettings, *, clock: Clock, node_id: str
    ) -> None:
        super().__init__(db, settings, clock=clock, node_id=node_id)
        # Never through a proxy from the environment; the URL is the operator's own.
        self._http = httpx.Client(follow_redirects=False, trust_env=False)

    def close(self) -> None:
        self._http.close()

    def send(self, send_id: str, body: str) -> str | None:
        url, secret = self.settings.webhook_url, self.settings.webhook_secret
        if url is None or secret is None:
            return "no alert webhook is configured"
        timestamp = int(self.clock.now().timestamp())
        content = body.encode()
        headers = {
            "content-type": "application/json",
            "user-agent": "docex-alerts",
            "webhook-id": send_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(
                secret_bytes(secret.get_secret_value()), send_id, timestamp, content
            ),
        }
        try:
            response = self._http.post(
                url, content=content, headers=headers, timeout=self.settings.timeout_seconds
            )
        except httpx.TimeoutException:
            return "timed out"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {str(exc)[:200]}"
        if 200 <= response.status_code < 300:
            return None
        return f"answered HTTP {response.status_code}"


class AlertMailTransport(_AlertTransport):
    kind = JOB_ALERT_MAIL

    def send(self, send_id: str, body: str) -> str | None:
        settings = self.settings
        if settings.smtp_host is None or not settings.mail_to:
            return "no alert mail is configured"
        message = mail_of(
            body,
            send_id=send_id,
            node_id=self.node_id,
            sender=settings.mail_from,
            to=settings.mail_to,
        )
        try:
            with smtplib.SMTP(
                settings.smtp_host, settings.smtp_port, timeout=settings.timeout_seconds
            ) as smtp:
                if settings.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if settings.smtp_username and settings.smtp_password is not None:
                    smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            return f"{type(exc).__name__}: {str(exc)[:200]}"
        return None
