"""Seasons of the year as a plan names them (the ice-covered winter, the flood season), on the plan's local calendar.

A season runs from the first moment of its `start` day to the end of its `end` day, local time, every year; it may
wrap the new year (11-01 to 04-20). A station paused in a season (`paused_in`: the river station that stops when
the river freezes) is not found silent while the season lasts, and its silence counts again from the season's end;
a rule bound to a season (`season`: the pond's flood-control water level) fires only on readings within it.
"""
from __future__ import annotations

import datetime as dt
import functools
from typing import Any
from zoneinfo import ZoneInfo

from contingency.plan import Season


def _month_day(text: str) -> tuple[int, int]:
    month, day = text.split("-")
    return int(month), int(day)


def in_season(season: Season, at: dt.datetime, tz: ZoneInfo) -> bool:
    local = at.astimezone(tz)
    today = (local.month, local.day)
    start, end = _month_day(season.start), _month_day(season.end)
    if start <= end:
        return start <= today <= end
    return today >= start or today <= end


def last_end(season: Season, at: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The latest moment at or before `at` at which the season ended (the midnight after its last day), in UTC."""
    year = at.astimezone(tz).year
    ends = [_day_after(year + delta, season.end, tz) for delta in (-1, 0)]
    return max(end for end in ends if end <= at).astimezone(dt.timezone.utc)


def _day_after(year: int, month_day: str, tz: ZoneInfo) -> dt.datetime:
    month, day = _month_day(month_day)
    if (month, day) == (2, 29) and not _leap(year):
        day = 28
    return dt.datetime(year, month, day, tzinfo=tz) + dt.timedelta(days=1)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


# --- judges bound to a season (made when the plan is compiled; partials of module functions: they are pickled) ---

def decide_in_season(season: Season, tz: ZoneInfo, decide: Any, ctx: Any) -> bool:
    return decide(ctx) and in_season(season, ctx.reading.at, tz)


def slide_in_season(season: Season, tz: ZoneInfo, slide: Any, ctx: Any, extremes: Any) -> tuple[bool, Any]:
    holds, after = slide(ctx, extremes)  # the window keeps sliding out of season: it is whole when the season starts
    return holds and in_season(season, ctx.reading.at, tz), after


def bound_to(season: Season, tz: ZoneInfo, judge: Any, windowed: bool) -> Any:
    return functools.partial(slide_in_season if windowed else decide_in_season, season, tz, judge)
