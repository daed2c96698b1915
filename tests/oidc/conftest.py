"""A real, certified OpenID provider for the single sign-on tests: ``oidc-provider`` (npm,
pinned in package-lock.json, installed by deploy/test-packages.sh) run by Debian's nodejs on a
free port of 127.0.0.1 (provider.mjs). Its login is a plain form the tests post over HTTP
(``OidcProvider.authorize``) or a browser fills in."""

from __future__ import annotations

import json
import select
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from docex.config import OidcSettings
from tests.functional.conftest import free_port

HERE = Path(__file__).parent
SECRET = "docex-test-client-secret-0123456789abcdef"
CLIENT = "docex"
OTHER = "other-app"
# Who the provider knows: a login name, its subject and the citizen id number it vouches for.
ACCOUNTS = {
    "an": {"sub": "sub-an-0001", "cccd": "001099000001", "name": "Nguyễn Văn An"},
    "binh": {"sub": "sub-binh-0002", "cccd": "001099000002", "name": "Trần Thị Bình"},
}


def oidc_settings(issuer: str, redirect_url: str | None) -> OidcSettings:
    """docex's settings for the test provider at ``issuer``: linked by the citizen id number."""
    return OidcSettings(
        issuer=issuer,
        client_id=CLIENT,
        client_secret=SECRET,
        redirect_url=redirect_url,
        claim="cccd",
        scopes="openid cccd",
        name="VNeID",
    )


@dataclass
class OidcProvider:
    issuer: str
    process: subprocess.Popen[str]

    def settings(self, redirect_url: str) -> OidcSettings:
        return oidc_settings(self.issuer, redirect_url)

    def authorize(self, url: str, login: str) -> str:
        """Follow the authorization URL ``url`` through the provider's login form as ``login``;
        the URL the provider sends the browser back to (docex's callback)."""
        with httpx.Client(follow_redirects=False, timeout=10) as browser:
            response = browser.get(url)
            for _ in range(10):
                if response.status_code not in (302, 303):
                    raise AssertionError(f"{response.status_code}: {response.text[:300]}")
                target = urljoin(str(response.url), response.headers["location"])
                if not target.startswith(self.issuer):
                    return target
                if urlsplit(target).path.startswith("/interaction/"):
                    page = browser.get(target)
                    assert 'name="login"' in page.text, page.text[:300]
                    response = browser.post(f"{target}/login", data={"login": login})
                else:
                    response = browser.get(target)
        raise AssertionError("the provider never sent the browser back")

    def id_token_for_other_client(self, redirect_url: str, login: str, nonce: str) -> str:
        """A real ID token the provider issues to another client (``aud`` = OTHER)."""
        verifier = "v" * 50
        from authlib.oauth2.rfc7636 import create_s256_code_challenge

        query = {
            "client_id": OTHER,
            "response_type": "code",
            "scope": "openid cccd",
            "redirect_uri": redirect_url,
            "state": "s" * 20,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
        url = str(httpx.URL(f"{self.issuer}/auth", params=query))
        back = self.authorize(url, login)
        code = parse_qs(urlsplit(back).query)["code"][0]
        answer = httpx.post(
            f"{self.issuer}/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_url,
                "code_verifier": verifier,
            },
            auth=(OTHER, SECRET),
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["id_token"])


def node_path() -> str:
    found = shutil.which("nodejs") or shutil.which("node")
    if found is None or not (HERE / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("nodejs or oidc-provider missing: run deploy/test-packages.sh")
    return found


def start_provider(
    tmp_path: Path, redirect_urls: list[str], port: int | None = None
) -> OidcProvider:
    port = port or free_port()
    clients = [
        {
            "client_id": client,
            "client_secret": SECRET,
            "redirect_uris": redirect_urls,
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
        }
        for client in (CLIENT, OTHER)
    ]
    config = tmp_path / "oidc-provider.json"
    config.write_text(json.dumps({"clients": clients, "accounts": ACCOUNTS}))
    process = subprocess.Popen(
        [node_path(), str(HERE / "provider.mjs"), str(port), str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=HERE,
    )
    assert process.stdout is not None
    if not select.select([process.stdout], [], [], 30)[0]:
        process.kill()
        pytest.fail("the OpenID provider did not start within 30 s")
    line = process.stdout.readline()  # "ready <issuer>", or EOF if it died
    if not line.startswith("ready "):
        process.kill()
        pytest.fail(f"the OpenID provider did not start: {line!r}")
    return OidcProvider(issuer=line.split()[1], process=process)


def stop_provider(provider: OidcProvider) -> None:
    provider.process.terminate()
    try:
        provider.process.wait(10)
    except subprocess.TimeoutExpired:
        provider.process.kill()
        provider.process.wait(10)


@pytest.fixture
def oidc_provider(tmp_path: Path) -> Iterator[OidcProvider]:
    """The provider, docex (as "docex") and another application registered, both sent back
    to the test node's callback."""
    provider = start_provider(tmp_path, ["https://testserver/ui/oidc/callback"])
    yield provider
    stop_provider(provider)
