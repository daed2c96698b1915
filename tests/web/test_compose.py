"""Compose (Soạn văn bản): a clerk uploads a draft and fills its envelope, the leader signs, the
clerk seals and sends; everything else refused, audited, and nothing stored."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from docex.app import create_app
from docex.config import Settings
from docex.documents.models import Draft, DraftFile
from docex.signing.sandbox import ValidatorPool
from docex.signing.validation import Indication
from tests.helpers import (
    G22,
    H26,
    H41,
    MovableClock,
    audit_events,
    auth,
    counts,
    envelope,
    node_of,
    pdf,
    send,
)
from tests.web.conftest import BASE, login

ENVELOPE = {
    "number": "7",
    "notation": "VPCP-TTĐT",
    "subject": "Về việc thử nghiệm phát hành văn bản từ giao diện web",
    "date": "2026-11-26",
    "urgency": "urgent",
    "recipients": [H41],
}


def upload(
    web: TestClient, csrf: str, *, main: bytes | None = None, classification: str = "normal"
) -> str:
    """A new draft, uploaded as the page's htmx form does; returns its id."""
    response = web.post(
        "/ui/compose/upload",
        data={"classification": classification},
        files=[
            (
                "main",
                ("cong-van.pdf", bytes(main if main is not None else pdf()), "application/pdf"),
            ),
            ("attachment", ("phu-luc.txt", b"phu luc", "text/plain")),
        ],
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
    )
    assert response.status_code == 204, response.text
    found = re.fullmatch(r"/ui/compose/drafts/([0-9a-f-]+)", response.headers["hx-redirect"])
    assert found is not None
    return found.group(1)


def drafts_stored(web: TestClient) -> tuple[int, int]:
    with node_of(web).db.read() as session:
        return (
            int(session.scalar(select(func.count()).select_from(Draft)) or 0),
            int(session.scalar(select(func.count()).select_from(DraftFile)) or 0),
        )


def draft_of(web: TestClient, draft_id: str) -> Draft:
    with node_of(web).db.read() as session:
        draft = session.get(Draft, draft_id)
        assert draft is not None
        return draft


def refusals(web: TestClient) -> list[Any]:
    """The refusals of the compose screen (not those of pages other screens serve)."""
    return [
        e
        for e in audit_events(web, "api:request:refused")
        if str(e.detail["path"]).startswith("/ui/compose")
    ]


def save(web: TestClient, csrf: str, draft_id: str, **fields: Any) -> Any:
    return web.post(
        f"/ui/compose/drafts/{draft_id}/envelope", data={**ENVELOPE, **fields, "csrf": csrf}
    )


