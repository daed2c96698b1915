"""Who the node's signing keys are for, read from its directory (agencies and people): the
agencies hosted here with their leaders (who get seals and custodial personal keys), and the
certificate subject a key id stands for. Queries only; the caller brings the session.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from docex.agencies.models import Agency
from docex.auth.models import Principal
from docex.signing.pki import PkiError, person_subject, seal_subject


@dataclass(frozen=True)
class HostedSigners:
    agencies: list[tuple[str, str]]
    """Active agencies hosted here: (code, name)."""
    people: list[tuple[str, str, str]]
    """Their active leaders: (username, full name, agency code)."""


def hosted_signers(session: Session, node_id: str) -> HostedSigners:
    """Active agencies hosted on ``node_id`` and their active leaders, in a stable order."""
    agencies = [
        (a.id, a.name)
        for a in session.scalars(
            select(Agency)
            .where(Agency.node_id == node_id, Agency.status == "active")
            .order_by(Agency.id)
        )
    ]
    codes = {code for code, _ in agencies}
    people = [
        (p.username, p.full_name or p.username, p.agency_id)
        for p in session.scalars(
            select(Principal)
            .where(Principal.kind == "leader", Principal.active.is_(True))
            .order_by(Principal.username)
        )
        if p.username and p.agency_id in codes
    ]
    return HostedSigners(agencies, people)


def signing_subject(session: Session, node_id: str, key_id: str) -> tuple[str, x509.Name]:
    """(agency code, certificate subject) of ``key_id``: an active agency hosted on
    ``node_id`` (``seal:<code>``) or an active person of an agency (``person:<username>``);
    ``PkiError`` if the directory has none."""
    if key_id.startswith("seal:"):
        agency = session.get(Agency, key_id.removeprefix("seal:"))
        if agency is None or agency.node_id != node_id or agency.status != "active":
            raise PkiError(f"{key_id}: no active agency of this node has that code")
        return agency.id, seal_subject(agency.id, agency.name)
    if key_id.startswith("person:"):
        username = key_id.removeprefix("person:")
        person = session.scalar(
            select(Principal).where(Principal.username == username, Principal.active.is_(True))
        )
        if person is None or person.agency_id is None:
            raise PkiError(f"{key_id}: no active person of an agency has that username")
        agency = session.get(Agency, person.agency_id)
        name = agency.name if agency is not None else person.agency_id
        full_name = person.full_name or username
        return person.agency_id, person_subject(full_name, person.agency_id, name)
    raise PkiError(f"{key_id!r} is not a signing key id (seal:<code> or person:<username>)")
