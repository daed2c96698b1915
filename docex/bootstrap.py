"""``docex init``: make a node ready to serve — data directory, schema, signing key, and on
request the demo network. Idempotent: running it again changes nothing that exists."""

from __future__ import annotations

import json
import os
import secrets
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from docex.agencies.models import Agency
from docex.agencies.service import create_agency, create_group, ensure_custodial_keys
from docex.app import open_token
from docex.auth.models import Principal
from docex.auth.policy import Kind
from docex.auth.service import create_api_token, create_principal
from docex.config import Classification, Settings
from docex.db import Database
from docex.kit.clock import SystemClock
from docex.kit.files import atomic_write
from docex.migrations import upgrade
from docex.signing.agency_keys import AgencyKeyStore
from docex.signing.keks import KekRing
from docex.signing.keys import NODE_KEY_FILE, create_node_key, load_node_key
from docex.signing.pki import (
    Pki,
    PkiError,
    PkiLayout,
    UnencryptedKeysWarning,
    agency_code_of,
    build_pki,
    certify_node_key,
    person_key_id,
    person_subject,
    seal_key_id,
    seal_subject,
)
from docex.signing.service import PKI_DIR

if TYPE_CHECKING:
    from docex.signing.hsm import Certify

CREDENTIALS_FILE = "demo-credentials.json"

# (code, name, kind, parent, username stem)
DEMO_AGENCIES: tuple[tuple[str, str, str, str | None, str], ...] = (
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


def init_node(settings: Settings, *, demo: bool = False) -> InitResult:
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
    secret = settings.passphrase
    token = open_token(settings)
    if token is None:
        key_created = create_node_key(settings.keys_dir, secret)
    else:
        key_created = not token.has_node_key()
        token.node_key()
        token.close()
    KekRing(settings.keys_dir / "kek", secret).create_if_missing()
    agency_keys = AgencyKeyStore(settings.keys_dir / "agencies", secret)
    credentials = settings.data_dir / CREDENTIALS_FILE
    seeded = False
    db = Database(url)
    try:
        with db.write() as session:
            if demo and session.get(Agency, DEMO_AGENCIES[0][0]) is None:
                data = _seed_demo(session, settings)
                _write_private_json(credentials, data)
                seeded = True
            ensure_custodial_keys(
                session, agency_keys, node_id=settings.node_id, now=SystemClock().now()
            )
            if demo:
                session.flush()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UnencryptedKeysWarning)  # the demo says so
                    build_node_pki(settings, session)
    finally:
        db.dispose()
    return InitResult(
        data_dir=settings.data_dir,
        database_url=_redact(url),
        key_created=key_created,
        demo_seeded=seeded,
        credentials_path=credentials if credentials.exists() else None,
    )


def hosted_signers(
    session: Any, node_id: str
) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """Active agencies hosted here (code, name) and their leaders (username, name, agency)."""
    agencies = [
        (a.id, a.name)
        for a in session.scalars(
            select(Agency)
            .where(Agency.node_id == node_id, Agency.status == "active")
            .order_by(Agency.id)
        )
    ]
    codes = {code for code, _ in agencies}
    leaders = [
        (p.username, p.full_name or p.username, p.agency_id)
        for p in session.scalars(
            select(Principal)
            .where(Principal.kind == "leader", Principal.active.is_(True))
            .order_by(Principal.username)
        )
        if p.username and p.agency_id in codes
    ]
    return agencies, leaders


def build_node_pki(settings: Settings, session: Any | None) -> PkiLayout:
    """The node's PKI (CAs, TSA, OCSP; idempotent). Given a session, every agency hosted here
    gets a seal key and every leader a custodial personal key (the demo network); the node's
    receipt key, once it exists, gets a certificate so receipts carry a chain (``x5c``)."""
    agencies, people = hosted_signers(session, settings.node_id) if session else ([], [])
    directory = settings.data_dir / PKI_DIR
    now = SystemClock().now()
    token = open_token(settings)
    if token is None:
        layout = build_pki(
            directory,
            agencies,
            people,
            passphrase=settings.passphrase,
            now=now,
            base_url=settings.base_url,
        )
        if (settings.keys_dir / NODE_KEY_FILE).exists():
            certify_node_key(
                Pki.open(directory, settings.passphrase),
                load_node_key(settings.keys_dir, settings.passphrase).public_key(),
                node_id=settings.node_id,
                now=now,
            )
        return layout
    try:
        # Keys on the token: the PKI holds only its CAs, TSA and OCSP keys and certifies the
        # public keys the token generated (enrol is idempotent, and resumes a crashed run).
        build_pki(
            directory, [], [], passphrase=settings.passphrase, now=now, base_url=settings.base_url
        )
        pki = Pki.open(directory, settings.passphrase)
        names = dict(agencies)
        for code, name in agencies:
            token.enroll(seal_key_id(code), _seal_certifier(pki, code, name, now))
        for username, full_name, code in people:
            token.enroll(
                person_key_id(username),
                _person_certifier(pki, username, full_name, code, names[code], now),
            )
        certify_node_key(pki, token.node_key().public_key(), node_id=settings.node_id, now=now)
        return pki.layout()
    finally:
        token.close()


