"""One judge per measured rule kind: given the station's readings, does the rule's condition hold now?

A judge answers True (condition holds: the rule should fire), False (it does not: a firing rule may clear) or
None (nothing to judge: the parameter was absent, flagged, or the reading is too late to say). Deciding is on the
hot path (every reading, every rule); explaining (the evidence a detection carries) is not: `explain` is asked
only when a rule fires or clears, and says what the judge saw.
"""
from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Callable, NamedTuple

from schemas.incidents import Evidence, WarningLevel

from contingency.aqi import iaqi, reported
from contingency.bounds import Bound, describe
from contingency.plan import (BoundRule, Condition, FlatlineRule, Parameter, RateOfChangeRule, SustainedRule,
                              ThresholdRule)
from contingency import windows
from contingency.state import Extremes, Reading, Run

if TYPE_CHECKING:
    from contingency.compiled import PointsJudge


def _beyond(change: float, allowed: float) -> bool:
    """`change > allowed`, ignoring float noise: 6.001 - 6.0 is 0.0010000000000003 in binary, but the
    readings were written with three decimals and the plan means a change of 0.001 is allowed."""
    return change - allowed > 1e-9 * max(1.0, abs(allowed))


NO_CONDITIONS: Mapping[str, Reading] = MappingProxyType({})


class Context(NamedTuple):
    station_id: str
    parameter_id: str
    reading: Reading
    parameter: Parameter
    history: tuple[Reading, ...]  # judged readings of this parameter, oldest first, including `reading`
    newest: bool                  # no newer reading of this parameter has been seen
    # the station's latest readings of the parameters its rules' conditions ask about (ThresholdRule.relaxed)
    conditions: Mapping[str, Reading] = NO_CONDITIONS


def _evidence(ctx: Context, limit: str, value: float | None = None) -> Evidence:
    return Evidence(station_id=ctx.station_id, parameter=ctx.parameter_id, parameter_name=ctx.parameter.name,
                    value=ctx.reading.value if value is None else value, unit=ctx.parameter.unit, limit=limit,
                    observed_at=ctx.reading.at)


# --- deciding ---------------------------------------------------------------------------------------------------

Decide = Callable[[Context], bool]
Slide = Callable[[Context, Extremes | None], tuple[bool, Extremes | None]]


def decider(bound_rule: BoundRule) -> Decide:
    """A threshold or sustained rule's judge with the rule's numbers bound in, made once when the plan is compiled
    (deciding runs for every reading and rule). Partials of module functions, not closures: a compiled plan is
    pickled to the gateway's processes."""
    rule = bound_rule.rule
    lower, upper = bound_rule.limit.lower, bound_rule.limit.upper
    if bound_rule.limit.decimals is not None:  # HJ 633: judged on the values as they are reported
        return functools.partial(_on_reported, bound_rule.limit.decimals, rule.n if isinstance(rule, SustainedRule)
                                 else 1, decider(_unrounded(bound_rule)))
    if isinstance(rule, SustainedRule):
        return functools.partial(_sustained, lower, upper, rule.n, rule.k)
    assert isinstance(rule, ThresholdRule)
    if rule.relaxed is not None and bound_rule.relaxed is not None:
        laxer = bound_rule.relaxed
        return functools.partial(_relaxable_threshold, lower, upper, laxer.lower, laxer.upper, rule.relaxed.when)
    return functools.partial(_threshold, lower, upper)


def slider(bound_rule: BoundRule) -> Slide:
    """A rate-of-change rule's judge: given the window's extremes before the reading, whether the reading rose or
    fell beyond the allowance from a reading earlier in the window, and the extremes after it (None after a late
    reading: they are rebuilt from the history at the next newest reading)."""
    rule = bound_rule.rule
    assert isinstance(rule, RateOfChangeRule)
    return functools.partial(_rate_of_change, dt.timedelta(minutes=rule.window_minutes), rule.rise, rule.fall)


def _threshold(lower: float | None, upper: float | None, ctx: Context) -> bool:
    """`not limit.complies(value)`."""
    value = ctx.reading[1]
    return (lower is not None and value < lower) or (upper is not None and value > upper)


def _unrounded(bound_rule: BoundRule) -> BoundRule:
    limit = bound_rule.limit
    return dataclasses.replace(bound_rule, bound=dataclasses.replace(limit, decimals=None))


