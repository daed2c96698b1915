"""The daily report's decisions: which rows, which format, and the scheduled job that writes
yesterday's report once a day.

The job (:class:`DailyReportJob`, a Loop of the routing worker) runs on every worker of a node,
maybe several at once and across restarts; the report of a day is written once. The claim is
the XLSX file itself: both files are written under temporary names in the reports directory,
the PDF moved into place, then the XLSX *hard-linked* to its final name — ``link(2)`` fails if
the name exists, atomically, so exactly one worker wins and records the audit event; the
others discard their copies. A crash before the link leaves no report and the next pass writes
it; a crash after it leaves a complete report and no event (the file's existence is the truth).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Final, Literal

from sqlalchemy.orm import Session

from docex.audit import events
from docex.auth.policy import Action, Actor, authorize
from docex.db import Database
from docex.kit.clock import VIETNAM_TZ, Clock
from docex.reports import pdf, xlsx
from docex.reports.daily import DailyReport, build
from docex.stats.query import agency_rows

log = logging.getLogger(__name__)

REPORT_CHECK_SECONDS: Final = 60.0  # how often the worker asks whether the time has come
Format = Literal["xlsx", "pdf"]
MEDIA_TYPES: Final[dict[Format, str]] = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
_RENDERERS: Final[dict[Format, Callable[[DailyReport], bytes]]] = {
    "xlsx": xlsx.render,
    "pdf": pdf.render,
}


def daily_report(session: Session, *, day: date, node_id: str, now: datetime) -> DailyReport:
    """The report of the Vietnam day ``day``, from THE rows of that day."""
    rows = agency_rows(session, start=day, end=day)
    return build(rows, day=day, generated_at=now, node_id=node_id)


def render(report: DailyReport, fmt: Format) -> bytes:
    return _RENDERERS[fmt](report)


def daily_file(
    db: Database, actor: Actor, *, day: date | None, fmt: Format, node_id: str, now: datetime
) -> tuple[date, bytes]:
    """The report of ``day`` (default: yesterday, Vietnam time) for a watcher, rendered in
    ``fmt``; the download audited."""
    authorize(actor, Action.READ_REPORTS)
    day = previous_day(now) if day is None else day
    with db.read() as session:
        report = daily_report(session, day=day, node_id=node_id, now=now)
    data = render(report, fmt)
    with db.write() as session:
        events.record(
            session,
            events.REPORT_READ,
            at=now,
            actor_id=actor.id,
            day=day.isoformat(),
            format=fmt,
        )
    return day, data


def file_name(day: date, fmt: Format) -> str:
    return f"bao-cao-ngay-{day.isoformat()}.{fmt}"


def previous_day(now: datetime) -> date:
    return now.astimezone(VIETNAM_TZ).date() - timedelta(days=1)


@dataclass(frozen=True)
class Written:
    day: date
    files: tuple[Path, ...]


class DailyReportJob:
    """Writes the previous Vietnam day's report into ``directory`` once ``at`` (Vietnam time)
    has passed, once per day whatever the number of workers."""

    def __init__(
        self, db: Database, clock: Clock, *, directory: Path, at: time, node_id: str
    ) -> None:
        self.db = db
        self.clock = clock
        self.directory = directory
        self.at = at
        self.node_id = node_id

    def step(self) -> bool:
        self.run_once()
        return False

    def run_once(self) -> Written | None:
        """The report written by this pass, or None (not yet time, or written already)."""
        now = self.clock.now()
        if now.astimezone(VIETNAM_TZ).time() < self.at:
            return None
        day = previous_day(now)
        final = self.directory / file_name(day, "xlsx")
        if final.exists():
            return None
        with self.db.read() as session:
            report = daily_report(session, day=day, node_id=self.node_id, now=now)
        self.directory.mkdir(parents=True, exist_ok=True)
        sheet = self._temporary(render(report, "xlsx"))
        try:
            document = self._temporary(render(report, "pdf"))
            os.replace(document, self.directory / file_name(day, "pdf"))
            try:
                os.link(sheet, final)
            except FileExistsError:
                return None  # another worker wrote it first
        finally:
            sheet.unlink()
        files = (final, self.directory / file_name(day, "pdf"))
        with self.db.write() as session:
            events.record(
                session,
                events.REPORT_WRITTEN,
                at=now,
                day=day.isoformat(),
                files=[f.name for f in files],
                agencies=report.nation.agencies,
            )
        log.info("daily report of %s written to %s", day, self.directory)
        return Written(day, files)

    def _temporary(self, data: bytes) -> Path:
        handle, name = tempfile.mkstemp(dir=self.directory, prefix=".report-", suffix=".part")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        return Path(name)
