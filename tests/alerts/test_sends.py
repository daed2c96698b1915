"""A raised alert reaches a real SMTP server (aiosmtpd on 127.0.0.1) and a real webhook
receiver once, signed so that the `standardwebhooks` package verifies it; not again when the
rules run again, when the worker restarts, nor when a job is replayed after a crash between
the send and its record (the queue's idempotency)."""

from __future__ import annotations

import base64
import os
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from docex.alerts.models import AlertSend
from docex.app import create_app
from docex.config import Settings
from docex.queue import jobs
from docex.signing.sandbox import ValidatorPool
from docex.vocabulary.transport import JOB_ALERT_MAIL, JOB_ALERT_WEBHOOK
from tests.alerts.conftest import MovableClock, watch_of
from tests.alerts.test_rules import PEER, fork
from tests.helpers import node_of
from tests.routing.receiver import Receiver, receiving

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


@pytest.fixture
def settings(settings: Settings, mailbox: tuple[Mailbox, int], receiver: Receiver) -> Settings:
    settings.alerts.webhook_url = receiver.url
    settings.alerts.webhook_secret = SecretStr(SECRET)
    settings.alerts.smtp_host = "127.0.0.1"
    settings.alerts.smtp_port = mailbox[1]
    settings.alerts.mail_to = ["trungtam@giamsat.gov.vn"]
    settings.alerts.mail_from = "docex@hub.gov.vn"
    settings.alerts.timeout_seconds = 5
    return settings


def sends(c: TestClient) -> int:
    return node_of(c).worker.run_once(JOB_ALERT_WEBHOOK) + node_of(c).worker.run_once(
        JOB_ALERT_MAIL
    )


def test_a_raised_alert_reaches_the_mail_server_and_the_webhook_once(
    node: TestClient,
    clock: MovableClock,
    mailbox: tuple[Mailbox, int],
    receiver: Receiver,
    settings: Settings,
    validator_pool: ValidatorPool,
) -> None:
    fork(node, clock)
    raised, _ = watch_of(node).run_once()
    assert raised == [f"witness_fork:{PEER}"]
    assert sends(node) == 2

    assert len(receiver.accepted()) == 1
    hook = receiver.accepted()[0]
    verified: Any = Webhook(SECRET).verify(hook.body, hook.headers)
    assert verified["type"] == "alert.raised"
    assert verified["data"]["key"] == f"witness_fork:{PEER}"
    assert verified["data"]["severity"] == "critical"

    box = mailbox[0]
    assert len(box.messages) == 1
    mail = box.messages[0]
    assert mail["To"] == "trungtam@giamsat.gov.vn"
    assert "Cảnh báo: Nhật ký kiểm toán bị rẽ nhánh" in mail["Subject"]
    text = mail.get_content()
    assert text.index("Đối tượng: " + PEER) < text.index("Alert: Audit log fork seen by a witness")

    # The rules again, the worker again: nothing new.
    assert watch_of(node).run_once() == ([], [])
    assert sends(node) == 0
    with node_of(node).db.read() as session:
        rows = session.scalars(select(AlertSend)).all()
    assert sorted((r.channel, r.state) for r in rows) == [("mail", "sent"), ("webhook", "sent")]

    # A crash between a send and its record leaves the job behind: replayed, it is not sent.
    with node_of(node).db.write() as session:
        for row in rows:
            kind = JOB_ALERT_WEBHOOK if row.channel == "webhook" else JOB_ALERT_MAIL
            jobs.enqueue(session, kind, [row.id], now=clock.now())
    assert sends(node) == 2  # completed
    # And a restarted node (a new worker on the same database) has nothing to send.
    node.close()
    restarted = create_app(settings, clock=clock, validators=validator_pool)
    with TestClient(restarted, raise_server_exceptions=False) as again:
        assert sends(again) == 0
        assert watch_of(again).run_once() == ([], [])
    assert len(receiver.accepted()) == 1
    assert len(box.messages) == 1


def test_a_mail_server_that_is_down_is_retried_until_it_answers(
    node: TestClient, clock: MovableClock, mailbox: tuple[Mailbox, int], settings: Settings
) -> None:
    settings.alerts.smtp_port = free_port()  # nothing listens there
    fork(node, clock)
    watch_of(node).run_once()
    assert node_of(node).worker.run_once(JOB_ALERT_MAIL) == 0
    with node_of(node).db.read() as session:
        row = session.scalars(select(AlertSend).where(AlertSend.channel == "mail")).one()
    assert (row.state, row.attempts) == ("queued", 1)
    assert row.last_error
    settings.alerts.smtp_port = mailbox[1]
    worker = node_of(node).worker
    later = clock.now() + jobs.RetryPolicy().cap
    assert worker.move(JOB_ALERT_MAIL, worker.claim(JOB_ALERT_MAIL, later), later) == 1
    assert len(mailbox[0].messages) == 1
