"""Helpers shared by the API tests: who is who in the demo network, sending, counting."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from docex.audit.models import AuditEvent
from docex.auth.service import authenticate
from docex.bootstrap import DEMO_AGENCIES
from docex.documents.models import Delivery, Document, DocumentFile
from docex.errors import Unauthenticated
from docex.kit.samplepdf import sample_pdf
from docex.node import Node
from docex.routing.models import Receipt
from tests.fixtures import FIXTURES, fixture_files

__all__ = ["FIXTURES", "fixture_files"]  # re-exported: tests import them from here too

G22 = "000.00.00.G22"  # Government Office
I01 = "000.00.00.I01"  # Fatherland Front
A01 = "000.00.00.A01"  # a Party body
H41 = "000.00.00.H41"  # Nghệ An
H26 = "000.00.00.H26"  # Hà Nội
C1 = "001.00.41.H41"  # a commune of Nghệ An
C2 = "002.00.41.H41"


def token(credentials: dict[str, Any], who: str, role: str = "clerk") -> str:
    if who in ("auditor", "admin", "supervisor"):
        return str(credentials[who]["token"])
    return str(credentials["agencies"][who][role]["token"])


def auth(credentials: dict[str, Any], who: str, role: str = "clerk") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(credentials, who, role)}"}


def envelope(recipients: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "recipients": recipients if recipients is not None else [H41],
        "subject": "Về việc triển khai thử nghiệm docex",
        "code": {"number": "12", "notation": "VPCP-TTĐT"},
    }
    body.update(fields)
    return body


class Unsigned(bytes):
    """A sample PDF that ``send`` signs (leader, then agency seal) as the sender would."""

    signed: dict[str, bytes]

    def __new__(cls, data: bytes) -> Unsigned:
        self = super().__new__(cls, data)
        self.signed = {}
        return self


LEADERS = {code: f"lanhdao.{stem}" for code, _name, _kind, _parent, stem in DEMO_AGENCIES}


def sign_as(client: TestClient, agency: str, data: bytes) -> bytes:
    """Signed the Decree 30 way, with the node's demo keys: the leader signs, the clerk seals."""
    signatures = node_of(client).signatures
    now = node_of(client).clock.now()
    signed = signatures.sign(
        io.BytesIO(data), role="signer", agency_id=agency, username=LEADERS[agency], now=now
    ).data
    return signatures.sign(
        io.BytesIO(signed), role="seal", agency_id=agency, username=None, now=now
    ).data


def _agency_of(client: TestClient, headers: dict[str, str]) -> str | None:
    """Whose token this is, read from the database (not the API: that would be audited)."""
    scheme, _, secret = headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not secret:
        return None
    node = node_of(client)
    with node.db.read() as session:
        try:
            return authenticate(session, secret, now=node.clock.now()).agency_id
        except Unauthenticated:
            return None


def send(
    client: TestClient,
    headers: dict[str, str],
    env: dict[str, Any] | str | bytes | None = None,
    main: bytes | None = None,
    *,
    main_name: str = "cong-van.pdf",
    attachments: list[tuple[str, bytes]] | None = None,
) -> Response:
    if isinstance(main, Unsigned) and (agency := _agency_of(client, headers)) in LEADERS:
        # Signed once per sender: sending it again is an idempotent retry of the same bytes.
        if agency not in main.signed:
            main.signed[agency] = sign_as(client, agency, main)
        main = main.signed[agency]
    files: list[tuple[str, tuple[str | None, bytes | str, str]]] = []
    if env is not None:
        raw = env if isinstance(env, str | bytes) else json.dumps(env)
        files.append(("envelope", (None, raw, "application/json")))
    if main is not None:
        files.append(("main", (main_name, main, "application/pdf")))
    for name, data in attachments or []:
        files.append(("attachment", (name, data, "application/octet-stream")))
    response: Response = client.post("/api/v1/documents", files=files, headers=headers)
    return response


def as_sent(data: bytes) -> bytes:
    """The bytes ``send`` really sent for ``data`` (signed, for a sample PDF)."""
    if isinstance(data, Unsigned) and data.signed:
        return next(iter(data.signed.values()))
    return bytes(data)


def pdf(title: str = "Công văn", size: int = 0) -> bytes:
    """A fresh sample PDF, signed by the sender when sent with ``send``."""
    return Unsigned(sample_pdf(title, size=size))


def node_of(client: TestClient) -> Node:
    node: Node = client.app.state.node  # type: ignore[attr-defined]
    return node


def deliver(client: TestClient) -> int:
    return node_of(client).worker.run_once()


def counts(client: TestClient) -> dict[str, int]:
    node = node_of(client)
    with node.db.read() as session:
        result = {
            name: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in (
                ("documents", Document),
                ("files", DocumentFile),
                ("deliveries", Delivery),
                ("receipts", Receipt),
            )
        }
    result["blobs"] = sum(1 for _ in node.store.iter_keys())
    return result


def audit_events(client: TestClient, event: str | None = None) -> list[AuditEvent]:
    node = node_of(client)
    with node.db.read() as session:
        query = select(AuditEvent).order_by(AuditEvent.index)
        if event:
            query = query.where(AuditEvent.event == event)
        return list(session.scalars(query))


class MovableClock:
    """A clock a test moves by hand (``clock.at += timedelta(...)``); a node built with it
    reads its time from ``at`` (now, by default)."""

    def __init__(self, at: datetime | None = None) -> None:
        self.at = at if at is not None else datetime.now(UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)
