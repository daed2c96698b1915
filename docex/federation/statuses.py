"""Statuses crossing nodes: the ``status`` kind of transfer (:mod:`docex.federation.kinds`).

Every receipt a node issues — 01 when it delivers, 02–16 a recipient reports, 13 a sender
asks — whose other party is hosted on another node travels there: :func:`queue_statuses` (called
by ``docex.routing.receipts`` in the receipt's transaction) groups a batch of receipts by next
hop, one transfer per hop. Its manifest::

    {"version": 1,
     "statuses": [{"receipt": "<JWS>",      the receipt, signed by the node that issued it
                   "issuer": "<node id>",
                   "document_id", "recipient_id"}]}    which delivery it is about

A node that receives one checks each receipt's signature against its issuer's key in the
directory, that the issuer hosts the agency the status is from, and that the receipt names the
document it is carried for; refused otherwise (``receipt_signature_invalid``), nothing stored.
Then, per receipt: the node hosting the agency it is addressed to records it exactly as a local
status is recorded (``record``: ``docex.routing.receipts.RemoteReceipts``, the one rule — status,
receipts list, 01's delivered_at, business state, audit events, webhooks), once however often it
comes; any other node (a relay) passes it on towards that node, with an audit event.

A status transfer also carries **transport notices** from relays back to the sender's node:
when a relay (the hub) cannot hand a document on to the next node, the sender's node learns it
waits ("waiting for node X"), that it got through after all, or that the relay gave up (the
deliveries then fail there as a local one would). A notice is an entry ``{"notice": "<JWS typ
docex-notice+jws>", "issuer", "document_id"}`` whose claims name the document, its sender, the
recipients concerned, and ``waiting_for`` (a node, or null once through) or ``failed`` (the
reason); the sender's node accepts it only from a node on the way from it to those recipients.

Guarantee: a relay cannot alter or invent a status: the receipt is signed by its issuing node,
and only the node hosting its ``from`` agency may issue it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from docex.agencies.models import Agency
from docex.audit import events
from docex.db import Database
from docex.documents.models import Delivery, Document
from docex.errors import ManifestInvalid, NoticeNotOnRoute, ReceiptSignatureInvalid
from docex.federation import peers, transfers
from docex.federation.kinds import KIND_STATUS, Accepted, Inbound, Part
from docex.federation.models import Transfer
from docex.federation.statements import verify_statement
from docex.kit.clock import rfc3339
from docex.signing.jws import RECEIPT_TYPE, NodeSigner
from docex.vocabulary import statuses
from docex.vocabulary.transport import QUEUED

MANIFEST_VERSION = 1
NOTICE_TYPE = "docex-notice+jws"
MAX_HOPS = 32  # a route longer than this is a directory loop, not a route


def waiting_reason(node_id: str) -> str:
    """What the sender reads while a transfer carrying its delivery waits for a peer."""
    return f"waiting for node {node_id}"


class FailDelivery(Protocol):
    """How a delivery fails for good (``docex.routing.deliveries.record_failure``): the reason
    kept, the sender told. Handed in: routing depends on federation, not the reverse."""

    def __call__(
        self,
        session: Session,
        delivery: Delivery,
        attempts: int,
        reason: str,
        *,
        now: datetime,
        final: bool,
    ) -> None: ...


@dataclass(frozen=True)
class Status:
    """A signed receipt on its way: which delivery it is about and who issued it."""

    receipt: str  # the JWS
    issuer: str  # the node that signed it
    document_id: str
    recipient_id: str  # the delivery's recipient (the status is from or to it); "" for a notice
    to_agency_id: str  # whom the status is addressed to: where it must arrive
    notice: bool = False  # a relay's transport notice, not a receipt

    def entry(self) -> dict[str, str]:
        if self.notice:
            return {"notice": self.receipt, "issuer": self.issuer, "document_id": self.document_id}
        return {
            "receipt": self.receipt,
            "issuer": self.issuer,
            "document_id": self.document_id,
            "recipient_id": self.recipient_id,
        }


class RecordReceipt(Protocol):
    """How a status from another node is recorded here (``docex.routing.receipts``): as a local
    one is, once; returns whether it was new. Handed in: routing depends on federation."""

    def __call__(
        self,
        session: Session,
        document: Document,
        delivery: Delivery,
        claims: Mapping[str, Any],
        signed: str,
        *,
        now: datetime,
    ) -> bool: ...


def _homes(session: Session, agency_ids: set[str]) -> dict[str, str]:
    return dict(
        session.execute(
            select(Agency.id, Agency.node_id).where(Agency.id.in_(sorted(agency_ids)))
        ).all()
    )


def queue_statuses(
    session: Session, *, here: str, outgoing: Sequence[Status], now: datetime
) -> list[Transfer]:
    """Queue the statuses in ``outgoing`` whose addressee is hosted on another node: one
    transfer per next hop, in the caller's transaction. Statuses for agencies hosted here, or
    for a node the directory does not know (no way there), stay here."""
    if not outgoing:
        return []
    homes = _homes(session, {s.to_agency_id for s in outgoing})
    by_hop: dict[str, list[Status]] = {}
    hops: dict[str, str | None] = {}
    for status in outgoing:
        node = homes.get(status.to_agency_id)
        if node is None or node == here:
            continue
        if node not in hops:
            hops[node] = peers.next_hop(session, here, node)
        hop = hops[node]
        if hop is not None:
            by_hop.setdefault(hop, []).append(status)
    queued = []
    for hop, group in by_hop.items():
        documents = {s.document_id for s in group}
        queued.append(
            transfers.queue(
                session,
                kind=KIND_STATUS,
                peer=hop,
                manifest={"version": MANIFEST_VERSION, "statuses": [s.entry() for s in group]},
                now=now,
                document_id=documents.pop() if len(documents) == 1 else None,
            )
        )
    return queued


def queue_notice(
    session: Session,
    signer: NodeSigner,
    *,
    document: Document,
    recipients: Sequence[str],
    waiting_for: str | None,
    failed: str | None,
    now: datetime,
) -> list[Transfer]:
    """Tell the sender's node, signed, where its deliveries stand at this relay."""
    claims = {
        "iss": signer.node_id,
        "at": rfc3339(now),
        "document_id": document.id,
        "sender_id": document.sender_id,
        "recipients": sorted(recipients),
        "waiting_for": waiting_for,
        "failed": failed,
    }
    notice = Status(
        receipt=signer.sign(claims, typ=NOTICE_TYPE),
        issuer=signer.node_id,
        document_id=document.id,
        recipient_id="",
        to_agency_id=document.sender_id,
        notice=True,
    )
    return queue_statuses(session, here=signer.node_id, outgoing=[notice], now=now)