def _on_reported(decimals: int, last: int, decide: Decide, ctx: Context) -> bool:
    """`decide` on the last readings (as many as it looks at) rounded to their reporting precision."""
    reading = ctx.reading
    return decide(ctx._replace(reading=Reading(reading.at, reported(reading.value, decimals)),
                               history=tuple(Reading(r.at, reported(r.value, decimals)) for r in ctx.history[-last:])))


def _relaxable_threshold(lower: float | None, upper: float | None, relaxed_lower: float | None,
                         relaxed_upper: float | None, when: Condition, ctx: Context) -> bool:
    if relaxed(when, ctx):
        return _threshold(relaxed_lower, relaxed_upper, ctx)
    return _threshold(lower, upper, ctx)


def relaxed(when: Condition, ctx: Context) -> bool:
    """Whether the condition of a relaxed limit holds at the reading: on the station's reading of its parameter
    in the same report, or one at most `max_age_minutes` older. Not known: it does not hold (the stricter limit)."""
    known = ctx.conditions.get(when.parameter)
    if known is None or abs((ctx.reading.at - known.at).total_seconds()) > when.max_age_minutes * 60:
        return False
    return when.holds(known.value)


def _sustained(lower: float | None, upper: float | None, n: int, k: int, ctx: Context) -> bool:
    breaking = 0
    for reading in ctx.history[-n:]:
        value = reading[1]
        if (lower is not None and value < lower) or (upper is not None and value > upper):
            breaking += 1
    return breaking >= k


def _rate_of_change(window: dt.timedelta, rise: float | None, fall: float | None, ctx: Context,
                    extremes: Extremes | None) -> tuple[bool, Extremes | None]:
    if not ctx.newest:
        return (_change(ctx, window, rise, fall) or _WITHIN)[0] is not None, None
    low, high, extremes = windows.slide(extremes, ctx.history, ctx.reading, window)
    if low is None:
        return False, extremes
    value = ctx.reading.value
    return ((rise is not None and _beyond(value - low, rise))
            or (fall is not None and _beyond(high - value, fall))), extremes  # type: ignore[operator]


def flatline(bound_rule: BoundRule, ctx: Context, run: Run | None) -> tuple[bool | None, Run | None]:
    """Whether the value has been stuck long enough, and the run of stuck values it is now part of (None: a late
    reading, which neither extends nor breaks a run of the newest values)."""
    rule = bound_rule.rule
    assert isinstance(rule, FlatlineRule)
    if not ctx.newest:
        return None, None
    value, at = ctx.reading.value, ctx.reading.at
    if run is not None and not _beyond(max(run.high, value) - min(run.low, value), rule.tolerance):
        run = Run(run.start, at, min(run.low, value), max(run.high, value), run.count + 1)
    else:
        run = Run(at, at, value, value, 1)
    return run.count >= rule.min_readings and _stuck_minutes(run) >= rule.minutes, run


def _breaking(bound_rule: BoundRule, ctx: Context) -> int:
    rule = bound_rule.rule
    complies = bound_rule.limit.complies
    return sum(1 for reading in ctx.history[-rule.n:] if not complies(reading.value))  # type: ignore[union-attr]


_WITHIN = (None, 0.0)


def _change(ctx: Context, window: dt.timedelta, rise: float | None,
            fall: float | None) -> tuple[str | None, float] | None:
    """("rise" or "fall", by how much) when the reading lies beyond the allowance from a reading earlier in the
    window, (None, 0.0) when within it; None when no earlier reading lies in the window."""
    history, (at, value) = ctx.history, ctx.reading
    # Readings are tuples (at, value): the probe (t,) sorts before every reading at t.
    first = bisect.bisect_left(history, (at - window,))
    end = bisect.bisect_left(history, (at,), first)
    if first == end:
        return None
    earlier = [reading[1] for reading in history[first:end]]
    if rise is not None and _beyond(value - min(earlier), rise):
        return "rise", value - min(earlier)
    if fall is not None and _beyond(max(earlier) - value, fall):
        return "fall", max(earlier) - value
    return _WITHIN


def _stuck_minutes(run: Run) -> float:
    return (run.last - run.start).total_seconds() / 60


# --- explaining -------------------------------------------------------------------------------------------------

