"""The registry's decisions: creating and changing agencies, groups, and turning what a sender
wrote as recipients into the agencies that will receive (groups expanded, successions followed).

The API (POST/PATCH /agencies) and the CLI (``docex agency ...``) both change the directory
through ``register_agency`` and ``update_agency``, so every rule on admin input lives here once:
codes and node ids have a grammar (``codes.py``), a name is 1-300 characters of visible text,
the parent chain never loops (``parent_cycle``), and an agency that mail still reaches is
retired only with a successor (``successor_required``, see ``_check_retirement``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from docex.agencies.models import Agency, Group, GroupMember
from docex.audit import events
from docex.errors import Conflict, NotFound, Unprocessable
from docex.kit.text import describe, fold, hidden_char
from docex.signing.agency_keys import AgencyKeyStore
from docex.vocabulary.codes import (
    GROUP_PREFIX,
    check_code,
    check_group_name,
    check_node_id,
    is_valid_code,
)

KINDS = ("party", "state", "front", "social", "other")
MAX_SUCCESSION_DEPTH = 16
MAX_NAME_CHARS = 300

# How many deliveries to an agency are still queued. Routing knows (it depends on this package,
# not the other way round), so the callers of ``update_agency`` hand it in:
# ``docex.routing.deliveries.queued_to``.
QueuedMail = Callable[[Session, str], int]


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
        raise NotFound(f"no agency {agency_id[:40]!r}", code="agency_not_found")
    return agency


def check_name(name: str) -> str:
    if not name.strip() or len(name) > MAX_NAME_CHARS:
        raise Unprocessable(
            f"an agency name has 1 to {MAX_NAME_CHARS} characters, not only spaces",
            code="invalid_agency_name",
        )
    if (ch := hidden_char(name)) is not None:
        raise Unprocessable(
            f"an agency name cannot hold {describe(ch)} (a control or invisible character)",
            code="invalid_agency_name",
        )
    return name


def _check_parent(session: Session, agency_id: str, parent_id: str) -> Agency:
    """The parent, if placing ``agency_id`` under it keeps the hierarchy a tree."""
    check_code(parent_id)
    if parent_id == agency_id:
        raise Unprocessable(f"{agency_id} cannot be its own parent", code="parent_cycle")
    parent = get_agency(session, parent_id)
    chain = [agency_id]
    current: Agency | None = parent
    while current is not None and len(chain) <= MAX_SUCCESSION_DEPTH * 4:
        if current.id == agency_id:
            raise Unprocessable(
                f"{parent_id} is under {agency_id} ({' ← '.join(chain)}): "
                "the parents would go round in a circle",
                code="parent_cycle",
            )
        chain.append(current.id)
        current = session.get(Agency, current.parent_id) if current.parent_id else None
    return parent


def _check_retirement(session: Session, agency: Agency, queued_mail: QueuedMail) -> None:
    """Mail for a retired code goes to its successor; without one it is refused. So an agency
    that mail still reaches — deliveries to it still queued, a recipient group it belongs to,
    retired agencies whose successor it is — is retired only with a successor. One that nothing
    reaches any more (its mail delivered, in no group) may simply close."""
    reasons = []
    if queued := queued_mail(session, agency.id):
        reasons.append(f"{queued} deliveries to it are still queued")
    groups = list(
        session.scalars(select(GroupMember.group_name).where(GroupMember.agency_id == agency.id))
    )
    if groups:
        reasons.append(f"it is a member of group(s) {', '.join(sorted(groups))}")
    predecessors = list(
        session.scalars(
            select(Agency.id).where(Agency.successor_id == agency.id, Agency.status == "retired")
        )
    )
    if predecessors:
        reasons.append(f"it receives the mail of {', '.join(sorted(predecessors))}")
    if reasons:
        raise Unprocessable(
            f"{agency.id} cannot be retired without a successor: {'; '.join(reasons)}",
            code="successor_required",
        )


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
    check_name(name)
    check_node_id(node_id)
    if kind not in KINDS:
        raise Unprocessable(f"kind must be one of {', '.join(KINDS)}", code="invalid_agency_kind")
    if session.get(Agency, code) is not None:
        raise Conflict(f"agency {code} exists", code="agency_exists")
    if parent_id is not None:
        _check_parent(session, code, parent_id)
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


def register_agency(
    session: Session,
    agency_keys: AgencyKeyStore,
    *,
    code: str,
    name: str,
    kind: str,
    node_id: str,
    this_node: str,
    now: datetime,
    parent_id: str | None = None,
    actor_id: str | None = None,
) -> Agency:
    """Add an agency to the directory and, if it is hosted on this node (``this_node``), give
    it its custodial encryption key pair and publish the public half: what ``POST /agencies``
    and ``docex agency add`` both do, in the caller's transaction."""
    agency = create_agency(
        session,
        code=code,
        name=name,
        kind=kind,
        node_id=node_id,
        now=now,
        parent_id=parent_id,
        actor_id=actor_id,
    )
    ensure_custodial_keys(session, agency_keys, node_id=this_node, now=now)
    return agency


