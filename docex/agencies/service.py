"""The registry's decisions: creating and changing agencies, groups, and turning what a sender
wrote as recipients into the agencies that will receive (groups expanded, successions followed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from docex.agencies.codes import GROUP_PREFIX, check_code, check_group_name, is_valid_code
from docex.agencies.models import Agency, Group, GroupMember
from docex.audit import events
from docex.errors import Conflict, NotFound, Unprocessable
from docex.kit.text import fold
from docex.signing.agency_keys import AgencyKeyStore

KINDS = ("party", "state", "front", "social", "other")
MAX_SUCCESSION_DEPTH = 16


def search_key(code: str, name: str) -> str:
    return fold(f"{code} {name}")


def search_agencies(
    session: Session,
    *,
    q: str | None = None,
    parent: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> list[Agency]:
    """Agencies in code order: matching ``q`` in code or name (case- and accent-insensitive),
    under ``parent``, after the code ``after``; at most ``limit``."""
    query = select(Agency)
    if q:
        needle = fold(q).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Agency.search_key.like(f"%{needle}%", escape="\\"))
    if parent:
        query = query.where(Agency.parent_id == parent)
    if after:
        query = query.where(Agency.id > after)
    query = query.order_by(Agency.id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def groups_with_members(session: Session) -> list[tuple[Group, list[str]]]:
    return [
        (group, group_members(session, group.name))
        for group in session.scalars(select(Group).order_by(Group.name))
    ]


def get_agency(session: Session, agency_id: str) -> Agency:
    agency = session.get(Agency, agency_id) if is_valid_code(agency_id) else None
    if agency is None:
        raise NotFound(f"no agency {agency_id!r}", code="agency_not_found")
    return agency


def create_agency(
    session: Session,
    *,
    code: str,
    name: str,
    kind: str,
    node_id: str,
    now: datetime,
    parent_id: str | None = None,
    actor_id: str | None = None,
) -> Agency:
    check_code(code)
    if kind not in KINDS:
        raise Unprocessable(f"kind must be one of {', '.join(KINDS)}", code="invalid_agency_kind")
    if session.get(Agency, code) is not None:
        raise Conflict(f"agency {code} exists", code="agency_exists")
    if parent_id is not None:
        get_agency(session, parent_id)
    agency = Agency(
        id=code,
        search_key=search_key(code, name),
        name=name,
        kind=kind,
        parent_id=parent_id,
        node_id=node_id,
        status="active",
        successor_id=None,
        created_at=now,
        updated_at=now,
    )
    session.add(agency)
    session.flush()
    events.record(
        session, events.AGENCY_CREATED, at=now, actor_id=actor_id, agency_id=code, name=name
    )
    return agency


def update_agency(
    session: Session,
    agency_id: str,
    *,
    now: datetime,
    actor_id: str | None,
    name: str | None = None,
    parent_id: str | None = None,
    node_id: str | None = None,
    status: str | None = None,
    successor_id: str | None = None,
) -> Agency:
    agency = get_agency(session, agency_id)
    changes: dict[str, str | None] = {}
    if name is not None:
        agency.name = changes["name"] = name
        agency.search_key = search_key(agency_id, name)
    if parent_id is not None:
        get_agency(session, parent_id)
        agency.parent_id = changes["parent_id"] = parent_id
    if node_id is not None:
        agency.node_id = changes["node_id"] = node_id
    if successor_id is not None:
        if successor_id == agency_id:
            raise Unprocessable("an agency cannot succeed itself", code="invalid_successor")
        get_agency(session, successor_id)
        agency.successor_id = changes["successor_id"] = successor_id
    if status is not None:
        if status not in ("active", "retired"):
            raise Unprocessable("status is active or retired", code="invalid_agency_status")
        agency.status = changes["status"] = status
    if agency.status == "retired" and agency.successor_id is not None:
        try:
            _final_successor(session, agency)
        except Unprocessable as exc:  # a loop, or a successor that is itself a dead end
            raise Unprocessable(
                f"{agency_id} cannot be succeeded by {agency.successor_id}: {exc.detail}",
                code="invalid_successor",
            ) from exc
    agency.updated_at = now
    events.record(
        session, events.AGENCY_UPDATED, at=now, actor_id=actor_id, agency_id=agency_id, **changes
    )
    return agency


def published_keys(session: Session, agency_ids: list[str]) -> dict[str, str | None]:
    """The published encryption keys (PEM) of these agencies; None where there is none."""
    rows = session.execute(
        select(Agency.id, Agency.encryption_key).where(Agency.id.in_(agency_ids))
    ).all()
    return {agency_id: key for agency_id, key in rows}  # noqa: C416 (rows, not pairs)


def publish_encryption_key(
    session: Session, agency_id: str, public_pem: str, *, now: datetime
) -> None:
    agency = get_agency(session, agency_id)
    agency.encryption_key = public_pem
    agency.updated_at = now
    events.record(
        session, events.AGENCY_UPDATED, at=now, agency_id=agency_id, encryption_key="published"
    )


def ensure_custodial_keys(
    session: Session, agency_keys: AgencyKeyStore, *, node_id: str, now: datetime
) -> list[str]:
    """Give every agency hosted here without a published encryption key a custodial key pair
    (private half in this node's key store) and publish its public half. Returns the codes."""
    created = []
    hosted = session.scalars(
        select(Agency).where(Agency.node_id == node_id, Agency.encryption_key.is_(None))
    ).all()
    for agency in hosted:
        public_pem = (
            agency_keys.public_pem(agency.id)
            if agency_keys.has(agency.id)
            else agency_keys.create(agency.id)
        )
        publish_encryption_key(session, agency.id, public_pem.decode(), now=now)
        created.append(agency.id)
    return created


def create_group(
    session: Session, name: str, members: list[str], *, description: str, now: datetime
) -> Group:
    check_group_name(name)
    if session.get(Group, name) is not None:
        raise Conflict(f"group {name} exists", code="group_exists")
    group = Group(name=name, description=description)
    session.add(group)
    for member in dict.fromkeys(members):
        get_agency(session, member)
        session.add(GroupMember(group_name=name, agency_id=member))
    events.record(session, events.GROUP_CREATED, at=now, group=name, members=members)
    return group


def group_members(session: Session, name: str) -> list[str]:
    return list(
        session.scalars(
            select(GroupMember.agency_id)
            .where(GroupMember.group_name == name)
            .order_by(GroupMember.agency_id)
        )
    )


def _final_successor(session: Session, agency: Agency) -> tuple[Agency, list[str]]:
    """Follow retired → successor links to an active agency; returns it and the codes passed."""
    chain: list[str] = []
    current = agency
    while current.status == "retired":
        chain.append(current.id)
        if current.successor_id is None:
            raise Unprocessable(
                f"agency {current.id} is retired and has no successor", code="recipient_retired"
            )
        if len(chain) > MAX_SUCCESSION_DEPTH or current.successor_id in chain:
            raise Unprocessable(f"succession of {agency.id} loops", code="invalid_successor")
        current = get_agency(session, current.successor_id)
    return current, chain


@dataclass(frozen=True)
class Recipient:
    agency_id: str
    addressed_as: str  # what the sender wrote: a code, or group:<name>
    via: tuple[str, ...] = ()  # retired codes passed on the way to the successor


def resolve_recipients(session: Session, entries: list[str], sender_id: str) -> list[Recipient]:
    """Expand groups and follow successions. Unknown or retired-without-successor → 422.

    The sender is never its own recipient: naming it is an error, a group containing it skips it.
    Duplicates collapse onto the first way the agency was addressed.
    """
    if not entries:
        raise Unprocessable("at least one recipient is required", code="empty_recipients")
    resolved: dict[str, Recipient] = {}
    for entry in entries:
        if entry.startswith(GROUP_PREFIX):
            name = check_group_name(entry[len(GROUP_PREFIX) :])
            if session.get(Group, name) is None:
                raise Unprocessable(f"no recipient group {name!r}", code="unknown_group")
            targets = [m for m in group_members(session, name) if m != sender_id]
        else:
            check_code(entry)
            if entry == sender_id:
                raise Unprocessable("an agency cannot send to itself", code="recipient_is_sender")
            targets = [entry]
        for code in targets:
            agency = session.get(Agency, code)
            if agency is None:
                raise Unprocessable(
                    f"no agency {code!r} in the directory", code="unknown_recipient"
                )
            final, chain = _final_successor(session, agency)
            if final.id == sender_id:
                continue
            resolved.setdefault(final.id, Recipient(final.id, entry, tuple(chain)))
    if not resolved:
        raise Unprocessable("the recipients resolve to no agency", code="empty_recipients")
    return list(resolved.values())