def explain(bound_rule: BoundRule, ctx: Context, run: Run | None = None) -> list[Evidence]:
    """The evidence of a measured rule's verdict on `ctx` (`run`: the flatline run the judge returned)."""
    rule = bound_rule.rule
    kind = rule.kind
    if kind == "threshold" and bound_rule.limit.scale is not None:
        return [_evidence(ctx, f"{bound_rule.limit.text}; IAQI {_index(bound_rule.limit, ctx.reading.value)}")]
    if kind == "threshold":
        when = rule.relaxed.when if isinstance(rule, ThresholdRule) and rule.relaxed is not None else None
        if when is not None and bound_rule.relaxed is not None and relaxed(when, ctx):
            return [_evidence(ctx, f"{bound_rule.relaxed.text} while {when.describe()} "
                                   f"({ctx.conditions[when.parameter].value:g})")]
        return [_evidence(ctx, bound_rule.limit.text)]
    if kind == "sustained":
        assert isinstance(rule, SustainedRule)
        window = ctx.history[-rule.n:]
        limit = (f"{bound_rule.limit.text}; fires when {rule.k} of the last {rule.n} break it "
                 f"({_breaking(bound_rule, ctx)} of {len(window)} do)")
        return [_evidence(ctx, limit)]
    if kind == "rate_of_change":
        assert isinstance(rule, RateOfChangeRule)
        window, value, unit = f"{rule.window_minutes:g} min", ctx.reading.value, ctx.parameter.unit
        change = _change(ctx, dt.timedelta(minutes=rule.window_minutes), rule.rise, rule.fall)
        if change is None:
            return []
        which, amount = change
        if which == "rise":
            return [_evidence(ctx, f"rise <= {rule.rise:g} {unit} in {window} (rose {amount:g} to {value:g})", value)]
        if which == "fall":
            return [_evidence(ctx, f"fall <= {rule.fall:g} {unit} in {window} (fell {amount:g} to {value:g})", value)]
        return [_evidence(ctx, f"change within {window}")]
    assert isinstance(rule, FlatlineRule) and run is not None
    limit = (f"changes by more than {rule.tolerance:g} {ctx.parameter.unit} within {rule.minutes:g} min "
             f"(unchanged for {_stuck_minutes(run):g} min, {run.count} readings)")
    return [_evidence(ctx, limit)]


def _index(bound: Bound, value: float) -> str:
    assert bound.scale is not None and bound.decimals is not None
    points, levels = bound.scale
    found = iaqi(points, levels, value, bound.decimals)
    return str(found) if found is not None else f"beyond the table (> {levels[len(points) - 1]})"


def points(judge: PointsJudge, station_id: str, parameters: Mapping[str, Parameter],
           latest: Mapping[str, Reading]) -> tuple[WarningLevel | None, list[Evidence]]:
    """A points rule on each point's latest reading: the item's level (None: every point within its limits) and the
    evidence, a line per point at a level (the roll-up said on each), or per point when none is."""
    at: list[tuple[str, WarningLevel, Bound]] = []
    for parameter in judge.parameters:
        reading = latest.get(parameter)
        if reading is None:
            continue
        for level, bound in judge.limits:  # highest first: a point is at the highest level it breaks
            if not bound.complies(reading.value):
                at.append((parameter, level, bound))
                break
    if not at:
        lowest_level, lowest = judge.limits[-1]
        return None, [_point(station_id, parameters[p], p, latest[p], f"within {lowest_level.value} {lowest.text}")
                      for p in judge.parameters if p in latest]
    item = max((level for _, level, _ in at), key=lambda level: level.rank)
    why = ""
    for level, needed in judge.raise_at:  # highest first: the first that holds raises the most
        count = sum(1 for _, point_level, _ in at if point_level.rank >= level.rank)
        if count >= needed:
            raised = _ABOVE[level]
            if raised.rank > item.rank:
                item = raised
                why = f"; {count} points at {level.value} or above: the item {raised.value} (GB 39496-2020 5.5.4)"
            break
    return item, [_point(station_id, parameters[p], p, latest[p], f"{level.value}: {bound.text}{why}")
                  for p, level, bound in at]


_ABOVE = {WarningLevel.BLUE: WarningLevel.YELLOW, WarningLevel.YELLOW: WarningLevel.ORANGE,
          WarningLevel.ORANGE: WarningLevel.RED}


def _point(station_id: str, parameter: Parameter, parameter_id: str, reading: Reading, limit: str) -> Evidence:
    return Evidence(station_id=station_id, parameter=parameter_id, parameter_name=parameter.name, value=reading.value,
                    unit=parameter.unit, limit=limit, observed_at=reading.at)


def silence_evidence(station_id: str, silent_minutes: float, after_minutes: float, at: dt.datetime) -> Evidence:
    return Evidence(station_id=station_id, parameter="station_report", parameter_name="无数据时长",
                    value=round(silent_minutes, 3), unit="min",
                    limit=describe(None, after_minutes, "min", "time without a report"), observed_at=at)
