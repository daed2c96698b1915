"""The access policy as a table: role × relation to the document × classification × action.

Each row says what must happen — allowed, hidden (404, the document does not exist for the
caller) or forbidden (403, the caller sees the document but its role may not act) — and is
checked against both ``allowed`` and ``authorize``. The same table then covers what each caller
sees of a document (``visibility``: content, files, recipient rows, trace entries, receipts)
and which documents its queries reach (``reach``: mailbox lines, lookup and references). No
database: actors and parties are built directly (``tests/auth/test_visibility.py`` checks the
views and the SQL built from these answers on a real node).
"""

from __future__ import annotations

import itertools

import pytest

from docex.auth.policy import (
    Action,
    Actor,
    Kind,
    Parties,
    allowed,
    authorize,
    reach,
    stats_agency,
    visibility,
    visible,
)
from docex.errors import DocumentNotFound, Forbidden, NotFound, Recalled
from docex.vocabulary.levels import Classification

SENDER = "000.00.00.G22"
RECIPIENT = "000.00.00.H41"
OTHER_RECIPIENT = "000.00.00.H26"
THIRD = "000.00.00.I01"

ALLOW, HIDDEN, FORBIDDEN = "allow", "hidden", "forbidden"
AGENCY_ROLES = ("clerk", "leader", "system")
NODE_ROLES = ("auditor", "admin")
RELATIONS = ("sender", "recipient", "third", "node")
LEVELS = tuple(Classification)
STATUS_CODES = ("01", "02", "03", "04", "05", "06", "13", "15", "16", "99")
_QUERY_PURPOSES = (Action.READ_MAILBOX, Action.READ_DOCUMENT, Action.READ_DEADLINES)


def actor(role: str, relation: str, clearance: Classification = Classification.TOP_SECRET) -> Actor:
    agency = {"sender": SENDER, "recipient": RECIPIENT, "third": THIRD, "node": None}[relation]
    return Actor(
        id=f"{role}-{relation}",
        kind=Kind(role),
        agency_id=agency,
        clearance=clearance,
        username=None if role == "system" else f"{role}.{relation}",
    )


def parties(classification: Classification = Classification.NORMAL) -> Parties:
    return Parties(
        sender_id=SENDER,
        recipient_ids=frozenset({RECIPIENT, OTHER_RECIPIENT}),
        classification=classification,
    )


def check(
    who: Actor,
    action: Action,
    on: Parties | None,
    expected: str,
    *,
    status_code: str | None = None,
) -> None:
    assert allowed(who, action, on, status_code=status_code) is (expected == ALLOW)
    if expected == ALLOW:
        authorize(who, action, on, status_code=status_code)
    elif expected == HIDDEN:
        with pytest.raises(DocumentNotFound) as hidden:
            authorize(who, action, on, status_code=status_code)
        assert hidden.value.code == "document_not_found"
        assert hidden.value.status == 404
    else:
        with pytest.raises(Forbidden) as forbidden:
            authorize(who, action, on, status_code=status_code)
        assert not isinstance(forbidden.value, NotFound)
        assert forbidden.value.status == 403


# -- actions not tied to a document ---------------------------------------------------------------

