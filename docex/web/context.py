"""Who is asking, in which language, with which CSRF token: the web's dependencies.

- ``Visitor``: anyone (the sign-in page); ``Person``: someone signed in, by the session cookie
  (``docex.auth.sessions``), or ``Unauthenticated`` (``not_signed_in`` / ``session_expired``),
  which the web's error page turns into a redirect to the sign-in page.
- ``check_csrf``: every router of the web has it. A request that is not GET or HEAD must carry
  the CSRF token (form field ``csrf``, or header ``X-CSRF-Token`` for htmx's requests): the
  session's, or before sign-in the double-submit cookie's. Otherwise 403 ``csrf_invalid``.
  A multipart form (an upload) sends it in the header: its body is streamed, never parsed here.
"""

from __future__ import annotations

import hmac
import secrets
from contextlib import suppress
from dataclasses import dataclass
from typing import Annotated, Final, NoReturn

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from docex.auth.policy import Actor
from docex.auth.sessions import SessionPolicy, csrf_matches, csrf_token, resume
from docex.errors import Forbidden, Unauthenticated
from docex.node import Node
from docex.web.i18n import LOCALE_COOKIE, pick

CSRF_FIELD: Final = "csrf"
CSRF_HEADER: Final = "x-csrf-token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD"})


@dataclass
class WebContext:
    """What a page knows of its request; ``request.state.web``."""

    locale: str
    csrf: str = ""
    actor: Actor | None = None
    full_name: str = ""
    session_secret: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.actor is not None


def node_of(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def session_cookie(node: Node) -> str:
    return "__Host-docex-session" if node.settings.web.cookie_secure else "docex-session"


def csrf_cookie(node: Node) -> str:
    return "__Host-docex-csrf" if node.settings.web.cookie_secure else "docex-csrf"


def session_policy(node: Node) -> SessionPolicy:
    web = node.settings.web
    return SessionPolicy(web.session_idle_seconds, web.session_absolute_seconds)


def context_of(request: Request) -> WebContext:
    """The request's context, made on first use (the error page may need one too)."""
    known: WebContext | None = getattr(request.state, "web", None)
    if known is None:
        node = node_of(request)
        locale = pick(request.cookies.get(LOCALE_COOKIE), node.settings.web.default_locale)
        known = WebContext(locale=locale)
        request.state.web = known
    return known


def _visitor(request: Request) -> WebContext:
    web = context_of(request)
    if not web.csrf:
        web.csrf = request.cookies.get(csrf_cookie(node_of(request))) or secrets.token_urlsafe(32)
    return web


def signed_in(request: Request) -> WebContext:
    """The request's context with its signed-in person; ``Unauthenticated`` if none."""
    web = context_of(request)
    if web.actor is not None:
        return web
    node = node_of(request)
    secret = request.cookies.get(session_cookie(node))
    if not secret or len(secret) > 100:
        raise Unauthenticated("sign in first", code="not_signed_in")
    found = resume(node.db, secret, node.clock.now(), session_policy(node))
    web.actor, web.full_name, web.session_secret = found.actor, found.full_name, secret
    web.csrf = csrf_token(secret)
    request.state.actor = found.actor  # the refusal handler audits who was refused
    return web


async def _visitor_dep(request: Request) -> WebContext:
    return _visitor(request)


async def person_dependency(request: Request) -> WebContext:
    return await run_in_threadpool(signed_in, request)


Visitor = Annotated[WebContext, Depends(_visitor_dep)]
Person = Annotated[WebContext, Depends(person_dependency)]


async def check_csrf(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    # A multipart upload streams to the spool (documents/upload.py), never parsed here: its
    # page sends the token in the header.
    if sent is None and request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or len(sent) > 200:
        await _refuse_csrf(request, "the form's CSRF token is missing")
    node = node_of(request)
    secret = request.cookies.get(session_cookie(node))
    if secret and len(secret) <= 100 and csrf_matches(secret, sent):
        return
    pre = request.cookies.get(csrf_cookie(node))
    if pre and hmac.compare_digest(pre.encode(), sent.encode()):
        return
    await _refuse_csrf(request, "the form's CSRF token does not match")


async def _refuse_csrf(request: Request, detail: str) -> NoReturn:
    """403 ``csrf_invalid``, audited as the signed-in person's refusal when there is one."""
    with suppress(Unauthenticated):  # anonymous: tallied by address
        await run_in_threadpool(signed_in, request)
    raise Forbidden(detail, code="csrf_invalid")
