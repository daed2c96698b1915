"""The web UI's screenshots in docs/screenshots/, made from a real demo node.

Starts ``docex serve --demo`` in a temporary data directory on a free port, sends a few
documents through the API as the demo agencies would (the leader signs, the clerk seals, one
flash, one with an answer), then signs each demo person in through the sign-in form in Debian's
chromium (Playwright) and captures their screens, in Vietnamese:

    .venv/bin/python tools/screenshots.py [--out docs/screenshots] [--keep-temp]

Needs the test dependencies (``pip install -e '.[test]'``: Playwright) and chromium
(``deploy/test-packages.sh``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, sync_playwright

from docex.kit.samplepdf import sample_pdf
from docex_client import DocexClient

G22, H41, H26 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H26"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_node(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DOCEX_DATA_DIR": str(data_dir),
        "DOCEX_PORT": str(port),
        "DOCEX_LOG_FORMAT": "text",
    }
    docex = Path(sys.executable).with_name("docex")
    log = (data_dir.parent / "node.log").open("wb")
    node = subprocess.Popen(  # noqa: S603 (our own docex, fixed arguments)
        [str(docex), "serve", "--demo"], env=env, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return node
        except httpx.HTTPError:
            pass
        if node.poll() is not None:
            sys.exit("docex serve --demo did not start")
        time.sleep(0.3)
    node.kill()
    sys.exit("docex serve --demo did not become ready")


def seed(url: str, credentials: dict[str, Any]) -> dict[str, str]:
    """A few documents from the Government Office, as its leader and clerk would send them."""
    people = credentials["agencies"]

    def client(agency: str, role: str) -> DocexClient:
        return DocexClient(url, token=people[agency][role]["token"])

    leader, clerk = client(G22, "leader"), client(G22, "clerk")
    sent: dict[str, str] = {}
    letters = [
        ("flash", "Về việc ứng phó khẩn cấp với bão số 3", "flash", [H41, H26]),
        ("normal", "Về việc triển khai liên thông văn bản điện tử", "normal", [H41]),
        ("urgent", "Về việc báo cáo tình hình thực hiện Nghị định 30", "urgent", [H41, H26]),
    ]
    for number, (key, subject, urgency, recipients) in enumerate(letters, start=40):
        signed = leader.sign_pdf(sample_pdf(subject), role="signer")
        sealed = clerk.sign_pdf(signed, role="seal")
        envelope = {
            "recipients": recipients,
            "subject": subject,
            "code": {"number": str(number), "notation": "VPCP-TTĐT"},
            "urgency": urgency,
        }
        sent[key] = clerk.send(envelope, io.BytesIO(sealed)).document.id
    answer = client(H41, "clerk")
    deadline = time.monotonic() + 60
    while {item.document_id for item in answer.inbox().items} < {sent["flash"], sent["normal"]}:
        if time.monotonic() > deadline:
            sys.exit("the demo node did not deliver the documents")
        time.sleep(0.2)  # the node's routing worker delivers
    answer.post_status(sent["normal"], "03", incoming_number="1")
    return sent


def capture(
    browser: Browser, url: str, out: Path, name: str, who: tuple[str, str] | None, path: str
) -> None:
    context = browser.new_context(
        base_url=url, locale="vi-VN", viewport={"width": 1280, "height": 800}
    )
    page: Page = context.new_page()
    if who is not None:
        page.goto("/ui/sign-in")
        page.get_by_label("Tên đăng nhập").fill(who[0])
        page.get_by_label("Mật khẩu").fill(who[1])
        page.get_by_role("button", name="Đăng nhập").click()
        page.wait_for_url(lambda u: "/ui/sign-in" not in u)
    page.goto(path)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(out / f"{name}.png"), full_page=True)
    context.close()
    print(f"{name}.png  {path}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--keep-temp", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix="docex-screenshots-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    node = start_node(temp / "data", port)
    try:
        credentials = json.loads((temp / "data" / "demo-credentials.json").read_text())
        sent = seed(url, credentials)

        def person(agency: str, role: str = "clerk") -> tuple[str, str]:
            entry = credentials["agencies"][agency][role]
            return entry["username"], entry["password"]

        auditor = (credentials["auditor"]["username"], credentials["auditor"]["password"])
        admin = (credentials["admin"]["username"], credentials["admin"]["password"])
        supervisor = (credentials["supervisor"]["username"], credentials["supervisor"]["password"])
        shots = [
            ("01-dang-nhap", None, "/ui/sign-in"),
            ("02-van-ban-den", person(H41), "/ui/inbox"),
            ("03-van-ban", person(H41), f"/ui/documents/{sent['flash']}"),
            ("04-soan-van-ban", person(G22), "/ui/compose"),
            ("05-van-ban-di", person(G22), "/ui/outbox"),
            ("06-kiem-toan", auditor, f"/ui/audit/documents/{sent['normal']}"),
            ("07-quan-tri", admin, "/ui/admin"),
            ("08-giam-sat", supervisor, "/ui/supervision"),
        ]
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            sys.exit("chromium is missing: run deploy/test-packages.sh")
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=chromium, args=ARGS)
            for name, who, path in shots:
                capture(browser, url, args.out, name, who, path)
            browser.close()
    finally:
        node.terminate()
        node.wait(30)
        if not args.keep_temp:
            shutil.rmtree(temp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
