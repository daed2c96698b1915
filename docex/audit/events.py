"""The audit-event vocabulary, ``source:subject:action``, and how events are written.

Guarantee: every change docex makes is recorded by ``record()`` in the *same* transaction as the
change, so a change without its event (or an event without its change) cannot be committed.
Refusals change nothing, so the error handler commits them in a transaction of their own.

The vocabulary is closed: ``record()`` refuses a name that is not one of this module's
constants, so every event in the log means something documented here. ``record()`` also queues
the event for the log's integrator (``audit_pending``), which gives it a position in the
transparency log (``docex.audit.sequencer``).
"""

from __future__ import annotations

import re
import sys
from datetime import datetime
from functools import cache
from typing import Any, Final

from sqlalchemy import insert
from sqlalchemy.orm import Session

from docex.audit.leaves import canonical_detail
from docex.audit.models import AuditEvent, AuditPending

# Requests refused (every 4xx), by the one error handler.
REQUEST_REFUSED: Final = "api:request:refused"
# Credentials.
TOKEN_ISSUED: Final = "auth:token:issued"  # noqa: S105 (an event name)
TOKEN_CREATED: Final = "auth:token:created"  # noqa: S105
PRINCIPAL_CREATED: Final = "auth:principal:created"
# The operator's changes to people and system tokens (auth/accounts.py): a person's role or
# clearance changed, a person disabled (their sessions and tokens stop) or enabled again, a
# system client's token revoked.
PRINCIPAL_UPDATED: Final = "auth:principal:updated"
PRINCIPAL_DISABLED: Final = "auth:principal:disabled"
PRINCIPAL_ENABLED: Final = "auth:principal:enabled"
TOKEN_REVOKED: Final = "auth:token:revoked"  # noqa: S105 (an event name)
# Sign-in throttling (auth/signin.py): failed sign-ins blocked an account or a client address.
ACCOUNT_LOCKED: Final = "auth:account:locked"
ADDRESS_LOCKED: Final = "auth:address:locked"
# Web sessions (auth/sessions.py): a person signed in to the web UI, signed out (or was
# signed out by expiry, noticed on the next request).
SESSION_OPENED: Final = "auth:session:opened"
SESSION_CLOSED: Final = "auth:session:closed"
# Registry.
AGENCY_CREATED: Final = "registry:agency:created"
AGENCY_UPDATED: Final = "registry:agency:updated"
GROUP_CREATED: Final = "registry:group:created"
GROUP_UPDATED: Final = "registry:group:updated"  # title and/or members (added, removed)
# Documents.
DOCUMENT_ACCEPTED: Final = "intake:document:accepted"
DOCUMENT_REPLAYED: Final = "intake:document:replayed"
# Drafts (documents/drafts.py, the web's compose screen): a draft uploaded, its envelope saved,
# signed by a person or sealed by the agency, sent (the document it became), deleted.
DRAFT_CREATED: Final = "intake:draft:created"
DRAFT_UPDATED: Final = "intake:draft:updated"
DRAFT_SIGNED: Final = "intake:draft:signed"
DRAFT_SEALED: Final = "intake:draft:sealed"
DRAFT_SENT: Final = "intake:draft:sent"
DRAFT_DELETED: Final = "intake:draft:deleted"
# A recipient written ``group:<name>``: what the group expanded to at that moment, one event
# listing every delivery it made (docex.documents.deliveries), not one event per delivery.
RECIPIENT_RESOLVED: Final = "intake:recipient:resolved"
# Federation: documents and statuses crossing nodes (docex.federation.documents, .statuses).
# A document's transfer queued towards the next hop (the deliveries it carries), a document
# received from a peer (the hop, the trace so far), a status passed on towards its node.
FEDERATION_DOCUMENT_FORWARDED: Final = "federation:document:forwarded"
FEDERATION_DOCUMENT_RECEIVED: Final = "federation:document:received"
FEDERATION_STATUS_RELAYED: Final = "federation:status:relayed"
# Events about a document as a whole, not about one delivery: every party's trace shows them.
DOCUMENT_WIDE: Final = frozenset({DOCUMENT_ACCEPTED, FEDERATION_DOCUMENT_RECEIVED})
# Routing.
DELIVERY_QUEUED: Final = "routing:delivery:queued"
DELIVERY_DELIVERED: Final = "routing:delivery:delivered"
DELIVERY_RETRY: Final = "routing:delivery:retry"
DELIVERY_FAILED: Final = "routing:delivery:failed"
# Not answered (02/03) by its due time (routing/deadlines.py); once per delivery.
DELIVERY_OVERDUE: Final = "routing:delivery:overdue"
DELIVERY_REQUEUED: Final = "routing:delivery:requeued"  # an operator sent a failed one round again
STATUS_RECORDED: Final = "routing:status:recorded"
# A recall, update or replacement took effect on an earlier delivery (vocabulary.business).
DELIVERY_RECALLED: Final = "routing:delivery:recalled"
DELIVERY_UPDATED: Final = "routing:delivery:updated"
DELIVERY_REPLACED: Final = "routing:delivery:replaced"
# Webhooks (routing/webhooks): endpoints registered, switched on or off, deleted; an event
# given up on (its time-to-live spent).
WEBHOOK_REGISTERED: Final = "webhooks:endpoint:registered"
WEBHOOK_ENABLED: Final = "webhooks:endpoint:enabled"
WEBHOOK_DISABLED: Final = "webhooks:endpoint:disabled"
WEBHOOK_DELETED: Final = "webhooks:endpoint:deleted"
WEBHOOK_MESSAGE_FAILED: Final = "webhooks:message:failed"
# Early warning (docex/alerts): a rule's condition began to hold (raised, once), stopped
# holding (resolved), or an operator acknowledged the alert.
ALERT_RAISED: Final = "alerts:alert:raised"
ALERT_RESOLVED: Final = "alerts:alert:resolved"
ALERT_ACKNOWLEDGED: Final = "alerts:alert:acknowledged"
# Keys (docex.keys): every operation on a private key, through its key store.
SIGNING_KEY_ROTATED: Final = "keys:signing_key:rotated"
CERTIFICATE_REQUESTED: Final = "keys:certificate:requested"
CERTIFICATE_INSTALLED: Final = "keys:certificate:installed"
KEK_ROTATED: Final = "keys:kek:rotated"
AGENCY_KEY_EXPORTED: Final = "keys:agency_key:exported"
AGENCY_KEY_REMOVED: Final = "keys:agency_key:removed"
# Storage.
FILE_DOWNLOADED: Final = "storage:file:read"
FILE_CORRUPT: Final = "storage:file:corrupt"
BLOBS_SWEPT: Final = "storage:blob:swept"
# Signing (docex.signing.service): a PDF signed or sealed with a key of the node.
PDF_SIGNED: Final = "signing:pdf:signed"
# Federation transfers (docex/federation): accepted from a peer (with the kind's effect, one
# transaction), refused (the error code and the claimed peer: nothing stored), sent to the
# next hop (its signed transport receipt verified), given up on (refused for good, or TTL).
TRANSFER_RECEIVED: Final = "federation:transfer:received"
TRANSFER_REFUSED: Final = "federation:transfer:refused"
TRANSFER_SENT: Final = "federation:transfer:sent"
TRANSFER_FAILED: Final = "federation:transfer:failed"
# The log itself.
FORK_REPORTED: Final = "audit:fork:reported"  # a witness saw two views of the log
# This node, witnessing a peer's log (docex/federation/witnessing.py), saw it fork.
PEER_FORK_DETECTED: Final = "audit:peer_fork:detected"
# The federation's signed directory (docex.federation.directory).
DIRECTORY_PUBLISHED: Final = "federation:directory:published"  # the hub signed a version
DIRECTORY_APPLIED: Final = "federation:directory:applied"  # fetched, verified, applied
DIRECTORY_REFUSED: Final = "federation:directory:refused"  # fetched, refused: nothing applied
DIRECTORY_NODE_IMPORTED: Final = "federation:node:imported"  # the hub took in a node's entry
# The daily data report (docex/reports): the scheduled job wrote a day's report into the data
# directory (once per day); a watcher downloaded one.
REPORT_WRITTEN: Final = "reports:daily:written"
REPORT_READ: Final = "reports:daily:read"

