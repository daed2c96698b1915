"""Headers every response carries, and the API documentation pages with a policy of their own.

- ``X-Content-Type-Options: nosniff`` on every response: a browser never second-guesses a
  declared type (an attachment declared ``text/plain`` is never run as HTML).
- ``Cache-Control: no-store`` on every ``/api/`` response: documents, mailboxes, receipts,
  traces and files are someone's mail, not to be kept by a browser or a proxy.
- ``Content-Security-Policy: default-src 'none'; frame-ancestors 'none'`` on every response
  that has no policy of its own: JSON is never a page, and nothing of docex is framed.
- ``/docs`` (Swagger UI) and ``/redoc`` load their scripts, styles and icon from the node
  itself (``/docs-assets/``, vendored under ``docex/api/static/``, see its SOURCE.md), never
  from a CDN: a closed agency network still shows them. Their policy allows scripts from
  ``'self'`` and the page's inline script by its SHA-256 (computed from the page as served),
  nothing inline else, and no other origin for anything.

:class:`SecurityHeaders` wraps the whole application, outside Starlette's own error middleware,
so that even a 500 carries them; a header a response sets itself is left as it is.
"""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOSNIFF = (b"x-content-type-options", b"nosniff")
NO_STORE = (b"cache-control", b"no-store")
DEFAULT_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")

STATIC_DIR = Path(__file__).parent / "static"
ASSETS = "/docs-assets"


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [NOSNIFF, DEFAULT_CSP]
        if scope.get("path", "").startswith("/api/"):
            extra.append(NO_STORE)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _Page(HTMLParser):
    """The inline scripts of a page, to allow them by hash and nothing else inline."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.inline_scripts: list[str] = []
        self._in_script = False
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and not dict(attrs).get("src"):
            self._in_script, self._text = True, []

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._in_script:
            self.inline_scripts.append("".join(self._text))
            self._in_script = False


def script_hashes(html: str) -> list[str]:
    """CSP source expressions (``'sha256-...'``) for each inline script of ``html``."""
    page = _Page()
    page.feed(html)
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
        for s in page.inline_scripts
    ]


def _with_policy(page: HTMLResponse, **sources: str) -> HTMLResponse:
    html = bytes(page.body).decode()
    directives = {
        "default-src": "'none'",
        "script-src": " ".join(["'self'", *script_hashes(html)]),
        "connect-src": "'self'",
        "img-src": "'self' data:",
        "base-uri": "'none'",
        "form-action": "'none'",
        "frame-ancestors": "'none'",
        **{name.replace("_", "-"): value for name, value in sources.items()},
    }
    policy = "; ".join(f"{name} {value}" for name, value in directives.items())
    return HTMLResponse(html, headers={"Content-Security-Policy": policy})


_FAVICON = f"{ASSETS}/swagger-ui/favicon-32x32.png"


def _swagger_ui(request: Request) -> HTMLResponse:
    app = request.app
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{ASSETS}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=_FAVICON,
        # No badge from validator.swagger.io: it would send the spec's URL away.
        swagger_ui_parameters={"validatorUrl": None},
    )
    # Swagger UI sets style attributes, and its icons are data: SVGs.
    return _with_policy(page, style_src="'self' 'unsafe-inline'")


def _redoc(request: Request) -> HTMLResponse:
    app = request.app
    page = get_redoc_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title=f"{app.title} - ReDoc",
        redoc_js_url=f"{ASSETS}/redoc/redoc.standalone.js",
        redoc_favicon_url=_FAVICON,
        with_google_fonts=False,
    )
    # ReDoc injects its styles at run time and runs its search in a blob: worker.
    return _with_policy(page, style_src="'unsafe-inline'", worker_src="blob:")


def docs_router(app: FastAPI) -> APIRouter:
    """``/docs`` and ``/redoc`` on the vendored assets, with their policies; the assets are
    mounted on ``app`` at :data:`ASSETS`. The pages are module functions reading the app from
    the request, not closures over it: FastAPI caches facts about every endpoint callable in
    module-level LRU caches, where a closure would keep its whole app (and node) alive."""
    router = APIRouter(include_in_schema=False)
    app.mount(ASSETS, StaticFiles(directory=STATIC_DIR), name="docs-assets")
    router.add_api_route("/docs", _swagger_ui, methods=["GET"], name="swagger_ui")
    router.add_api_route("/redoc", _redoc, methods=["GET"], name="redoc")
    return router
