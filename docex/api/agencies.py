from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from docex.agencies import service
from docex.agencies.models import Agency, Group
from docex.agencies.schemas import (
    AgencyCreate,
    AgencyOut,
    AgencyPage,
    AgencyPatch,
    GroupCreate,
    GroupList,
    GroupOut,
    GroupPatch,
)
from docex.api.bodies import LimitedRoute
from docex.api.deps import (
    ActorDep,
    CursorDep,
    LimitDep,
    NodeDep,
    ReadSession,
)
from docex.api.errors import error_responses
from docex.auth.policy import Action, authorize
from docex.kit.pagination import decode_cursor, encode_cursor
from docex.kit.text import Line
from docex.routing.deliveries import queued_to

router = APIRouter(tags=["agencies"], route_class=LimitedRoute)


def _out(agency: Agency) -> AgencyOut:
    return AgencyOut(
        id=agency.id,
        name=agency.name,
        kind=agency.kind,
        parent_id=agency.parent_id,
        node_id=agency.node_id,
        status=agency.status,
        successor_id=agency.successor_id,
        encryption_key=agency.encryption_key,
    )


@router.get("/agencies", response_model=AgencyPage, responses=error_responses(400, 401))
def list_agencies(
    actor: ActorDep,
    session: ReadSession,
    limit: LimitDep,
    cursor: CursorDep,
    q: Annotated[Line | None, Query(max_length=100)] = None,
    parent: Annotated[str | None, Query(pattern=r"^[0-9A-Za-z.]{1,32}$")] = None,
) -> AgencyPage:
    """The directory of agencies, searchable by code or name, filterable by parent."""
    authorize(actor, Action.READ_REGISTRY)
    after = decode_cursor(cursor, str)[0] if cursor else None
    rows = service.search_agencies(session, q=q, parent=parent, after=after, limit=limit + 1)
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return AgencyPage(items=[_out(a) for a in rows[:limit]], next_cursor=next_cursor)


@router.get("/agencies/{agency_id}", response_model=AgencyOut, responses=error_responses(401, 404))
def get_agency(agency_id: str, actor: ActorDep, session: ReadSession) -> AgencyOut:
    """One agency of the directory."""
    authorize(actor, Action.READ_REGISTRY)
    return _out(service.get_agency(session, agency_id))


@router.post(
    "/agencies",
    response_model=AgencyOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def create_agency(body: AgencyCreate, actor: ActorDep, node: NodeDep) -> AgencyOut:
    """Add an agency to the directory (admin)."""
    authorize(actor, Action.ADMIN_REGISTRY)
    with node.db.write() as session:
        agency = service.register_agency(
            session,
            node.agency_keys,
            code=body.id,
            name=body.name,
            kind=body.kind,
            parent_id=body.parent_id,
            node_id=node.settings.node_id if body.node_id is None else body.node_id,
            this_node=node.settings.node_id,
            now=node.clock.now(),
            actor_id=actor.id,
        )
        return _out(agency)


@router.patch(
    "/agencies/{agency_id}",
    response_model=AgencyOut,
    responses=error_responses(400, 401, 403, 404, 422),
)
def patch_agency(agency_id: str, body: AgencyPatch, actor: ActorDep, node: NodeDep) -> AgencyOut:
    """Rename, move, retire or re-home an agency (admin); retiring may need a successor."""
    authorize(actor, Action.ADMIN_REGISTRY)
    with node.db.write() as session:
        agency = service.update_agency(
            session,
            agency_id,
            now=node.clock.now(),
            actor_id=actor.id,
            queued_mail=queued_to,
            **body.model_dump(exclude_unset=True),
        )
        return _out(agency)


@router.get("/groups", response_model=GroupList, responses=error_responses(401))
def list_groups(actor: ActorDep, session: ReadSession) -> GroupList:
    """Named recipient groups; write `group:<name>` as a recipient to reach all members."""
    authorize(actor, Action.READ_REGISTRY)
    groups = service.groups_with_members(session)
    return GroupList(items=[_group_out(group, members) for group, members in groups])


def _group_out(group: Group, members: list[str]) -> GroupOut:
    return GroupOut(
        name=group.name, title=group.title, description=group.description, members=members
    )


@router.post(
    "/groups",
    response_model=GroupOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 409, 422),
)
def create_group(body: GroupCreate, actor: ActorDep, node: NodeDep) -> GroupOut:
    """Create a recipient group (admin)."""
    authorize(actor, Action.ADMIN_REGISTRY)
    with node.db.write() as session:
        group = service.create_group(
            session,
            body.name,
            body.members,
            title=body.title,
            description=body.description,
            now=node.clock.now(),
            actor_id=actor.id,
        )
        return _group_out(group, service.group_members(session, group.name))


@router.patch(
    "/groups/{group_name}",
    response_model=GroupOut,
    responses=error_responses(400, 401, 403, 404, 422),
)
def patch_group(group_name: str, body: GroupPatch, actor: ActorDep, node: NodeDep) -> GroupOut:
    """Change a group's title or members (admin): `members` replaces the list, `add` and
    `remove` change it."""
    authorize(actor, Action.ADMIN_REGISTRY)
    with node.db.write() as session:
        group = service.update_group(
            session,
            group_name,
            now=node.clock.now(),
            actor_id=actor.id,
            **body.model_dump(exclude_unset=True),
        )
        return _group_out(group, service.group_members(session, group_name))