def test_a_clerk_uploads_a_draft_encrypted_in_the_blob_store_and_audited(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    csrf = login(web, credentials, G22)
    page = web.get("/ui/compose")
    assert page.status_code == 200
    assert 'data-progress-for="upload-form"' in page.text
    assert 'hx-encoding="multipart/form-data"' in page.text
    main = bytes(pdf("Dự thảo"))
    draft_id = upload(web, csrf, main=main)
    assert drafts_stored(web) == (1, 2)
    store = node_of(web).store
    keys = list(store.iter_keys())
    assert len(keys) == 2
    for key in keys:  # encrypted at rest, as a document's files are
        assert b"%PDF" not in b"".join(store.open(key))
    (created,) = audit_events(web, "intake:draft:created")
    assert created.detail["draft_id"] == draft_id
    shown = web.get(f"/ui/compose/drafts/{draft_id}")
    assert shown.status_code == 200
    assert "cong-van.pdf" in shown.text
    assert "Đã tải lên, chờ ký số" in shown.text
    viewed = web.get(f"/ui/compose/drafts/{draft_id}/main.pdf")
    assert viewed.status_code == 200
    assert viewed.content == main


def test_envelope_fields_are_checked_as_typed_by_the_intake_rules(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    csrf = login(web, credentials, G22)
    good = web.post("/ui/compose/validate", data=ENVELOPE, headers={"X-CSRF-Token": csrf})
    assert good.status_code == 200
    assert "Thông tin văn bản hợp lệ." in good.text
    no_subject = web.post(
        "/ui/compose/validate", data={**ENVELOPE, "subject": ""}, headers={"X-CSRF-Token": csrf}
    )
    assert "Chưa hợp lệ:" in no_subject.text
    assert "Trích yếu" in no_subject.text
    bad_date = web.post(
        "/ui/compose/validate",
        data={**ENVELOPE, "date": "2026-02-30"},
        headers={"X-CSRF-Token": csrf},
    )
    assert "Ngày ban hành" in bad_date.text
    unknown = web.post(
        "/ui/compose/validate",
        data={**ENVELOPE, "recipients": ["999.99.99.Z99"]},
        headers={"X-CSRF-Token": csrf},
    )
    assert "Nơi nhận" in unknown.text
    assert audit_events(web, "intake:draft:updated") == []


def test_a_refused_envelope_is_a_422_page_audited_and_nothing_saved(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    csrf = login(web, credentials, G22)
    draft_id = upload(web, csrf)
    refused = save(web, csrf, draft_id, subject="", recipients=[H41])
    assert refused.status_code == 422
    assert draft_of(web, draft_id).envelope == {}
    (event,) = refusals(web)
    assert event.detail["error"] == "invalid_envelope"
    assert audit_events(web, "intake:draft:updated") == []


def test_recipients_are_searched_in_the_agency_tree(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    login(web, credentials, G22)
    found = web.get("/ui/compose/recipients", params={"q": "nghe an"})  # accents ignored
    assert found.status_code == 200
    assert f'value="{H41}"' in found.text
    assert f'value="{H26}"' not in found.text
    assert f'value="{G22}"' not in found.text  # not to itself
    kept = web.get("/ui/compose/recipients", params={"q": "nghe an", "recipients": [H26]})
    assert re.search(rf'value="{H26}" checked', kept.text)  # a pick survives the filter
    none = web.get("/ui/compose/recipients", params={"q": "zzzz"})
    assert "Không có cơ quan nào phù hợp." in none.text


def test_the_leader_signs_the_clerk_seals_and_sends_one_document(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    csrf = login(web, credentials, G22)
    draft_id = upload(web, csrf)
    assert save(web, csrf, draft_id).status_code == 303
    assert draft_of(web, draft_id).envelope["recipients"] == [H41]
    assert audit_events(web, "intake:draft:updated")

    leader = login(web, credentials, f"{G22}/leader")
    assert draft_id in web.get("/ui/compose/drafts").text
    page = web.get(f"/ui/compose/drafts/{draft_id}")
    assert "Ký số" in page.text
    signed = web.post(f"/ui/compose/drafts/{draft_id}/sign", data={"as": "signer", "csrf": leader})
    assert signed.status_code == 303
    assert draft_of(web, draft_id).state == "signed"
    page = web.get(f"/ui/compose/drafts/{draft_id}")
    assert "Chưa hợp lệ" in page.text  # the seal is missing
    assert audit_events(web, "intake:draft:signed")
    not_his = web.post(f"/ui/compose/drafts/{draft_id}/sign", data={"as": "seal", "csrf": leader})
    assert not_his.status_code == 403  # a leader does not hold the seal
    assert draft_of(web, draft_id).state == "signed"

    clerk = login(web, credentials, G22)
    sealed = web.post(f"/ui/compose/drafts/{draft_id}/sign", data={"as": "seal", "csrf": clerk})
    assert sealed.status_code == 303
    page = web.get(f"/ui/compose/drafts/{draft_id}")
    assert "Chữ ký số hợp lệ: văn bản có thể phát hành." in page.text
    assert draft_of(web, draft_id).signatures["passed"] is True
    assert audit_events(web, "intake:draft:sealed")

    sent = web.post(f"/ui/compose/drafts/{draft_id}/send", data={"csrf": clerk})
    assert sent.status_code == 303
    location = sent.headers["location"]
    assert location.startswith("/ui/documents/")
    again = web.post(f"/ui/compose/drafts/{draft_id}/send", data={"csrf": clerk})
    assert again.headers["location"] == location  # a double click sends once
    after = counts(web)
    assert after["documents"] == 1
    assert after["files"] == 2
    assert after["blobs"] == 2  # the draft's blobs are gone, the document's remain
    assert drafts_stored(web) == (1, 0)
    draft = draft_of(web, draft_id)
    assert draft.state == "sent"
    assert location == f"/ui/documents/{draft.document_id}"
    (accepted,) = audit_events(web, "intake:document:accepted")
    assert accepted.detail["message_id"] == draft_id
    assert web.get(f"/ui/compose/drafts/{draft_id}").headers["location"] == location


def test_a_third_agency_can_neither_see_nor_act_on_the_draft(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    csrf = login(web, credentials, G22)
    draft_id = upload(web, csrf)
    before, stored = counts(web), drafts_stored(web)
    other = login(web, credentials, H26)
    assert draft_id not in web.get("/ui/compose/drafts").text
    assert web.get(f"/ui/compose/drafts/{draft_id}").status_code == 404
    assert web.get(f"/ui/compose/drafts/{draft_id}/main.pdf").status_code == 404
    for action, data in (
        ("sign", {"as": "seal"}),
        ("send", {}),
        ("delete", {}),
        ("envelope", ENVELOPE),
    ):
        refused = web.post(f"/ui/compose/drafts/{draft_id}/{action}", data={**data, "csrf": other})
        assert refused.status_code == 404, action
        assert "không tồn tại" in refused.text
    assert counts(web) == before
    assert drafts_stored(web) == stored
    refused_events = refusals(web)
    assert len(refused_events) == 6
    assert {e.detail["error"] for e in refused_events} == {"draft_not_found"}
    assert draft_of(web, draft_id).state == "uploaded"


def test_forms_without_their_csrf_token_are_refused_and_store_nothing(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    csrf = login(web, credentials, G22)
    refused = web.post(
        "/ui/compose/upload",
        data={"classification": "normal"},
        files=[("main", ("a.pdf", bytes(pdf()), "application/pdf"))],
    )
    assert refused.status_code == 403
    assert counts(web)["blobs"] == 0
    assert drafts_stored(web) == (0, 0)
    draft_id = upload(web, csrf)
    assert web.post(f"/ui/compose/drafts/{draft_id}/delete").status_code == 403
    assert web.post(f"/ui/compose/drafts/{draft_id}/send").status_code == 403
    assert drafts_stored(web) == (1, 2)
    assert [e.detail["error"] for e in refusals(web)] == ["csrf_invalid"] * 3


def test_a_file_that_is_not_a_pdf_is_refused_and_nothing_stored(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    csrf = login(web, credentials, G22)
    refused = web.post(
        "/ui/compose/upload",
        data={"classification": "normal"},
        files=[("main", ("a.pdf", b"<html>not a pdf</html>", "application/pdf"))],
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
    )
    assert refused.status_code == 415
    assert counts(web)["blobs"] == 0
    assert drafts_stored(web) == (0, 0)
    assert not list(node_of(web).settings.spool_dir.iterdir())
    (event,) = refusals(web)
    assert event.detail["error"] == "not_a_pdf"


def test_deleting_a_draft_removes_its_blobs(web: TestClient, credentials: dict[str, Any]) -> None:
    csrf = login(web, credentials, G22)
    draft_id = upload(web, csrf)
    deleted = web.post(f"/ui/compose/drafts/{draft_id}/delete", data={"csrf": csrf})
    assert deleted.status_code == 303
    assert drafts_stored(web) == (0, 0)
    assert counts(web)["blobs"] == 0
    assert audit_events(web, "intake:draft:deleted")


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(datetime.now(UTC))


@pytest.fixture
def clocked(
    settings: Settings, clock: MovableClock, validator_pool: ValidatorPool
) -> Iterator[TestClient]:
    with TestClient(
        create_app(settings, clock=clock, validators=validator_pool),
        base_url=BASE,
        raise_server_exceptions=False,
        follow_redirects=False,
    ) as client:
        yield client


def suggested(page: str) -> str:
    found = re.search(r'id="number" name="number" value="([0-9]+)"', page)
    assert found is not None
    return found.group(1)


def test_the_outgoing_number_follows_the_yearly_register_and_restarts_on_1_january(
    clocked: TestClient, clock: MovableClock, credentials: dict[str, Any]
) -> None:
    csrf = login(clocked, credentials, G22)
    draft_id = upload(clocked, csrf)
    assert suggested(clocked.get(f"/ui/compose/drafts/{draft_id}").text) == "1"
    assert send(clocked, auth(credentials, G22), envelope(), pdf()).status_code == 201
    page = clocked.get(f"/ui/compose/drafts/{draft_id}").text
    assert suggested(page) == "2"
    year = clock.at.year
    assert f"sổ văn bản đi năm {year}" in page
    # 00:05 on 1 January in Vietnam is still 31 December in UTC: the register is Vietnam's.
    clock.at = datetime(year, 12, 31, 17, 5, tzinfo=UTC)
    login(clocked, credentials, G22)
    page = clocked.get(f"/ui/compose/drafts/{draft_id}").text
    assert suggested(page) == "1"
    assert f"sổ văn bản đi năm {year + 1}" in page
    clock.at = datetime(year, 12, 31, 16, 55, tzinfo=UTC)
    login(clocked, credentials, G22)
    assert suggested(clocked.get(f"/ui/compose/drafts/{draft_id}").text) == "2"


def test_a_classified_draft_is_wrapped_for_its_agency_only(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    csrf = login(web, credentials, G22)
    main = bytes(pdf("Mật"))
    draft_id = upload(web, csrf, main=main, classification="confidential")
    draft = draft_of(web, draft_id)
    assert draft.classification == "confidential"
    assert all(f.wrapped_key is None and f.agency_wrap for f in draft.files)  # never the KEK
    assert web.get(f"/ui/compose/drafts/{draft_id}/main.pdf").content == main


def test_a_draft_above_the_clerks_clearance_is_refused_and_nothing_stored(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    csrf = login(web, credentials, G22)
    refused = web.post(
        "/ui/compose/upload",
        data={"classification": "top_secret"},
        files=[("main", ("a.pdf", bytes(pdf()), "application/pdf"))],
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
    )
    assert refused.status_code == 403
    assert counts(web)["blobs"] == 0
    assert drafts_stored(web) == (0, 0)
    (event,) = refusals(web)
    assert event.detail["error"] == "insufficient_clearance"


def test_sending_an_unsigned_draft_is_refused_by_the_intake_and_nothing_sent(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    csrf = login(web, credentials, G22)
    draft_id = upload(web, csrf)
    assert save(web, csrf, draft_id).status_code == 303
    refused = web.post(f"/ui/compose/drafts/{draft_id}/send", data={"csrf": csrf})
    assert refused.status_code == 422
    after = counts(web)
    assert after["documents"] == 0
    assert after["blobs"] == 2  # the draft keeps its files
    assert draft_of(web, draft_id).state == "uploaded"
    (event,) = refusals(web)
    assert event.detail["error"] in {str(i) for i in Indication if i is not Indication.OK}


def test_two_sends_of_a_draft_at_once_make_one_document(
    web: TestClient, credentials: dict[str, Any]
) -> None:
    csrf = login(web, credentials, G22)
    draft_id = upload(web, csrf)
    assert save(web, csrf, draft_id).status_code == 303
    leader = login(web, credentials, f"{G22}/leader")
    web.post(f"/ui/compose/drafts/{draft_id}/sign", data={"as": "signer", "csrf": leader})
    clerk = login(web, credentials, G22)
    web.post(f"/ui/compose/drafts/{draft_id}/sign", data={"as": "seal", "csrf": clerk})
    assert draft_of(web, draft_id).state == "sealed"

    def click() -> Any:
        return web.post(f"/ui/compose/drafts/{draft_id}/send", data={"csrf": clerk})

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: click(), range(2)))
    assert [a.status_code for a in answers] == [303, 303]
    assert answers[0].headers["location"] == answers[1].headers["location"]
    after = counts(web)
    assert after["documents"] == 1
    assert after["blobs"] == 2
