"""Typed FastAPI dependencies: the node, the authenticated actor, database sessions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from docex.auth.policy import Actor
from docex.auth.service import authenticate
from docex.errors import Unauthenticated
from docex.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from docex.node import Node

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <token>`")


def get_node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


NodeDep = Annotated[Node, Depends(get_node)]


def read_session(node: NodeDep) -> Iterator[Session]:
    with node.db.read() as session:
        yield session


def write_session(node: NodeDep) -> Iterator[Session]:
    """The request boundary commits: services only add and flush."""
    with node.db.write() as session:
        yield session


ReadSession = Annotated[Session, Depends(read_session)]
# scope="function": commit when the endpoint returns, before the response is sent, so a
# client never holds a 2xx for a change that was not committed.
WriteSession = Annotated[Session, Depends(write_session, scope="function")]


def get_actor(
    request: Request,
    node: NodeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    known: Actor | None = getattr(request.state, "actor", None)
    if known is not None:  # authenticated already, before its body was read (api/bodies.py)
        return known
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("send Authorization: Bearer <token>", code="missing_token")
    with node.db.read() as session:
        actor = authenticate(session, credentials.credentials, now=node.clock.now())
    request.state.actor = actor
    return actor


ActorDep = Annotated[Actor, Depends(get_actor)]


async def authenticate_request(request: Request) -> Actor:
    """``get_actor`` outside FastAPI's dependency solving, for code that must know the caller
    before the request body is read."""
    credentials = await _bearer(request)
    return await run_in_threadpool(get_actor, request, get_node(request), credentials)


def page_limit(limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT) -> int:
    return limit


def page_cursor(cursor: Annotated[str | None, Query(max_length=500)] = None) -> str | None:
    return cursor


LimitDep = Annotated[int, Depends(page_limit)]
CursorDep = Annotated[str | None, Depends(page_cursor)]
