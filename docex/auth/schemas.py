from __future__ import annotations

from pydantic import BaseModel


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (RFC 6750 token type)
    expires_in: int | None


class MeOut(BaseModel):
    id: str
    kind: str
    agency_id: str | None
    clearance: str
    username: str | None