# role, relation ("node" for an agency role = a principal missing its agency) → expected
NODE_ACTIONS: dict[Action, dict[tuple[str, str], str]] = {
    Action.SEND: {
        ("clerk", "sender"): ALLOW,
        ("leader", "sender"): ALLOW,
        ("system", "sender"): ALLOW,
        ("clerk", "node"): FORBIDDEN,
        ("system", "node"): FORBIDDEN,
        ("auditor", "node"): FORBIDDEN,
        ("admin", "node"): FORBIDDEN,
        ("supervisor", "node"): FORBIDDEN,
    },
    Action.READ_MAILBOX: {
        ("clerk", "recipient"): ALLOW,
        ("leader", "recipient"): ALLOW,
        ("system", "recipient"): ALLOW,
        ("leader", "node"): FORBIDDEN,
        ("auditor", "node"): FORBIDDEN,
        ("admin", "node"): FORBIDDEN,
        ("supervisor", "node"): FORBIDDEN,
    },
    # Overdue deliveries: an agency's own; the node's for those who watch it.
    Action.READ_DEADLINES: {
        ("clerk", "recipient"): ALLOW,
        ("leader", "recipient"): ALLOW,
        ("system", "recipient"): ALLOW,
        ("clerk", "node"): FORBIDDEN,
        ("leader", "node"): FORBIDDEN,
        ("system", "node"): FORBIDDEN,
        ("auditor", "node"): ALLOW,
        ("admin", "node"): ALLOW,
        ("supervisor", "node"): ALLOW,
    },
    Action.READ_REGISTRY: {
        ("clerk", "third"): ALLOW,
        ("leader", "third"): ALLOW,
        ("system", "third"): ALLOW,
        ("auditor", "node"): ALLOW,
        ("admin", "node"): ALLOW,
    },
    Action.ADMIN_REGISTRY: {
        ("clerk", "sender"): FORBIDDEN,
        ("leader", "sender"): FORBIDDEN,
        ("system", "sender"): FORBIDDEN,
        ("auditor", "node"): FORBIDDEN,
        ("admin", "node"): ALLOW,
    },
    # The dead-letter view: the node's operator, not an agency, not an auditor.
    Action.ADMIN_ROUTING: {
        ("clerk", "sender"): FORBIDDEN,
        ("leader", "sender"): FORBIDDEN,
        ("system", "sender"): FORBIDDEN,
        ("auditor", "node"): FORBIDDEN,
        ("admin", "node"): ALLOW,
    },
    # People and system tokens: the node's operator only.
    Action.ADMIN_PRINCIPALS: {
        ("clerk", "sender"): FORBIDDEN,
        ("leader", "sender"): FORBIDDEN,
        ("system", "sender"): FORBIDDEN,
        ("auditor", "node"): FORBIDDEN,
        ("admin", "node"): ALLOW,
    },
    Action.READ_AUDIT: {
        ("clerk", "sender"): FORBIDDEN,
        ("leader", "sender"): FORBIDDEN,
        ("system", "sender"): FORBIDDEN,
        ("auditor", "node"): ALLOW,
        ("admin", "node"): FORBIDDEN,
        ("supervisor", "node"): FORBIDDEN,
    },
    # Supervision: statistics for everyone who watches the network, and each agency's own row
    # for its members (stats_agency); the dashboard and acknowledging alerts for supervisors
    # and operators; alerts and the daily report for those who watch.
    Action.READ_STATS: {
        ("clerk", "sender"): ALLOW,
        ("leader", "third"): ALLOW,
        ("system", "recipient"): ALLOW,
        ("clerk", "node"): FORBIDDEN,
        ("auditor", "node"): ALLOW,
        ("admin", "node"): ALLOW,
        ("supervisor", "node"): ALLOW,
    },
    Action.SUPERVISE: {
        ("clerk", "sender"): FORBIDDEN,
        ("leader", "sender"): FORBIDDEN,
        ("system", "sender"): FORBIDDEN,
        ("auditor", "node"): FORBIDDEN,
        ("admin", "node"): ALLOW,
        ("supervisor", "node"): ALLOW,
    },
    Action.ACK_ALERTS: {
        ("clerk", "sender"): FORBIDDEN,
        ("system", "sender"): FORBIDDEN,
        ("auditor", "node"): FORBIDDEN,
        ("admin", "node"): ALLOW,
        ("supervisor", "node"): ALLOW,
    },
    Action.READ_ALERTS: {
        ("clerk", "sender"): FORBIDDEN,
        ("leader", "sender"): FORBIDDEN,
        ("auditor", "node"): ALLOW,
        ("admin", "node"): ALLOW,
        ("supervisor", "node"): ALLOW,
    },
    Action.READ_REPORTS: {
        ("clerk", "sender"): FORBIDDEN,
        ("system", "sender"): FORBIDDEN,
        ("auditor", "node"): ALLOW,
        ("admin", "node"): ALLOW,
        ("supervisor", "node"): ALLOW,
    },
    # An auditor's witness cosigns checkpoints; an operator (admin) may not vouch for its log.
    Action.WITNESS_AUDIT: {
        ("clerk", "sender"): FORBIDDEN,
        ("leader", "sender"): FORBIDDEN,
        ("system", "sender"): FORBIDDEN,
        ("auditor", "node"): ALLOW,
        ("admin", "node"): FORBIDDEN,
    },
    # Decree 30: the competent person signs with their own key, the clerk applies the seal.
    Action.SIGN_AS_SIGNER: {
        ("clerk", "sender"): ALLOW,
        ("leader", "sender"): ALLOW,
        ("system", "sender"): FORBIDDEN,
        ("auditor", "node"): FORBIDDEN,
        ("admin", "node"): FORBIDDEN,
    },
    Action.SEAL: {
        ("clerk", "sender"): ALLOW,
        ("leader", "sender"): FORBIDDEN,
        ("system", "sender"): ALLOW,
        ("clerk", "node"): FORBIDDEN,
        ("auditor", "node"): FORBIDDEN,
        ("admin", "node"): FORBIDDEN,
    },
    # Webhooks are for an agency's software; the operator may switch anyone's off.
    Action.REGISTER_WEBHOOK: {
        ("clerk", "sender"): FORBIDDEN,
        ("leader", "sender"): FORBIDDEN,
        ("system", "sender"): ALLOW,
        ("system", "node"): FORBIDDEN,
        ("auditor", "node"): FORBIDDEN,
        ("admin", "node"): FORBIDDEN,
    },
    Action.MANAGE_WEBHOOKS: {
        ("clerk", "sender"): FORBIDDEN,
        ("leader", "sender"): FORBIDDEN,
        ("system", "sender"): ALLOW,
        ("system", "node"): FORBIDDEN,
        ("auditor", "node"): FORBIDDEN,
        ("admin", "node"): ALLOW,
    },
}


