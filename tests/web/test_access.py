"""The API's access table (tests/auth/test_visibility.py) through the web UI: the same scenario,
the same principals, each signed in by password at ``/ui/sign-in``, each opening the document
page of a document at every classification.

For each principal and document: the page is there (200) or the 404 page, exactly when the API
answers 200 or 404; the subject and every other secret shown exactly when the rules say the
principal reads the content (else the page says it is withheld, and shows none of them); the
recipient rows, receipts and trace entries those the API returns to the same principal, in the
same order; each file downloadable (200), gone after a recall (410) or not there (404).

Only people sign in to the web: the scenario's system principals (an agency's software) have no
password and are the API's alone. After the scenario, H41 agrees to the sender's recall, so the
table also holds the files a recall takes away.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from fastapi.testclient import TestClient

from docex.auth.policy import Actor, Kind
from docex.auth.service import create_api_token, create_principal
from docex.vocabulary.levels import Classification
from tests.auth.test_visibility import (
    AGENCIES,
    FILE_NAME,
    LEVELS,
    SECRETS,
    SIGNER,
    SUBJECT,
    Who,
    principal,
    scenario,
    sees,
    sees_every_recipient,
)
from tests.helpers import H26, H41, node_of
from tests.web.conftest import csrf_of

API = "/api/v1"
PEOPLE = (Kind.CLERK, Kind.LEADER)
WITHHELD_SUBJECT = "Trích yếu được giữ kín"
NOT_FOUND = "Trang hoặc văn bản này không tồn tại, hoặc bạn không có quyền xem."


@dataclass(frozen=True)
class Person:
    who: Who
    username: str
    password: str


def person(client: TestClient, kind: Kind, relation: str, clearance: Classification) -> Person:
    """A principal with a password (to sign in to the web) and an API token (to ask the API
    what it shows the same principal)."""
    node = node_of(client)
    agency = AGENCIES.get(relation)
    username = f"web.{kind}.{relation}.{clearance}"
    password = secrets.token_urlsafe(16)
    with node.db.write() as session:
        row = create_principal(
            session,
            kind=kind,
            agency_id=agency,
            now=node.clock.now(),
            username=username,
            password=password,
            full_name=username,
            clearance=clearance,
        )
        secret = create_api_token(session, row, name="access", now=node.clock.now()).secret
        actor = Actor(row.id, kind, agency, clearance, username)
    who = Who(kind, relation, clearance, {"Authorization": f"Bearer {secret}"}, actor)
    return Person(who, username, password)


def everyone(client: TestClient) -> list[Person]:
    people = [
        person(client, kind, relation, clearance)
        for relation in AGENCIES
        for kind in PEOPLE
        for clearance in LEVELS
    ]
    people += [person(client, Kind.AUDITOR, "node", clearance) for clearance in LEVELS]
    people.append(person(client, Kind.ADMIN, "node", Classification.TOP_SECRET))
    return people


def sign_in(web: TestClient, someone: Person) -> None:
    form = web.get("/ui/sign-in")
    signed = web.post(
        "/ui/sign-in",
        data={
            "username": someone.username,
            "password": someone.password,
            "csrf": csrf_of(form.text),
        },
    )
    assert signed.status_code == 303, signed.text


def attribute_values(html: str, element: str, attribute: str) -> list[str]:
    return re.findall(rf'<{element} class="[^"]*" {attribute}="([^"]+)"', html)


def test_the_document_page_shows_each_principal_what_the_api_shows(web: TestClient) -> None:
    documents = scenario(web)
    h41 = principal(web, Kind.SYSTEM, H41, Classification.TOP_SECRET)[0]
    for document in documents.values():  # H41 agrees to the recall: its files are gone
        agreed = web.post(
            f"{API}/documents/{document['id']}/statuses", json={"code": "15"}, headers=h41
        )
        assert agreed.status_code == 201, agreed.text
    wrong: list[str] = []

    def expect(condition: bool, what: str) -> None:
        if not condition:
            wrong.append(what)

    for someone in everyone(web):
        who = someone.who
        sign_in(web, someone)
        name = f"{who.kind}/{who.relation}/{who.clearance}"
        for level, document in documents.items():
            here = f"{name} on {level}"
            doc_id = document["id"]
            exists, content = sees(who, level)

            page = web.get(f"/ui/documents/{doc_id}")
            api = web.get(f"{API}/documents/{doc_id}", headers=who.headers)
            expect(page.status_code == api.status_code == (200 if exists else 404), here)
            html = page.text
            if not exists:
                expect(NOT_FOUND in html, f"{here}: the 404 page")
            if not content:
                for secret in SECRETS:
                    expect(secret not in html, f"{here}: {secret!r} shown")
            if not exists:
                for file in document["files"]:
                    gone = web.get(f"/ui/documents/{doc_id}/files/{file['id']}")
                    expect(gone.status_code == 404, f"{here}: file {gone.status_code}")
                continue

            # The envelope: the subject and the rest of the content, or that it is withheld.
            expect((f">{SUBJECT}</h1>" in html) is content, f"{here}: subject")
            expect((WITHHELD_SUBJECT in html) is not content, f"{here}: withheld notice")
            expect((SIGNER in html) is content and (FILE_NAME in html) is content, f"{here}: text")

            # Recipient rows, receipts (with their notes) and the trace: as the API's.
            view = api.json()
            rows = attribute_values(html, "tr", "data-agency")
            expect(rows == [r["agency_id"] for r in view["recipients"]], f"{here}: rows")
            expected_rows = {H41, H26} if sees_every_recipient(who) else {H41}
            expect(set(rows) == expected_rows, f"{here}: rows {rows}")
            receipts = web.get(f"{API}/documents/{doc_id}/receipts", headers=who.headers)
            items = receipts.json()["items"]
            shown = attribute_values(html, "tr", "data-id")
            expect(shown == [r["id"] for r in items], f"{here}: receipts")
            for r in items:
                if r["note"] and not r["content_withheld"]:
                    expect(r["note"] in html, f"{here}: note of {r['code']}")
            trace = web.get(f"{API}/documents/{doc_id}/trace", headers=who.headers)
            indexes = [str(e["audit_index"]) for e in trace.json()["items"]]
            expect(attribute_values(html, "li", "data-index") == indexes, f"{here}: trace")

            # Files: a party's cleared members read them, H41's no longer (recalled).
            readable = who.kind in PEOPLE and who.relation in ("sender", "recipient")
            expected = (410 if who.relation == "recipient" else 200) if readable else 404
            for file in document["files"]:
                got = web.get(f"/ui/documents/{doc_id}/files/{file['id']}")
                expect(got.status_code == expected, f"{here}: file {got.status_code}")
                offered = f'/files/{file["id"]}" download' in html
                expect(offered is (expected == 200), f"{here}: download link")
    assert not wrong, "\n".join(wrong)
