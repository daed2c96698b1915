"""``docex init``: make a node ready to serve — data directory, schema, signing key, and on
request the demo network. Idempotent: running it again changes nothing that exists."""

from __future__ import annotations

import json
import os
import secrets
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docex.agencies.models import Agency
from docex.agencies.service import create_agency, create_group, ensure_custodial_keys
from docex.auth.policy import Kind
from docex.auth.service import create_api_token, create_principal
from docex.config import Settings
from docex.db import Database
from docex.keys.directory import hosted_signers
from docex.keys.enrolment import build_node_pki
from docex.keys.node import agency_key_store, ensure_node_key, kek_ring
from docex.kit.clock import SystemClock
from docex.kit.files import atomic_write
from docex.migrations import upgrade
from docex.signing.pki import UnencryptedKeysWarning
from docex.vocabulary.levels import Classification

CREDENTIALS_FILE = "demo-credentials.json"

DemoAgency = tuple[str, str, str, str | None, str]  # (code, name, kind, parent, username stem)

DEMO_AGENCIES: tuple[DemoAgency, ...] = (
    ("000.00.00.G22", "Văn phòng Chính phủ", "state", None, "vpcp"),
    ("000.00.00.I01", "Ủy ban Trung ương Mặt trận Tổ quốc Việt Nam", "front", None, "mttq"),
    ("000.00.00.A01", "Văn phòng Trung ương Đảng", "party", None, "vptwd"),
    ("000.00.00.H41", "Ủy ban nhân dân tỉnh Nghệ An", "state", None, "nghean"),
    ("000.00.00.H26", "Ủy ban nhân dân thành phố Hà Nội", "state", None, "hanoi"),
    ("001.00.41.H41", "Ủy ban nhân dân xã Diễn Châu", "state", "000.00.00.H41", "dienchau"),
    ("002.00.41.H41", "Ủy ban nhân dân xã Quỳnh Lưu", "state", "000.00.00.H41", "quynhluu"),
)
DEMO_GROUPS = {
    "provinces": ("Tỉnh, thành phố", ["000.00.00.H41", "000.00.00.H26"]),
    "central": ("Cơ quan Trung ương", ["000.00.00.G22", "000.00.00.I01", "000.00.00.A01"]),
    "nghean-communes": ("Xã thuộc tỉnh Nghệ An", ["001.00.41.H41", "002.00.41.H41"]),
}
DEMO_ROLES = {
    Kind.CLERK: ("vanthu", "Văn thư", Classification.CONFIDENTIAL),
    Kind.LEADER: ("lanhdao", "Lãnh đạo", Classification.SECRET),
    Kind.SYSTEM: (None, "Hệ thống QLVB", Classification.NORMAL),
}


@dataclass(frozen=True)
class InitResult:
    data_dir: Path
    database_url: str
    key_created: bool
    demo_seeded: bool
    credentials_path: Path | None


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


DemoGroups = Mapping[str, tuple[str, list[str]]]


def init_node(
    settings: Settings,
    *,
    demo: bool = False,
    agencies: Sequence[DemoAgency] = DEMO_AGENCIES,
    groups: DemoGroups = DEMO_GROUPS,
) -> InitResult:
    """``agencies``, ``groups``: the demo's, unless a network of several nodes spreads them
    (``docex network demo``): each node its own, and its people only."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)
    if settings.storage.resolved_backend == "s3":
        from docex.app import build_store
        from docex.storage.s3 import S3BlobStore

        store = build_store(settings)
        if isinstance(store, S3BlobStore):
            store.create_bucket_if_missing()
    else:
        settings.blob_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    settings.spool_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    url = settings.resolved_database_url
    upgrade(url)
    key_created = ensure_node_key(settings)
    kek_ring(settings).create_if_missing()
    agency_keys = agency_key_store(settings)
    credentials = settings.data_dir / CREDENTIALS_FILE
    seeded = False
    db = Database(url)
    try:
        with db.write() as session:
            if demo and session.get(Agency, agencies[0][0]) is None:
                data = _seed_demo(session, settings, agencies, groups)
                _write_private_json(credentials, data)
                seeded = True
            ensure_custodial_keys(
                session, agency_keys, node_id=settings.node_id, now=SystemClock().now()
            )
            if demo:
                session.flush()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UnencryptedKeysWarning)  # the demo says so
                    signers = hosted_signers(session, settings.node_id)
                    build_node_pki(settings, signers, now=SystemClock().now())
    finally:
        db.dispose()
    return InitResult(
        data_dir=settings.data_dir,
        database_url=_redact(url),
        key_created=key_created,
        demo_seeded=seeded,
        credentials_path=credentials if credentials.exists() else None,
    )


def _password() -> str:
    return secrets.token_urlsafe(12)


def _seed_demo(
    session: Any,
    settings: Settings,
    agencies: Sequence[DemoAgency] = DEMO_AGENCIES,
    groups: DemoGroups = DEMO_GROUPS,
) -> dict[str, Any]:
    now = SystemClock().now()
    out: dict[str, Any] = {
        "base_url": settings.base_url,
        "node_id": settings.node_id,
        "agencies": {},
    }
    for code, name, kind, parent, stem in agencies:
        create_agency(
            session,
            code=code,
            name=name,
            kind=kind,
            parent_id=parent,
            node_id=settings.node_id,
            now=now,
        )
        entry: dict[str, Any] = {"name": name}
        for role, (prefix, title, clearance) in DEMO_ROLES.items():
            username = f"{prefix}.{stem}" if prefix else None
            password = _password() if prefix else None
            principal = create_principal(
                session,
                kind=role,
                agency_id=code,
                now=now,
                username=username,
                password=password,
                full_name=f"{title} {name}",
                clearance=clearance,
            )
            token = create_api_token(session, principal, name="demo", now=now).secret
            entry[role.value] = {"username": username, "password": password, "token": token}
            if role is Kind.SYSTEM:
                entry[role.value] = {"token": token}
        out["agencies"][code] = entry
    for group, (description, members) in groups.items():
        create_group(session, group, members, title=description, description=description, now=now)
    for role, username in (
        (Kind.AUDITOR, "kiemtra"),
        (Kind.ADMIN, "quantri"),
        (Kind.SUPERVISOR, "giamsat"),
    ):
        password = _password()
        principal = create_principal(
            session,
            kind=role,
            agency_id=None,
            now=now,
            username=username,
            password=password,
            full_name=username,
            clearance=Classification.NORMAL,
        )
        token = create_api_token(session, principal, name="demo", now=now).secret
        out[role.value] = {"username": username, "password": password, "token": token}
    return out


def _write_private_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write(path, json.dumps(data, ensure_ascii=False, indent=2).encode(), 0o600)
