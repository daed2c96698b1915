"""The web's answer to a refusal: a page, not JSON.

The node's one error handler (``docex.api.errors``) audits every refusal, then asks
``error_page`` for the answer of a request under ``/ui/``: a GET from someone not (or no
longer) signed in is sent to the sign-in page; a sign-in refused shows the form again with why;
anything else gets the error page, with the status (404 for a document one may not see, as for
one that does not exist)."""

from __future__ import annotations

from contextlib import suppress
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from docex.errors import Unauthenticated
from docex.web.context import context_of, signed_in
from docex.web.i18n import gettext_noop as N_
from docex.web.pages import render
from docex.web.signin import sign_in_page

PREFIX = "/ui"

# What a person reads for an error code; the rest by status.
MESSAGES: dict[str, str] = {
    "not_found": N_("This page or document does not exist, or you may not see it."),
    "document_not_found": N_("This page or document does not exist, or you may not see it."),
    "csrf_invalid": N_("The form has expired. Go back, reload the page and try again."),
    "forbidden": N_("Your role does not allow this."),
    "invalid_credentials": N_("Wrong username or password."),
    "too_many_requests": N_("Too many failed attempts: wait a moment and try again."),
    "session_expired": N_("Your session has ended: sign in again."),
    "recalled": N_("The sender recalled this document."),
    # Single sign-on (docex/web/oidc.py); every other oidc_* code reads as a failed sign-in.
    "oidc_not_linked": N_("This identity is linked to no account here: ask an administrator."),
    "passwords_disabled": N_("Passwords are disabled here: sign in through the identity provider."),
    "oidc_provider_unavailable": N_("The identity provider does not answer: try again later."),
}
OIDC_FAILED = N_("The sign-in through the identity provider failed or expired: try again.")
BY_STATUS: dict[int, str] = {
    400: N_("The request could not be understood."),
    401: N_("Sign in first."),
    403: N_("Your role does not allow this."),
    404: N_("This page or document does not exist, or you may not see it."),
    409: N_("This conflicts with what was done before."),
    410: N_("This is no longer available."),
    413: N_("The file is too large."),
    415: N_("This kind of file is not accepted."),
    422: N_("Some fields are not valid."),
    429: N_("Too many attempts: wait a moment and try again."),
}
TITLES: dict[int, str] = {
    404: N_("Not found"),
    403: N_("Not allowed"),
    401: N_("Sign in"),
}


def _safe_next(path: str) -> str:
    return path if path.startswith(PREFIX) and not path.startswith("//") else f"{PREFIX}/"


async def error_page(
    request: Request, status: int, code: str, detail: str, headers: dict[str, str] | None
) -> Response | None:
    path = request.url.path
    if not (path == PREFIX or path.startswith(f"{PREFIX}/")):
        return None
    web = context_of(request)
    if web.actor is None and status != 401:
        with suppress(Unauthenticated):  # the page shows the menu of whoever is signed in
            web = await run_in_threadpool(signed_in, request)
    if status == 401 and request.method in ("GET", "HEAD") and code != "invalid_credentials":
        target = f"{PREFIX}/sign-in?next={quote(_safe_next(path))}"
        if code == "session_expired":
            target += "&expired=1"
        if request.headers.get("hx-request"):  # htmx: reload the whole page there
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    message = MESSAGES.get(code) or BY_STATUS.get(status, N_("Something went wrong."))
    if code.startswith("oidc_") and code not in MESSAGES:
        message = OIDC_FAILED
    if path == f"{PREFIX}/sign-in" and request.method == "POST":
        return sign_in_page(request, web, error=message, status_code=status, headers=headers)
    return render(
        request,
        "error.html",
        {
            "status": status,
            "code": code,
            "message": message,
            "detail": detail,
            "title": TITLES.get(status, N_("Error")),
        },
        status_code=status,
        headers=headers,
    )
