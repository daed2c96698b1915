"""Helpers shared by the API tests: who is who in the demo network, sending, counting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from docex.audit.models import AuditEvent
from docex.documents.models import Document, DocumentFile
from docex.kit.samplepdf import sample_pdf
from docex.node import Node
from docex.routing.models import Delivery, Receipt

G22 = "000.00.00.G22"  # Government Office
I01 = "000.00.00.I01"  # Fatherland Front
A01 = "000.00.00.A01"  # a Party body
H41 = "000.00.00.H41"  # Nghệ An
H26 = "000.00.00.H26"  # Hà Nội
C1 = "001.00.41.H41"  # a commune of Nghệ An
C2 = "002.00.41.H41"

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


def token(credentials: dict[str, Any], who: str, role: str = "clerk") -> str:
    if who in ("auditor", "admin"):
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


def send(
    client: TestClient,
    headers: dict[str, str],
    env: dict[str, Any] | str | bytes | None = None,
    main: bytes | None = None,
    *,
    main_name: str = "cong-van.pdf",
    attachments: list[tuple[str, bytes]] | None = None,
) -> Response:
    files: list[tuple[str, tuple[str | None, bytes | str, str]]] = []
    if env is not None:
        raw = env if isinstance(env, str | bytes) else json.dumps(env)
        files.append(("envelope", (None, raw, "application/json")))
    if main is not None:
        files.append(("main", (main_name, main, "application/pdf")))
    for name, data in attachments or []:
        files.append(("attachment", (name, data, "application/octet-stream")))
    return client.post("/api/v1/documents", files=files, headers=headers)


def pdf(title: str = "Công văn", size: int = 0) -> bytes:
    return sample_pdf(title, size=size)


def node_of(client: TestClient) -> Node:
    node: Node = client.app.state.node  # type: ignore[attr-defined]
    return node


def deliver(client: TestClient) -> int:
    return node_of(client).dispatcher.run_once()


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
