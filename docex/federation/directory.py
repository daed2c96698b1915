"""The signed directory of the network (in the manner of X-Road's global configuration).

Which node hosts which agency, where each node answers and which keys speak for it, and the
recipient groups: one JSON document, versioned, signed by the hub (the publisher) as a JWS
(ES256, ``typ`` :data:`DIRECTORY_TYPE`) with its node key through the key store::

    {"network", "version", "issued_at", "publisher",
     "nodes": [{id, base_url, upstream, signing_key, certificates, audit_key}],
     "agencies": [{id, name, kind, parent_id, node_id, status, successor_id, encryption_key}],
     "groups": [{name, title, members}]}

- The hub **publishes** (:func:`publish`): the next version (max + 1) from its own database, its
  nodes (itself included, :func:`describe` of each node imported with :func:`import_node`), every
  agency and every group, signed and kept in ``directory_versions``; ``GET
  /federation/v1/directory`` serves the newest.
- Every other node **fetches** it (:class:`DirectoryFetcher`, a loop of the routing worker),
  verifies it against its anchor (the publisher's public key or certificate, a PEM file) and
  :func:`accept` s it: a refusal (``directory_signature_invalid``, ``directory_invalid``,
  ``directory_wrong_network``, ``directory_older``, ``directory_stale``) stores nothing but its
  audit event; a good one is applied in one transaction (nodes replaced, agencies upserted,
  groups replaced) and kept. When the hub cannot be reached, the last good version stays in force.

Agencies a version no longer lists are not deleted (mail and history refer to them). An agency
that a version moves to another node routes there from then on: the routing worker reads
``Agency.node_id`` each time it moves a delivery.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from docex.agencies.models import Agency, Group, GroupMember
from docex.agencies.service import groups_with_members, search_key
from docex.audit import events
from docex.config import FederationSettings
from docex.db import Database
from docex.errors import Conflict, DocexError, Unprocessable
from docex.federation import peers
from docex.federation.models import DirectoryVersion
from docex.federation.peers import Peer
from docex.kit.clock import Clock, as_utc
from docex.kit.ids import is_node_id
from docex.signing.jws import JwsInvalid, NodeSigner, verify_es256
from docex.vocabulary.codes import is_valid_code

log = logging.getLogger(__name__)

DIRECTORY_TYPE = "docex-directory+jws"
DIRECTORY_MEDIA_TYPE = "application/jose"  # RFC 7515 §9.2.1: the compact serialization
PUBLISHED = "published"
FETCHED = "fetched"
MAX_DIRECTORY_BYTES = 64 * 1024 * 1024  # every commune of the country, many times over


# -- the document --------------------------------------------------------------------------------


class NodeEntry(BaseModel):
    id: str = Field(max_length=64)
    base_url: str = Field(max_length=500)
    upstream: str | None = Field(default=None, max_length=64)
    signing_key: str  # PEM public key (P-256)
    certificates: str | None = None  # PEM chain
    audit_key: str | None = None  # the audit log's verifier key (c2sp vkey)


class HostedAgency(BaseModel):
    """An agency as its node describes it (its node is the describing node)."""

    id: str = Field(max_length=32)
    name: str = Field(min_length=1, max_length=300)
    kind: str = Field(max_length=16)
    parent_id: str | None = Field(default=None, max_length=32)
    status: str = Field(default="active", pattern="^(active|retired)$")
    successor_id: str | None = Field(default=None, max_length=32)
    encryption_key: str | None = None  # PEM public key (X25519)


class AgencyEntry(HostedAgency):
    node_id: str = Field(max_length=64)


class GroupEntry(BaseModel):
    name: str = Field(max_length=64)
    title: str = Field(default="", max_length=300)
    members: list[str]


class Directory(BaseModel):
    network: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=1)
    issued_at: datetime
    publisher: str = Field(max_length=64)
    nodes: list[NodeEntry]
    agencies: list[AgencyEntry]
    groups: list[GroupEntry]


class NodeDescription(NodeEntry):
    """``docex federation describe``: a node's entry and the agencies it hosts, for the hub to
    import (``docex federation node add``)."""

    agencies: list[HostedAgency] = []


# -- the anchor, signing, verifying --------------------------------------------------------------


def load_anchor(path: Path) -> ec.EllipticCurvePublicKey:
    """The publisher's public key from a PEM file holding the key or a certificate of it."""
    data = path.read_bytes()
    key: Any
    if b"-----BEGIN CERTIFICATE-----" in data:
        key = x509.load_pem_x509_certificate(data).public_key()
    else:
        key = serialization.load_pem_public_key(data)
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"{path}: the anchor is not a P-256 public key or certificate")
    return key