@pytest.mark.parametrize(
    ("action", "role", "relation", "expected"),
    [
        (action, role, relation, expected)
        for action, rows in NODE_ACTIONS.items()
        for (role, relation), expected in rows.items()
    ],
)
def test_action_without_a_document_follows_the_table(
    action: Action, role: str, relation: str, expected: str
) -> None:
    check(actor(role, relation), action, None, expected)


# -- reading a document (its envelope and deliveries) --------------------------------------------

READ_DOCUMENT: dict[tuple[str, str], str] = {
    **{(role, "sender"): ALLOW for role in AGENCY_ROLES},
    **{(role, "recipient"): ALLOW for role in AGENCY_ROLES},
    **{(role, "third"): HIDDEN for role in AGENCY_ROLES},
    **{(role, "node"): HIDDEN for role in AGENCY_ROLES},  # an agency role without an agency
    ("auditor", "node"): ALLOW,
    ("admin", "node"): HIDDEN,
}


@pytest.mark.parametrize("classification", LEVELS)
@pytest.mark.parametrize(
    ("role", "relation", "expected"), [(r, rel, e) for (r, rel), e in READ_DOCUMENT.items()]
)
def test_reading_a_document_is_for_cleared_parties_and_auditors_only(
    role: str, relation: str, expected: str, classification: Classification
) -> None:
    """A party reads a classified envelope (its subject is classified too) only when cleared
    for it; auditors read every envelope — its classified text only when cleared for it
    (READ_CONTENT, below) — and never a file."""
    who = actor(role, relation, clearance=Classification.NORMAL)
    if expected == ALLOW and role != "auditor" and classification is not Classification.NORMAL:
        expected = HIDDEN
    check(who, Action.READ_DOCUMENT, parties(classification), expected)
    cleared = actor(role, relation, clearance=classification)
    check(cleared, Action.READ_DOCUMENT, parties(classification), READ_DOCUMENT[(role, relation)])


