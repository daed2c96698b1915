from __future__ import annotations

from pydantic import BaseModel

from docex.stats.rows import AgencyRow


class AgencyStats(BaseModel):
    agency_id: str
    name: str
    node_id: str | None
    province: str | None
    sent: int
    received: int
    accepted: int
    returned: int
    overdue: int
    failed: int
    signature_refusals: int
    median_to_01_s: float | None
    p90_to_01_s: float | None
    median_to_03_s: float | None
    p90_to_03_s: float | None

    @classmethod
    def of(cls, row: AgencyRow) -> AgencyStats:
        return cls(**row.as_json())


class AgencyStatsPage(BaseModel):
    items: list[AgencyStats]
