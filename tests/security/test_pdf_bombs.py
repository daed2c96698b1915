"""Hostile PDFs against a real node (``docex serve``): each is refused with a clean 4xx and
nothing is stored, while the API process stays under 300 MB.

The bombs are generated (``tests/security/hostile_pdfs.py``: object streams of whitespace, a
doubly deflated object stream, a 40 MiB broken cross-reference table sent four times at once, a
chain of 5,000 revisions, nesting 200,000 deep, a page tree of 100,000 kids), plus every file
of ``tests/fixtures/pdf``. Both doors a PDF comes in by are tried: intake
(``POST /api/v1/documents``) and the signing service (``POST /api/v1/pdf/sign``), four requests
at a time. The node's validator workers are separate processes, capped on their own: the RSS
sampled (psutil, every 50 ms) is the API process's alone.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.fixtures import fixture_files
from tests.functional.conftest import NodeProcess
from tests.functional.test_big_files import PeakRss
from tests.helpers import G22, H41
from tests.security.hostile_pdfs import BOMBS

pytestmark = pytest.mark.functional

RSS_LIMIT = 300 * 1000 * 1000  # 300 MB
REFUSED = "api:request:refused"
# What intake answers each bomb: the structure check now runs in the capped validator.
INTAKE = {
    "objstm-whitespace": "resource_limit",  # pyHanko's decode limit on object streams
    "objstm-nested-flate": "resource_limit",
    "broken-xref-40mib": "invalid_pdf",  # a strict parser does not rebuild the table
    "xref-chain": "unsigned",  # well-formed, only long: parsed within the limits
    "deep-nesting": "invalid_pdf",
    "wide-page-tree": "invalid_pdf",  # a page listed twice: not a tree
}
# What the signing service answers: None when it signs (a well-formed document).
SIGNING: dict[str, str | None] = {**INTAKE, "xref-chain": None}
TIMES_SENT = {"broken-xref-40mib": 4}  # as reported: four of them at once


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("bombs")
    made = {}
    for name, build in BOMBS.items():
        made[name] = directory / f"{name}.pdf"
        made[name].write_bytes(build())
    return made


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    served = NodeProcess(tmp_path / "node")
    served.start("--demo")
    yield served
    served.stop()


def _token(node: NodeProcess, agency: str = G22) -> str:
    return str(node.credentials()["agencies"][agency]["clerk"]["token"])


def _send(node: NodeProcess, path: Path) -> httpx.Response:
    envelope = {"recipients": [H41], "subject": f"Tệp độc hại {path.stem}"}
    with path.open("rb") as main:
        return httpx.post(
            f"{node.url}/api/v1/documents",
            files={
                "envelope": (None, json.dumps(envelope), "application/json"),
                "main": (path.name, main, "application/pdf"),
            },
            headers={"Authorization": f"Bearer {_token(node)}"},
            timeout=120,
        )


def _sign(node: NodeProcess, path: Path) -> httpx.Response:
    with path.open("rb") as data:
        return httpx.post(
            f"{node.url}/api/v1/pdf/sign",
            files={"file": (path.name, data, "application/pdf")},
            data={"as": "seal"},
            headers={"Authorization": f"Bearer {_token(node)}"},
            timeout=120,
        )


def _rows(node: NodeProcess, sql: str, *args: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{node.data_dir / 'docex.db'}?mode=ro", uri=True) as db:
        return list(db.execute(sql, args))


def _refusals(node: NodeProcess) -> list[str]:
    rows = _rows(node, 'SELECT detail FROM audit_events WHERE event = ? ORDER BY "index"', REFUSED)
    return [json.loads(str(detail))["error"] for (detail,) in rows]


def _stored(node: NodeProcess) -> tuple[int, list[Path], list[Path]]:
    """Documents in the database, blob files, spool files."""
    documents = _rows(node, "SELECT count(*) FROM documents")[0][0]
    blobs = [p for p in (node.data_dir / "blobs").rglob("*") if p.is_file()]
    spool = list((node.data_dir / "spool").iterdir())
    return int(str(documents)), blobs, spool


def _hostile(bombs: dict[str, Path]) -> list[tuple[str, Path]]:
    sent = [(name, path) for name, path in bombs.items() for _ in range(TIMES_SENT.get(name, 1))]
    return sent + [(path.name, path) for path in fixture_files("pdf", "*.pdf")]


def _answer(name: str, request: Callable[[], httpx.Response]) -> tuple[str, int, str]:
    """(name, status, error code): 0 and the exception's name when no answer came."""
    try:
        response = request()
    except httpx.HTTPError as exc:
        return name, 0, type(exc).__name__
    error = response.json().get("error", "") if response.status_code >= 400 else ""
    return name, response.status_code, str(error)


def _submit_all(
    node: NodeProcess,
    hostile: list[tuple[str, Path]],
    send: Callable[[NodeProcess, Path], httpx.Response],
) -> tuple[list[tuple[str, int, str]], int]:
    """Every file, four at a time: the answers, and the API process's peak RSS meanwhile."""
    assert node.proc is not None
    with PeakRss(node.proc.pid) as rss, ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(lambda item: _answer(item[0], lambda: send(node, item[1])), hostile)
        )
    print(f"API process peak RSS with {len(hostile)} hostile PDFs: {rss.peak / 1e6:.0f} MB")
    return answers, rss.peak


def test_bombs_sent_for_intake_are_422_while_the_api_process_stays_under_300_mb(
    node: NodeProcess, bombs: dict[str, Path]
) -> None:
    refused_before = len(_refusals(node))

    answers, peak = _submit_all(node, _hostile(bombs), _send)

    assert peak < RSS_LIMIT, f"the API process reached {peak / 1e6:.0f} MB"
    assert [a for a in answers if not 400 <= a[1] < 500 or not a[2]] == []
    assert [a for a in answers if a[0] in INTAKE] == [
        (name, 422, INTAKE[name]) for name, _ in _hostile(bombs) if name in INTAKE
    ]
    assert _stored(node) == (0, [], []), "a refused PDF left something behind"
    refused = _refusals(node)[refused_before:]
    assert sorted(refused) == sorted(error for _, _, error in answers)
    assert httpx.get(f"{node.url}/readyz", timeout=5).status_code == 200


def test_bombs_sent_for_signing_are_refused_while_the_api_process_stays_under_300_mb(
    node: NodeProcess, bombs: dict[str, Path]
) -> None:
    answers, peak = _submit_all(node, _hostile(bombs), _sign)

    assert peak < RSS_LIMIT, f"the API process reached {peak / 1e6:.0f} MB"
    assert [a for a in answers if not 200 <= a[1] < 500] == []
    expected = [
        (name, 200, "") if SIGNING[name] is None else (name, 422, SIGNING[name])
        for name, _ in _hostile(bombs)
        if name in SIGNING
    ]
    assert [a for a in answers if a[0] in SIGNING] == expected
    assert _stored(node) == (0, [], [])
    assert httpx.get(f"{node.url}/readyz", timeout=5).status_code == 200
