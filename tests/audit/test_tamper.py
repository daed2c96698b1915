"""The tamper suite: a thousand random edits of a stored log, each caught and located.

A small real log (a signed checkpoint at every size, some cosigned) is built once per backend;
each mutation is applied in a transaction after the operator's first move (triggers and
constraints dropped, ``tampering.unguard``), verified with the function behind
``docex audit verify`` in that same transaction, and rolled back. Every mutation must be
detected, and the first bad index reported must be the one the mutation made bad.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from sqlalchemy.orm import Session

from docex.audit import tree
from docex.audit.verify import verify_log
from docex.db import Database
from tests.audit import tampering

MUTATIONS = 1100  # 100 of each of the 11 kinds
ENTRIES = 40


@pytest.fixture
def log_db(database: tuple[str, dict[str, Any]]) -> Any:
    db = Database(database[0])
    yield db
    db.dispose()


def test_every_mutation_of_the_stored_log_is_detected_and_located(log_db: Database) -> None:
    seed = 20261123
    log = tampering.small_log(log_db, ENTRIES, seed)
    kinds = list(tampering.MUTATIONS)
    rng = random.Random(seed)  # noqa: S311 (reproducible, not secret)
    with Session(log_db.engine) as session:
        clean = verify_log(session, log.signer.verifier)
    assert clean.ok, clean.problems
    assert clean.checkpoints == 1 + log.size - log.base  # all good
    assert clean.cosignatures > 0
    seen: Counter[str] = Counter()
    for i in range(MUTATIONS):
        kind = kinds[i % len(kinds)]
        with log_db.engine.connect() as connection:
            transaction = connection.begin()
            session = Session(bind=connection)
            try:
                tampering.unguard(session)
                expected = tampering.MUTATIONS[kind](session, rng, log)
                session.flush()
                report = verify_log(session, log.signer.verifier)
                where = f"mutation {i} ({kind}): expected first bad index {expected}"
                assert not report.ok, where
                assert report.first_bad_index == expected, f"{where}; got {report.problems}"
                if kind == "rebuild":
                    # What a witness that cosigned the original head checks: same size,
                    # another root (a fork), whichever key signed it.
                    assert tree.root(session, log.size) != log.root
                seen[kind] += 1
            finally:
                session.close()
                transaction.rollback()
    assert sum(seen.values()) == MUTATIONS
    with Session(log_db.engine) as session:
        assert verify_log(session, log.signer.verifier).ok  # every mutation was rolled back
