"""/docs and /redoc load everything from the node itself: the vendored Swagger UI and ReDoc
(docex/api/static, SOURCE.md), served, unchanged, under a policy that names no other origin."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

import docex.api

STATIC = Path(docex.api.__file__).parent / "static"


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"src", "href"} and value:
                self.urls.append(value)


def references(html: str) -> list[str]:
    """Every URL the page loads: tags' src and href, and the strings its inline script hands
    to the viewer (Swagger UI's ``url``, the CSS and script it is given)."""
    parser = _References()
    parser.feed(html)
    quoted = re.findall(
        r"""['"]((?:https?:)?//[^'"]+|/[A-Za-z0-9_./-]+\.(?:js|css|png|json))['"]""", html
    )
    return parser.urls + quoted


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_references_only_same_origin_assets_and_they_are_served(
    client: TestClient, page: str
) -> None:
    response = client.get(page)
    assert response.status_code == 200
    urls = references(response.text)
    assert any(url.endswith(".js") for url in urls), urls
    assert "/openapi.json" in response.text
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme, f"{page} loads {url} from elsewhere"
        assert not parts.netloc, f"{page} loads {url} from elsewhere"
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_policy_names_no_other_origin(client: TestClient, page: str) -> None:
    policy = client.get(page).headers["content-security-policy"]
    assert "http:" not in policy
    assert "https:" not in policy
    assert re.search(r"script-src 'self'( 'sha256-[A-Za-z0-9+/=]+')*;", policy), policy


@pytest.mark.parametrize(
    ("url", "content_type"),
    [
        ("/docs-assets/swagger-ui/swagger-ui-bundle.js", "text/javascript"),
        ("/docs-assets/swagger-ui/swagger-ui.css", "text/css"),
        ("/docs-assets/redoc/redoc.standalone.js", "text/javascript"),
    ],
)
def test_vendored_assets_are_served_unchanged(
    client: TestClient, url: str, content_type: str
) -> None:
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    assert response.headers["x-content-type-options"] == "nosniff"
    relative = url.removeprefix("/docs-assets/")
    assert response.content == (STATIC / relative).read_bytes()


def test_every_vendored_file_has_its_digest_in_source_md_and_matches_it() -> None:
    source = (STATIC / "SOURCE.md").read_text(encoding="utf-8")
    listed = {name: digest for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", source, re.M)}
    files = {
        str(path.relative_to(STATIC))
        for path in STATIC.rglob("*")
        if path.is_file() and path.name != "SOURCE.md"
    }
    assert set(listed) == files
    for name, digest in listed.items():
        assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == digest, name
    for licence in ("swagger-ui/LICENSE", "redoc/LICENSE"):
        assert licence in files


def test_a_path_outside_the_assets_is_not_served(client: TestClient) -> None:
    assert client.get("/docs-assets/../app.py").status_code == 404
    assert client.get("/docs-assets/%2e%2e/app.py").status_code == 404
