from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Form

from docex.api.bodies import LimitedRoute
from docex.api.deps import ActorDep, ClientAddress, NodeDep
from docex.api.errors import error_responses
from docex.auth.schemas import MeOut, TokenOut
from docex.auth.service import issue_access_token

# A login form is a few hundred bytes.
router = APIRouter(tags=["auth"], route_class=LimitedRoute.capped(8 * 1024))


@router.post("/auth/token", response_model=TokenOut, responses=error_responses(401, 403, 422, 429))
def issue_token(
    node: NodeDep,
    address: ClientAddress,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
) -> TokenOut:
    """Exchange a person's username and password for a bearer token (429 while locked out)."""
    ttl = node.settings.auth.access_token_ttl_seconds
    issue = partial(issue_access_token, ttl_seconds=ttl)
    issued = node.sign_in.attempt(username, password, address=address, then=issue)
    return TokenOut(access_token=issued.secret, expires_in=ttl)


@router.get("/me", response_model=MeOut, responses=error_responses(401))
def me(actor: ActorDep) -> MeOut:
    """Who the bearer token belongs to, and for which agency it acts."""
    return MeOut(
        id=actor.id,
        kind=actor.kind.value,
        agency_id=actor.agency_id,
        clearance=actor.clearance.value,
        username=actor.username,
    )
