"""How long the daily data report takes to render, XLSX and PDF, for a nation of agencies.

Rows are made up (63 provinces, ``--per-province`` agencies each, one in five slow): this
measures the rendering only, not ``agency_rows`` (the stats bench's part). JSON to stdout."""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, date, datetime

from docex.reports import pdf, xlsx
from docex.reports.daily import build
from docex.stats.rows import AgencyRow


def nation(per_province: int) -> list[AgencyRow]:
    rows = []
    for p in range(63):
        province = f"000.00.00.H{p:02d}"
        for a in range(per_province):
            agency = province if a == 0 else f"{a:03d}.00.{p:02d}.H{p:02d}"
            rows.append(
                AgencyRow(
                    agency_id=agency,
                    name=f"Ủy ban nhân dân xã số {a} thuộc tỉnh số {p}",
                    node_id=f"node-{p}",
                    province=province,
                    sent=a,
                    received=2 * a,
                    accepted=a,
                    returned=a % 3,
                    overdue=int(a % 5 == 0),
                    failed=int(a % 7 == 0),
                    signature_refusals=0,
                    median_to_01_s=1.5 + a,
                    p90_to_01_s=3.0 + a,
                    median_to_03_s=3600.0 + a,
                    p90_to_03_s=7200.0 + a,
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-province", type=int, default=12)
    args = parser.parse_args()
    rows = nation(args.per_province)
    report = build(rows, day=date(2026, 11, 25), generated_at=datetime.now(UTC), node_id="hub")
    result: dict[str, object] = {"agencies": len(rows)}
    for name, render in (("xlsx", xlsx.render), ("pdf", pdf.render)):
        start = time.perf_counter()
        data = render(report)
        result[f"{name}_seconds"] = round(time.perf_counter() - start, 3)
        result[f"{name}_bytes"] = len(data)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
