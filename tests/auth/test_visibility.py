"""The policy's table seen through the API, on a real node: for every role × agency × clearance,
and a document at every classification, what the document view, trace, receipts, inbox, outbox,
lookup and references return.

One sender (G22) sends a document of each classification to two recipients (H41, H26); both
answer with statuses carrying notes, and the sender recalls from H41. Then each principal — a
clerk, leader and system of the sender, of the recipient H41 and of a third agency (I01), at each
clearance, and an auditor at each clearance and an admin — reads everything. The expectations
are written from the rules (``auth/policy.py``'s docstring), not from the policy's code.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from docex.auth.policy import Action, Actor, Kind, reach
from docex.auth.service import create_api_token, create_principal
from docex.config import Classification
from docex.documents.access import readable
from docex.documents.models import Document
from tests.helpers import G22, H26, H41, I01, deliver, envelope, node_of, pdf, send

SUBJECT = "Phương án bảo vệ mục tiêu trọng yếu"
SIGNER = "Đại tá Trần Văn Kín"
FILE_NAME = "phuong-an-bao-ve-muc-tieu.pdf"
NOTE_ACCEPTED = "Đã vào sổ mật, giao phòng tác chiến"
NOTE_REJECTED = "Sai địa chỉ nhận: chuyển Bộ Tư lệnh Thủ đô"
NOTE_RECALL = "Thu hồi do lộ lịch trình"
SECRETS = (SUBJECT, SIGNER, FILE_NAME, NOTE_ACCEPTED, NOTE_REJECTED, NOTE_RECALL)
WITHHELD = "[withheld]"
LEVELS = tuple(Classification)
ROLES = (Kind.CLERK, Kind.LEADER, Kind.SYSTEM)
AGENCIES = {"sender": G22, "recipient": H41, "third": I01}
API = "/api/v1"


@dataclass(frozen=True)
class Who:
    kind: Kind
    relation: str  # sender | recipient | third | node
    clearance: Classification
    headers: dict[str, str]
    actor: Actor

    @property
    def agency_member(self) -> bool:
        return self.kind in ROLES


def principal(
    client: TestClient, kind: Kind, agency: str | None, clearance: Classification
) -> tuple[dict[str, str], Actor]:
    node = node_of(client)
    with node.db.write() as session:
        row = create_principal(
            session,
            kind=kind,
            agency_id=agency,
            now=node.clock.now(),
            username=None
            if kind is Kind.SYSTEM
            else f"{kind}.{agency or 'node'}.{clearance}.{secrets.token_hex(3)}",
            clearance=clearance,
        )
        secret = create_api_token(session, row, name="visibility", now=node.clock.now()).secret
        actor = Actor(row.id, kind, agency, clearance, row.username)
    return {"Authorization": f"Bearer {secret}"}, actor


def everyone(client: TestClient) -> list[Who]:
    people = [
        Who(kind, relation, clearance, *principal(client, kind, agency, clearance))
        for (relation, agency), kind, clearance in itertools.product(
            AGENCIES.items(), ROLES, LEVELS
        )
    ]
    people += [
        Who(Kind.AUDITOR, "node", clearance, *principal(client, Kind.AUDITOR, None, clearance))
        for clearance in LEVELS
    ]
    admin = Classification.TOP_SECRET
    people.append(Who(Kind.ADMIN, "node", admin, *principal(client, Kind.ADMIN, None, admin)))
    return people


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def scenario(client: TestClient) -> dict[Classification, dict[str, Any]]:
    """A document of each classification, G22 → H41 and H26, with receipts that carry notes."""
    top = Classification.TOP_SECRET
    sender = principal(client, Kind.LEADER, G22, top)[0]
    h41 = principal(client, Kind.SYSTEM, H41, top)[0]
    h26 = principal(client, Kind.SYSTEM, H26, top)[0]
    documents = {}
    for level in LEVELS:
        env = envelope(
            [H41, H26],
            subject=SUBJECT,
            classification=level.value,
            signer={"competence": "TL. BỘ TRƯỞNG", "position": "Cục trưởng", "full_name": SIGNER},
        )
        documents[level] = ok(send(client, sender, env, pdf(), main_name=FILE_NAME), 201)
    assert deliver(client) == 2 * len(LEVELS)
    for document in documents.values():
        statuses = f"{API}/documents/{document['id']}/statuses"
        ok(client.post(statuses, json={"code": "03", "note": NOTE_ACCEPTED}, headers=h41), 201)
        ok(client.post(statuses, json={"code": "02", "note": NOTE_REJECTED}, headers=h26), 201)
        recall = {"code": "13", "note": NOTE_RECALL, "recipients": [H41]}
        ok(client.post(statuses, json=recall, headers=sender), 201)
    return documents


def sees(who: Who, level: Classification) -> tuple[bool, bool]:
    """(the document exists for them, they read its content): the rules of auth/policy.py."""
    is_cleared = who.clearance.rank >= level.rank
    if who.kind is Kind.AUDITOR:
        return True, is_cleared
    party = who.agency_member and who.relation in ("sender", "recipient")
    return party and is_cleared, party and is_cleared


def sees_every_recipient(who: Who) -> bool:
    return who.kind is Kind.AUDITOR or who.relation == "sender"


def test_every_view_shows_each_principal_what_the_table_says(client: TestClient) -> None:
    documents = scenario(client)
    sender = principal(client, Kind.LEADER, G22, Classification.TOP_SECRET)[0]
    full_traces = {
        level: ok(client.get(f"{API}/documents/{d['id']}/trace", headers=sender))["items"]
        for level, d in documents.items()
    }
    wrong: list[str] = []

    def expect(condition: bool, what: str) -> None:
        if not condition:
            wrong.append(what)

    for who in everyone(client):
        name = f"{who.kind}/{who.relation}/{who.clearance}"
        for level, document in documents.items():
            doc_id = document["id"]
            exists, content = sees(who, level)
            here = f"{name} on {level}"

            view = client.get(f"{API}/documents/{doc_id}", headers=who.headers)
            trace = client.get(f"{API}/documents/{doc_id}/trace", headers=who.headers)
            receipts = client.get(f"{API}/documents/{doc_id}/receipts", headers=who.headers)
            found = ok(
                client.get(f"{API}/documents/lookup", params={"ref": doc_id}, headers=who.headers)
            )
            for response in (view, trace, receipts):
                expect(response.status_code == (200 if exists else 404), f"{here}: {response.url}")
            expect(len(found["items"]) == exists, f"{here}: lookup")
            if not exists:
                continue
            if not content:
                text = view.text + trace.text + receipts.text + str(found)
                for secret in SECRETS:
                    expect(secret not in text, f"{here}: {secret!r} shown")

            # The document: rows, content, file names, signer subjects.
            body = view.json()
            rows = {r["agency_id"] for r in body["recipients"]}
            expect(rows == ({H41, H26} if sees_every_recipient(who) else {H41}), f"{here}: rows")
            expect(body["content_withheld"] is not content, f"{here}: content_withheld")
            expect(
                (body["envelope"]["subject"] == SUBJECT) is content
                and (body["envelope"]["signer"]["full_name"] == SIGNER) is content
                and [f["name"] for f in body["files"]] == [FILE_NAME if content else WITHHELD]
                and all((s["subject"] == WITHHELD) is not content for s in body["signatures"]),
                f"{here}: document content",
            )
            (ref,) = found["items"]
            expect((ref["subject"] == SUBJECT) is content, f"{here}: lookup subject")

            # The trace: all of it, or the document's acceptance and what is by or to H41.
            full = full_traces[level]
            expected_trace = (
                full
                if sees_every_recipient(who)
                else [
                    e
                    for e in full
                    if e["event"] == "intake:document:accepted"
                    or e["agency_id"] == H41
                    or e["detail"].get("to") == H41
                ]
            )
            indexes = [e["audit_index"] for e in trace.json()["items"]]
            expect(indexes == [e["audit_index"] for e in expected_trace], f"{here}: trace")

            # Receipts: all five, or the three of H41; a note and its JWS only for the cleared.
            items = receipts.json()["items"]
            pairs = sorted((r["code"], r["from_agency_id"], r["to_agency_id"]) for r in items)
            h41_pairs = [("01", H41, G22), ("03", H41, G22), ("13", G22, H41)]
            expected_pairs = (
                sorted([*h41_pairs, ("01", H26, G22), ("02", H26, G22)])
                if sees_every_recipient(who)
                else h41_pairs
            )
            expect(pairs == expected_pairs, f"{here}: receipts {pairs}")
            for r in items:
                noted = r["code"] != "01"
                expect(
                    (r["note"] == WITHHELD) is (noted and not content)
                    and (r["signed"] is None) is (noted and not content)
                    and r["content_withheld"] is (noted and not content),
                    f"{here}: receipt {r['code']}",
                )

        # Mailboxes: the agency's lines at every classification, the subject when cleared.
        inbox = client.get(f"{API}/inbox", headers=who.headers)
        outbox = client.get(f"{API}/outbox", headers=who.headers)
        if not who.agency_member:
            expect((inbox.status_code, outbox.status_code) == (403, 403), f"{name}: mailboxes")
            continue
        for box, mine in ((inbox, who.relation == "recipient"), (outbox, who.relation == "sender")):
            lines = {i["document_id"]: i for i in ok(box)["items"]}
            expect(
                set(lines) == ({d["id"] for d in documents.values()} if mine else set()),
                f"{name}: {box.url}",
            )
            for level, document in documents.items():
                if line := lines.get(document["id"]):
                    cleared = who.clearance.rank >= level.rank
                    expect(
                        (line["subject"] == SUBJECT) is cleared
                        and line["content_withheld"] is not cleared,
                        f"{name}: {box.url} line {level}",
                    )
    assert not wrong, "\n".join(wrong)


# -- references: the same reach, as the SQL every query shares ------------------------------------


def test_references_reach_what_the_policy_says_for_every_principal(client: TestClient) -> None:
    """``documents.access.readable`` — used by lookup and the references of a new document —
    returns, for each principal and side (sent, received), exactly the documents the rules
    say: its agency's, at the classifications its clearance covers; every one for an auditor."""
    documents = scenario(client)
    node = node_of(client)
    wrong = []
    with node.db.read() as session:
        for who in everyone(client):
            findable = reach(who.actor, Action.READ_DOCUMENT)
            for level, document in documents.items():
                is_cleared = who.clearance.rank >= level.rank
                for by_sender, by_recipient in ((True, False), (False, True), (True, True)):
                    where = readable(findable, by_sender=by_sender, by_recipient=by_recipient)
                    got = session.scalar(
                        select(Document.id).where(Document.id == document["id"], where)
                    )
                    expected = who.kind is Kind.AUDITOR or (
                        who.agency_member
                        and is_cleared
                        and (
                            (by_sender and who.relation == "sender")
                            or (by_recipient and who.relation == "recipient")
                        )
                    )
                    if (got is not None) is not expected:
                        wrong.append(
                            f"{who.kind}/{who.relation}/{who.clearance} {level} "
                            f"sent={by_sender} received={by_recipient}: {got}"
                        )
    assert not wrong, "\n".join(wrong)


