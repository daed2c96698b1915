"""Time: timezone-aware UTC inside, Vietnam time only where a person reads it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol

VIETNAM_TZ = timezone(timedelta(hours=7), "ICT")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Databases without time zones (SQLite) hand back naive datetimes; they were stored as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def rfc3339(value: datetime) -> str:
    return as_utc(value).isoformat().replace("+00:00", "Z")


def vietnam_time(value: datetime) -> str:
    return as_utc(value).astimezone(VIETNAM_TZ).strftime("%Y-%m-%d %H:%M:%S")
