"""Headers on every response: nosniff everywhere, no-store on the API's mail, a policy on the
documentation pages that allows what they load and nothing else, and /metrics only for those
the configuration names."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from docex.app import create_app
from docex.config import Settings
from docex.signing.sandbox import ValidatorPool
from tests.helpers import G22, H41, auth, deliver, envelope, pdf, send

# -- nosniff on every response ----------------------------------------------------------------


def test_every_kind_of_response_says_nosniff(client: TestClient, credentials: dict) -> None:
    def boom() -> None:
        raise RuntimeError("an unexpected failure")

    client.app.add_api_route("/test-only/boom", boom)  # type: ignore[attr-defined]
    responses = {
        "ok": client.get("/healthz"),
        "json 401": client.get("/api/v1/inbox"),
        "json 403": client.get("/metrics"),
        "404": client.get("/no/such/page"),
        "405": client.put("/healthz"),
        "422": client.get("/api/v1/inbox?limit=0", headers=auth(credentials, G22)),
        "500": client.get("/test-only/boom"),
        "openapi": client.get("/openapi.json"),
        "docs": client.get("/docs"),
        "redoc": client.get("/redoc"),
        "jwks": client.get("/.well-known/jwks.json"),
    }
    assert responses["500"].status_code == 500
    for what, response in responses.items():
        assert response.headers.get("x-content-type-options") == "nosniff", what
        assert "content-security-policy" in response.headers, what


# -- no-store on the API ----------------------------------------------------------------------


def test_api_responses_carrying_document_data_are_no_store(
    client: TestClient, credentials: dict
) -> None:
    sender, recipient = auth(credentials, G22), auth(credentials, H41)
    sent = send(client, sender, envelope([H41]), pdf())
    assert sent.status_code == 201, sent.text
    document = sent.json()
    deliver(client)
    base = f"/api/v1/documents/{document['id']}"
    status = client.post(f"{base}/statuses", json={"code": "03"}, headers=recipient)
    assert status.status_code == 201, status.text
    responses = {
        "submit": sent,
        "status": status,
        "document": client.get(base, headers=sender),
        "file": client.get(f"{base}/files/{document['files'][0]['id']}", headers=recipient),
        "inbox": client.get("/api/v1/inbox", headers=recipient),
        "outbox": client.get("/api/v1/outbox", headers=sender),
        "receipts": client.get(f"{base}/receipts", headers=sender),
        "trace": client.get(f"{base}/trace", headers=sender),
        "me": client.get("/api/v1/me", headers=sender),
        "refusal": client.get(base, headers={"Authorization": "Bearer nope"}),
    }
    for what, response in responses.items():
        assert response.status_code < 500, (what, response.text)
        cache = response.headers.get("cache-control", "")
        assert "no-store" in cache, (what, cache)


# -- the documentation pages ------------------------------------------------------------------


class _Loads(HTMLParser):
    """What a page loads: script sources, inline scripts, stylesheets, icons."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[str] = []
        self.inline: list[str] = []
        self.styles: list[str] = []
        self.icons: list[str] = []
        self._script: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "script":
            if a.get("src"):
                self.scripts.append(a["src"])
            else:
                self._script = []
        elif tag == "link" and "stylesheet" in a.get("rel", ""):
            self.styles.append(a["href"])
        elif tag == "link" and "icon" in a.get("rel", ""):
            self.icons.append(a["href"])

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.inline.append("".join(self._script))
            self._script = None


def policy(header: str) -> dict[str, list[str]]:
    directives = {}
    for directive in header.split(";"):
        name, *values = directive.split()
        directives[name] = values
    return directives