def test_a_new_document_cites_only_documents_its_sender_may_read(client: TestClient) -> None:
    """refers_to: a document the sender's agency sent; in_reply_to: one it received; either
    only at a classification the sender's clearance covers (else 422 unknown_reference)."""
    documents = scenario(client)
    revoke = {"type": "revoke", "reason": "Ban hành nhầm"}
    for clearance in LEVELS:
        sender = principal(client, Kind.CLERK, G22, clearance)[0]
        answerer = principal(client, Kind.CLERK, H41, clearance)[0]
        for level, document in documents.items():
            cleared = clearance.rank >= level.rank
            cites = (
                (
                    sender,
                    envelope([H41], business={**revoke, "refers_to": document["id"]}),
                    cleared,
                ),
                (answerer, envelope([G22], in_reply_to=document["id"]), cleared),
                # What H41 received is not what it sent, and the other way round.
                (
                    answerer,
                    envelope([G22], business={**revoke, "refers_to": document["id"]}),
                    False,
                ),
                (sender, envelope([H41], in_reply_to=document["id"]), False),
            )
            for who, env, accepted in cites:
                response = send(client, who, env, pdf())
                if accepted:
                    assert response.status_code == 201, (clearance, level, response.text)
                else:
                    assert response.status_code == 422, (clearance, level, response.text)
                    assert response.json()["error"] == "unknown_reference"
