"""The nodes of the network as this node knows them (``federation_nodes``, written by the
directory), and the way to each: :func:`next_hop` walks the tree the directory describes (a
province sends through the hub what it does not host; the hub sends straight down), and
:func:`peer_client` is the one HTTP client a node talks to its peers with (mutual TLS when
configured). Queries only; the caller brings the session.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docex.agencies.models import Agency
from docex.config import FederationSettings
from docex.federation.models import FederationNode


@dataclass(frozen=True)
class Peer:
    id: str
    base_url: str
    upstream: str | None
    signing_key: str  # PEM public key
    certificates: str | None
    audit_key: str | None


def _peer(row: FederationNode) -> Peer:
    return Peer(
        id=row.id,
        base_url=row.base_url.rstrip("/"),
        upstream=row.upstream,
        signing_key=row.signing_key,
        certificates=row.certificates,
        audit_key=row.audit_key,
    )


def peer(session: Session, node_id: str) -> Peer | None:
    """The node ``node_id`` as the directory describes it, or None if it has no such node."""
    row = session.get(FederationNode, node_id)
    return _peer(row) if row is not None else None


def peers(session: Session) -> list[Peer]:
    """Every node the directory lists, this one included, by id."""
    return [_peer(r) for r in session.scalars(select(FederationNode).order_by(FederationNode.id))]


def hosted_counts(session: Session) -> dict[str, int]:
    """How many agencies of the directory each node hosts, by node id."""
    rows = session.execute(select(Agency.node_id, func.count()).group_by(Agency.node_id)).all()
    return {node_id: int(count) for node_id, count in rows}


def upsert(
    session: Session, nodes: Iterable[Peer], *, version: int, now: datetime, prune: bool = False
) -> None:
    """Write ``nodes`` as directory ``version`` describes them; with ``prune``, nodes the
    version no longer lists are removed."""
    wanted = {p.id: p for p in nodes}
    rows = {r.id: r for r in session.scalars(select(FederationNode))}
    for node_id, p in wanted.items():
        row = rows.get(node_id)
        if row is None:
            row = FederationNode(id=node_id)
            session.add(row)
        row.base_url = p.base_url
        row.upstream = p.upstream
        row.signing_key = p.signing_key
        row.certificates = p.certificates
        row.audit_key = p.audit_key
        row.directory_version = version
        row.updated_at = now
    if prune:
        for node_id, row in rows.items():
            if node_id not in wanted:
                session.delete(row)


def next_hop(session: Session, here: str, destination: str) -> str | None:
    """The node a transfer for ``destination`` goes to from ``here``.

    The directory's nodes form a tree by ``upstream``. Down the tree when ``destination`` is
    below ``here`` (to the child on its path), else up (to ``here``'s upstream). None when
    there is no way: ``destination`` is ``here``, or unknown, or ``here`` has no upstream and
    ``destination`` is not below it.
    """
    if destination == here:
        return None
    ups = dict(session.execute(select(FederationNode.id, FederationNode.upstream)).all())
    if destination not in ups:
        return None
    path = [destination]  # destination, its upstream, ... up to the top
    while (up := ups.get(path[-1])) is not None and up not in path:
        path.append(up)
    if here in path:
        return path[path.index(here) - 1]
    return ups.get(here)


def peer_client(settings: FederationSettings) -> httpx.Client:
    """The HTTP client for peers: the configured timeouts, and mutual TLS when this node has a
    client certificate (``tls_client_cert``/``tls_client_key``) or its own CA (``tls_ca``).

    One ``ssl.SSLContext`` carries both: httpx (0.28) given ``verify=<path>`` ignores ``cert``,
    and the client certificate would silently not be sent."""
    verify: bool | ssl.SSLContext = True
    if settings.tls_ca is not None or settings.tls_client_cert is not None:
        verify = ssl.create_default_context(
            cafile=str(settings.tls_ca) if settings.tls_ca is not None else None
        )
        if settings.tls_client_cert is not None:
            verify.load_cert_chain(
                str(settings.tls_client_cert),
                str(settings.tls_client_key) if settings.tls_client_key is not None else None,
            )
    timeout = httpx.Timeout(settings.timeout_seconds, connect=settings.connect_timeout_seconds)
    return httpx.Client(timeout=timeout, verify=verify, follow_redirects=False)
