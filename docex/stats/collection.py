"""Statistics crossing nodes: the ``stats`` kind of transfer (:mod:`docex.federation.kinds`).

Every node pushes the day rows of the agencies it hosts (:func:`docex.stats.query.local_days`)
to the hub, the node at the top of the directory's tree (no upstream). A push's manifest::

    {"version": 1, "statement": "<JWS typ docex-stats+jws>"}

whose claims are ``{"iss": <node>, "at": <RFC 3339>, "days": [{"agency_id", "day",
"sent", "received", "accepted", "returned", "overdue", "failed", "signature_refusals",
"to_01": [seconds...], "to_03": [seconds...]}]}``.

Guarantees:

- **Signed end to end.** The hub takes a row only if the statement verifies under the key the
  directory lists for ``iss`` and ``iss`` hosts every agency it reports (``Agency.node_id``): a
  node cannot report another's agencies, and a relay between a node and the hub (a node with
  an upstream of its own passes the statement on unchanged) cannot alter one. Otherwise a
  precise refusal (``stats_statement_invalid``, ``invalid_manifest``), nothing stored.
- **Idempotent.** The hub upserts by (node, agency, day) and keeps the statement's ``at``: a
  replay (the same transfer, or the same statement again) writes nothing, and an older
  statement arriving after a newer one does not overwrite it.
- **Incremental.** The node keeps the digest of each day row the hub acknowledged (its signed
  transport receipt: :meth:`StatsKind.sent`); a push carries only the rows whose digest changed,
  over the days from the day before the last acknowledged push to today (figures count on the
  day their event happened, so older days do not change), or from the first day with data when
  nothing was ever acknowledged. One push at a time: none is queued while one waits.
- **Exact.** Rows carry the raw latencies (milliseconds precision, as the node itself computes
  them), not a histogram: the hub's median and p90 over any period and any set of nodes are
  those of the raw latencies, equal to what each node computes from its own records.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docex.agencies.models import Agency
from docex.audit import events
from docex.audit.models import AuditEvent
from docex.db import Database
from docex.documents.models import Document
from docex.errors import ManifestInvalid, StatsStatementInvalid
from docex.federation import peers, transfers
from docex.federation.kinds import Accepted, Inbound, Part
from docex.federation.models import FederationNode, Transfer
from docex.federation.statements import unverified_claims, verify_statement
from docex.kit.clock import Clock, as_utc, rfc3339
from docex.signing.jws import NodeSigner
from docex.stats.models import CollectedDay, PushedDay
from docex.stats.query import DayFigures, local_days, vietnam_day

log = logging.getLogger(__name__)

KIND_STATS = "stats"
STATS_TYPE = "docex-stats+jws"
MANIFEST_VERSION = 1
# A push's statement stays well under the peer's manifest limit (1 MiB by default, base64 in a
# JWS): the days past it go in the next push.
MAX_STATEMENT_BYTES = 256 * 1024
MAX_DAYS_PER_STATEMENT = 5000
_COUNTS = ("sent", "received", "accepted", "returned", "overdue", "failed", "signature_refusals")


def digest(figures: DayFigures) -> str:
    text = json.dumps(figures.canonical(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def hub_of(session: Session, here: str) -> str | None:
    """The top of the directory's tree above ``here``; None when ``here`` is the top (or not
    in the directory: a node alone pushes nowhere)."""
    ups = dict(session.execute(select(FederationNode.id, FederationNode.upstream)).all())
    if here not in ups or ups[here] is None:
        return None
    seen, current = {here}, here
    while (up := ups.get(current)) is not None and up not in seen:
        seen.add(up)
        current = up
    return current


def _first_day(session: Session, hosted: set[str]) -> date | None:
    """The first day this node has data about its agencies (nothing acknowledged yet)."""
    firsts = [
        session.scalar(select(func.min(Document.created_at)).where(Document.sender_id.in_(hosted))),
        session.scalar(
            select(func.min(AuditEvent.at)).where(
                AuditEvent.event == events.REQUEST_REFUSED, AuditEvent.agency_id.in_(hosted)
            )
        ),
    ]
    days = [vietnam_day(f) for f in firsts if f is not None]
    # Deliveries to its agencies come from documents sent no earlier than the earliest sent
    # anywhere; the node stores those documents too.
    any_document = session.scalar(select(func.min(Document.created_at)))
    if any_document is not None:
        days.append(vietnam_day(any_document))
    return min(days) if days else None


@dataclass(frozen=True)
class Push:
    hub: str
    transfer_id: str
    days: int


def push(session: Session, signer: NodeSigner, *, now: datetime) -> Push | None:
    """Queue, in the caller's transaction, one ``stats`` transfer towards the hub with the day
    rows of this node's agencies that changed since the hub last acknowledged them; None when
    there is no hub, one push already waits, or nothing changed."""
    here = signer.node_id
    hub = hub_of(session, here)
    if hub is None:
        return None
    waiting = session.scalar(
        select(Transfer.id).where(Transfer.kind == KIND_STATS, Transfer.state == transfers.QUEUED)
    )
    if waiting is not None:
        return None
    hop = peers.next_hop(session, here, hub)
    if hop is None:
        return None
    hosted = set(session.scalars(select(Agency.id).where(Agency.node_id == here)))
    if not hosted:
        return None
    acknowledged = {(row.agency_id, row.day): row for row in session.scalars(select(PushedDay))}
    today = vietnam_day(now)
    if acknowledged:
        last = max(as_utc(row.acknowledged_at) for row in acknowledged.values())
        start = vietnam_day(last) - timedelta(days=1)
    else:
        first = _first_day(session, hosted)
        if first is None:
            return None
        start = first
    start = min(start, today)
    days = local_days(session, start=start, end=today, agencies=hosted)
    # A day acknowledged with figures that now has none (none can vanish today, but a row
    # must never stay wrong at the hub): sent as zeros.
    for (agency_id, day), _row in acknowledged.items():
        if start <= day <= today and agency_id in hosted:
            days.setdefault((agency_id, day), DayFigures())
    changed: list[dict[str, object]] = []
    size = 0
    for (agency_id, day), figures in sorted(days.items()):
        known = acknowledged.get((agency_id, day))
        if known is not None and known.digest == digest(figures):
            continue
        if known is None and figures == DayFigures():
            continue
        entry = {"agency_id": agency_id, "day": day.isoformat(), **figures.canonical()}
        size += len(json.dumps(entry, separators=(",", ":")))
        if changed and (size > MAX_STATEMENT_BYTES or len(changed) >= MAX_DAYS_PER_STATEMENT):
            break  # the rest next time
        changed.append(entry)
    if not changed:
        return None
    statement = signer.sign({"iss": here, "at": rfc3339(now), "days": changed}, typ=STATS_TYPE)
    transfer = transfers.queue(
        session,
        kind=KIND_STATS,
        peer=hop,
        manifest={"version": MANIFEST_VERSION, "statement": statement},
        now=now,
    )
    return Push(hub=hub, transfer_id=transfer.id, days=len(changed))


class StatsPush:
    """The Loop step (``docex-stats``) that pushes every ``DOCEX_STATS__PUSH_INTERVAL_SECONDS``."""

    def __init__(self, db: Database, signer: NodeSigner, clock: Clock) -> None:
        self.db, self.signer, self.clock = db, signer, clock

    def step(self) -> bool:
        with self.db.write() as session:
            pushed = push(session, self.signer, now=self.clock.now())
        if pushed is not None:
            log.info("stats: %d day rows queued for %s", pushed.days, pushed.hub)
        return False


def _day_entry(entry: object) -> tuple[str, date, DayFigures]:
    if not isinstance(entry, dict):
        raise ManifestInvalid("each day row is an object")
    agency_id, day = entry.get("agency_id"), entry.get("day")
    if not isinstance(agency_id, str) or not isinstance(day, str):
        raise ManifestInvalid("each day row has its agency_id and day")
    try:
        when = date.fromisoformat(day)
    except ValueError:
        raise ManifestInvalid(f"{day!r} is not a day") from None
    counts: dict[str, int] = {}
    for name in _COUNTS:
        value = entry.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ManifestInvalid(f"{name} is a count")
        counts[name] = value
    samples: dict[str, list[float]] = {}
    for name in ("to_01", "to_03"):
        values = entry.get(name)
        if not isinstance(values, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in values
        ):
            raise ManifestInvalid(f"{name} is a list of seconds")
        samples[name] = [float(v) for v in values]
    return (
        agency_id,
        when,
        DayFigures(
            sent=counts["sent"],
            received=counts["received"],
            accepted=counts["accepted"],
            returned=counts["returned"],
            overdue=counts["overdue"],
            failed=counts["failed"],
            signature_refusals=counts["signature_refusals"],
            to_01=samples["to_01"],
            to_03=samples["to_03"],
        ),
    )


@dataclass(frozen=True)
class Statement:
    issuer: str
    at: datetime
    days: list[tuple[str, date, DayFigures]]


class StatsKind:
    """The ``stats`` kind; ``node_id`` is this node's."""

    kind = KIND_STATS

    def __init__(self, db: Database, *, node_id: str) -> None:
        self.db = db
        self.node_id = node_id

    # Sending side: the manifest alone; the hub's receipt acknowledges the rows it carried.

    def parts(self, session: Session, transfer: Transfer) -> list[Part]:
        return []

    def sent(self, session: Session, transfer: Transfer, receipt: Mapping[str, Any]) -> None:
        claims = unverified_claims(str(transfers.manifest_of(transfer)["statement"]))
        if claims.get("iss") != self.node_id:
            return  # a statement this node relayed: the origin's to acknowledge
        at = datetime.fromisoformat(str(claims["at"]))
        for entry in claims.get("days", []):
            agency_id, day, figures = _day_entry(entry)
            row = session.get(PushedDay, (agency_id, day))
            if row is None:
                session.add(
                    PushedDay(
                        agency_id=agency_id, day=day, digest=digest(figures), acknowledged_at=at
                    )
                )
            else:
                row.digest, row.acknowledged_at = digest(figures), at

    def failed(
        self, session: Session, transfer: Transfer, reason: str, *, now: datetime, final: bool
    ) -> None:
        """Nothing to undo: what was not acknowledged goes again in the next push."""
        return

    # Receiving side.

    def prepare(self, inbound: Inbound) -> Statement:
        manifest = inbound.manifest
        token = manifest.get("statement")
        if manifest.get("version") != MANIFEST_VERSION or not isinstance(token, str):
            raise ManifestInvalid(
                f"a stats manifest is version {MANIFEST_VERSION}, with a statement"
            )
        try:
            issuer_id = str(unverified_claims(token).get("iss"))
        except ValueError:
            raise StatsStatementInvalid("the statement is not a JWS") from None
        with self.db.read() as session:
            issuer = peers.peer(session, issuer_id)
            if issuer is None:
                raise StatsStatementInvalid(f"node {issuer_id!r} is not in the directory")
            try:
                claims = verify_statement(token, issuer.signing_key, typ=STATS_TYPE)
            except ValueError as exc:
                raise StatsStatementInvalid(
                    f"the statement does not verify with the key of node {issuer.id}: {exc}"
                ) from exc
            try:
                at = as_utc(datetime.fromisoformat(str(claims.get("at"))))
            except ValueError:
                raise ManifestInvalid("the statement's at is not a time") from None
            entries = claims.get("days")
            if not isinstance(entries, list) or not entries:
                raise ManifestInvalid("a statement carries at least one day row")
            days = [_day_entry(entry) for entry in entries]
            agencies = {agency_id for agency_id, _day, _f in days}
            homes = dict(
                session.execute(
                    select(Agency.id, Agency.node_id).where(Agency.id.in_(sorted(agencies)))
                ).all()
            )
            strangers = sorted(a for a in agencies if homes.get(a) != issuer.id)
            if strangers:
                raise StatsStatementInvalid(
                    f"node {issuer.id} does not host {', '.join(strangers[:5])}"
                )
        return Statement(issuer.id, at, days)

    def commit(self, session: Session, inbound: Inbound, prepared: object) -> Accepted:
        """Upsert the rows at the hub; a node below passes the statement on, unchanged."""
        if not isinstance(prepared, Statement):
            raise TypeError("commit takes what prepare returned")
        hub = hub_of(session, self.node_id)
        if hub is not None:
            hop = peers.next_hop(session, self.node_id, hub)
            if hop is not None:
                transfers.queue(
                    session,
                    kind=KIND_STATS,
                    peer=hop,
                    manifest=dict(inbound.manifest),
                    now=inbound.received_at,
                )
            return Accepted(detail={"relayed": len(prepared.days)})
        written = 0
        for agency_id, day, figures in prepared.days:
            key = (prepared.issuer, agency_id, day)
            row = session.get(CollectedDay, key)
            values = figures.canonical()
            if row is not None and (
                as_utc(row.updated_at) > prepared.at
                or all(getattr(row, name) == value for name, value in values.items())
            ):
                continue  # an older statement, or the same figures again
            if row is None:
                session.add(
                    CollectedDay(
                        node_id=prepared.issuer,
                        agency_id=agency_id,
                        day=day,
                        updated_at=prepared.at,
                        **values,
                    )
                )
            else:
                for name, value in values.items():
                    setattr(row, name, value)
                row.updated_at = prepared.at
            written += 1
        # The protocol records ``federation:transfer:received`` in this transaction, with this.
        return Accepted(detail={"days": len(prepared.days), "written": written})
