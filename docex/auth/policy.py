"""Who may do what: the one access-policy function, ``authorize``, that every path calls.

Deny by default. A principal acts for exactly one agency (auditors and admins for the node).
For anything tied to a document, a principal that is not a party to it gets ``NotFound`` — the
same answer as for a document that does not exist — so existence never leaks across agencies.
A classified document — its envelope (the subject of a secret letter is itself secret) and its
files — further needs clearance at or above its classification; an uncleared member of a party
agency sees the inbox line with the subject withheld, and nothing more. Auditors see the
envelopes and traces of every document (that is their job) but never file contents, and the
subject and other free text of a classified envelope (``READ_CONTENT``) only when their own
clearance covers it — and never of a document their node only relays to another node: to
everyone else those read as a placeholder naming the document. The
files of a document a recipient agreed to recall are gone for that recipient (410
``recalled``), not for the sender.

Past yes or no, this module also answers *what* of a document each caller sees, so that every
view (API, CLI, the web UI) renders the same answer instead of filtering on its own:

- ``visibility(actor, parties)`` → ``Visibility``: whether the caller may read the document, its
  content (the envelope's free text, file names, the subjects of signing certificates, the notes
  of receipts) and its files, and which recipient rows, trace entries and receipts it sees: all
  of them for the sender's agency and for auditors, those of its own agency for a recipient.
- ``reach(actor, purpose)`` → ``Reach``: which documents a query may return at all — a mailbox
  line (the caller's agency's, at any classification, the subject withheld when uncleared) or a
  document found or cited by reference (the caller's agency's, or any for an auditor, at the
  classifications its clearance covers). ``documents.access`` turns it into the one SQL filter
  that inbox, outbox, lookup and references share.

Clearance is compared with a classification in one place, ``cleared``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from docex.errors import DocumentNotFound, Forbidden, Recalled
from docex.vocabulary.levels import Classification


class Kind(StrEnum):
    CLERK = "clerk"
    LEADER = "leader"
    SYSTEM = "system"
    AUDITOR = "auditor"
    ADMIN = "admin"
    # The supervision centre's people (issue 15): they watch the whole network's timeliness,
    # its alerts and its daily report; they read no document.
    SUPERVISOR = "supervisor"


AGENCY_KINDS = frozenset({Kind.CLERK, Kind.LEADER, Kind.SYSTEM})
PEOPLE_KINDS = frozenset({Kind.CLERK, Kind.LEADER, Kind.AUDITOR, Kind.ADMIN, Kind.SUPERVISOR})
# Who sees every agency's statistics, not only their own agency's row.
WATCHERS = frozenset({Kind.SUPERVISOR, Kind.AUDITOR, Kind.ADMIN})


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
    # Overdue deliveries (routing/deadlines.py): an agency's own, or the node's.
    READ_DEADLINES = "deadlines:read"
    READ_REGISTRY = "registry:read"
    ADMIN_REGISTRY = "registry:admin"
    ADMIN_ROUTING = "routing:admin"  # the dead-letter view: list and re-queue deliveries
    # People and system tokens (auth/accounts.py): create, disable, change role or clearance,
    # issue and revoke system clients' tokens. The operator's, as the registry is.
    ADMIN_PRINCIPALS = "principals:admin"
    # Send a failed delivery of a document round again: the sending agency's clerks (văn thư,
    # who dispatch its mail) and systems. No clearance needed: a re-queue moves the sealed
    # bytes, it reads nothing (an uncleared clerk sees the outbox line and its failures).
    RESEND = "document:resend"
    # Supervision (issue 15). Statistics: every agency's for WATCHERS, one's own agency's row
    # for its members (``stats_agency``). The dashboard: supervisors and admins. Alerts: read
    # by WATCHERS, acknowledged by supervisors and admins. The daily report: WATCHERS.
    READ_STATS = "stats:read"
    SUPERVISE = "supervision:read"
    READ_ALERTS = "alerts:read"
    ACK_ALERTS = "alerts:acknowledge"
    READ_REPORTS = "reports:read"
    READ_AUDIT = "audit:read"
    WITNESS_AUDIT = "audit:witness"  # cosign the log's checkpoints, report a fork
    SIGN_AS_SIGNER = "pdf:sign"  # a person, with their own key
    SEAL = "pdf:seal"  # the agency seal: clerks (văn thư) and the agency's systems
    # Webhooks are for an agency's software: its system clients register endpoints for their
    # agency; admins (the operator) may also list, switch off and delete anyone's.
    REGISTER_WEBHOOK = "webhook:register"
    MANAGE_WEBHOOKS = "webhook:manage"


@dataclass(frozen=True)
class Parties:
    """What the policy needs to know about a document."""

    sender_id: str
    recipient_ids: frozenset[str]
    classification: Classification
    # Recipients that agreed to the document's recall (``business_state`` recalled): its files
    # are no longer theirs to read (410 ``recalled``); the sender keeps them.
    recalled_for: frozenset[str] = frozenset()
    # This node only relays the document (received from another node, no recipient here has
    # it): its auditors see that it passed, never what it says, however cleared they are.
    relayed: bool = False


# Which business status each kind of recipient principal may report (DOMAIN.md "Statuses").
RECIPIENT_CODES: dict[Kind, frozenset[str]] = {
    Kind.CLERK: frozenset({"02", "03", "05", "06", "15", "16"}),
    Kind.LEADER: frozenset({"04", "05", "06", "15", "16"}),
    Kind.SYSTEM: frozenset({"02", "03", "04", "05", "06", "15", "16"}),
}
SENDER_CODES: frozenset[str] = frozenset({"13"})


def cleared(actor: Actor, classification: Classification) -> bool:
    """Whether the actor's clearance covers ``classification``: the one such comparison."""
    return actor.clearance.rank >= classification.rank


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
        Action.RESEND,
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
            return agency_member and (parties is None or cleared(actor, parties.classification))
        case Action.READ_MAILBOX:
            return agency_member
        case Action.READ_DEADLINES:
            return agency_member or actor.kind in WATCHERS
        case Action.SIGN_AS_SIGNER:
            return agency_member and actor.kind in (Kind.CLERK, Kind.LEADER)
        case Action.SEAL:
            return agency_member and actor.kind in (Kind.CLERK, Kind.SYSTEM)
        case Action.READ_REGISTRY:
            return True
        case Action.REGISTER_WEBHOOK:
            return agency_member and actor.kind is Kind.SYSTEM
        case Action.MANAGE_WEBHOOKS:
            return (agency_member and actor.kind is Kind.SYSTEM) or actor.kind is Kind.ADMIN
        case Action.ADMIN_REGISTRY | Action.ADMIN_ROUTING | Action.ADMIN_PRINCIPALS:
            return actor.kind is Kind.ADMIN
        case Action.READ_AUDIT | Action.WITNESS_AUDIT:
            return actor.kind is Kind.AUDITOR
        case Action.READ_STATS:
            return agency_member or actor.kind in WATCHERS
        case Action.READ_ALERTS | Action.READ_REPORTS:
            return actor.kind in WATCHERS
        case Action.SUPERVISE | Action.ACK_ALERTS:
            return actor.kind in (Kind.SUPERVISOR, Kind.ADMIN)
        case Action.READ_DOCUMENT if parties is not None:
            return actor.kind is Kind.AUDITOR or (
                agency_member
                and _is_party(actor, parties)
                and cleared(actor, parties.classification)
            )
        case Action.READ_CONTENT if parties is not None:
            # Classified text is for the cleared: the auditor's role is no clearance; and what
            # a relay carries is not its auditors' to read.
            return cleared(actor, parties.classification) and (
                (actor.kind is Kind.AUDITOR and not parties.relayed)
                or (agency_member and _is_party(actor, parties))
            )
        case Action.READ_FILE if parties is not None:
            return (
                agency_member
                and _is_party(actor, parties)
                and cleared(actor, parties.classification)
                and actor.agency_id not in parties.recalled_for
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
        case Action.RESEND if parties is not None:
            return (
                agency_member
                and actor.kind in (Kind.CLERK, Kind.SYSTEM)
                and actor.agency_id == parties.sender_id
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
    Recalled (410) for the files of a document its recipient agency agreed to recall,
    Forbidden when the caller may see it but its role may not act."""
    if allowed(actor, action, parties, status_code=status_code):
        return
    if action is Action.SEND and parties is not None:
        raise Forbidden(
            f"your clearance ({actor.clearance.value}) does not cover a "
            f"{parties.classification.value} document",
            code="insufficient_clearance",
        )
    if (
        action is Action.READ_FILE
        and parties is not None
        and actor.agency_id in parties.recalled_for
        and allowed(actor, Action.READ_DOCUMENT, parties)
    ):
        raise Recalled()
    if parties is not None:
        sees_it = actor.kind is Kind.AUDITOR or _is_party(actor, parties)
        if action in _READ_ACTIONS or not sees_it:
            raise DocumentNotFound()
        if action is Action.RESEND:
            raise Forbidden(f"{_a(actor.kind)} may not re-send this document's deliveries")
        raise Forbidden(
            f"{_a(actor.kind)} may not report status {status_code} on this document",
            code="status_not_allowed",
        )
    raise Forbidden(f"{_a(actor.kind)} may not do {action.value}")


# -- what of a document each caller sees ----------------------------------------------------------

WITHHELD = "[withheld]"  # what a view shows in place of content the caller may not read

# The envelope fields that stay visible when its content is withheld: identifiers, addressing and
# handling (for a dict, only its keys named here). Anything not named (subject, summary, signer,
# reasons, place, and any field added later) is content: a list of what to show cannot forget a
# new secret.
ENVELOPE_FIELDS_NOT_CONTENT: dict[str, frozenset[str] | None] = {
    "message_id": None,
    "recipients": None,
    "code": None,
    "document_type": None,
    "urgency": None,
    "classification": None,
    "due_date": None,
    "steering": None,
    "in_reply_to": None,
    "promulgation": frozenset({"date"}),
    "business": frozenset({"type", "refers_to"}),
}


@dataclass(frozen=True)
class Visibility:
    """What one principal sees of one document: the answer every view renders.

    When ``document`` is false the document does not exist for the caller (``visible`` raises
    DocumentNotFound) and nothing else is shown either: an uncleared member of a party agency
    gets only its mailbox line (``reach``), rendered with ``content`` false.
    """

    document: bool
    """The envelope's identifiers, addressing and handling, the file list, the signatures, the
    recipient rows, trace and receipts (each filtered below): READ_DOCUMENT."""
    content: bool
    """The subject and free text: the envelope's fields outside ``ENVELOPE_FIELDS_NOT_CONTENT``,
    file names, the subjects of signing certificates (they name the signer) and the notes of
    receipts, with the signed receipts that carry a note. READ_CONTENT."""
    files: bool
    """The files' bytes: READ_FILE (never an auditor's)."""
    every_recipient: bool
    """Every recipient row, trace entry and receipt: the sending agency's members and
    auditors. Otherwise only those about ``agency_id`` (a recipient sees its own delivery)."""
    agency_id: str | None

    def shows_recipient(self, recipient_id: str) -> bool:
        """Whether the delivery to ``recipient_id`` is listed."""
        return self.document and (self.every_recipient or recipient_id == self.agency_id)

    def shows_receipt(self, from_agency_id: str, to_agency_id: str) -> bool:
        """Whether a receipt between these two agencies is listed."""
        return self.document and (
            self.every_recipient or self.agency_id in (from_agency_id, to_agency_id)
        )

    def shows_signed_receipt(self, *, has_note: bool) -> bool:
        """Whether a listed receipt's JWS is shown: it carries the note, which is content."""
        return self.document and (self.content or not has_note)

    def shows_event(
        self, *, whole_document: bool, agency_id: str | None, to_agency_id: object
    ) -> bool:
        """Whether an audit event of the document is in the caller's trace: every event for
        those who see every recipient; for a recipient, the events about the document as a
        whole (its acceptance) and those by or to its own agency."""
        if not self.document:
            return False
        if self.every_recipient or whole_document:
            return True
        return self.agency_id is not None and self.agency_id in (agency_id, to_agency_id)


def visibility(actor: Actor, parties: Parties) -> Visibility:
    """What ``actor`` sees of the document ``parties`` describes. Total and pure: it never
    raises; ``visible`` is the form that refuses an invisible document."""
    document = allowed(actor, Action.READ_DOCUMENT, parties)
    return Visibility(
        document=document,
        content=allowed(actor, Action.READ_CONTENT, parties),
        files=allowed(actor, Action.READ_FILE, parties),
        every_recipient=document
        and (actor.kind is Kind.AUDITOR or actor.agency_id == parties.sender_id),
        agency_id=actor.agency_id,
    )


def visible(actor: Actor, parties: Parties) -> Visibility:
    """``visibility`` of a document the caller must see; DocumentNotFound if it may not."""
    authorize(actor, Action.READ_DOCUMENT, parties)
    return visibility(actor, parties)


# -- which documents a query may return ------------------------------------------------------------


@dataclass(frozen=True)
class Reach:
    """Which documents a query may return for one principal; ``documents.access`` writes it as
    SQL. A document is within reach when its classification is in ``levels`` and the principal
    reaches every agency's documents (an auditor) or its ``agency_id`` is a party to it: it
    sent it, or the document was delivered to it."""

    agency_id: str | None
    every_agency: bool
    levels: frozenset[Classification]

    def covers(self, parties: Parties) -> bool:
        """The same answer as the SQL filter, for one document's parties."""
        if parties.classification not in self.levels:
            return False
        if self.every_agency:
            return True
        return self.agency_id is not None and (
            self.agency_id == parties.sender_id or self.agency_id in parties.recipient_ids
        )


NO_REACH = Reach(agency_id=None, every_agency=False, levels=frozenset())
_ALL_LEVELS = frozenset(Classification)


def reach(actor: Actor, purpose: Action) -> Reach:
    """The documents ``actor`` may list or cite for ``purpose``:

    - ``READ_MAILBOX``, the lines of its agency's inbox and outbox: every document its agency
      is a party to, whatever its classification (an uncleared member sees the line with the
      subject withheld, ``Visibility.content``). Forbidden to a principal of no agency.
    - ``READ_DOCUMENT``, a document found by id (lookup) or cited by a new one (``refers_to``,
      ``in_reply_to``): exactly those ``allowed(actor, READ_DOCUMENT, ...)`` lets through.
    - ``READ_DEADLINES``, the lines of the overdue list: an agency's as its mailbox lines; every
      agency's for WATCHERS (admins, auditors, supervisors), who watch the node (the subject
      stays ``Visibility.content``'s answer: never an admin's or a supervisor's, an auditor's
      when cleared): the delivery facts are theirs, the envelope is not.
    """
    if purpose is Action.READ_MAILBOX:
        authorize(actor, Action.READ_MAILBOX)
        return Reach(agency_id=actor.agency_id, every_agency=False, levels=_ALL_LEVELS)
    if purpose is Action.READ_DEADLINES:
        authorize(actor, Action.READ_DEADLINES)
        if actor.kind in WATCHERS:
            return Reach(agency_id=None, every_agency=True, levels=_ALL_LEVELS)
        return Reach(agency_id=actor.agency_id, every_agency=False, levels=_ALL_LEVELS)
    if purpose is not Action.READ_DOCUMENT:
        raise ValueError(f"no query reaches documents for {purpose.value}")
    if actor.kind is Kind.AUDITOR:
        return Reach(agency_id=None, every_agency=True, levels=_ALL_LEVELS)
    if actor.kind in AGENCY_KINDS and actor.agency_id is not None:
        levels = frozenset(c for c in Classification if cleared(actor, c))
        return Reach(agency_id=actor.agency_id, every_agency=False, levels=levels)
    return NO_REACH


def _a(kind: Kind) -> str:
    """``"an auditor"``, ``"a clerk"``: the article English wants before the role's name."""
    return f"{'an' if kind.value[0] in 'aeiou' else 'a'} {kind.value}"


def acting_agency(actor: Actor) -> str:
    """The agency an agency principal acts for; node-scoped principals have none."""
    if actor.agency_id is None or actor.kind not in AGENCY_KINDS:
        raise Forbidden(f"{_a(actor.kind)} does not act for an agency")
    return actor.agency_id


def stats_agency(actor: Actor) -> str | None:
    """Whose statistics ``actor`` reads (after ``authorize(actor, Action.READ_STATS)``): None
    for every agency's (WATCHERS), else its own agency's only."""
    return None if actor.kind in WATCHERS else actor.agency_id
