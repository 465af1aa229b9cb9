"""One judge per measured rule kind: given the station's readings, does the rule's condition hold now?

A judge answers True (condition holds: the rule should fire), False (it does not: a firing rule may clear) or
None (nothing to judge: the parameter was absent, flagged, or the reading is too late to say). Deciding is on the
hot path (every reading, every rule); explaining (the evidence a detection carries) is not: `explain` is asked
only when a rule fires or clears, and says what the judge saw.
"""
from __future__ import annotations

import bisect
import datetime as dt
import functools
from typing import NamedTuple

from schemas.incidents import Evidence

from contingency.bounds import describe
from contingency.plan import BoundRule, FlatlineRule, Parameter, RateOfChangeRule, SustainedRule
from contingency.state import Reading, Run


def _beyond(change: float, allowed: float) -> bool:
    """`change > allowed`, ignoring float noise: 6.001 - 6.0 is 0.0010000000000003 in binary, but the
    readings were written with three decimals and the plan means a change of 0.001 is allowed."""
    return change - allowed > 1e-9 * max(1.0, abs(allowed))


class Context(NamedTuple):
    station_id: str
    parameter_id: str
    reading: Reading
    parameter: Parameter
    history: tuple[Reading, ...]  # judged readings of this parameter, oldest first, including `reading`
    newest: bool                  # no newer reading of this parameter has been seen


@functools.lru_cache(maxsize=256)
def _minutes(minutes: float) -> dt.timedelta:
    return dt.timedelta(minutes=minutes)


def _evidence(ctx: Context, limit: str, value: float | None = None) -> Evidence:
    return Evidence(station_id=ctx.station_id, parameter=ctx.parameter_id, parameter_name=ctx.parameter.name,
                    value=ctx.reading.value if value is None else value, unit=ctx.parameter.unit, limit=limit,
                    observed_at=ctx.reading.at)


# --- deciding ---------------------------------------------------------------------------------------------------

def threshold(bound_rule: BoundRule, ctx: Context) -> bool:
    return not bound_rule.limit.complies(ctx.reading.value)


def sustained(bound_rule: BoundRule, ctx: Context) -> bool:
    rule = bound_rule.rule
    assert isinstance(rule, SustainedRule)
    return _breaking(bound_rule, ctx) >= rule.k


def rate_of_change(bound_rule: BoundRule, ctx: Context) -> bool:
    change = _change(bound_rule, ctx)
    return change is not None and change[0] is not None


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


def _change(bound_rule: BoundRule, ctx: Context) -> tuple[str | None, float] | None:
    """("rise" or "fall" beyond the rule's allowance, or None for a change within it, and the change); None when
    no earlier reading lies in the window."""
    rule = bound_rule.rule
    assert isinstance(rule, RateOfChangeRule)
    history, at = ctx.history, ctx.reading.at
    # Readings are tuples (at, value): the probe (t,) sorts before every reading at t.
    first = bisect.bisect_left(history, (at - _minutes(rule.window_minutes),))
    end = bisect.bisect_left(history, (at,), first)
    if first == end:
        return None
    earlier = [r[1] for r in history[first:end]]
    value = ctx.reading.value
    rise, fall = value - min(earlier), max(earlier) - value
    if rule.rise is not None and _beyond(rise, rule.rise):
        return "rise", rise
    if rule.fall is not None and _beyond(fall, rule.fall):
        return "fall", fall
    return None, 0.0


def _stuck_minutes(run: Run) -> float:
    return (run.last - run.start).total_seconds() / 60


# --- explaining -------------------------------------------------------------------------------------------------

def explain(bound_rule: BoundRule, ctx: Context, run: Run | None = None) -> list[Evidence]:
    """The evidence of a measured rule's verdict on `ctx` (`run`: the flatline run the judge returned)."""
    rule = bound_rule.rule
    kind = rule.kind
    if kind == "threshold":
        return [_evidence(ctx, bound_rule.limit.text)]
    if kind == "sustained":
        assert isinstance(rule, SustainedRule)
        window = ctx.history[-rule.n:]
        limit = (f"{bound_rule.limit.text}; fires when {rule.k} of the last {rule.n} break it "
                 f"({_breaking(bound_rule, ctx)} of {len(window)} do)")
        return [_evidence(ctx, limit)]
    if kind == "rate_of_change":
        assert isinstance(rule, RateOfChangeRule)
        change = _change(bound_rule, ctx)
        if change is None:
            return []
        window, value, unit = f"{rule.window_minutes:g} min", ctx.reading.value, ctx.parameter.unit
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


def silence_evidence(station_id: str, silent_minutes: float, after_minutes: float, at: dt.datetime) -> Evidence:
    return Evidence(station_id=station_id, parameter="station_report", parameter_name="无数据时长",
                    value=round(silent_minutes, 3), unit="min",
                    limit=describe(None, after_minutes, "min", "time without a report"), observed_at=at)
