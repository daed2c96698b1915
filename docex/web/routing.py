"""Every router of the web UI is made here, so that none forgets the CSRF check."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from docex.web.context import check_csrf


def web_router() -> APIRouter:
    """A router for pages: not in the OpenAPI, every unsafe method's CSRF token checked."""
    return APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])
