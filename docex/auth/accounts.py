"""The operator's management of people and system tokens: listing them, a person's role and
clearance changed, a person disabled or enabled, a system client's token issued or revoked.

Every function here asks the policy first (``Action.ADMIN_PRINCIPALS``: the node's admins) and
records its audit event in the caller's transaction. The web UI's admin console calls these;
creating a person stays ``service.create_principal`` (with ``check_new_password``), as for
``docex user add``.

Rules kept here once:

- A person's role matches where they act: clerks and leaders for their agency, auditors and
  admins for the node; a change of role never moves a person between an agency and the node
  (``invalid_role``): that is a new account.
- An admin may not disable, demote or otherwise change their own account (``own_account``):
  the console must never lock out the last person who can open it by a slip of the mouse.
- Disabling a person ends their sessions and tokens at once: ``sessions.resume`` and
  ``service.authenticate`` re-read ``active`` on every request.
- A system token is revoked once (``token_revoked`` after); it authenticates no one from then
  on (``service.authenticate`` checks ``revoked_at``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from docex.audit import events
from docex.auth.models import Principal, Token
from docex.auth.passwords import hash_password
from docex.auth.policy import AGENCY_KINDS, PEOPLE_KINDS, Action, Actor, Kind, authorize
from docex.auth.service import (
    IssuedToken,
    check_new_password,
    create_api_token,
    create_principal,
)
from docex.errors import Conflict, NotFound, Unprocessable
from docex.kit.text import describe, hidden_char
from docex.vocabulary.levels import Classification

MAX_TOKEN_NAME_CHARS = 100
MAX_FULL_NAME_CHARS = 200
# What people type to sign in: ASCII letters, digits and . _ - (``vanthu.nghean``), 3 to 64.
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{2,63}")
_PEOPLE = sorted(k.value for k in PEOPLE_KINDS)


@dataclass(frozen=True)
class TokenLine:
    """A system client's long-lived token, as the operator sees it (never its secret)."""

    id: str
    name: str
    agency_id: str | None
    principal_id: str
    created_at: datetime
    revoked_at: datetime | None


def list_people(
    session: Session, actor: Actor, *, after: str | None = None, limit: int = 50
) -> list[Principal]:
    """People (clerks, leaders, auditors, admins), oldest account first, after the id
    ``after``; at most ``limit``."""
    authorize(actor, Action.ADMIN_PRINCIPALS)
    query = select(Principal).where(Principal.kind.in_(_PEOPLE))
    if after is not None:
        query = query.where(Principal.id > after)
    return list(session.scalars(query.order_by(Principal.id).limit(limit)))


def check_username(username: str) -> str:
    if not USERNAME.fullmatch(username):
        raise Unprocessable(
            "a username has 3 to 64 characters: ASCII letters, digits, '.', '_' or '-'",
            code="invalid_username",
        )
    return username


def _check_label(value: str, *, what: str, most: int, code: str) -> str:
    """A free-text label a person types: 1 to ``most`` characters, not only spaces, nothing
    hidden; 422 ``code`` naming ``what`` otherwise."""
    if not value.strip() or len(value) > most:
        raise Unprocessable(f"{what} has 1 to {most} characters, not only spaces", code=code)
    if (ch := hidden_char(value)) is not None:
        raise Unprocessable(
            f"{what} cannot hold {describe(ch)} (a control or invisible character)", code=code
        )
    return value


def check_full_name(full_name: str) -> str:
    return _check_label(
        full_name, what="a full name", most=MAX_FULL_NAME_CHARS, code="invalid_full_name"
    )


def create_person(
    session: Session,
    actor: Actor,
    *,
    username: str,
    full_name: str,
    kind: Kind,
    agency_id: str | None,
    clearance: Classification,
    password: str,
    now: datetime,
) -> Principal:
    """A person who signs in with a password: clerks and leaders for an agency, auditors and
    admins for the node (``invalid_role`` otherwise); ``check_new_password`` for the password,
    ``username_taken`` for a name in use."""
    authorize(actor, Action.ADMIN_PRINCIPALS)
    check_username(username)
    check_full_name(full_name)
    if kind not in PEOPLE_KINDS:
        raise Unprocessable(f"a person is one of {', '.join(_PEOPLE)}", code="invalid_role")
    if kind in AGENCY_KINDS and not agency_id:
        raise Unprocessable(f"a {kind.value} acts for an agency: name it", code="invalid_role")
    if kind not in AGENCY_KINDS and agency_id:
        raise Unprocessable(
            f"an {kind.value} acts for the node, not an agency", code="invalid_role"
        )
    principal = create_principal(
        session,
        kind=kind,
        agency_id=agency_id or None,
        now=now,
        username=username,
        password=password,
        full_name=full_name,
        clearance=clearance,
        actor_id=actor.id,
    )
    session.flush()
    return principal