def rotate_signing_key(settings: Settings, key_id: str) -> x509.Certificate:
    """A new key and certificate for ``key_id`` (``seal:<code>`` or ``person:<username>``),
    in the data directory or on the token, whichever holds the node's keys. The old
    certificate stays listed (superseded) so that earlier signatures still verify; a running
    node signs with the new key from its next signature. Raises ``PkiError``."""
    pki = Pki.open(settings.data_dir / PKI_DIR, settings.passphrase)
    now = SystemClock().now()
    token = open_token(settings)
    if token is None:
        return pki.certificate(pki.rotate(key_id, now=now))
    try:
        if not token.has(key_id):
            raise PkiError(f"no signing key {key_id} on the token")

        def certify(key: ec.EllipticCurvePublicKey) -> x509.Certificate:
            return pki.certificate(pki.rotate(key_id, now=now, public_key=key))

        return token.enroll(key_id, certify, rotate=True)
    finally:
        token.close()


def signing_subject(settings: Settings, key_id: str) -> tuple[str, x509.Name]:
    """The agency code and certificate subject for ``key_id``, from this node's directory: an
    active agency hosted here (``seal:<code>``) or an active person (``person:<username>``)."""
    db = Database(settings.resolved_database_url)
    try:
        with db.read() as session:
            if key_id.startswith("seal:"):
                agency = session.get(Agency, key_id.removeprefix("seal:"))
                if (
                    agency is None
                    or agency.node_id != settings.node_id
                    or agency.status != "active"
                ):
                    raise PkiError(f"{key_id}: no active agency of this node has that code")
                return agency.id, seal_subject(agency.id, agency.name)
            if key_id.startswith("person:"):
                username = key_id.removeprefix("person:")
                person = session.scalar(
                    select(Principal).where(
                        Principal.username == username, Principal.active.is_(True)
                    )
                )
                if person is None or person.agency_id is None:
                    raise PkiError(f"{key_id}: no active person of an agency has that username")
                agency = session.get(Agency, person.agency_id)
                name = agency.name if agency is not None else person.agency_id
                full_name = person.full_name or username
                return person.agency_id, person_subject(full_name, person.agency_id, name)
    finally:
        db.dispose()
    raise PkiError(f"{key_id!r} is not a signing key id (seal:<code> or person:<username>)")


def request_certificate(
    settings: Settings, key_id: str, *, rotate: bool = False
) -> x509.CertificateSigningRequest:
    """A PKCS#10 request for ``key_id``'s key on the token, for an outside CA (the national
    one). Raises ``PkiError`` or ``KeyStoreError``."""
    _, subject = signing_subject(settings, key_id)
    token = open_token(settings)
    if token is None:
        raise PkiError(
            "requests are for keys on a PKCS#11 token (DOCEX_SIGNING__KEY_STORE=pkcs11); "
            "file keys are certified by this node's PKI (docex pki init)"
        )
    try:
        return token.request(key_id, subject, rotate=rotate)
    finally:
        token.close()


def install_signing_certificate(
    settings: Settings, key_id: str, certificate: x509.Certificate
) -> int:
    """Put the CA's answer to :func:`request_certificate` on the token, after checking that it
    names the agency ``key_id`` belongs to; returns the key's generation."""
    code, _ = signing_subject(settings, key_id)
    if agency_code_of(certificate) != code:
        raise PkiError(f"the certificate does not name agency {code} (organizationIdentifier)")
    token = open_token(settings)
    if token is None:
        raise PkiError("certificates are installed on a PKCS#11 token; this node keeps files")
    try:
        return token.install_certificate(key_id, certificate)
    finally:
        token.close()


def _seal_certifier(pki: Pki, code: str, name: str, now: datetime) -> Certify:
    def certify(key: ec.EllipticCurvePublicKey) -> x509.Certificate:
        return pki.certificate(pki.issue_seal(code, name, now=now, rotate=True, public_key=key))

    return certify


def _person_certifier(
    pki: Pki, username: str, full_name: str, code: str, agency_name: str, now: datetime
) -> Certify:
    def certify(key: ec.EllipticCurvePublicKey) -> x509.Certificate:
        rec = pki.issue_person(
            username, full_name, code, agency_name=agency_name, now=now, rotate=True, public_key=key
        )
        return pki.certificate(rec)

    return certify


def _password() -> str:
    return secrets.token_urlsafe(12)


def _seed_demo(session: Any, settings: Settings) -> dict[str, Any]:
    now = SystemClock().now()
    out: dict[str, Any] = {
        "base_url": settings.base_url,
        "node_id": settings.node_id,
        "agencies": {},
    }
    for code, name, kind, parent, stem in DEMO_AGENCIES:
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
    for group, (description, members) in DEMO_GROUPS.items():
        create_group(session, group, members, description=description, now=now)
    for role, username in ((Kind.AUDITOR, "kiemtra"), (Kind.ADMIN, "quantri")):
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