def _instant(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _on_the_way(session: Session, here: str, destination: str) -> set[str]:
    """The nodes a transfer from ``here`` to ``destination`` goes through, ``destination``
    included."""
    nodes: set[str] = set()
    current = here
    for _ in range(MAX_HOPS):
        hop = peers.next_hop(session, current, destination)
        if hop is None or hop in nodes:
            break
        nodes.add(hop)
        current = hop
    return nodes


@dataclass(frozen=True)
class Checked:
    status: Status
    claims: dict[str, Any]


class StatusKind:
    """The ``status`` kind. ``record`` is ``docex.routing.receipts.RemoteReceipts(deadlines)``,
    ``fail`` is ``docex.routing.deliveries.record_failure``; ``node_id`` is this node's."""

    kind = KIND_STATUS

    def __init__(
        self,
        db: Database,
        *,
        node_id: str,
        record: RecordReceipt,
        fail: FailDelivery,
        detour_after: int = 0,
    ) -> None:
        self.db = db
        self.node_id = node_id
        self.record = record
        self.fail = fail
        # After this many failed attempts to a relay, also send straight to the statuses'
        # nodes (0: never); the receipt that arrives second is recorded once.
        self.detour_after = detour_after

    # Sending side: a status transfer is its manifest alone.

    def parts(self, session: Session, transfer: Transfer) -> list[Part]:
        return []

    def sent(self, session: Session, transfer: Transfer, receipt: Mapping[str, Any]) -> None:
        return None

    def failed(
        self, session: Session, transfer: Transfer, reason: str, *, now: datetime, final: bool
    ) -> None:
        """A status that cannot reach its node stays recorded here; the transfer shows why.
        A relay that cannot be reached is gone round once: the statuses also go straight to
        their nodes."""
        if final or not self.detour_after or transfer.attempts != self.detour_after:
            return
        by_node: dict[str, list[dict[str, Any]]] = {}
        for entry in transfers.manifest_of(transfer).get("statuses", []):
            node = self._destination(session, entry)
            if node is not None and node not in (transfer.peer, self.node_id):
                by_node.setdefault(node, []).append(entry)
        for node, entries in sorted(by_node.items()):
            if peers.peer(session, node) is None:
                continue
            documents = {e["document_id"] for e in entries}
            transfers.queue(
                session,
                kind=KIND_STATUS,
                peer=node,
                manifest={"version": MANIFEST_VERSION, "statuses": entries},
                now=now,
                document_id=documents.pop() if len(documents) == 1 else None,
            )

    def _destination(self, session: Session, entry: Mapping[str, Any]) -> str | None:
        """The node a status entry is for: a notice and a receipt issued by the recipient's
        node go to the sender's node; a receipt issued by the sender's node to the
        recipient's."""
        document = session.get(Document, str(entry.get("document_id", "")))
        if document is None:
            return None
        recipient = str(entry.get("recipient_id") or "")
        homes = _homes(session, {document.sender_id, recipient} - {""})
        sender_home = homes.get(document.sender_id)
        if "notice" in entry or entry.get("issuer") != sender_home:
            return sender_home
        return homes.get(recipient)

    # Receiving side.

    def prepare(self, inbound: Inbound) -> list[Checked]:
        """Each receipt verified against its issuer's key, its issuer hosting its author."""
        manifest = inbound.manifest
        entries = manifest.get("statuses")
        if manifest.get("version") != MANIFEST_VERSION or not isinstance(entries, list):
            raise ManifestInvalid(f"a status manifest is version {MANIFEST_VERSION}, with statuses")
        if not entries:
            raise ManifestInvalid("a status transfer carries at least one status")
        checked: list[Checked] = []
        with self.db.read() as session:
            for entry in entries:
                if isinstance(entry, dict) and "notice" in entry:
                    checked.append(self._notice(session, entry))
                    continue
                if not isinstance(entry, dict) or not all(
                    isinstance(entry.get(k), str)
                    for k in ("receipt", "issuer", "document_id", "recipient_id")
                ):
                    raise ManifestInvalid(
                        "each status has its receipt, issuer, document_id and recipient_id"
                    )
                issuer = peers.peer(session, entry["issuer"])
                if issuer is None:
                    raise ReceiptSignatureInvalid(
                        f"the issuing node {entry['issuer']!r} is not in the directory"
                    )
                try:
                    claims = verify_statement(
                        entry["receipt"], issuer.signing_key, typ=RECEIPT_TYPE
                    )
                except ValueError as exc:
                    raise ReceiptSignatureInvalid(
                        f"a receipt does not verify with the key of node {issuer.id}: {exc}"
                    ) from exc
                author = session.get(Agency, str(claims.get("from")))
                if (
                    not all(isinstance(claims.get(k), str) for k in ("jti", "at", "from", "to"))
                    or not _instant(claims["at"])
                    or claims.get("iss") != issuer.id
                    or author is None
                    or author.node_id != issuer.id
                    or claims.get("document_id") != entry["document_id"]
                    or entry["recipient_id"] not in (claims.get("from"), claims.get("to"))
                    or claims.get("status") not in statuses.LABELS
                ):
                    raise ReceiptSignatureInvalid(
                        f"node {issuer.id} may not issue this receipt (its author, document or "
                        "delivery do not match)"
                    )
                checked.append(
                    Checked(
                        Status(
                            receipt=entry["receipt"],
                            issuer=issuer.id,
                            document_id=entry["document_id"],
                            recipient_id=entry["recipient_id"],
                            to_agency_id=str(claims.get("to")),
                        ),
                        claims,
                    )
                )
        return checked

    def _notice(self, session: Session, entry: Mapping[str, Any]) -> Checked:
        """A relay's transport notice: signed by its issuer, who must be on the way from the
        sender's node to the recipients when this is the sender's node."""
        if not all(isinstance(entry.get(k), str) for k in ("notice", "issuer", "document_id")):
            raise ManifestInvalid("each notice has its JWS, issuer and document_id")
        issuer = peers.peer(session, entry["issuer"])
        if issuer is None:
            raise ReceiptSignatureInvalid(
                f"the issuing node {entry['issuer']!r} is not in the directory"
            )
        try:
            claims = verify_statement(entry["notice"], issuer.signing_key, typ=NOTICE_TYPE)
        except ValueError as exc:
            raise ReceiptSignatureInvalid(
                f"a notice does not verify with the key of node {issuer.id}: {exc}"
            ) from exc
        recipients = claims.get("recipients")
        if (
            claims.get("iss") != issuer.id
            or claims.get("document_id") != entry["document_id"]
            or not isinstance(claims.get("sender_id"), str)
            or not isinstance(recipients, list)
        ):
            raise ReceiptSignatureInvalid(f"node {issuer.id}'s notice does not match its entry")
        sender = session.get(Agency, claims["sender_id"])
        if sender is not None and sender.node_id == self.node_id:
            homes = _homes(session, {str(r) for r in recipients})
            for node in set(homes.values()):
                if issuer.id not in _on_the_way(session, self.node_id, node):
                    raise NoticeNotOnRoute(
                        f"node {issuer.id} is not on the way to node {node}: it cannot speak "
                        "for these deliveries"
                    )
        status = Status(
            receipt=entry["notice"],
            issuer=issuer.id,
            document_id=entry["document_id"],
            recipient_id="",
            to_agency_id=claims["sender_id"],
            notice=True,
        )
        return Checked(status, claims)

    def _apply_notice(self, session: Session, claims: Mapping[str, Any], *, now: datetime) -> None:
        """The sender's deliveries the notice is about, still queued: waiting, through, or
        failed for good."""
        deliveries = session.scalars(
            select(Delivery)
            .where(
                Delivery.document_id == claims["document_id"],
                Delivery.recipient_id.in_([str(r) for r in claims["recipients"]]),
                Delivery.transport == QUEUED,
            )
            .order_by(Delivery.id)
        ).all()
        for delivery in deliveries:
            if claims.get("failed"):
                delivery.waiting_for = None
                self.fail(
                    session,
                    delivery,
                    delivery.attempts,
                    f"node {claims['iss']} gave up: {claims['failed']}",
                    now=now,
                    final=True,
                )
            elif claims.get("waiting_for"):
                delivery.waiting_for = str(claims["waiting_for"])
                delivery.last_error = waiting_reason(delivery.waiting_for)
                delivery.updated_at = now
            else:
                delivery.waiting_for = None
                delivery.last_error = None
                delivery.updated_at = now

    def commit(self, session: Session, inbound: Inbound, prepared: object) -> Accepted:
        """Record the statuses addressed to agencies hosted here; pass the others on."""
        if not isinstance(prepared, list):
            raise TypeError("commit takes what prepare returned")
        now = inbound.received_at
        homes = _homes(session, {c.status.to_agency_id for c in prepared})
        recorded: list[str] = []
        onward: list[Status] = []
        for item in prepared:
            if not isinstance(item, Checked):
                raise TypeError("commit takes what prepare returned")
            status, claims = item.status, item.claims
            if homes.get(status.to_agency_id) != self.node_id:
                onward.append(status)
                self._relayed(session, inbound, status, claims)
                continue
            if status.notice:
                self._apply_notice(session, claims, now=now)
                continue
            delivery = session.scalar(
                select(Delivery).where(
                    Delivery.document_id == status.document_id,
                    Delivery.recipient_id == status.recipient_id,
                )
            )
            document = session.get(Document, status.document_id)
            if document is None or delivery is None:
                raise ManifestInvalid(
                    f"no delivery of document {status.document_id} to {status.recipient_id} here",
                    code="unknown_delivery",
                )
            if self.record(session, document, delivery, claims, status.receipt, now=now):
                recorded.append(str(claims.get("jti")))
        queue_statuses(session, here=self.node_id, outgoing=onward, now=now)
        document_ids = {c.status.document_id for c in prepared}
        return Accepted(
            document_id=document_ids.pop() if len(document_ids) == 1 else None,
            detail={"recorded": recorded, "relayed": len(onward)},
        )

    def _relayed(
        self, session: Session, inbound: Inbound, status: Status, claims: Mapping[str, Any]
    ) -> None:
        events.record(
            session,
            events.FEDERATION_STATUS_RELAYED,
            at=inbound.received_at,
            agency_id=str(claims.get("from")),
            document_id=status.document_id,
            transfer_id=inbound.id,
            from_node=inbound.from_node,
            receipt_id=str(claims.get("jti", "")),
            code=str(claims.get("status", "notice")),
            to=status.to_agency_id,
        )