def public_pem(key: ec.EllipticCurvePublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def _b64decode(text: str) -> bytes:
    if not text.isascii() or not all(c.isalnum() or c in "-_" for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _refuse_signature(detail: str) -> Unprocessable:
    return Unprocessable(detail, code="directory_signature_invalid")


def verify(token: str, anchor: ec.EllipticCurvePublicKey) -> Directory:
    """The directory ``token`` carries, if the anchor's key signed it as a directory; else a
    precise refusal (``directory_signature_invalid``, ``directory_invalid``)."""
    try:
        header, payload = verify_es256(token, anchor)
    except JwsInvalid as exc:
        raise _refuse_signature(f"not a directory signed by the anchor's key: {exc}") from exc
    if header.get("typ") != DIRECTORY_TYPE:
        raise _refuse_signature(f"not a directory (typ is not {DIRECTORY_TYPE})")
    try:
        return Directory.model_validate_json(payload)
    except ValidationError as exc:
        raise Unprocessable(
            f"the signed directory is malformed: {exc.errors()[0]['msg']}",
            code="directory_invalid",
        ) from exc


def sign(signer: NodeSigner, directory: Directory) -> str:
    return signer.sign(directory.model_dump(mode="json"), typ=DIRECTORY_TYPE)


# -- this node's versions ------------------------------------------------------------------------


def current(session: Session) -> DirectoryVersion | None:
    """The newest version this node published or applied: the last good one."""
    return session.scalars(
        select(DirectoryVersion).order_by(DirectoryVersion.version.desc()).limit(1)
    ).first()


@dataclass(frozen=True)
class DirectoryState:
    version: int
    issued_at: datetime
    age_seconds: float
    stale: bool


def state(session: Session, *, now: datetime, max_age_seconds: float) -> DirectoryState | None:
    row = current(session)
    if row is None:
        return None
    age = max(0.0, (now - as_utc(row.issued_at)).total_seconds())
    return DirectoryState(row.version, as_utc(row.issued_at), age, age > max_age_seconds)


def _peer_of(entry: NodeEntry) -> Peer:
    return Peer(
        id=entry.id,
        base_url=entry.base_url,
        upstream=entry.upstream,
        signing_key=entry.signing_key,
        certificates=entry.certificates,
        audit_key=entry.audit_key,
    )


def _check_references(
    session: Session, agencies: Sequence[AgencyEntry], nodes: set[str] | None
) -> None:
    """Codes and node ids have their grammar; a parent or successor is an agency listed or
    known here; with ``nodes``, every agency is hosted by one of them."""
    known = {a.id for a in agencies}
    for agency in agencies:
        if not is_valid_code(agency.id):
            raise Unprocessable(f"{agency.id!r} is not an agency code", code="directory_invalid")
        if not is_node_id(agency.node_id) or (nodes is not None and agency.node_id not in nodes):
            raise Unprocessable(
                f"{agency.id} is hosted by {agency.node_id!r}, not a node of the directory",
                code="directory_invalid",
            )
        for other in (agency.parent_id, agency.successor_id):
            if other is not None and other not in known and session.get(Agency, other) is None:
                raise Unprocessable(
                    f"{agency.id} refers to {other}, an agency the directory does not list",
                    code="directory_invalid",
                )


def _upsert_agencies(session: Session, entries: Sequence[AgencyEntry], now: datetime) -> list[str]:
    """Write the agencies as ``entries`` describe them (new ones first without their parent and
    successor, which may come later in the list); the codes that moved to another node."""
    rows = {
        a.id: a
        for a in session.scalars(select(Agency).where(Agency.id.in_([e.id for e in entries])))
    }
    moved = []
    for entry in entries:
        row = rows.get(entry.id)
        if row is None:
            row = Agency(id=entry.id, node_id=entry.node_id, created_at=now)
            rows[entry.id] = row
            session.add(row)
        elif row.node_id != entry.node_id:
            moved.append(entry.id)
        row.name = entry.name
        row.search_key = search_key(entry.id, entry.name)
        row.kind = entry.kind
        row.node_id = entry.node_id
        row.status = entry.status
        if entry.encryption_key is not None:
            row.encryption_key = entry.encryption_key
        row.updated_at = now
    session.flush()
    for entry in entries:
        rows[entry.id].parent_id = entry.parent_id
        rows[entry.id].successor_id = entry.successor_id
    session.flush()
    return moved


def _replace_groups(session: Session, groups: Sequence[GroupEntry]) -> None:
    known = set(session.scalars(select(Agency.id)))
    for group in groups:
        missing = [m for m in group.members if m not in known]
        if missing:
            raise Unprocessable(
                f"group {group.name} lists {missing[0]}, an agency the directory does not list",
                code="directory_invalid",
            )
    session.execute(delete(GroupMember))
    wanted = {g.name: g for g in groups}
    for row in session.scalars(select(Group)):
        if row.name not in wanted:
            session.delete(row)
        else:
            row.title = wanted.pop(row.name).title
    for group in wanted.values():
        session.add(Group(name=group.name, title=group.title, description=group.title))
    session.flush()
    rows = [
        {"group_name": g.name, "agency_id": m} for g in groups for m in dict.fromkeys(g.members)
    ]
    if rows:
        session.execute(insert(GroupMember), rows)


def apply(session: Session, directory: Directory, *, now: datetime) -> list[str]:
    """Make this node's directory what ``directory`` says, in the caller's transaction: its
    nodes (others removed), its agencies (upserted; those it no longer lists stay), its groups
    (replaced). Returns the agencies that moved to another node."""
    node_ids = {n.id for n in directory.nodes}
    _check_references(session, directory.agencies, node_ids)
    for node in directory.nodes:
        if not is_node_id(node.id):
            raise Unprocessable(f"{node.id!r} is not a node id", code="directory_invalid")
    peers.upsert(
        session,
        [_peer_of(n) for n in directory.nodes],
        version=directory.version,
        now=now,
        prune=True,
    )
    moved = _upsert_agencies(session, directory.agencies, now)
    _replace_groups(session, directory.groups)
    return moved


@dataclass(frozen=True)
class Outcome:
    version: int
    applied: bool  # False: the version this node already has (nothing changed)
    moved: tuple[str, ...] = ()


def _accept(
    session: Session,
    token: str,
    *,
    anchor: ec.EllipticCurvePublicKey,
    settings: FederationSettings,
    now: datetime,
) -> Outcome:
    directory = verify(token, anchor)
    if directory.network != settings.network:
        raise Unprocessable(
            f"the directory is of network {directory.network!r}, not {settings.network!r}",
            code="directory_wrong_network",
        )
    have = current(session)
    if have is not None and directory.version < have.version:
        raise Conflict(
            f"version {directory.version} is older than the current {have.version}",
            code="directory_older",
        )
    if have is not None and directory.version == have.version:
        return Outcome(directory.version, applied=False)
    issued = as_utc(directory.issued_at)
    if now - issued > timedelta(seconds=settings.max_age_seconds):
        raise Unprocessable(
            f"version {directory.version} was issued {issued.isoformat()}, longer ago than "
            f"{settings.max_age_seconds:.0f} s",
            code="directory_stale",
        )
    if issued - now > timedelta(seconds=settings.max_clock_skew_seconds):
        raise Unprocessable(
            f"version {directory.version} is issued in the future ({issued.isoformat()})",
            code="directory_invalid",
        )
    moved = apply(session, directory, now=now)
    session.add(
        DirectoryVersion(
            version=directory.version,
            network=directory.network,
            publisher=directory.publisher,
            issued_at=issued,
            stored_at=now,
            source=FETCHED,
            document=token.strip(),
        )
    )
    events.record(
        session,
        events.DIRECTORY_APPLIED,
        at=now,
        version=directory.version,
        publisher=directory.publisher,
        nodes=len(directory.nodes),
        agencies=len(directory.agencies),
        groups=len(directory.groups),
        moved=moved[:100],
    )
    return Outcome(directory.version, applied=True, moved=tuple(moved))


def accept(
    db: Database,
    token: str,
    *,
    anchor: ec.EllipticCurvePublicKey,
    settings: FederationSettings,
    now: datetime,
    source: str,
) -> Outcome:
    """Verify ``token`` and apply it in one transaction; a refusal (a :class:`DocexError` with
    its precise code) changes nothing but its audit event, and is raised."""
    try:
        with db.write() as session:
            return _accept(session, token, anchor=anchor, settings=settings, now=now)
    except IntegrityError:
        # Another process of this node (``docex worker`` beside ``docex serve``) applied the
        # same version at the same moment: it is in force.
        with db.read() as session:
            have = current(session)
        if have is None:
            raise
        return Outcome(have.version, applied=False)
    except DocexError as exc:
        with db.write() as session:
            events.record(
                session,
                events.DIRECTORY_REFUSED,
                at=now,
                error=exc.code,
                reason=exc.detail[:300],
                source=source[:300],
            )
        raise


# -- publishing (the hub) ------------------------------------------------------------------------


def describe(
    session: Session,
    *,
    node_id: str,
    base_url: str,
    upstream: str | None,
    signing_key: str,
    certificates: str | None,
    audit_key: str | None,
) -> NodeDescription:
    """This node's entry in the directory and the agencies it hosts, with their public
    encryption keys: what the hub imports (:func:`import_node`)."""
    hosted = session.scalars(select(Agency).where(Agency.node_id == node_id).order_by(Agency.id))
    return NodeDescription(
        id=node_id,
        base_url=base_url.rstrip("/"),
        upstream=upstream,
        signing_key=signing_key,
        certificates=certificates,
        audit_key=audit_key,
        agencies=[
            HostedAgency(
                id=a.id,
                name=a.name,
                kind=a.kind,
                parent_id=a.parent_id,
                status=a.status,
                successor_id=a.successor_id,
                encryption_key=a.encryption_key,
            )
            for a in hosted
        ],
    )


def import_node(session: Session, description: NodeDescription, *, now: datetime) -> list[str]:
    """The hub takes in a node's description: the node (as of the current version) and the
    agencies it hosts. Returns the agencies that moved to it from another node."""
    if not is_node_id(description.id):
        raise Unprocessable(f"{description.id!r} is not a node id", code="directory_invalid")
    have = current(session)
    peers.upsert(session, [_peer_of(description)], version=have.version if have else 0, now=now)
    entries = [AgencyEntry(**a.model_dump(), node_id=description.id) for a in description.agencies]
    _check_references(session, entries, None)
    moved = _upsert_agencies(session, entries, now)
    events.record(
        session,
        events.DIRECTORY_NODE_IMPORTED,
        at=now,
        node_id=description.id,
        agencies=[a.id for a in description.agencies][:100],
        moved=moved[:100],
    )
    return moved


def build(
    session: Session, *, network: str, publisher: str, version: int, now: datetime
) -> Directory:
    """The directory as this node's database describes the network."""
    nodes = [
        NodeEntry(
            id=p.id,
            base_url=p.base_url,
            upstream=p.upstream,
            signing_key=p.signing_key,
            certificates=p.certificates,
            audit_key=p.audit_key,
        )
        for p in peers.peers(session)
    ]
    agencies = [
        AgencyEntry(
            id=a.id,
            name=a.name,
            kind=a.kind,
            parent_id=a.parent_id,
            node_id=a.node_id,
            status=a.status,
            successor_id=a.successor_id,
            encryption_key=a.encryption_key,
        )
        for a in session.scalars(select(Agency).order_by(Agency.id))
    ]
    groups = [
        GroupEntry(name=g.name, title=g.title, members=sorted(members))
        for g, members in groups_with_members(session)
    ]
    return Directory(
        network=network,
        version=version,
        issued_at=now,
        publisher=publisher,
        nodes=nodes,
        agencies=agencies,
        groups=groups,
    )


def publish(
    session: Session,
    signer: NodeSigner,
    itself: NodeDescription,
    *,
    network: str,
    now: datetime,
) -> DirectoryVersion:
    """Sign the next version (the current one + 1) of the directory: the nodes (this one,
    ``itself``, included), every agency, every group; keep it; audit it."""
    have = session.scalar(select(func.max(DirectoryVersion.version)))
    version = (have or 0) + 1
    peers.upsert(session, [_peer_of(itself)], version=version, now=now)
    session.flush()
    directory = build(session, network=network, publisher=itself.id, version=version, now=now)
    # What every node would refuse is not signed: an agency on a node the hub has not imported.
    _check_references(session, directory.agencies, {n.id for n in directory.nodes})
    row = DirectoryVersion(
        version=version,
        network=network,
        publisher=itself.id,
        issued_at=now,
        stored_at=now,
        source=PUBLISHED,
        document=sign(signer, directory),
    )
    session.add(row)
    events.record(
        session,
        events.DIRECTORY_PUBLISHED,
        at=now,
        version=version,
        nodes=len(directory.nodes),
        agencies=len(directory.agencies),
        groups=len(directory.groups),
    )
    return row


# -- fetching (every other node) -----------------------------------------------------------------


class DirectoryFetcher:
    """Fetch the directory from ``directory_url``, verify it against the anchor and accept it:
    at start and every ``fetch_interval_seconds``, as a loop of the routing worker
    (:meth:`step`). The hub down, an answer that is not a directory: the last good version
    stays in force, the reason is logged (a refused directory is also audited)."""

    def __init__(
        self,
        db: Database,
        settings: FederationSettings,
        *,
        clock: Clock,
        client: Callable[[], httpx.Client] | None = None,
    ) -> None:
        if settings.directory_url is None:
            raise ValueError("fetching the directory needs DOCEX_FEDERATION__DIRECTORY_URL")
        self.db = db
        self.settings = settings
        self.url = settings.directory_url
        self.clock = clock
        self._client = client or (lambda: peers.peer_client(settings))

    def download(self) -> str:
        """The signed directory as the hub serves it; :class:`httpx.HTTPError` if it cannot."""
        client = self._client()
        try:
            with client.stream("GET", self.url) as response:
                response.raise_for_status()
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_DIRECTORY_BYTES:
                        raise Unprocessable(
                            f"the directory is larger than {MAX_DIRECTORY_BYTES} bytes",
                            code="directory_invalid",
                        )
        finally:
            client.close()
        return body.decode("utf-8", errors="replace")

    def run_once(self) -> Outcome | None:
        """One fetch: the outcome, None when the hub could not be reached (or answered an
        error); raises the refusal (a :class:`DocexError`) of a directory it refused."""
        if self.settings.anchor is None:
            raise ValueError("fetching the directory needs DOCEX_FEDERATION__ANCHOR")
        anchor = load_anchor(self.settings.anchor)
        try:
            token = self.download()
        except httpx.HTTPError as exc:
            log.warning(
                "directory: %s unreachable (%s); keeping the last good version", self.url, exc
            )
            return None
        except DocexError as exc:
            with self.db.write() as session:
                events.record(
                    session,
                    events.DIRECTORY_REFUSED,
                    at=self.clock.now(),
                    error=exc.code,
                    reason=exc.detail[:300],
                    source=self.url[:300],
                )
            raise
        outcome = accept(
            self.db,
            token,
            anchor=anchor,
            settings=self.settings,
            now=self.clock.now(),
            source=self.url,
        )
        if outcome.applied:
            log.info("directory: version %d applied", outcome.version)
        return outcome

    def step(self) -> bool:
        """A pass of the worker's loop: never more at once (the next is an interval later)."""
        try:
            self.run_once()
        except DocexError as exc:
            log.warning("directory refused (%s): %s", exc.code, exc.detail)
        return False