_NAME = re.compile(r"[a-z][a-z0-9_]*:[a-z][a-z0-9_]*:[a-z][a-z0-9_]*")


class UnknownEvent(ValueError):
    """An event name outside the vocabulary: a programming error, never stored."""


@cache
def vocabulary() -> frozenset[str]:
    """Every event name this module defines (its upper-case ``source:subject:action`` constants,
    wherever in the module they are written)."""
    module = vars(sys.modules[__name__])
    return frozenset(
        value
        for name, value in module.items()
        if name.isupper() and isinstance(value, str) and _NAME.fullmatch(value)
    )


def record(
    session: Session,
    event: str,
    *,
    at: datetime,
    actor_id: str | None = None,
    agency_id: str | None = None,
    document_id: str | None = None,
    **detail: Any,
) -> AuditEvent:
    """Add ``event`` to the caller's transaction. Raises UnknownEvent for a name outside the
    vocabulary and ``LeafError`` for a detail that is not canonical JSON (both bugs, caught
    before anything is written)."""
    if event not in vocabulary():
        raise UnknownEvent(f"{event!r} is not an audit event of docex.audit.events")
    canonical_detail(detail)
    row = AuditEvent(
        event=event,
        at=at,
        actor_id=actor_id,
        agency_id=agency_id,
        document_id=document_id,
        detail=detail,
    )
    session.add(row)
    session.add(AuditPending(event=row))
    return row


def record_many(
    session: Session, event: str, entries: list[dict[str, Any]], *, at: datetime
) -> None:
    """``record`` for many events of one name at once (a broadcast's deliveries and receipts):
    two statements for all of them instead of two per event. Each entry holds ``actor_id``,
    ``agency_id``, ``document_id`` (each optional) and the rest is its detail."""
    if event not in vocabulary():
        raise UnknownEvent(f"{event!r} is not an audit event of docex.audit.events")
    if not entries:
        return
    rows = []
    for entry in entries:
        detail = {k: v for k, v in entry.items() if k not in _COLUMNS}
        canonical_detail(detail)
        rows.append(
            {
                "event": event,
                "at": at,
                "actor_id": entry.get("actor_id"),
                "agency_id": entry.get("agency_id"),
                "document_id": entry.get("document_id"),
                "detail": detail,
            }
        )
    session.flush()  # events recorded one by one before these keep their order
    indexes = session.scalars(
        insert(AuditEvent).returning(AuditEvent.index, sort_by_parameter_order=True), rows
    ).all()
    session.execute(insert(AuditPending), [{"event_index": index} for index in indexes])


_COLUMNS = frozenset({"actor_id", "agency_id", "document_id"})