# -- reading a file: party, agency member, and clearance at least the classification -------------

#                clearance →  normal  confidential  secret  top_secret
CLEARANCE_GRID: dict[Classification, tuple[str, str, str, str]] = {
    Classification.NORMAL: (ALLOW, ALLOW, ALLOW, ALLOW),
    Classification.CONFIDENTIAL: (HIDDEN, ALLOW, ALLOW, ALLOW),
    Classification.SECRET: (HIDDEN, HIDDEN, ALLOW, ALLOW),
    Classification.TOP_SECRET: (HIDDEN, HIDDEN, HIDDEN, ALLOW),
}


@pytest.mark.parametrize(
    ("classification", "clearance", "expected"),
    [
        (classification, clearance, CLEARANCE_GRID[classification][i])
        for classification in LEVELS
        for i, clearance in enumerate(LEVELS)
    ],
)
@pytest.mark.parametrize("relation", ["sender", "recipient"])
@pytest.mark.parametrize("role", AGENCY_ROLES)
def test_party_reads_a_file_only_with_clearance_at_least_the_classification(
    role: str,
    relation: str,
    classification: Classification,
    clearance: Classification,
    expected: str,
) -> None:
    who = actor(role, relation, clearance=clearance)
    check(who, Action.READ_FILE, parties(classification), expected)


@pytest.mark.parametrize("classification", LEVELS)
@pytest.mark.parametrize(
    ("role", "relation"),
    [
        *((r, "third") for r in AGENCY_ROLES),
        *((r, "node") for r in AGENCY_ROLES),
        ("auditor", "node"),
        ("admin", "node"),
    ],
)
def test_file_of_a_document_is_hidden_from_non_parties_auditors_and_admins_even_top_secret_cleared(
    role: str, relation: str, classification: Classification
) -> None:
    who = actor(role, relation, clearance=Classification.TOP_SECRET)
    check(who, Action.READ_FILE, parties(classification), HIDDEN)


@pytest.mark.parametrize("classification", LEVELS)
@pytest.mark.parametrize("relation", ["sender", "recipient", "other_recipient"])
@pytest.mark.parametrize("role", AGENCY_ROLES)
def test_a_recalled_file_is_gone_for_the_recipient_that_agreed_only(
    role: str, relation: str, classification: Classification
) -> None:
    """``recalled_for``: the recipient that answered 15 to a recall gets 410 ``recalled`` for
    the files (it still sees the document); the sender and other recipients read them."""
    who = actor(role, "sender" if relation == "sender" else "recipient")
    if relation == "other_recipient":
        who = Actor(who.id, who.kind, OTHER_RECIPIENT, who.clearance, who.username)
    on = Parties(
        sender_id=SENDER,
        recipient_ids=frozenset({RECIPIENT, OTHER_RECIPIENT}),
        classification=classification,
        recalled_for=frozenset({RECIPIENT}),
    )
    seen = visibility(who, on)
    assert seen.document
    if relation == "recipient":
        assert not allowed(who, Action.READ_FILE, on)
        assert not seen.files
        with pytest.raises(Recalled) as gone:
            authorize(who, Action.READ_FILE, on)
        assert (gone.value.status, gone.value.code) == (410, "recalled")
    else:
        check(who, Action.READ_FILE, on, ALLOW)
        assert seen.files


def test_an_uncleared_recipient_of_a_recalled_secret_document_still_gets_404_not_410() -> None:
    who = actor("clerk", "recipient", clearance=Classification.NORMAL)
    on = Parties(SENDER, frozenset({RECIPIENT}), Classification.SECRET, frozenset({RECIPIENT}))
    check(who, Action.READ_FILE, on, HIDDEN)


# -- reading the subject and free text of an envelope --------------------------------------------

