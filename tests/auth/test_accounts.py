"""The operator's account functions (``docex.auth.accounts``) ask the policy first: a clerk,
a leader, a system client and an auditor are refused each of them, and nothing changes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docex.auth import accounts
from docex.auth.models import Principal, Token
from docex.auth.policy import Actor, Kind
from docex.auth.service import actor_of
from docex.db import Database
from docex.errors import Forbidden
from docex.vocabulary.levels import Classification
from tests.helpers import G22

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _calls(target: str, token_id: str) -> list[Callable[[Session, Actor], object]]:
    return [
        lambda s, a: accounts.list_people(s, a),
        lambda s, a: accounts.list_system_tokens(s, a),
        lambda s, a: accounts.create_person(
            s,
            a,
            username="moi.vpcp",
            full_name="Người mới",
            kind=Kind.CLERK,
            agency_id=G22,
            clearance=Classification.NORMAL,
            password="một mật khẩu dài",
            now=NOW,
        ),
        lambda s, a: accounts.change_person(s, a, target, kind=Kind.LEADER, now=NOW),
        lambda s, a: accounts.set_active(s, a, target, active=False, now=NOW),
        lambda s, a: accounts.issue_system_token(s, a, agency_id=G22, name="QLVB", now=NOW),
        lambda s, a: accounts.revoke_system_token(s, a, token_id, now=NOW),
    ]


@pytest.mark.parametrize("kind", ["clerk", "leader", "system", "auditor"])
def test_only_an_admin_manages_accounts(database: tuple[str, dict[str, Any]], kind: str) -> None:
    url, _ = database
    db = Database(url)
    try:
        with db.read() as session:
            caller = session.scalars(select(Principal).where(Principal.kind == kind)).first()
            assert caller is not None
            actor = actor_of(caller)
            target = session.scalars(
                select(Principal.id).where(Principal.kind == "clerk", Principal.id != caller.id)
            ).first()
            token_id = session.scalars(
                select(Token.id)
                .join(Principal, Principal.id == Token.principal_id)
                .where(Principal.kind == "system")
            ).first()
            assert target is not None
            assert token_id is not None
            before = (
                session.scalar(select(func.count()).select_from(Principal)),
                session.scalar(select(func.count()).where(Principal.active.is_(True))),
                session.scalar(select(func.count()).where(Token.revoked_at.is_not(None))),
            )
        for call in _calls(target, token_id):
            with pytest.raises(Forbidden), db.write() as session:
                call(session, actor)
        with db.read() as session:
            after = (
                session.scalar(select(func.count()).select_from(Principal)),
                session.scalar(select(func.count()).where(Principal.active.is_(True))),
                session.scalar(select(func.count()).where(Token.revoked_at.is_not(None))),
            )
        assert after == before
    finally:
        db.dispose()
