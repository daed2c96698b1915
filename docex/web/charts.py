"""Charts drawn on the server as SVG (no library, no script): per day, documents sent and
received as two bars, and the median time to receipt (03) as a line on its own scale.

``day_chart`` only lays the figures out (coordinates in the SVG's own units); the template
``supervision/_chart.html`` draws them, with a ``<title>``, a ``<desc>`` and the same figures
in a table beside it, for whoever does not see the picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final, Protocol

WIDTH: Final = 640
HEIGHT: Final = 220
LEFT: Final = 40  # room for the count axis
RIGHT: Final = 40  # room for the latency axis
TOP: Final = 10
BOTTOM: Final = 30  # room for the day labels


class DayFigures(Protocol):
    """What a chart needs of one day (``docex.stats.query.DayPoint`` has it)."""

    @property
    def day(self) -> date: ...
    @property
    def sent(self) -> int: ...
    @property
    def received(self) -> int: ...
    @property
    def overdue(self) -> int: ...
    @property
    def median_to_03_s(self) -> float | None: ...


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int


@dataclass(frozen=True)
class DayColumn:
    day: date
    label: str  # dd/mm
    label_x: float
    sent: Bar
    received: Bar
    overdue: int
    median_to_03_s: float | None


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    columns: list[DayColumn]
    line: str  # the SVG polyline points of the median to 03 ("" when no day has one)
    max_count: int
    max_seconds: float
    baseline: float  # y of the zero line


def _scale(value: float, top: float, span: float) -> float:
    return span * value / top if top > 0 else 0.0


def day_chart(days: list[DayFigures]) -> Chart:
    """The layout of ``days`` (one column each, in order): two bars a day (sent, received)
    on a count scale from 0, and the median time to 03 as a line on a seconds scale from 0."""
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    baseline = float(TOP + plot_height)
    max_count = max([max(d.sent, d.received) for d in days] + [1])
    seconds = [d.median_to_03_s for d in days if d.median_to_03_s is not None]
    max_seconds = max([*seconds, 1.0])
    step = plot_width / max(len(days), 1)
    bar = step * 0.35
    columns = []
    points = []
    for i, d in enumerate(days):
        x = LEFT + i * step
        sent_height = _scale(d.sent, max_count, plot_height)
        received_height = _scale(d.received, max_count, plot_height)
        columns.append(
            DayColumn(
                day=d.day,
                label=d.day.strftime("%d/%m"),
                label_x=round(x + step / 2, 1),
                sent=Bar(
                    round(x + step * 0.1, 1),
                    round(baseline - sent_height, 1),
                    round(bar, 1),
                    round(sent_height, 1),
                    d.sent,
                ),
                received=Bar(
                    round(x + step * 0.1 + bar, 1),
                    round(baseline - received_height, 1),
                    round(bar, 1),
                    round(received_height, 1),
                    d.received,
                ),
                overdue=d.overdue,
                median_to_03_s=d.median_to_03_s,
            )
        )
        if d.median_to_03_s is not None:
            y = baseline - _scale(d.median_to_03_s, max_seconds, plot_height)
            points.append(f"{round(x + step / 2, 1)},{round(y, 1)}")
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        columns=columns,
        line=" ".join(points),
        max_count=max_count,
        max_seconds=max_seconds,
        baseline=baseline,
    )


def duration(seconds: float | None) -> str:
    """A duration as people read it: ``2 h 05 min``, ``12 min``, ``40 s``; "" when unknown."""
    if seconds is None:
        return ""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"
