"""The web UI through a TestClient over https (its cookies are Secure), on SQLite and
PostgreSQL. ``browser/`` drives it in Debian's chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from docex.app import create_app
from docex.config import Settings
from docex.signing.sandbox import ValidatorPool

BASE = "https://testserver"


@pytest.fixture
def web(settings: Settings, validator_pool: ValidatorPool) -> Iterator[TestClient]:
    """A node's web UI; redirects are not followed (tests look at them)."""
    app = create_app(settings, validators=validator_pool)
    with TestClient(
        app, base_url=BASE, raise_server_exceptions=False, follow_redirects=False
    ) as client:
        yield client


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


def login(client: TestClient, credentials: dict[str, Any], who: str) -> str:
    """Sign ``who`` in (``AGENCY`` for its clerk, ``AGENCY/leader``, ``auditor``, ``admin``);
    returns the CSRF token of the new session."""
    username, password = person_of(credentials, who)
    page = client.get("/ui/sign-in")
    response = client.post(
        "/ui/sign-in",
        data={"username": username, "password": password, "csrf": csrf_of(page.text)},
    )
    assert response.status_code == 303, response.text
    landing = client.get(response.headers["location"])
    return csrf_of(landing.text) if 'name="csrf"' in landing.text else ""


def person_of(credentials: dict[str, Any], who: str) -> tuple[str, str]:
    agency, _, role = who.partition("/")
    if agency in ("auditor", "admin", "supervisor"):
        entry = credentials[agency]
    else:
        entry = credentials["agencies"][agency][role or "clerk"]
    return entry["username"], entry["password"]