# Among those who see a document, who reads its subject, summary, signer, reasons: parties and
# auditors, each only with clearance at least the classification (CLEARANCE_GRID); the others
# get a placeholder that names the document. An auditor's role is no clearance.
READ_CONTENT: dict[tuple[str, str], str] = {
    **{(role, "sender"): ALLOW for role in AGENCY_ROLES},
    **{(role, "recipient"): ALLOW for role in AGENCY_ROLES},
    **{(role, "third"): HIDDEN for role in AGENCY_ROLES},
    **{(role, "node"): HIDDEN for role in AGENCY_ROLES},
    ("auditor", "node"): ALLOW,
    ("admin", "node"): HIDDEN,
}


@pytest.mark.parametrize(
    ("classification", "clearance", "cleared"),
    [
        (classification, clearance, CLEARANCE_GRID[classification][i])
        for classification in LEVELS
        for i, clearance in enumerate(LEVELS)
    ],
)
@pytest.mark.parametrize(
    ("role", "relation", "by_role"), [(r, rel, e) for (r, rel), e in READ_CONTENT.items()]
)
def test_subject_and_free_text_are_read_only_with_clearance_auditors_included(
    role: str,
    relation: str,
    by_role: str,
    classification: Classification,
    clearance: Classification,
    cleared: str,
) -> None:
    expected = cleared if by_role == ALLOW else by_role
    who = actor(role, relation, clearance=clearance)
    check(who, Action.READ_CONTENT, parties(classification), expected)


@pytest.mark.parametrize("classification", LEVELS)
def test_an_auditor_of_a_relay_sees_that_a_document_passed_never_what_it_says(
    classification: Classification,
) -> None:
    auditor = actor("auditor", "node", clearance=Classification.TOP_SECRET)
    relayed = Parties(SENDER, frozenset(), classification, relayed=True)
    assert allowed(auditor, Action.READ_DOCUMENT, relayed)
    assert not allowed(auditor, Action.READ_CONTENT, relayed)
    assert not allowed(auditor, Action.READ_FILE, relayed)
    for role in AGENCY_ROLES:
        for relation in ("recipient", "third"):
            check(actor(role, relation), Action.READ_DOCUMENT, relayed, HIDDEN)


def test_auditor_with_normal_clearance_sees_a_secret_envelope_but_not_its_subject() -> None:
    auditor = actor("auditor", "node", clearance=Classification.NORMAL)
    secret = parties(Classification.SECRET)
    assert allowed(auditor, Action.READ_DOCUMENT, secret)
    assert not allowed(auditor, Action.READ_CONTENT, secret)


# -- what a caller sees of a document: visibility --------------------------------------------------

# Rows, trace entries and receipts about which agencies each relation sees, when it sees the
# document at all: the sender's agency and auditors every one, a recipient its own.
SEES_AGENCIES: dict[str, frozenset[str]] = {
    "sender": frozenset({RECIPIENT, OTHER_RECIPIENT}),
    "recipient": frozenset({RECIPIENT}),
    "node": frozenset({RECIPIENT, OTHER_RECIPIENT}),  # the auditor
}


def _expected_sight(
    role: str, relation: str, classification: Classification, clearance: Classification
) -> tuple[bool, bool, bool]:
    """(document, content, files), written from the rules, not from the policy's code."""
    is_cleared = clearance.rank >= classification.rank
    if role == "auditor":
        return True, is_cleared, False
    if role in AGENCY_ROLES and relation in ("sender", "recipient"):
        return is_cleared, is_cleared, is_cleared
    return False, False, False


EVERYONE = [
    *itertools.product(AGENCY_ROLES, RELATIONS),
    ("auditor", "node"),
    ("admin", "node"),
    ("supervisor", "node"),
]
GRID = list(itertools.product(LEVELS, LEVELS))  # (classification, clearance)