def allows(sources: list[str], url: str) -> bool:
    parts = urlsplit(url)
    if not parts.scheme:
        return "'self'" in sources
    return f"{parts.scheme}://{parts.netloc}" in sources


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_policy_allows_what_the_page_loads_and_nothing_inline_else(
    client: TestClient, page: str
) -> None:
    response = client.get(page)
    assert response.status_code == 200
    csp = policy(response.headers["content-security-policy"])
    assert csp["default-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert "'unsafe-inline'" not in csp["script-src"]
    assert "'unsafe-eval'" not in csp["script-src"]
    assert "'self'" in csp["connect-src"]  # the page fetches /openapi.json
    loads = _Loads()
    loads.feed(response.text)
    assert loads.scripts, "the page loads its viewer"
    for src in loads.scripts:
        assert allows(csp["script-src"], src), src
    for script in loads.inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp["script-src"], "an inline script the policy blocks"
    assert len([s for s in csp["script-src"] if s.startswith("'sha256-")]) == len(loads.inline)
    for href in loads.styles:
        assert allows(csp["style-src"], href), href
    for href in loads.icons:
        assert allows(csp["img-src"], href), href


def test_swagger_ui_sends_the_spec_address_to_no_validator(client: TestClient) -> None:
    assert '"validatorUrl": null' in client.get("/docs").text


# -- /metrics ---------------------------------------------------------------------------------


Scrape = Callable[..., int]


@pytest.fixture
def metrics_node(
    settings: Settings, validator_pool: ValidatorPool
) -> Iterator[Callable[[dict[str, Any]], Scrape]]:
    """``build(metrics)``: a node with these metrics settings (``DOCEX_METRICS__*``), and a
    function that scrapes it from an address (with headers) and returns the status."""
    with ExitStack() as stack:

        def build(metrics: dict[str, Any]) -> Scrape:
            configured = Settings.model_validate({**settings.model_dump(), "metrics": metrics})
            app = create_app(configured, validators=validator_pool)
            stack.enter_context(TestClient(app))  # runs the node's lifespan

            def scrape(address: str, **headers: str) -> int:
                client = TestClient(app, client=(address, 40000))
                return int(client.get("/metrics", headers=headers).status_code)

            return scrape

        yield build


def test_metrics_answer_the_loopback_only_by_default(
    metrics_node: Callable[[dict[str, Any]], Scrape],
) -> None:
    scrape = metrics_node({})
    assert scrape("127.0.0.1") == 200
    assert scrape("::1") == 200
    assert scrape("10.0.0.7") == 403
    assert scrape("testclient") == 403  # not an address at all
    # Relayed by a proxy on the same host: the proxy's address says nothing of the client's.
    assert scrape("127.0.0.1", **{"X-Forwarded-For": "203.0.113.9"}) == 403
    assert scrape("127.0.0.1", Forwarded="for=203.0.113.9") == 403


def test_metrics_answer_a_configured_network(
    metrics_node: Callable[[dict[str, Any]], Scrape],
) -> None:
    scrape = metrics_node({"allow": ["10.20.0.0/16"]})
    assert scrape("10.20.3.4") == 200
    assert scrape("10.21.3.4") == 403
    assert scrape("127.0.0.1") == 403  # the list replaces the default


def test_metrics_answer_the_metrics_token_from_anywhere(
    metrics_node: Callable[[dict[str, Any]], Scrape],
) -> None:
    scrape = metrics_node({"allow": [], "token": "s3cret-scrape-token"})
    assert scrape("198.51.100.4", Authorization="Bearer s3cret-scrape-token") == 200
    assert scrape("198.51.100.4", Authorization="Bearer s3cret-scrape-tokeN") == 403
    assert scrape("198.51.100.4") == 403
    assert scrape("127.0.0.1") == 403


def test_a_refused_scrape_is_a_clean_audited_403(client: TestClient, credentials: dict) -> None:
    from tests.helpers import audit_events

    response = client.get("/metrics")
    assert (response.status_code, response.json()["error"]) == (403, "metrics_forbidden")
    assert audit_events(client, "api:request:refused")[-1].detail["error"] == "metrics_forbidden"