def _person(session: Session, actor: Actor, principal_id: str) -> Principal:
    authorize(actor, Action.ADMIN_PRINCIPALS)
    principal = session.scalars(
        select(Principal).where(Principal.id == principal_id).with_for_update()
    ).one_or_none()
    if principal is None or principal.kind not in _PEOPLE:
        raise NotFound("no such person", code="principal_not_found")
    if principal.id == actor.id:
        raise Conflict(
            "an administrator does not change their own account here: ask another",
            code="own_account",
        )
    return principal


def change_person(
    session: Session,
    actor: Actor,
    principal_id: str,
    *,
    now: datetime,
    kind: Kind | None = None,
    clearance: Classification | None = None,
) -> Principal:
    """A person's role and/or clearance; one ``auth:principal:updated`` event with what
    changed (nothing changed: no event)."""
    principal = _person(session, actor, principal_id)
    changes: dict[str, str] = {}
    if kind is not None and kind.value != principal.kind:
        acts_for_agency = principal.agency_id is not None
        if kind not in PEOPLE_KINDS or (kind in AGENCY_KINDS) != acts_for_agency:
            where = "an agency" if acts_for_agency else "the node"
            raise Unprocessable(
                f"a person acting for {where} cannot become a {kind.value}: create a new account",
                code="invalid_role",
            )
        changes["kind"] = principal.kind = kind.value
    if clearance is not None and clearance.value != principal.clearance:
        changes["clearance"] = principal.clearance = clearance.value
    if changes:
        events.record(
            session,
            events.PRINCIPAL_UPDATED,
            at=now,
            actor_id=actor.id,
            agency_id=principal.agency_id,
            principal_id=principal.id,
            username=principal.username,
            **changes,
        )
    return principal


def set_active(
    session: Session, actor: Actor, principal_id: str, *, active: bool, now: datetime
) -> Principal:
    """Disable a person (their sessions and tokens stop on their next request) or enable them
    again; audited when it changes anything."""
    principal = _person(session, actor, principal_id)
    if principal.active != active:
        principal.active = active
        event = events.PRINCIPAL_ENABLED if active else events.PRINCIPAL_DISABLED
        events.record(
            session,
            event,
            at=now,
            actor_id=actor.id,
            agency_id=principal.agency_id,
            principal_id=principal.id,
            username=principal.username,
        )
    return principal


def set_password(
    session: Session, actor: Actor, principal_id: str, password: str | None, *, now: datetime
) -> Principal:
    """Give a person a new local password (``check_new_password``), or take theirs away
    (``None``): a person linked to the identity provider then signs in through it only. Taking
    it from a person linked to no identity is refused (``identity_not_linked``): they would
    have no way in; disable them instead. Audited as ``auth:principal:updated`` with
    ``password: set|removed``, never the password."""
    principal = _person(session, actor, principal_id)
    if password is None:
        if principal.oidc_subject is None:
            raise Conflict(
                "this person is linked to no single sign-on identity: they would have no way "
                "in (disable them instead)",
                code="identity_not_linked",
            )
        if principal.password_hash is None:
            return principal
        principal.password_hash, change = None, "removed"
    else:
        principal.password_hash, change = hash_password(check_new_password(password)), "set"
    events.record(
        session,
        events.PRINCIPAL_UPDATED,
        at=now,
        actor_id=actor.id,
        agency_id=principal.agency_id,
        principal_id=principal.id,
        username=principal.username,
        password=change,
    )
    return principal


MAX_OIDC_SUBJECT_CHARS = 200


