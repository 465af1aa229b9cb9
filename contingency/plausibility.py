"""Plausible times: an event dated far in the future, or long before the plan could apply, is refused.

Why: only a station's newest reading can clear a rule, so one reading dated 9999-12-31 would hold a rule firing
for ever; a report or a ledger movement dated 0001 would sort before everything. The margin allows for station
clocks a little fast; the floor is the plan's effective date less a year (older records belong to an archive,
not to the live stream). Pure: `now` is the worker's clock for the event (virtual in a drill).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from contingency.plan import Plan

DEFAULT_FUTURE_MINUTES = 10.0
FLOOR_BEFORE_EFFECTIVE = dt.timedelta(days=365)


@dataclass(frozen=True)
class TimeBounds:
    future: dt.timedelta
    floor: dt.datetime


def time_bounds(plan: Plan, future_minutes: float = DEFAULT_FUTURE_MINUTES) -> TimeBounds:
    effective = dt.datetime.combine(plan.effective, dt.time(), tzinfo=dt.timezone.utc)
    return TimeBounds(dt.timedelta(minutes=future_minutes), effective - FLOOR_BEFORE_EFFECTIVE)


def implausible_time(field: str, at: dt.datetime, now: dt.datetime, bounds: TimeBounds) -> str | None:
    """Why `at` cannot be true, as a dead letter's reason ("field: why"); None when it can."""
    problem = time_problem(at, now, bounds)
    return None if problem is None else f"{field}: {problem}"


def time_problem(at: dt.datetime, now: dt.datetime, bounds: TimeBounds) -> str | None:
    if at > now + bounds.future:
        return (f"{at.isoformat()} is {_span(at - now)} ahead of the worker's clock ({now.isoformat()}); more than "
                f"{_span(bounds.future)} ahead is refused (ERS_FUTURE_MARGIN_MINUTES)")
    if at < bounds.floor:
        return f"{at.isoformat()} is before {bounds.floor.date().isoformat()} (the plan's effective date less a year)"
    return None


def _span(delta: dt.timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.0f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 60:.0f} min"
