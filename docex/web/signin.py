"""Signing in and out, the language switch, and where ``/`` leads.

Sign-in goes through ``PasswordSignIn`` (``docex.auth.signin``), the API's token endpoint's
path: the same throttling per account and per address, the same audit events. A success opens
a web session (``docex.auth.sessions``) and sets its cookie: ``HttpOnly``, ``Secure`` with the
``__Host-`` prefix (unless ``DOCEX_WEB__COOKIE_SECURE=false``), ``SameSite=Lax``, no expiry
(a browser session), the server ending it on idle or absolute expiry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from docex.auth.models import Principal
from docex.auth.policy import Kind
from docex.auth.sessions import OpenedSession, close, open_session
from docex.errors import Unauthenticated
from docex.kit.proxies import client_address
from docex.node import Node
from docex.web.context import (
    Person,
    Visitor,
    WebContext,
    csrf_cookie,
    node_of,
    session_cookie,
    session_policy,
    signed_in,
)
from docex.web.i18n import LOCALE_COOKIE, LOCALES
from docex.web.pages import render
from docex.web.routing import web_router

router = web_router()

HOMES = {
    Kind.CLERK: "/ui/inbox",
    Kind.LEADER: "/ui/inbox",
    Kind.AUDITOR: "/ui/audit",
    Kind.ADMIN: "/ui/admin",
    Kind.SUPERVISOR: "/ui/supervision",
}


def home_of(web: WebContext) -> str:
    return HOMES.get(web.actor.kind, "/ui/inbox") if web.actor else "/ui/sign-in"


def local_path(target: str | None, default: str) -> str:
    """``target`` if it is a path of the web UI on this node, else ``default``."""
    if not target or len(target) > 500:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/ui") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(c) < 32 for c in target):
        return default
    return target


def sign_in_page(
    request: Request,
    web: WebContext,
    *,
    error: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    next_path: str | None = None,
    expired: bool = False,
) -> HTMLResponse:
    node = node_of(request)
    if next_path is None:
        next_path = local_path(request.query_params.get("next"), "")
    response = render(
        request,
        "sign_in.html",
        {
            "error": error,
            "next": next_path,
            "expired": expired,
            "sso": node.settings.oidc.name if node.oidc.configured else None,
            "passwords": node.settings.auth.passwords,
        },
        status_code=status_code,
        headers=headers,
    )
    if not web.csrf:
        return response
    response.set_cookie(
        csrf_cookie(node),
        web.csrf,
        httponly=True,
        secure=node.settings.web.cookie_secure,
        samesite="strict",
        path="/",
    )
    return response


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=303)


@router.get("/ui")
@router.get("/ui/")
def home(request: Request, web: Visitor) -> RedirectResponse:
    """The signed-in person's first screen, or the sign-in page."""
    try:
        web = signed_in(request)
    except Unauthenticated:  # not signed in, or no longer
        return RedirectResponse("/ui/sign-in", status_code=303)
    return RedirectResponse(home_of(web), status_code=303)


@router.get("/ui/sign-in", response_class=HTMLResponse)
def sign_in_form(
    request: Request,
    web: Visitor,
    next: Annotated[str | None, Query(max_length=500)] = None,
    expired: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    return sign_in_page(request, web, next_path=local_path(next, ""), expired=expired)


@router.post("/ui/sign-in")
def sign_in(
    request: Request,
    web: Visitor,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    node = node_of(request)
    address = client_address(request.scope, node.proxies)
    policy = session_policy(node)

    def then(session: Session, principal: Principal, now: datetime) -> tuple[OpenedSession, Kind]:
        return open_session(session, principal, now, policy, client=address), Kind(principal.kind)

    opened, kind = node.sign_in.attempt(username, password, address=address, then=then)
    response = signed_in_at(node, opened, local_path(next, HOMES.get(kind, "/ui/inbox")))
    response.delete_cookie(csrf_cookie(node), path="/", secure=node.settings.web.cookie_secure)
    return response


def signed_in_at(node: Node, opened: OpenedSession, target: str) -> RedirectResponse:
    """The answer to a sign-in, by password or through the identity provider: the session
    cookie (HttpOnly, Secure, SameSite=Lax, the whole site) and on to ``target``."""
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        session_cookie(node),
        opened.secret,
        httponly=True,
        secure=node.settings.web.cookie_secure,
        samesite="lax",
        path="/",
    )
    return response


@router.post("/ui/sign-out")
async def sign_out(request: Request, web: Person) -> RedirectResponse:
    node = node_of(request)
    secret = web.session_secret
    if secret is not None:

        def work() -> None:
            with node.db.write() as session:
                close(session, secret, node.clock.now())

        await run_in_threadpool(work)
    response = RedirectResponse("/ui/sign-in", status_code=303)
    response.delete_cookie(session_cookie(node), path="/", secure=node.settings.web.cookie_secure)
    return response


@router.get("/ui/lang/{locale}")
def switch_language(
    locale: str, next: Annotated[str | None, Query(max_length=500)] = None
) -> RedirectResponse:
    response = RedirectResponse(local_path(next, "/ui/"), status_code=303)
    if locale in LOCALES:
        response.set_cookie(
            LOCALE_COOKIE, locale, max_age=365 * 86400, samesite="lax", path="/", httponly=True
        )
    return response


@router.get("/ui/account", response_class=HTMLResponse)
def account(request: Request, web: Person) -> HTMLResponse:
    """Who is signed in: name, role, agency, clearance."""
    return render(request, "account.html")
