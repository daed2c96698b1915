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

from docex.web import admin, audit, compose, document, inbox, outbox, signin
from docex.web.errors import error_page
from docex.web.pages import STATIC_PREFIX

STATIC_DIR = Path(__file__).parent / "static"

ROUTERS = [
    signin.router,
    inbox.router,
    compose.router,
    outbox.router,
    document.router,
    audit.router,
    admin.router,
]


def install(app: FastAPI) -> None:
    """Mount the web UI's pages and assets on ``app``; its refusals become pages."""
    for router in ROUTERS:
        app.include_router(router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="web-static")
    app.state.error_page = error_page
