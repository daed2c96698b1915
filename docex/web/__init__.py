"""The web UI: pages for people (clerks, leaders, auditors, operators), served by the node
itself under ``/ui/``, on the same services and the same access policy as the API.

Server-rendered (Jinja2 templates, ``templates/``), enhanced by htmx (vendored, ``static/``);
no build step, nothing loaded from elsewhere. Vietnamese first (``i18n``), times in Vietnam
time (``pages.vn_time``). ``install(app)`` mounts it; docs/web.md tells the screens.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import Message, Receive, Scope, Send

from docex.web import (
    admin,
    alerts,
    audit,
    compose,
    document,
    inbox,
    oidc,
    outbox,
    signin,
    supervision,
)
from docex.web.errors import error_page
from docex.web.pages import STATIC_PREFIX

STATIC_DIR = Path(__file__).parent / "static"

ROUTERS = [
    signin.router,
    oidc.router,
    inbox.router,
    compose.router,
    outbox.router,
    document.router,
    audit.router,
    admin.router,
    supervision.router,
    alerts.router,
]


class _Assets:
    """The vendored script and stylesheet: gzipped (htmx is 52 KB, 16 KB gzipped) and kept by
    the browser for an hour (then revalidated by ETag). Pages are never compressed: they carry
    the CSRF token beside text a visitor chooses (a search), what BREACH feeds on."""

    def __init__(self) -> None:
        self.app = GZipMiddleware(StaticFiles(directory=STATIC_DIR), minimum_size=1024)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def cached(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                headers = [*message.get("headers", []), (b"cache-control", b"max-age=3600")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, cached)


def install(app: FastAPI) -> None:
    """Mount the web UI's pages and assets on ``app``; its refusals become pages."""
    for router in ROUTERS:
        app.include_router(router)
    app.mount(STATIC_PREFIX, _Assets(), name="web-static")
    app.state.error_page = error_page