@pytest.mark.parametrize(("classification", "clearance"), GRID)
@pytest.mark.parametrize(("role", "relation"), EVERYONE)
def test_visibility_answers_what_the_table_says_for_every_role_relation_and_clearance(
    role: str, relation: str, classification: Classification, clearance: Classification
) -> None:
    who = actor(role, relation, clearance=clearance)
    on = parties(classification)
    seen = visibility(who, on)
    document, content, files = _expected_sight(role, relation, classification, clearance)
    assert (seen.document, seen.content, seen.files) == (document, content, files)
    # The three answers are the policy's own: visibility never disagrees with allowed().
    assert seen.document is allowed(who, Action.READ_DOCUMENT, on)
    assert seen.content is allowed(who, Action.READ_CONTENT, on)
    assert seen.files is allowed(who, Action.READ_FILE, on)

    agencies = SEES_AGENCIES.get(relation, frozenset()) if document else frozenset()
    for agency in (SENDER, RECIPIENT, OTHER_RECIPIENT, THIRD):
        # A recipient row: only recipients have one.
        if agency in (RECIPIENT, OTHER_RECIPIENT):
            assert seen.shows_recipient(agency) is (agency in agencies), agency
            # A receipt travels between the sender and one recipient, either way.
            assert seen.shows_receipt(agency, SENDER) is (agency in agencies), agency
            assert seen.shows_receipt(SENDER, agency) is (agency in agencies), agency
        # A trace entry by an agency, or sent to it; the document's acceptance is for all.
        sees_all = document and relation in ("sender", "node")
        about = sees_all or agency in agencies
        assert (
            seen.shows_event(whole_document=False, agency_id=agency, to_agency_id=None) is about
        ), agency
    assert seen.shows_event(whole_document=False, agency_id=SENDER, to_agency_id=RECIPIENT) is (
        RECIPIENT in agencies
    )
    assert seen.shows_event(whole_document=True, agency_id=SENDER, to_agency_id=None) is document
    assert seen.shows_event(whole_document=False, agency_id=None, to_agency_id=None) is sees_all
    # A receipt's signed form carries its note: shown with the note, or when there is none.
    assert seen.shows_signed_receipt(has_note=False) is document
    assert seen.shows_signed_receipt(has_note=True) is content


@pytest.mark.parametrize(("classification", "clearance"), GRID)
@pytest.mark.parametrize(("role", "relation"), EVERYONE)
def test_visible_refuses_exactly_where_reading_the_document_is_hidden(
    role: str, relation: str, classification: Classification, clearance: Classification
) -> None:
    who = actor(role, relation, clearance=clearance)
    on = parties(classification)
    if _expected_sight(role, relation, classification, clearance)[0]:
        assert visible(who, on) == visibility(who, on)
    else:
        with pytest.raises(DocumentNotFound):
            visible(who, on)


# -- which documents a caller's queries reach: reach -----------------------------------------------


@pytest.mark.parametrize(("classification", "clearance"), GRID)
@pytest.mark.parametrize(("role", "relation"), EVERYONE)
def test_mailbox_lines_are_every_document_of_the_agency_whatever_the_clearance(
    role: str, relation: str, classification: Classification, clearance: Classification
) -> None:
    """Inbox and outbox list the agency's documents at every classification (an uncleared
    member sees the line, its subject withheld); a principal of no agency has no mailbox."""
    who = actor(role, relation, clearance=clearance)
    if role not in AGENCY_ROLES or relation == "node":
        with pytest.raises(Forbidden):
            reach(who, Action.READ_MAILBOX)
        return
    lines = reach(who, Action.READ_MAILBOX)
    assert lines.covers(parties(classification)) is (relation in ("sender", "recipient"))
    assert not lines.every_agency


@pytest.mark.parametrize(("classification", "clearance"), GRID)
@pytest.mark.parametrize(("role", "relation"), EVERYONE)
def test_overdue_lines_are_the_agency_s_own_and_every_agency_s_for_admins_and_auditors(
    role: str, relation: str, classification: Classification, clearance: Classification
) -> None:
    """Overdue lines, like mailbox lines, are every document of the agency whatever the
    clearance (the subject withheld by ``visibility``); admins and auditors watch the node."""
    who = actor(role, relation, clearance=clearance)
    if role in AGENCY_ROLES and relation == "node":
        with pytest.raises(Forbidden):
            reach(who, Action.READ_DEADLINES)
        return
    lines = reach(who, Action.READ_DEADLINES)
    watcher = role in (*NODE_ROLES, "supervisor")
    assert lines.every_agency is watcher
    assert lines.covers(parties(classification)) is (watcher or relation in ("sender", "recipient"))
    if role in ("admin", "supervisor"):
        assert not visibility(who, parties(classification)).content
        assert not visibility(who, parties(classification)).document