def update_agency(
    session: Session,
    agency_id: str,
    *,
    now: datetime,
    actor_id: str | None,
    queued_mail: QueuedMail,
    name: str | None = None,
    parent_id: str | None = None,
    node_id: str | None = None,
    status: str | None = None,
    successor_id: str | None = None,
) -> Agency:
    agency = get_agency(session, agency_id)
    changes: dict[str, str | None] = {}
    if name is not None:
        agency.name = changes["name"] = check_name(name)
        agency.search_key = search_key(agency_id, name)
    if parent_id is not None:
        _check_parent(session, agency_id, parent_id)
        agency.parent_id = changes["parent_id"] = parent_id
    if node_id is not None:
        agency.node_id = changes["node_id"] = check_node_id(node_id)
    if successor_id is not None:
        check_code(successor_id)
        if successor_id == agency_id:
            raise Unprocessable("an agency cannot succeed itself", code="invalid_successor")
        get_agency(session, successor_id)
        agency.successor_id = changes["successor_id"] = successor_id
    if status is not None:
        if status not in ("active", "retired"):
            raise Unprocessable("status is active or retired", code="invalid_agency_status")
        if status == "retired" and agency.status != "retired" and agency.successor_id is None:
            _check_retirement(session, agency, queued_mail)
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


MAX_GROUP_MEMBERS = 10_000  # every commune of the country (3,321) three times over
_IN_CHUNK = 500  # codes per ``IN (...)``: well under every database's parameter limit


def check_title(title: str) -> str:
    if not title.strip() or len(title) > MAX_NAME_CHARS:
        raise Unprocessable(
            f"a group title has 1 to {MAX_NAME_CHARS} characters, not only spaces",
            code="invalid_group_title",
        )
    if (ch := hidden_char(title)) is not None:
        raise Unprocessable(
            f"a group title cannot hold {describe(ch)} (a control or invisible character)",
            code="invalid_group_title",
        )
    return title


def _check_members(session: Session, members: list[str]) -> list[str]:
    """The codes, once each in the order given, if every one is an active agency of the
    directory: ``invalid_agency_code``, ``unknown_member``, ``member_retired`` (name its
    successor instead) or ``too_many_members`` otherwise. One query per 500 codes."""
    codes = list(dict.fromkeys(members))
    if len(codes) > MAX_GROUP_MEMBERS:
        raise Unprocessable(
            f"a group has at most {MAX_GROUP_MEMBERS} members", code="too_many_members"
        )
    for code in codes:
        check_code(code)
    status: dict[str, str] = {}
    for start in range(0, len(codes), _IN_CHUNK):
        chunk = codes[start : start + _IN_CHUNK]
        rows = session.execute(select(Agency.id, Agency.status).where(Agency.id.in_(chunk)))
        status.update((code, state) for code, state in rows)
    if unknown := [c for c in codes if c not in status]:
        raise Unprocessable(
            f"no agency {', '.join(unknown[:5])}{' …' if len(unknown) > 5 else ''} "
            "in the directory",
            code="unknown_member",
        )
    if retired := [c for c in codes if status[c] == "retired"]:
        raise Unprocessable(
            f"{', '.join(retired[:5])} retired: name the successor instead",
            code="member_retired",
        )
    return codes


def _insert_members(session: Session, name: str, codes: list[str]) -> None:
    if codes:  # one statement for the lot, however many communes
        session.execute(
            insert(GroupMember), [{"group_name": name, "agency_id": code} for code in codes]
        )


def get_group(session: Session, name: str) -> Group:
    group = session.get(Group, name) if _is_group_name(name) else None
    if group is None:
        raise NotFound(f"no group {name[:64]!r}", code="group_not_found")
    return group


