"""The web UI in a real browser: Debian's chromium (installed by deploy/test-packages.sh),
driven by Playwright for Python through ``executable_path``, never a downloaded browser.

A node is served for real over HTTP by uvicorn in a thread, its routing worker running (a
document sent in one page arrives in another without a reload), on SQLite: what the browser
adds is the browser; the pages' database access is the API's, tested on both backends.

- ``browser``: one headless chromium per test module.
- ``live``: the node's URL (and its ``TestClient`` for setting things up through the API).
- ``person(who)``: a new browser context (its own cookies), signed in through the sign-in form.
- ``axe(page)``: the accessibility violations of the page (axe-core, vendored in
  tests/fixtures/axe), serious and critical ones.
- Playwright's sync API runs an event loop on the test's thread, where docex refuses database
  work (``docex.db.forbid_event_loop``): set-up goes through ``live.client`` (the API, in the
  client's thread) or ``live.call(fn)`` (a worker thread).
- Every page a test opens records the requests it makes; ``foreign_requests(page)`` lists those
  to anything but the node.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from docex.app import create_app
from docex.config import Settings
from docex.signing.sandbox import ValidatorPool
from tests.functional.conftest import free_port
from tests.web.conftest import person_of

T = TypeVar("T")
AXE = Path(__file__).parents[2] / "fixtures" / "axe" / "axe.min.js"
# What the probe of this machine found chromium needs, headless, as root, on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is a ``browser`` test (``-m "not browser"`` leaves them out locally)."""
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def backend() -> str:
    return "sqlite"


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is missing: run deploy/test-packages.sh (the README's test command)")
    return found


@pytest.fixture(scope="module")
def playwright(sqlite_template: Any) -> Iterator[Playwright]:
    """Started after the demo template is seeded (on this thread, before the loop runs), and
    stopped with the module: the tests after it in this process find no loop running."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@dataclass
class Live:
    url: str
    client: TestClient
    credentials: dict[str, Any]
    contexts: list[BrowserContext] = field(default_factory=list)

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` in a worker thread (database work, off Playwright's loop)."""
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(fn).result()


@pytest.fixture
def live(
    settings: Settings, validator_pool: ValidatorPool, credentials: dict[str, Any]
) -> Iterator[Live]:
    settings.dispatcher.enabled = True  # deliveries happen as in production
    settings.web.poll_seconds = 2
    with ThreadPoolExecutor(1) as pool:  # off Playwright's event loop
        app = pool.submit(create_app, settings, validators=validator_pool).result()
    with TestClient(app, raise_server_exceptions=False) as client:  # runs the lifespan
        port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                pytest.fail("the test node did not start")
            time.sleep(0.02)
        live = Live(f"http://127.0.0.1:{port}", client, credentials)
        yield live
        for context in live.contexts:
            context.close()
        server.should_exit = True
        thread.join(10)


def _watch(page: Page, errors: list[str]) -> None:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
    page.requests_seen = seen  # type: ignore[attr-defined]


def foreign_requests(page: Page, live: Live) -> list[str]:
    seen: list[str] = page.requests_seen  # type: ignore[attr-defined]
    return [url for url in seen if not url.startswith((live.url + "/", "data:"))]


@pytest.fixture
def anonymous(browser: Browser, live: Live) -> Iterator[Callable[[], Page]]:
    """A page in a new context, signed in as no one. After the test, no page may have had a
    script error (a broken docex.js fails every test that opened a page)."""
    errors: list[str] = []

    def make() -> Page:
        context = browser.new_context(base_url=live.url, locale="vi-VN")
        live.contexts.append(context)
        page = context.new_page()
        _watch(page, errors)
        return page

    yield make
    assert errors == [], errors


@pytest.fixture
def person(anonymous: Callable[[], Page], live: Live) -> Callable[[str], Page]:
    """``person("000.00.00.G22")`` (its clerk), ``person("000.00.00.G22/leader")``,
    ``person("auditor")``, ``person("admin")``: a page signed in through the form."""

    def sign_in(who: str) -> Page:
        username, password = person_of(live.credentials, who)
        page = anonymous()
        page.goto("/ui/")
        page.get_by_label("Tên đăng nhập").fill(username)
        page.get_by_label("Mật khẩu").fill(password)
        page.get_by_role("button", name="Đăng nhập").click()
        page.wait_for_url(lambda url: "/ui/sign-in" not in url)
        return page

    return sign_in


def axe(page: Page) -> list[dict[str, Any]]:
    """The serious and critical accessibility violations axe-core finds in the page."""
    page.evaluate(
        AXE.read_text(encoding="utf-8")
    )  # by the driver: the page's CSP allows no inline script
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
