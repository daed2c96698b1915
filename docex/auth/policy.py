"""Who may do what: the one access-policy function, ``authorize``, that every path calls.

Deny by default. A principal acts for exactly one agency (auditors and admins for the node).
For anything tied to a document, a principal that is not a party to it gets ``NotFound`` — the
same answer as for a document that does not exist — so existence never leaks across agencies.
A classified document — its envelope (the subject of a secret letter is itself secret) and its
files — further needs clearance at or above its classification; an uncleared member of a party
agency sees the inbox line with the subject withheld, and nothing more. Auditors see the
envelopes and traces of every document (that is their job) but never file contents, and the
subject and other free text of a classified envelope (``READ_CONTENT``) only when their own
clearance covers it: to everyone else those read as a placeholder naming the document.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from docex.config import Classification
from docex.errors import DocumentNotFound, Forbidden


class Kind(StrEnum):
    CLERK = "clerk"
    LEADER = "leader"
    SYSTEM = "system"
    AUDITOR = "auditor"
    ADMIN = "admin"


AGENCY_KINDS = frozenset({Kind.CLERK, Kind.LEADER, Kind.SYSTEM})
PEOPLE_KINDS = frozenset({Kind.CLERK, Kind.LEADER, Kind.AUDITOR, Kind.ADMIN})


@dataclass(frozen=True)
class Actor:
    id: str
    kind: Kind
    agency_id: str | None
    clearance: Classification
    username: str | None


class Action(StrEnum):
    SEND = "document:send"
    READ_DOCUMENT = "document:read"
    # The subject and every free-text field of the envelope (summary, signer, reasons, place).
    READ_CONTENT = "document:read_content"
    READ_FILE = "document:read_file"
    RECIPIENT_STATUS = "document:recipient_status"
    SENDER_STATUS = "document:sender_status"
    READ_MAILBOX = "mailbox:read"
    READ_REGISTRY = "registry:read"
    ADMIN_REGISTRY = "registry:admin"
    READ_AUDIT = "audit:read"
    WITNESS_AUDIT = "audit:witness"  # cosign the log's checkpoints, report a fork
    SIGN_AS_SIGNER = "pdf:sign"  # a person, with their own key
    SEAL = "pdf:seal"  # the agency seal: clerks (văn thư) and the agency's systems


@dataclass(frozen=True)
class Parties:
    """What the policy needs to know about a document."""

    sender_id: str
    recipient_ids: frozenset[str]
    classification: Classification


# Which business status each kind of recipient principal may report (DOMAIN.md "Statuses").
RECIPIENT_CODES: dict[Kind, frozenset[str]] = {
    Kind.CLERK: frozenset({"02", "03", "05", "06", "15", "16"}),
    Kind.LEADER: frozenset({"04", "05", "06", "15", "16"}),
    Kind.SYSTEM: frozenset({"02", "03", "04", "05", "06", "15", "16"}),
}
SENDER_CODES: frozenset[str] = frozenset({"13"})


def _is_party(actor: Actor, parties: Parties) -> bool:
    return actor.agency_id is not None and (
        actor.agency_id == parties.sender_id or actor.agency_id in parties.recipient_ids
    )


_DOCUMENT_ACTIONS = frozenset(
    {
        Action.READ_DOCUMENT,
        Action.READ_CONTENT,
        Action.READ_FILE,
        Action.RECIPIENT_STATUS,
        Action.SENDER_STATUS,
    }
)
_READ_ACTIONS = (Action.READ_DOCUMENT, Action.READ_CONTENT, Action.READ_FILE)


def allowed(
    actor: Actor,
    action: Action,
    parties: Parties | None = None,
    *,
    status_code: str | None = None,
) -> bool:
    if action in _DOCUMENT_ACTIONS and parties is None:
        raise ValueError(f"{action.value} needs the document's parties")
    agency_member = actor.kind in AGENCY_KINDS and actor.agency_id is not None
    match action:
        case Action.SEND:
            # Whoever sends a classified document handles its content: clearance must cover it.
            return agency_member and (
                parties is None or actor.clearance.rank >= parties.classification.rank
            )
        case Action.READ_MAILBOX:
            return agency_member
        case Action.SIGN_AS_SIGNER:
            return agency_member and actor.kind in (Kind.CLERK, Kind.LEADER)
        case Action.SEAL:
            return agency_member and actor.kind in (Kind.CLERK, Kind.SYSTEM)
        case Action.READ_REGISTRY:
            return True
        case Action.ADMIN_REGISTRY:
            return actor.kind is Kind.ADMIN
        case Action.READ_AUDIT | Action.WITNESS_AUDIT:
            return actor.kind is Kind.AUDITOR
        case Action.READ_DOCUMENT if parties is not None:
            return actor.kind is Kind.AUDITOR or (
                agency_member
                and _is_party(actor, parties)
                and actor.clearance.rank >= parties.classification.rank
            )
        case Action.READ_CONTENT if parties is not None:
            # Classified text is for the cleared: the auditor's role is no clearance.
            return actor.clearance.rank >= parties.classification.rank and (
                actor.kind is Kind.AUDITOR or (agency_member and _is_party(actor, parties))
            )
        case Action.READ_FILE if parties is not None:
            return (
                agency_member
                and _is_party(actor, parties)
                and actor.clearance.rank >= parties.classification.rank
            )
        case Action.RECIPIENT_STATUS if parties is not None:
            return (
                agency_member
                and actor.agency_id in parties.recipient_ids
                and status_code in RECIPIENT_CODES.get(actor.kind, frozenset())
            )
        case Action.SENDER_STATUS if parties is not None:
            return (
                agency_member
                and actor.agency_id == parties.sender_id
                and status_code in SENDER_CODES
            )
    return False


def authorize(
    actor: Actor,
    action: Action,
    parties: Parties | None = None,
    *,
    status_code: str | None = None,
) -> None:
    """Raise unless ``actor`` may do ``action``: NotFound when the document must stay invisible,
    Forbidden when the caller may see it but its role may not act."""
    if allowed(actor, action, parties, status_code=status_code):
        return
    if action is Action.SEND and parties is not None:
        raise Forbidden(
            f"your clearance ({actor.clearance.value}) does not cover a "
            f"{parties.classification.value} document",
            code="insufficient_clearance",
        )
    if parties is not None:
        sees_it = actor.kind is Kind.AUDITOR or _is_party(actor, parties)
        if action in _READ_ACTIONS or not sees_it:
            raise DocumentNotFound()
        raise Forbidden(
            f"{_a(actor.kind)} may not report status {status_code} on this document",
            code="status_not_allowed",
        )
    raise Forbidden(f"{_a(actor.kind)} may not do {action.value}")


def _a(kind: Kind) -> str:
    """``"an auditor"``, ``"a clerk"``: the article English wants before the role's name."""
    return f"{'an' if kind.value[0] in 'aeiou' else 'a'} {kind.value}"


def acting_agency(actor: Actor) -> str:
    """The agency an agency principal acts for; node-scoped principals have none."""
    if actor.agency_id is None or actor.kind not in AGENCY_KINDS:
        raise Forbidden(f"{_a(actor.kind)} does not act for an agency")
    return actor.agency_id