def _is_group_name(name: str) -> bool:
    try:
        check_group_name(name)
    except Unprocessable:
        return False
    return True


def create_group(
    session: Session,
    name: str,
    members: list[str],
    *,
    title: str,
    now: datetime,
    description: str = "",
    actor_id: str | None = None,
) -> Group:
    """A new recipient group (what ``POST /groups`` and ``docex group add`` do), with its
    ``registry:group:created`` event listing the members, in the caller's transaction."""
    check_group_name(name)
    check_title(title)
    if description:
        check_title(description)
    if session.get(Group, name) is not None:
        raise Conflict(f"group {name} exists", code="group_exists")
    codes = _check_members(session, members)
    group = Group(name=name, title=title, description=description)
    session.add(group)
    session.flush()  # the group row before its members (a Core insert, not the unit of work)
    _insert_members(session, name, codes)
    events.record(
        session,
        events.GROUP_CREATED,
        at=now,
        actor_id=actor_id,
        group=name,
        title=title,
        members=codes,
    )
    return group


def update_group(
    session: Session,
    name: str,
    *,
    now: datetime,
    actor_id: str | None,
    title: str | None = None,
    description: str | None = None,
    members: list[str] | None = None,
    add: list[str] | None = None,
    remove: list[str] | None = None,
) -> Group:
    """Change a group's title (and description) and members: ``members`` replaces the list,
    ``add`` and ``remove`` change it (adding a member or removing a non-member changes
    nothing); the two ways do not mix (``conflicting_member_changes``). One
    ``registry:group:updated`` event says what changed: the title, the members added and
    removed."""
    group = get_group(session, name)
    if members is not None and (add is not None or remove is not None):
        raise Unprocessable(
            "give members (the whole list) or add/remove (changes to it), not both",
            code="conflicting_member_changes",
        )
    changes: dict[str, Any] = {}
    if title is not None and title != group.title:
        group.title = changes["title"] = check_title(title)
    if description is not None and description != group.description:
        group.description = changes["description"] = description and check_title(description)
    current = group_members(session, name)
    if members is not None:
        wanted = _check_members(session, members)
    else:
        dropped = set(remove or [])
        for code in dropped:
            check_code(code)
        wanted = [c for c in current if c not in dropped]
        wanted += _check_members(session, [c for c in add or [] if c not in set(current)])
        if len(wanted) > MAX_GROUP_MEMBERS:
            raise Unprocessable(
                f"a group has at most {MAX_GROUP_MEMBERS} members", code="too_many_members"
            )
    added = sorted(set(wanted) - set(current))
    removed = sorted(set(current) - set(wanted))
    if removed:
        for start in range(0, len(removed), _IN_CHUNK):
            session.execute(
                delete(GroupMember).where(
                    GroupMember.group_name == name,
                    GroupMember.agency_id.in_(removed[start : start + _IN_CHUNK]),
                )
            )
    _insert_members(session, name, added)
    if added or removed:
        changes["added"], changes["removed"] = added, removed
    events.record(session, events.GROUP_UPDATED, at=now, actor_id=actor_id, group=name, **changes)
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


def _load_agencies(session: Session, codes: list[str]) -> dict[str, Agency]:
    """These agencies (those that exist), 500 a query rather than one query each."""
    found: dict[str, Agency] = {}
    for start in range(0, len(codes), _IN_CHUNK):
        chunk = codes[start : start + _IN_CHUNK]
        found.update((a.id, a) for a in session.scalars(select(Agency).where(Agency.id.in_(chunk))))
    return found


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
    known: dict[str, Agency] = {}
    for entry in entries:
        if entry.startswith(GROUP_PREFIX):
            name = check_group_name(entry[len(GROUP_PREFIX) :])
            if session.get(Group, name) is None:
                raise Unprocessable(f"no recipient group {name!r}", code="unknown_group")
            targets = [m for m in group_members(session, name) if m != sender_id]
            known.update(_load_agencies(session, targets))  # a group of thousands: few queries
        else:
            check_code(entry)
            if entry == sender_id:
                raise Unprocessable("an agency cannot send to itself", code="recipient_is_sender")
            targets = [entry]
        for code in targets:
            agency = known.get(code) or session.get(Agency, code)
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
