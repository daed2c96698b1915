"""Single sign-on in the web UI (``docex.auth.oidc``): ``/ui/oidc/start`` sends the browser to
the identity provider, ``/ui/oidc/callback`` brings it back signed in, in the same kind of web
session as a password sign-in (``auth:session:opened`` with ``method: oidc``).

The flow's secret lives in a cookie for ten minutes (HttpOnly, ``SameSite=Lax`` so that it
comes back with the provider's redirect, ``Secure`` like the session's), dropped at a successful
sign-in; a code is good once (the provider refuses it again). A refusal is the error page (4xx,
audited by the node's error handler), and no session.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from docex.auth.models import Principal
from docex.auth.policy import Kind
from docex.auth.sessions import OpenedSession, open_session
from docex.kit.proxies import client_address
from docex.node import Node
from docex.web.context import Visitor, node_of, session_policy
from docex.web.routing import web_router
from docex.web.signin import HOMES, signed_in_at

router = web_router()

FLOW_SECONDS = 600


def flow_cookie(node: Node) -> str:
    return "__Host-docex-oidc" if node.settings.web.cookie_secure else "docex-oidc"


@router.get("/ui/oidc/start")
def start(request: Request, web: Visitor) -> RedirectResponse:
    """To the identity provider (404 ``oidc_not_configured`` when there is none)."""
    node = node_of(request)
    begun = node.oidc.begin()
    response = RedirectResponse(begun.url, status_code=303)
    response.set_cookie(
        flow_cookie(node),
        begun.secret,
        max_age=FLOW_SECONDS,
        httponly=True,
        secure=node.settings.web.cookie_secure,
        samesite="lax",
        path="/",
    )
    return response


@router.get("/ui/oidc/callback")
def callback(
    request: Request,
    web: Visitor,
    code: Annotated[str | None, Query(max_length=2000)] = None,
    state: Annotated[str | None, Query(max_length=200)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    iss: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Back from the identity provider: signed in and home, or the error page."""
    node = node_of(request)
    address = client_address(request.scope, node.proxies)
    policy = session_policy(node)
    secret = request.cookies.get(flow_cookie(node))

    def then(session: Session, principal: Principal, now: datetime) -> tuple[OpenedSession, Kind]:
        opened = open_session(session, principal, now, policy, client=address, method="oidc")
        return opened, Kind(principal.kind)

    opened, kind = node.oidc.finish(
        secret=secret, state=state, code=code, error=error, iss=iss, then=then
    )
    response = signed_in_at(node, opened, HOMES.get(kind, "/ui/inbox"))
    response.delete_cookie(flow_cookie(node), path="/", secure=node.settings.web.cookie_secure)
    return response