def check_oidc_subject(value: str) -> str | None:
    """The identifier as an admin typed it (surrounding spaces dropped), None to unlink."""
    value = value.strip()
    if not value:
        return None
    if len(value) > MAX_OIDC_SUBJECT_CHARS or hidden_char(value) is not None:
        raise Unprocessable(
            f"an identity is 1 to {MAX_OIDC_SUBJECT_CHARS} visible characters",
            code="invalid_oidc_subject",
        )
    return value


def link_identity(
    session: Session,
    actor: Actor | None,
    principal_id: str,
    value: str,
    *,
    now: datetime,
) -> Principal:
    """Link a person to the identifier the OpenID provider vouches for (the claim
    ``DOCEX_OIDC__CLAIM``; empty: unlink), the only way single sign-on opens an account.
    ``actor`` None is the node's operator at its console (``docex user link``). One identifier
    links one person (``oidc_subject_taken``); audited as ``auth:principal:updated``."""
    subject = check_oidc_subject(value)
    if actor is None:
        principal = session.get(Principal, principal_id, with_for_update=True)
        if principal is None or principal.kind not in _PEOPLE:
            raise NotFound("no such person", code="principal_not_found")
    else:
        principal = _person(session, actor, principal_id)
    if principal.oidc_subject == subject:
        return principal
    if subject is not None:
        holder = session.scalars(
            select(Principal.id).where(Principal.oidc_subject == subject)
        ).one_or_none()
        if holder is not None:
            raise Conflict("this identity is linked to another person", code="oidc_subject_taken")
    principal.oidc_subject = subject
    session.flush()
    events.record(
        session,
        events.PRINCIPAL_UPDATED,
        at=now,
        actor_id=actor.id if actor is not None else None,
        agency_id=principal.agency_id,
        principal_id=principal.id,
        username=principal.username,
        oidc_subject=subject or "",
    )
    return principal


def check_token_name(name: str) -> str:
    return _check_label(
        name, what="a token's name", most=MAX_TOKEN_NAME_CHARS, code="invalid_token_name"
    )


def list_system_tokens(
    session: Session, actor: Actor, *, after: str | None = None, limit: int = 50
) -> list[TokenLine]:
    """The long-lived tokens of system clients, oldest first, after the id ``after``."""
    authorize(actor, Action.ADMIN_PRINCIPALS)
    query = (
        select(Token, Principal.agency_id)
        .join(Principal, Principal.id == Token.principal_id)
        .where(Principal.kind == Kind.SYSTEM.value, Token.kind == "api")
    )
    if after is not None:
        query = query.where(Token.id > after)
    rows = session.execute(query.order_by(Token.id).limit(limit)).all()
    return [
        TokenLine(t.id, t.name, agency_id, t.principal_id, t.created_at, t.revoked_at)
        for t, agency_id in rows
    ]


def issue_system_token(
    session: Session, actor: Actor, *, agency_id: str, name: str, now: datetime
) -> IssuedToken:
    """A new system client of ``agency_id`` and its bearer token (what ``docex token create``
    makes): the secret is in the answer only, the database keeps its hash."""
    authorize(actor, Action.ADMIN_PRINCIPALS)
    check_token_name(name)
    principal = create_principal(
        session, kind=Kind.SYSTEM, agency_id=agency_id, now=now, full_name=name, actor_id=actor.id
    )
    session.flush()
    return create_api_token(session, principal, name=name, now=now)


def revoke_system_token(session: Session, actor: Actor, token_id: str, *, now: datetime) -> Token:
    """Revoke a system client's token: it authenticates no one from now on."""
    authorize(actor, Action.ADMIN_PRINCIPALS)
    row = session.execute(
        select(Token, Principal)
        .join(Principal, Principal.id == Token.principal_id)
        .where(Token.id == token_id, Principal.kind == Kind.SYSTEM.value, Token.kind == "api")
        .with_for_update(of=Token)
    ).one_or_none()
    if row is None:
        raise NotFound("no such system token", code="token_not_found")
    token, principal = row
    if token.revoked_at is not None:
        raise Conflict("this token is already revoked", code="token_revoked")
    token.revoked_at = now
    events.record(
        session,
        events.TOKEN_REVOKED,
        at=now,
        actor_id=actor.id,
        agency_id=principal.agency_id,
        token_id=token.id,
        name=token.name,
    )
    return token