@pytest.mark.parametrize(("classification", "clearance"), GRID)
@pytest.mark.parametrize(("role", "relation"), EVERYONE)
def test_lookup_and_references_reach_exactly_the_documents_the_caller_may_read(
    role: str, relation: str, classification: Classification, clearance: Classification
) -> None:
    who = actor(role, relation, clearance=clearance)
    on = parties(classification)
    found = reach(who, Action.READ_DOCUMENT)
    expected = _expected_sight(role, relation, classification, clearance)[0]
    assert found.covers(on) is expected
    assert found.covers(on) is allowed(who, Action.READ_DOCUMENT, on)


@pytest.mark.parametrize("purpose", [a for a in Action if a not in _QUERY_PURPOSES])
def test_no_query_reaches_documents_for_another_action(purpose: Action) -> None:
    with pytest.raises(ValueError, match="no query reaches"):
        reach(actor("clerk", "sender"), purpose)


# -- reporting a status ---------------------------------------------------------------------------

# Who may report which status as a recipient (DOMAIN.md "Statuses"); 01 is the node's own.
RECIPIENT_MAY: dict[str, frozenset[str]] = {
    "clerk": frozenset({"02", "03", "05", "06", "15", "16"}),
    "leader": frozenset({"04", "05", "06", "15", "16"}),
    "system": frozenset({"02", "03", "04", "05", "06", "15", "16"}),
}


def _recipient_status_expected(role: str, relation: str, code: str) -> str:
    if relation == "recipient":
        return ALLOW if code in RECIPIENT_MAY[role] else FORBIDDEN
    if relation == "sender" or role == "auditor":
        return FORBIDDEN  # sees the document, may not speak for the recipient
    return HIDDEN  # third agency, admin, agency role without an agency


@pytest.mark.parametrize("code", STATUS_CODES)
@pytest.mark.parametrize(
    ("role", "relation"),
    [*itertools.product(AGENCY_ROLES, RELATIONS), ("auditor", "node"), ("admin", "node")],
)
def test_recipient_status_is_reported_only_by_the_recipient_roles_of_the_domain_table(
    role: str, relation: str, code: str
) -> None:
    expected = _recipient_status_expected(role, relation, code)
    check(actor(role, relation), Action.RECIPIENT_STATUS, parties(), expected, status_code=code)


@pytest.mark.parametrize(
    ("role", "relation", "code", "expected"),
    [
        *((role, "sender", "13", ALLOW) for role in AGENCY_ROLES),
        *((role, "sender", code, FORBIDDEN) for role in AGENCY_ROLES for code in ("03", "15")),
        *((role, "recipient", "13", FORBIDDEN) for role in AGENCY_ROLES),
        *((role, "third", "13", HIDDEN) for role in AGENCY_ROLES),
        ("clerk", "node", "13", HIDDEN),
        ("auditor", "node", "13", FORBIDDEN),
        ("admin", "node", "13", HIDDEN),
    ],
)
def test_recall_is_requested_only_by_the_sender_agency(
    role: str, relation: str, code: str, expected: str
) -> None:
    check(actor(role, relation), Action.SENDER_STATUS, parties(), expected, status_code=code)


# -- re-sending a failed delivery ------------------------------------------------------------------

