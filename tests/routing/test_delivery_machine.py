"""The delivery machine as a Hypothesis state machine, driven through the real app.

Rules: submit (new, revoke, update, replace), submit again (the same send, or the same
``message_id`` with other content), deliver, a status from a recipient (02..06, 15, 16) or
from the sender (13), the same post retried, downloads by recipients and the sender. A model
written here from DOMAIN.md (not from ``vocabulary.statuses``) predicts every answer.

Invariants, checked against the database after every step: exactly one 01 per delivered
delivery (none before), every delivery's receipts form a legal history, each delivery's
business state is the model's, and no recipient ever read a file after it was recalled for it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from docex.audit.models import AuditEvent
from docex.documents.models import Delivery
from docex.routing.models import Receipt
from tests.helpers import G22, H26, H41, auth, deliver, envelope, node_of, pdf, send

SENDER = G22
RECIPIENTS = (H41, H26)
RECALL_EFFECT = {"revoke": "recalled", "update": "updated", "replace": "replaced"}

# DOMAIN.md "Statuses": who answers what, after what. 15/16 answer a recall (13), or a
# revoke/update/replace document straight after it arrived.
_AFTER: dict[str | None, set[str]] = {
    None: {"01"},
    "01": {"02", "03", "13"},
    "03": {"04", "05", "06", "13"},
    "04": {"05", "06", "13"},
    "05": {"06", "13"},
    "06": {"13"},
    "13": {"15", "16"},
    "02": set(),
    "15": set(),
}


def legal_next(history: list[str], business_type: str) -> set[str]:
    last = history[-1] if history else None
    if last == "16":  # a refused recall: carry on from before it
        before = [c for c in history if c not in ("13", "16")]
        last = before[-1] if before else "01"
    allowed = set(_AFTER[last])
    if last == "01" and business_type != "new":
        allowed |= {"15", "16"}
    return allowed


def accepts(business_type: str, code: str) -> bool:
    """docs/api.md "Recall, update, replace": a revoke is accepted with 15, an update or a
    replacement with 15 or 03."""
    return code == "15" or (code == "03" and business_type in ("update", "replace"))


@dataclass
class Sent:
    """One receipt the model expects, to recognise a retry of the post that made it."""

    code: str
    origin: str
    note: str | None
    incoming_number: str | None
    receipt_id: str


@dataclass
class Line:
    """One recipient of one document, as the model sees it."""

    delivered: bool = False
    history: list[str] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    state: str | None = None
    superseded_by: str | None = None


@dataclass
class Doc:
    id: str
    env: dict[str, Any]
    file_id: str
    business_type: str
    refers_to: str | None
    lines: dict[str, Line]


NOTES = st.sampled_from(["Sai nội dung", "Gửi nhầm"])
OPTIONAL_NOTES = st.sampled_from([None, "Ghi chú"])


def run_machine(client: TestClient, credentials: dict[str, Any]) -> None:
    node = node_of(client)
    main = pdf("Văn bản máy trạng thái")
    ids = itertools.count(1)
    statuses_url = "/api/v1/documents/{}/statuses"

    def validations() -> float:
        value = node.metrics.registry.get_sample_value("docex_signature_validation_seconds_count")
        return value or 0.0

    class DeliveryMachine(RuleBasedStateMachine):
        documents = Bundle("documents")

        def __init__(self) -> None:
            super().__init__()
            self.docs: dict[str, Doc] = {}
            self.run = f"m{next(ids)}-{id(self):x}"
            self.last_post: tuple[str, dict[str, str], dict[str, Any], Any] | None = None

        # -- sending ------------------------------------------------------------------------

        def _submit(self, recipients: list[str], business: dict[str, Any] | None) -> Doc:
            fields: dict[str, Any] = {"message_id": f"{self.run}-{len(self.docs)}"}
            if business:
                fields["business"] = business
            env = envelope(recipients, **fields)
            response = send(client, auth(credentials, SENDER), env, main)
            assert response.status_code == 201, response.text
            body = response.json()
            doc = Doc(
                id=body["id"],
                env=env,
                file_id=body["files"][0]["id"],
                business_type=business["type"] if business else "new",
                refers_to=business["refers_to"] if business else None,
                lines={r: Line() for r in recipients},
            )
            self.docs[doc.id] = doc
            return doc

        @initialize(target=documents)
        def a_delivered_document(self) -> str:
            doc = self._submit([H41, H26], None)
            self.deliver_queued()
            return doc.id

        @rule(target=documents, recipients=st.sampled_from([[H41], [H26], [H41, H26]]))
        def submit_new(self, recipients: list[str]) -> str:
            return self._submit(recipients, None).id

        @rule(
            target=documents,
            earlier=documents,
            kind=st.sampled_from(["revoke", "update", "replace"]),
            recipients=st.sampled_from([[H41], [H41, H26]]),
        )
        def submit_superseding(self, earlier: str, kind: str, recipients: list[str]) -> str:
            return self._submit(recipients, {"type": kind, "refers_to": earlier}).id

        @rule(document=documents, same=st.booleans())
        def submit_again(self, document: str, same: bool) -> None:
            """A retry of a send (200, the same document), or the same ``message_id`` with
            other content (409); neither validates the PDF."""
            doc = self.docs[document]
            before = validations()
            env = doc.env if same else {**doc.env, "subject": "Nội dung khác"}
            response = send(client, auth(credentials, SENDER), env, main)
            if same:
                assert response.status_code == 200, response.text
                assert response.json()["id"] == doc.id
            else:
                assert response.status_code == 409, response.text
                assert response.json()["error"] == "message_id_conflict"
            assert validations() == before, "a resubmission was validated"

        @rule()
        def deliver_queued(self) -> None:
            deliver(client)
            for doc in self.docs.values():
                for line in doc.lines.values():
                    if not line.delivered:
                        line.delivered = True
                        line.history.append("01")

        # -- statuses -----------------------------------------------------------------------

        def _expect(
            self, doc: Doc, recipient: str, origin: str, body: dict[str, Any]
        ) -> tuple[int, str | None, Sent | None]:
            """(HTTP status, error code, the receipt a replay answers with)."""
            line = doc.lines[recipient]
            code = body["code"]
            legal = code in legal_next(line.history, doc.business_type)
            if legal:
                earlier = line.sent[-1] if line.sent else None
            else:
                earlier = next(
                    (s for s in reversed(line.sent) if s.code == code and s.origin == origin),
                    None,
                )
            if (
                earlier is not None
                and (earlier.code, earlier.origin) == (code, origin)
                and earlier.note == body.get("note")
                and body.get("incoming_number") in (None, earlier.incoming_number)
            ):
                return 200, None, earlier
            if not legal:
                return 409, "illegal_transition", None
            if line.state == "recalled":
                return 409, "illegal_transition", None
            return 201, None, None

        def _apply(
            self, doc: Doc, recipient: str, origin: str, body: dict, receipt: dict
        ) -> str | None:
            """Record an accepted status in the model; the id of the document it recalled for
            ``recipient``, if it did."""
            line = doc.lines[recipient]
            previous = line.history[-1]
            line.history.append(body["code"])
            line.sent.append(
                Sent(
                    body["code"],
                    origin,
                    body.get("note"),
                    receipt["incoming_number"],
                    receipt["id"],
                )
            )
            if body["code"] == "15" and previous == "13":
                line.state, line.superseded_by = "recalled", None
                return doc.id
            if doc.refers_to and accepts(doc.business_type, body["code"]):
                earlier = self.docs[doc.refers_to].lines.get(recipient)
                if earlier is not None and earlier.state != "recalled":
                    earlier.state = RECALL_EFFECT[doc.business_type]
                    earlier.superseded_by = doc.id
                    if earlier.state == "recalled":
                        return doc.refers_to
            return None

        def _post(self, doc: Doc, recipient: str, who: str, role: str, body: dict) -> None:
            origin = SENDER if body["code"] == "13" else recipient
            headers = auth(credentials, who, role)
            response = client.post(statuses_url.format(doc.id), json=body, headers=headers)
            line = doc.lines[recipient]
            if not line.delivered:
                # Not yet arrived: invisible to the recipient, not deliverable-to for a recall.
                assert response.status_code == (404 if who == recipient else 409), response.text
                return
            status, error, replayed = self._expect(doc, recipient, origin, body)
            assert response.status_code == status, (line.history, body, response.text)
            if error is not None:
                assert response.json()["error"] == error
                return
            receipt = response.json()
            if replayed is not None:
                assert receipt["id"] == replayed.receipt_id
                return
            if recalled := self._apply(doc, recipient, origin, body, receipt):
                # From this moment the file is gone for that recipient, kept for the sender,
                # and no status follows on that delivery, legal as it would be otherwise.
                self.download(recalled, recipient)
                self.download(recalled, SENDER)
                self._try_a_status(recalled, recipient)
            self.last_post = (
                doc.id,
                {"who": who, "role": role, "recipient": recipient},
                body,
                receipt["id"],
            )

        @rule(
            document=documents,
            data=st.data(),
            # 15 and 03 weigh more: they are what makes a recall, update or replace take effect.
            code=st.sampled_from(["02", "03", "03", "04", "05", "06", "15", "15", "15", "16"]),
            note=NOTES,
            optional_note=OPTIONAL_NOTES,
        )
        def recipient_reports(
            self,
            document: str,
            data: st.DataObject,
            code: str,
            note: str,
            optional_note: str | None,
        ) -> None:
            doc = self.docs[document]
            recipient = data.draw(st.sampled_from(sorted(doc.lines)))
            body: dict[str, Any] = {"code": code}
            chosen = note if code in ("02", "16") else optional_note
            if chosen is not None:
                body["note"] = chosen
            self._post(doc, recipient, recipient, "leader" if code == "04" else "clerk", body)

        @rule(document=documents, data=st.data(), note=NOTES)
        def sender_recalls(self, document: str, data: st.DataObject, note: str) -> None:
            doc = self.docs[document]
            recipient = data.draw(st.sampled_from(sorted(doc.lines)))
            body = {"code": "13", "note": note, "recipients": [recipient]}
            self._post(doc, recipient, SENDER, "clerk", body)

        # Targeted rules: what takes effect only after a precise sequence (a recall answered,
        # a superseding document accepted, the recalled file asked for) gets a rule of its own.

        def _lines(self, wanted: Any) -> list[tuple[str, str]]:
            return sorted(
                (doc.id, recipient)
                for doc in self.docs.values()
                for recipient, line in doc.lines.items()
                if line.delivered and wanted(doc, line)
            )

        def _recall_asked(self, doc: Doc, line: Line) -> bool:
            return line.history[-1] == "13"

        def _superseding_open(self, doc: Doc, line: Line) -> bool:
            return doc.refers_to is not None and line.state is None and line.history[-1] == "01"

        def _recalled(self, doc: Doc, line: Line) -> bool:
            return line.state == "recalled"

        @precondition(lambda self: self._lines(self._recall_asked))
        @rule(data=st.data(), code=st.sampled_from(["15", "16"]))
        def recipient_answers_a_recall(self, data: st.DataObject, code: str) -> None:
            document_id, recipient = data.draw(st.sampled_from(self._lines(self._recall_asked)))
            body = {"code": code, **({"note": "Không đồng ý"} if code == "16" else {})}
            self._post(self.docs[document_id], recipient, recipient, "clerk", body)

        @precondition(lambda self: self._lines(self._superseding_open))
        @rule(data=st.data(), code=st.sampled_from(["15", "03"]))
        def recipient_accepts_a_superseding_document(self, data: st.DataObject, code: str) -> None:
            found = self._lines(self._superseding_open)
            document_id, recipient = data.draw(st.sampled_from(found))
            self._post(self.docs[document_id], recipient, recipient, "clerk", {"code": code})

        @precondition(lambda self: self._lines(self._recalled))
        @rule(data=st.data())
        def recipient_asks_for_a_recalled_file(self, data: st.DataObject) -> None:
            document_id, recipient = data.draw(st.sampled_from(self._lines(self._recalled)))
            self.download(document_id, recipient)

        def _try_a_status(self, document_id: str, recipient: str) -> None:
            doc = self.docs[document_id]
            legal = sorted(legal_next(doc.lines[recipient].history, doc.business_type))
            if legal:
                self._status_on(document_id, recipient, legal[0])

        def _status_on(self, document_id: str, recipient: str, code: str) -> None:
            body: dict[str, Any] = {"code": code}
            if code in ("02", "13", "16"):
                body["note"] = "Sai nội dung"
            if code == "13":
                body["recipients"] = [recipient]
            who = SENDER if code == "13" else recipient
            role = "leader" if code == "04" else "clerk"
            self._post(self.docs[document_id], recipient, who, role, body)

        @precondition(lambda self: self._lines(self._revocable))
        @rule(target=documents, data=st.data(), kind=st.sampled_from(["revoke", "replace"]))
        def sender_revokes_or_replaces_a_delivered_document(
            self, data: st.DataObject, kind: str
        ) -> str:
            document_id, recipient = data.draw(st.sampled_from(self._lines(self._revocable)))
            doc = self._submit([recipient], {"type": kind, "refers_to": document_id})
            self.deliver_queued()
            return doc.id

        def _revocable(self, doc: Doc, line: Line) -> bool:
            return line.state is None and line.history[-1] not in ("02", "15")

        @precondition(lambda self: self._lines(self._recalled))
        @rule(data=st.data(), code=st.sampled_from(["03", "04", "05", "06", "13", "15", "16"]))
        def a_status_on_a_recalled_document(self, data: st.DataObject, code: str) -> None:
            document_id, recipient = data.draw(st.sampled_from(self._lines(self._recalled)))
            self._status_on(document_id, recipient, code)

        @precondition(lambda self: self.last_post is not None)
        @rule()
        def retry_the_last_status(self) -> None:
            assert self.last_post is not None
            document_id, who, body, receipt_id = self.last_post
            headers = auth(credentials, who["who"], who["role"])
            response = client.post(statuses_url.format(document_id), json=body, headers=headers)
            line = self.docs[document_id].lines[who["recipient"]]
            if line.sent[-1].receipt_id == receipt_id:
                # Nothing happened on that delivery since: a retry after a lost answer.
                assert response.status_code == 200, (line.history, body, response.text)
                assert response.json()["id"] == receipt_id
            else:
                assert response.status_code in (200, 201, 409), response.text
                if response.status_code == 201:
                    origin = SENDER if body["code"] == "13" else who["recipient"]
                    self._apply(
                        self.docs[document_id], who["recipient"], origin, body, response.json()
                    )

        # -- files --------------------------------------------------------------------------

        @rule(document=documents, who=st.sampled_from([*RECIPIENTS, SENDER]))
        def download(self, document: str, who: str) -> None:
            doc = self.docs[document]
            response = client.get(
                f"/api/v1/documents/{doc.id}/files/{doc.file_id}",
                headers=auth(credentials, who),
            )
            if who == SENDER:
                assert response.status_code == 200, response.text
                return
            line = doc.lines.get(who)
            if line is None or not line.delivered:
                assert response.status_code == 404, response.text
            elif line.state == "recalled":
                assert response.status_code == 410, response.text
                assert response.json()["error"] == "recalled"
            else:
                assert response.status_code == 200, response.text

        # -- invariants ---------------------------------------------------------------------

        @invariant()
        def the_database_agrees_with_the_model(self) -> None:
            if not self.docs:
                return
            with node.db.read() as session:
                deliveries = {
                    (d.document_id, d.recipient_id): d
                    for d in session.scalars(
                        select(Delivery).where(Delivery.document_id.in_(list(self.docs)))
                    )
                }
                codes: dict[str, list[str]] = {}
                for delivery_id, code in session.execute(
                    select(Receipt.delivery_id, Receipt.code)
                    .where(Receipt.document_id.in_(list(self.docs)))
                    .order_by(Receipt.id)
                ):
                    codes.setdefault(delivery_id, []).append(code)
                reads = session.execute(
                    select(AuditEvent.document_id, AuditEvent.agency_id, AuditEvent.index).where(
                        AuditEvent.document_id.in_(list(self.docs)),
                        AuditEvent.event == "storage:file:read",
                    )
                ).all()
                events = session.execute(
                    select(AuditEvent.document_id, AuditEvent.agency_id, AuditEvent.index).where(
                        AuditEvent.document_id.in_(list(self.docs)),
                        AuditEvent.event == "routing:delivery:recalled",
                    )
                ).all()
            for doc in self.docs.values():
                for recipient, line in doc.lines.items():
                    delivery = deliveries[(doc.id, recipient)]
                    history = codes.get(delivery.id, [])
                    assert history.count("01") == (1 if line.delivered else 0), history
                    for i, code in enumerate(history):
                        assert code in legal_next(history[:i], doc.business_type), history
                    assert history == line.history
                    assert (delivery.business_state, delivery.superseded_by) == (
                        line.state,
                        line.superseded_by,
                    )
            recalled_at = {(d, a): i for d, a, i in events}
            for document_id, agency_id, index in reads:
                since = recalled_at.get((document_id, agency_id))
                assert since is None or index <= since, "a recalled file was served"

    run_state_machine_as_test(
        DeliveryMachine,
        settings=settings(
            max_examples=10,
            stateful_step_count=30,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_the_delivery_machine_holds_its_invariants(client: TestClient, credentials: dict) -> None:
    run_machine(client, credentials)
