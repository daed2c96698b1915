"""Early warning on the web (Cảnh báo sớm), for whoever the policy lets read alerts
(``Action.READ_ALERTS``); acknowledging is ``Action.ACK_ALERTS`` (supervisors, admins).

- ``/ui/supervision/alerts``: the open alerts, newest first, with severity badges and, for
  those who may, an "Xác nhận đã xử lý" form. Asked by htmx (``HX-Request``: the dashboard
  includes it by ``hx-get``) it answers the fragment alone, otherwise a whole page.
- ``POST /ui/supervision/alerts/{id}/ack``: acknowledges (``alerts.service.acknowledge``, as the
  API); by htmx it answers the fragment again, otherwise redirects to the page (303).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from docex.alerts import rules, service
from docex.alerts.models import OPEN
from docex.auth.policy import Action, Actor, allowed
from docex.errors import Unauthenticated
from docex.web.context import Person, WebContext, node_of
from docex.web.pages import render
from docex.web.routing import web_router

router = web_router()

PAGE = "/ui/supervision/alerts"


def _who(web: WebContext) -> Actor:
    if web.actor is None:  # a Person always has one
        raise Unauthenticated("sign in first", code="not_signed_in")
    return web.actor


def _htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _alerts(request: Request, actor: Actor, *, done: bool = False) -> HTMLResponse:
    node = node_of(request)
    with node.db.read() as session:
        rows = service.list_alerts(session, actor, state=OPEN)
    context = {
        "alerts": rows,
        "titles": rules.TITLES,
        "may_ack": allowed(actor, Action.ACK_ALERTS),
        "done": done,
    }
    template = "supervision/_alerts.html" if _htmx(request) else "supervision/alerts.html"
    return render(request, template, context)


@router.get(PAGE, response_class=HTMLResponse)
def alerts_page(request: Request, web: Person, done: str | None = None) -> HTMLResponse:
    return _alerts(request, _who(web), done=done == "acknowledged")


@router.post(f"{PAGE}/{{alert_id}}/ack", response_model=None)
def acknowledge(
    request: Request,
    web: Person,
    alert_id: str,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    actor = _who(web)
    node = node_of(request)
    with node.db.write() as session:
        service.acknowledge(session, actor, alert_id, note=note, now=node.clock.now())
    if _htmx(request):
        return _alerts(request, actor, done=True)
    return RedirectResponse(f"{PAGE}?done=acknowledged", status_code=303)
