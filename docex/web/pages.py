"""Rendering a page: the templates (Jinja2, autoescaped), the locale's words, Vietnam time, and
the headers every page carries.

Every page is sent with ``Cache-Control: no-store`` (it shows someone's mail) and a
Content-Security-Policy that allows scripts, styles and images from the node only, no inline
script or style, no plug-in, no framing by anyone (``frame-ancestors 'none'``), forms posted to
the node only: a page loads nothing but from the node, and a page of docex is never framed.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from docex.auth.policy import Action, allowed
from docex.kit.clock import VIETNAM_TZ, as_utc
from docex.vocabulary.statuses import LABELS
from docex.web.context import WebContext
from docex.web.i18n import LOCALES, translations
from docex.web.i18n import gettext_noop as N_

TEMPLATES: Final = Path(__file__).parent / "templates"
STATIC_PREFIX: Final = "/ui/static"

PAGE_CSP: Final = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "frame-src 'self'",  # the inline PDF view, served by the node
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS: Final = {
    "Content-Security-Policy": PAGE_CSP,
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


# The main menu: an entry shows when the policy allows its action to the person.
MENU: Final = (
    ("/ui/inbox", N_("Inbox"), Action.READ_MAILBOX),
    ("/ui/outbox", N_("Outbox"), Action.READ_MAILBOX),
    ("/ui/compose", N_("Compose"), Action.SIGN_AS_SIGNER),
    ("/ui/audit", N_("Audit"), Action.READ_AUDIT),
    ("/ui/admin", N_("Administration"), Action.ADMIN_REGISTRY),
    ("/ui/supervision", N_("Supervision"), Action.SUPERVISE),
    ("/ui/account", N_("My account"), Action.READ_REGISTRY),
)


ROLE_NAMES: Final = {
    "clerk": N_("Clerk"),
    "leader": N_("Leader"),
    "system": N_("System"),
    "auditor": N_("Auditor"),
    "admin": N_("Administrator"),
    "supervisor": N_("Supervisor"),
}
URGENCY_NAMES: Final = {
    "normal": N_("Normal"),
    "urgent": N_("Urgent"),
    "very_urgent": N_("Very urgent"),
    "flash": N_("Flash"),
}
CLEARANCE_NAMES: Final = {
    "normal": N_("Not classified"),
    "confidential": N_("Confidential"),
    "secret": N_("Secret"),
    "top_secret": N_("Top secret"),
}


def status_name(code: str | None, locale: str) -> str:
    """A business status in words (its one wording, ``vocabulary.statuses.LABELS``)."""
    if code is None:
        return ""
    vi, en = LABELS.get(code, (code, code))
    return vi if locale == "vi" else en


def menu(web: WebContext) -> list[tuple[str, str]]:
    actor = web.actor
    if actor is None:
        return []
    return [(href, label) for href, label, action in MENU if allowed(actor, action)]


def vn_time(value: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    """A moment as people in Vietnam read it (UTC+7), ``dd/mm/yyyy hh:mm`` by default."""
    if value is None:
        return ""
    return as_utc(value).astimezone(VIETNAM_TZ).strftime(fmt)


def vn_date(value: datetime | None) -> str:
    return vn_time(value, "%d/%m/%Y")


@cache
def environment(locale: str) -> Environment:
    """One environment per locale, its catalogue installed (``_``, ``ngettext``, ``trans``)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters["vn_time"] = vn_time
    env.filters["vn_date"] = vn_date
    env.globals["static"] = STATIC_PREFIX
    env.globals["locales"] = LOCALES
    env.globals["menu"] = menu
    env.globals["role_names"] = ROLE_NAMES
    env.globals["urgency_names"] = URGENCY_NAMES
    env.globals["clearance_names"] = CLEARANCE_NAMES
    env.globals["status_name"] = lambda code: status_name(code, locale)
    return env


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """``template`` rendered for ``request`` (its locale, its signed-in person if any, the
    CSRF token of its session), with the page headers."""
    web = request.state.web
    env = environment(web.locale)
    html = env.get_template(template).render(
        {"request": request, "web": web, "path": request.url.path, **(context or {})}
    )
    return HTMLResponse(html, status_code=status_code, headers={**PAGE_HEADERS, **(headers or {})})