# The sending agency's dispatchers (its clerks, văn thư, and its systems) send a failed delivery
# round again; whoever else sees the document may not (403); the rest do not see it (404). No
# clearance is needed: a re-queue reads nothing of the document.
RESEND: dict[tuple[str, str], str] = {
    ("clerk", "sender"): ALLOW,
    ("system", "sender"): ALLOW,
    ("leader", "sender"): FORBIDDEN,
    **{(role, "recipient"): FORBIDDEN for role in AGENCY_ROLES},
    **{(role, "third"): HIDDEN for role in AGENCY_ROLES},
    **{(role, "node"): HIDDEN for role in AGENCY_ROLES},
    ("auditor", "node"): FORBIDDEN,
    ("admin", "node"): HIDDEN,  # the operator re-queues by ADMIN_ROUTING, not as a party
}


@pytest.mark.parametrize(("classification", "clearance"), GRID)
@pytest.mark.parametrize(("role", "relation", "expected"), [(*k, e) for k, e in RESEND.items()])
def test_a_failed_delivery_is_re_sent_by_the_sender_agency_s_clerks_and_systems_only(
    role: str,
    relation: str,
    expected: str,
    classification: Classification,
    clearance: Classification,
) -> None:
    who = actor(role, relation, clearance=clearance)
    check(who, Action.RESEND, parties(classification), expected)


def test_a_refused_re_send_reads_as_english() -> None:
    with pytest.raises(Forbidden) as refused:
        authorize(actor("leader", "sender"), Action.RESEND, parties())
    assert refused.value.code == "forbidden"
    assert refused.value.detail == "a leader may not re-send this document's deliveries"


def test_a_refused_status_names_status_not_allowed() -> None:
    with pytest.raises(Forbidden) as refused:
        authorize(
            actor("leader", "recipient"), Action.RECIPIENT_STATUS, parties(), status_code="03"
        )
    assert refused.value.code == "status_not_allowed"


# -- the table covers the whole policy -----------------------------------------------------------


def test_every_action_is_in_the_table_and_each_is_allowed_to_someone() -> None:
    tabled = {
        *NODE_ACTIONS,
        Action.READ_DOCUMENT,
        Action.READ_CONTENT,
        Action.READ_FILE,
        Action.RECIPIENT_STATUS,
        Action.SENDER_STATUS,
        Action.RESEND,
    }
    assert tabled == set(Action)
    everyone = [actor(r, rel) for r, rel in itertools.product(AGENCY_ROLES, RELATIONS)] + [
        actor("auditor", "node"),
        actor("admin", "node"),
    ]
    for action in Action:
        codes = STATUS_CODES if "status" in action.value else (None,)
        assert any(
            allowed(who, action, parties(), status_code=code) for who in everyone for code in codes
        ), f"nobody may {action.value}"


def test_whose_statistics_each_reads() -> None:
    assert stats_agency(actor("clerk", "recipient")) == RECIPIENT
    assert stats_agency(actor("system", "sender")) == SENDER
    for watcher in ("auditor", "admin", "supervisor"):
        assert stats_agency(actor(watcher, "node")) is None


@pytest.mark.parametrize("role", [*AGENCY_ROLES, *NODE_ROLES])
def test_nobody_reports_arrival_01_or_an_unknown_code(role: str) -> None:
    relation = "recipient" if role in AGENCY_ROLES else "node"
    for code in ("01", "99", "", None):
        assert not allowed(
            actor(role, relation), Action.RECIPIENT_STATUS, parties(), status_code=code
        )
        assert not allowed(actor(role, relation), Action.SENDER_STATUS, parties(), status_code=code)


@pytest.mark.parametrize(
    ("role", "article"), [("auditor", "an auditor"), ("admin", "an admin"), ("clerk", "a clerk")]
)
def test_refusals_read_as_english(role: str, article: str) -> None:
    who = actor(role, "node" if role in ("auditor", "admin") else "sender")
    if role == "clerk":
        with pytest.raises(Forbidden) as refused:
            authorize(who, Action.READ_AUDIT)
    else:
        with pytest.raises(Forbidden) as refused:
            authorize(who, Action.READ_MAILBOX)
    assert refused.value.detail.startswith(f"{article} may not do ")
