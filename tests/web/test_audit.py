"""The auditor's screens (Kiểm toán): searching events by each criterion, in Vietnam time, by
pages; a document's trace with the proof of each event; the evidence bundle, which the offline
verifier accepts; checkpoints with their cosignatures and forks; everyone else refused."""

from __future__ import annotations

import base64
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from docex.app import create_app
from docex.audit import events, notes
from docex.cli.main import app as cli
from docex.config import Settings
from docex.evidence import bundle
from docex.signing.sandbox import ValidatorPool
from tests.helpers import (
    G22,
    H26,
    H41,
    MovableClock,
    audit_events,
    auth,
    counts,
    deliver,
    envelope,
    node_of,
    pdf,
    send,
)
from tests.web.conftest import BASE, login, person_of


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The tests sign checkpoints themselves (``node.audit.checkpoint()``), when they mean to."""
    settings.audit.integrator_enabled = False
    return settings


def shown_events(html: str) -> list[int]:
    """The event ids of the rows of a search or trace page, in page order."""
    return [int(i) for i in re.findall(r'<tr data-event="(\d+)"', html)]


def proofs_of(html: str) -> dict[int, str]:
    return {
        int(i): status
        for i, status in re.findall(r'<tr data-event="(\d+)" data-proof="(\w+)"', html)
    }


def sent_document(web: TestClient, credentials: dict[str, Any], to: str = H41) -> str:
    response = send(web, auth(credentials, G22), envelope([to]), pdf("Công văn kiểm toán"))
    assert response.status_code == 201, response.text
    deliver(web)
    return str(response.json()["id"])


def refused(web: TestClient, path: str) -> list[events.AuditEvent]:
    return [
        e
        for e in audit_events(web, "api:request:refused")
        if e.detail.get("path") == path and e.detail.get("status") in (403, 404, 422)
    ]


def test_an_auditor_finds_events_by_document_agency_person_and_event(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    first = sent_document(web, credentials, H41)
    second = sent_document(web, credentials, H26)
    login(web, credentials, "auditor")

    def ids(**params: str) -> set[int]:
        page = web.get("/ui/audit", params=params)
        assert page.status_code == 200, page.text
        return set(shown_events(page.text))

    every = audit_events(web)
    of_first = {e.index for e in every if e.document_id == first}
    assert len(of_first) > 1
    assert ids(document=first) == of_first
    assert ids(document=first).isdisjoint(ids(document=second))
    of_h26 = {e.index for e in every if e.agency_id == H26}
    assert of_h26
    assert ids(agency=H26) == of_h26
    clerk = next(e.actor_id for e in every if e.event == events.DOCUMENT_ACCEPTED)
    assert clerk is not None
    username, _ = person_of(credentials, G22)
    by_name = ids(person=username)
    assert by_name == {e.index for e in every if e.actor_id == clerk}
    assert ids(person=clerk) == by_name
    accepted = ids(event=events.DOCUMENT_ACCEPTED)
    assert accepted == {e.index for e in every if e.event == events.DOCUMENT_ACCEPTED}
    assert len(accepted) == 2
    both = ids(event=events.DOCUMENT_ACCEPTED, document=second)
    assert both == {e.index for e in every if e.document_id == second} & accepted

    page = web.get("/ui/audit", params={"document": first}).text
    assert f'href="/ui/audit/documents/{first}"' in page
    assert "Tra cứu nhật ký kiểm toán" in page
    assert username in page  # who, by name


def test_the_time_range_is_entered_and_shown_in_vietnam_time(
    settings: Settings, validator_pool: ValidatorPool, credentials: dict[str, Any]
) -> None:
    clock = MovableClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))  # 08:00 in Hà Nội
    with TestClient(
        create_app(settings, clock=clock, validators=validator_pool),
        base_url=BASE,
        raise_server_exceptions=False,
        follow_redirects=False,
    ) as web:
        login(web, credentials, G22)  # auth:session:opened at 08:00:00
        clock.at += timedelta(hours=1)
        login(web, credentials, H41)  # at 09:00:00
        clock.at += timedelta(hours=1)
        login(web, credentials, "auditor")  # at 10:00:00
        opened = audit_events(web, "auth:session:opened")
        assert len(opened) == 3

        def ids(since: str, until: str) -> list[int]:
            page = web.get(
                "/ui/audit",
                params={"event": "auth:session:opened", "from": since, "to": until},
            )
            assert page.status_code == 200, page.text
            return shown_events(page.text)

        # [08:00, 09:00) Vietnam time: the first only, its own boundary included.
        assert ids("2026-03-02T08:00", "2026-03-02T09:00") == [opened[0].index]
        assert ids("2026-03-02T08:00:01", "2026-03-02T09:00") == []
        # [08:00, 09:00:01): both, newest first.
        assert ids("2026-03-02T08:00", "2026-03-02T09:00:01") == [
            opened[1].index,
            opened[0].index,
        ]
        # In UTC these would be 01:00-02:00: nothing happened then in Vietnam time.
        assert ids("2026-03-02T01:00", "2026-03-02T02:00") == []
        page = web.get("/ui/audit", params={"event": "auth:session:opened"}).text
        assert "02/03/2026 08:00:00" in page
        assert "02/03/2026 10:00:00" in page


def test_search_pages_newest_first_without_gap_or_overlap(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    node = node_of(web)
    with node.db.write() as session:
        for n in range(75):
            events.record(
                session,
                events.FORK_REPORTED,
                at=node.clock.now(),
                reason=f"test {n}",
                seen="",
                cosigned=None,
            )
    login(web, credentials, "auditor")
    expected = sorted((e.index for e in audit_events(web, events.FORK_REPORTED)), reverse=True)
    seen: list[int] = []
    url: str | None = "/ui/audit?event=audit%3Afork%3Areported"
    pages = 0
    while url is not None:
        page = web.get(url)
        assert page.status_code == 200
        seen += shown_events(page.text)
        pages += 1
        found = re.search(r'href="(/ui/audit\?[^"]+)" rel="next"', page.text)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert pages == 2
    assert seen == expected


def test_bad_search_input_is_a_422_page_audited(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    login(web, credentials, "auditor")
    for params, code in (
        ({"event": "intake:document:stolen"}, "unknown_event"),
        ({"from": "hôm qua"}, "invalid_time"),
        ({"from": "2026-03-02T09:00", "to": "2026-03-02T08:00"}, "invalid_range"),
        ({"document": "x" * 65}, "invalid_request"),
        ({"cursor": "!!"}, "invalid_cursor"),
    ):
        page = web.get("/ui/audit", params=params)
        assert page.status_code in (400, 422), (params, page.status_code)
        assert page.headers["content-type"].startswith("text/html")
        assert f"<code>{code}</code>" in page.text
        last = audit_events(web, "api:request:refused")[-1]
        assert last.detail["error"] == code
        assert last.detail["path"] == "/ui/audit"


def test_the_trace_shows_each_event_proven_once_checkpointed(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    document = sent_document(web, credentials)
    login(web, credentials, "auditor")
    url = f"/ui/audit/documents/{document}"
    before = web.get(url)
    assert before.status_code == 200, before.text
    status = proofs_of(before.text)
    assert status
    assert set(status.values()) == {"pending"}
    assert "chưa vào checkpoint" in before.text

    node_of(web).audit.checkpoint()
    after = proofs_of(web.get(url).text)
    assert after.keys() == status.keys()
    assert set(after.values()) == {"proven"}
    assert "đã chứng minh" in web.get(url).text

    accepted = web.post(
        f"/api/v1/documents/{document}/statuses",
        json={"code": "03"},
        headers=auth(credentials, H41),
    )
    assert accepted.status_code == 201, accepted.text
    later = proofs_of(web.get(url).text)
    new = set(later) - set(after)
    assert new
    assert {later[i] for i in new} == {"pending"}  # logged after the checkpoint was signed
    assert {later[i] for i in after} == {"proven"}
    assert list(later) == sorted(later)  # in log order


def test_the_evidence_bundle_downloads_and_verifies_offline(
    web: TestClient, credentials: dict[str, Any], tmp_path: Path
) -> None:
    document = sent_document(web, credentials)
    node_of(web).audit.checkpoint()
    login(web, credentials, "auditor")
    page = web.get(f"/ui/audit/documents/{document}").text
    assert f'href="/ui/audit/documents/{document}/evidence" download' in page
    response = web.get(f"/ui/audit/documents/{document}/evidence")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert f"evidence-{document}.zip" in response.headers["content-disposition"]
    report = bundle.verify(response.content)
    assert report.ok, report.problems
    assert report.document_id == document
    assert any("inclusion proof" in line for line in report.checked)
    saved = tmp_path / "evidence.zip"
    saved.write_bytes(response.content)
    result = CliRunner().invoke(cli, ["audit", "verify-bundle", str(saved)])
    assert result.exit_code == 0, result.output


def test_checkpoints_show_cosignatures_and_forks_in_red(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    sent_document(web, credentials)
    node = node_of(web)
    head = node.audit.checkpoint()
    auditor = auth(credentials, "auditor")
    signed = web.get("/api/v1/audit/checkpoint", headers=auditor).json()["signed"]
    cosigner = notes.Cosigner("auditor.test/w1", ed25519.Ed25519PrivateKey.generate())
    line = cosigner.cosign(notes.parse(signed).text, int(time.time())).line().rstrip("\n")
    posted = web.post(
        "/api/v1/audit/cosignatures",
        json={"tree_size": head.size, "signature": line, "vkey": cosigner.verifier.vkey()},
        headers=auditor,
    )
    assert posted.status_code == 201, posted.text
    login(web, credentials, "auditor")
    page = web.get("/ui/audit/checkpoints")
    assert page.status_code == 200, page.text
    assert f'<th scope="row">{head.size}</th>' in page.text
    assert base64.b64encode(head.root).decode() in page.text
    assert "auditor.test/w1" in page.text
    assert "bên chứng kiến do kiểm toán viên vận hành" in page.text
    assert 'class="badge bad"' not in page.text  # every signature verifies
    assert "Không có báo cáo rẽ nhánh" in page.text

    fork = web.post(
        "/api/v1/audit/forks",
        json={"reason": "size 3 with another root", "seen": signed},
        headers=auditor,
    )
    assert fork.status_code == 202, fork.text
    alarmed = web.get("/ui/audit/checkpoints").text
    assert 'class="card alarm" role="alert"' in alarmed
    assert "size 3 with another root" in alarmed


@pytest.fixture
def a_document(web: TestClient, credentials: dict[str, Any]) -> str:
    document = sent_document(web, credentials)
    node_of(web).audit.checkpoint()
    return document


@pytest.mark.parametrize("who", [G22, H41, f"{G22}/leader", "admin"])
def test_everyone_but_auditors_is_refused_and_audited(
    web: TestClient, credentials: dict[str, Any], a_document: str, who: str
) -> None:
    login(web, credentials, who)
    before = counts(web)
    for path in (
        "/ui/audit",
        f"/ui/audit/documents/{a_document}",
        f"/ui/audit/documents/{a_document}/evidence",
        "/ui/audit/checkpoints",
    ):
        page = web.get(path)
        assert page.status_code in (403, 404), (path, page.status_code)
        assert page.headers["content-type"].startswith("text/html")
        assert a_document not in page.text.replace(path, "")
        assert "Công văn kiểm toán" not in page.text
        (event,) = refused(web, path)[-1:]
        assert event.detail["status"] == page.status_code
    assert counts(web) == before
    assert "/ui/audit" not in web.get("/ui/account").text  # no menu entry either


def test_an_unknown_document_is_the_404_page_and_strangers_go_to_sign_in(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    anonymous = web.get("/ui/audit/checkpoints")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/ui/sign-in?next=/ui/audit/checkpoints")
    login(web, credentials, "auditor")
    missing = "00000000-0000-4000-8000-000000000000"
    for path in (f"/ui/audit/documents/{missing}", f"/ui/audit/documents/{missing}/evidence"):
        page = web.get(path)
        assert page.status_code == 404
        assert "Không tìm thấy" in page.text
        assert refused(web, path)


def test_an_auditor_sees_no_classified_subject_the_policy_withholds(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    secret = "Phương án bảo vệ mục tiêu trọng yếu"
    response = send(
        web,
        auth(credentials, G22),
        envelope(classification="confidential", subject=secret),
        pdf("Công văn mật"),
    )
    assert response.status_code == 201, response.text
    document = response.json()["id"]
    deliver(web)
    login(web, credentials, "auditor")
    trace = web.get(f"/ui/audit/documents/{document}")
    assert trace.status_code == 200, trace.text
    assert secret not in trace.text
    assert "bạn không được phép đọc văn bản mật này" in trace.text
    assert shown_events(trace.text)  # the trace itself is shown
    search = web.get("/ui/audit", params={"document": document})
    assert shown_events(search.text)
    assert secret not in search.text
