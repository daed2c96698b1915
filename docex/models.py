"""Import every domain's models so ``Base.metadata`` knows all tables (Alembic, tests)."""

from __future__ import annotations


def import_all() -> None:
    import docex.agencies.models
    import docex.audit.models
    import docex.auth.models
    import docex.documents.models
    import docex.federation.models
    import docex.queue.models
    import docex.routing.models
    import docex.routing.webhooks.models
    import docex.stats.models  # noqa: F401
