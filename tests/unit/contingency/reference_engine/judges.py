"""One judge per measured rule kind: given the station's readings, does the rule's condition hold now?

A judge answers True (condition holds: the rule should fire), False (it does not: a firing rule may clear) or
None (nothing to judge: the parameter was absent, flagged, or the reading is too late to say).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from schemas.incidents import Evidence

from contingency.aqi import iaqi
from contingency.bounds import describe
from contingency.plan import BoundRule, FlatlineRule, Parameter, RateOfChangeRule, SustainedRule
from .state import Reading, Run


@dataclass(frozen=True)
class Verdict:
    holds: bool | None
    evidence: list[Evidence] = field(default_factory=list)
    run: Run | None = None  # the updated flatline run, when the judge keeps one


NOTHING = Verdict(None)


def _beyond(change: float, allowed: float) -> bool:
    """`change > allowed`, ignoring float noise: 6.001 - 6.0 is 0.0010000000000003 in binary, but the
    readings were written with three decimals and the plan means a change of 0.001 is allowed."""
    return change - allowed > 1e-9 * max(1.0, abs(allowed))


@dataclass(frozen=True)
class Context:
    station_id: str
    parameter_id: str
    reading: Reading
    parameter: Parameter
    history: tuple[Reading, ...]  # judged readings of this parameter, oldest first, including `reading`
    newest: bool                  # no newer reading of this parameter has been seen
    known: dict[str, Reading] = field(default_factory=dict)  # the station's latest reading of every parameter


def _evidence(ctx: Context, limit: str, value: float | None = None) -> Evidence:
    return Evidence(station_id=ctx.station_id, parameter=ctx.parameter_id, parameter_name=ctx.parameter.name,
                    value=ctx.reading.value if value is None else value, unit=ctx.parameter.unit, limit=limit,
                    observed_at=ctx.reading.at)


def threshold(bound_rule: BoundRule, ctx: Context) -> Verdict:
    rule = bound_rule.rule
    when = rule.relaxed.when if rule.relaxed is not None else None
    other = ctx.known.get(when.parameter) if when is not None else None
    if when is not None and other is not None and abs(ctx.reading.at - other.at) <= dt.timedelta(
            minutes=when.max_age_minutes):
        holds = other.value <= when.at_most if when.at_most is not None else other.value > when.above
        if holds:
            bound = bound_rule.relaxed
            sign, at = ("<=", when.at_most) if when.at_most is not None else (">", when.above)
            return Verdict(not bound.complies(ctx.reading.value),
                           [_evidence(ctx, f"{bound.text} while {when.parameter} {sign} {at:g} ({other.value:g})")])
    bound = bound_rule.limit
    text = bound.text
    if bound.scale is not None:  # HJ 633: the reading's index too
        index = iaqi(*bound.scale, ctx.reading.value, bound.decimals)
        text += f"; IAQI {index if index is not None else f'beyond the table (> {bound.scale[1][len(bound.scale[0]) - 1]})'}"
    return Verdict(not bound.complies(ctx.reading.value), [_evidence(ctx, text)])


def sustained(bound_rule: BoundRule, ctx: Context) -> Verdict:
    rule = bound_rule.rule
    assert isinstance(rule, SustainedRule)
    bound = bound_rule.limit
    window = ctx.history[-rule.n:]
    breaking = sum(1 for reading in window if not bound.complies(reading.value))
    limit = f"{bound.text}; fires when {rule.k} of the last {rule.n} break it ({breaking} of {len(window)} do)"
    return Verdict(breaking >= rule.k, [_evidence(ctx, limit)])


def rate_of_change(bound_rule: BoundRule, ctx: Context) -> Verdict:
    rule = bound_rule.rule
    assert isinstance(rule, RateOfChangeRule)
    start = ctx.reading.at - dt.timedelta(minutes=rule.window_minutes)
    earlier = [r.value for r in ctx.history if start <= r.at < ctx.reading.at]
    if not earlier:
        return Verdict(False)
    value = ctx.reading.value
    rise, fall = value - min(earlier), max(earlier) - value
    window = f"{rule.window_minutes:g} min"
    if rule.rise is not None and _beyond(rise, rule.rise):
        return Verdict(True, [_evidence(ctx, f"rise <= {rule.rise:g} {ctx.parameter.unit} in {window} "
                                             f"(rose {rise:g} to {value:g})", value)])
    if rule.fall is not None and _beyond(fall, rule.fall):
        return Verdict(True, [_evidence(ctx, f"fall <= {rule.fall:g} {ctx.parameter.unit} in {window} "
                                             f"(fell {fall:g} to {value:g})", value)])
    return Verdict(False, [_evidence(ctx, f"change within {window}")])


def flatline(bound_rule: BoundRule, ctx: Context, run: Run | None) -> Verdict:
    rule = bound_rule.rule
    assert isinstance(rule, FlatlineRule)
    if not ctx.newest:
        return NOTHING  # a late reading neither extends nor breaks a run of the newest values
    value, at = ctx.reading.value, ctx.reading.at
    if run is not None and not _beyond(max(run.high, value) - min(run.low, value), rule.tolerance):
        run = Run(start=run.start, last=at, low=min(run.low, value), high=max(run.high, value), count=run.count + 1)
    else:
        run = Run(start=at, last=at, low=value, high=value, count=1)
    stuck_minutes = (run.last - run.start).total_seconds() / 60
    holds = run.count >= rule.min_readings and stuck_minutes >= rule.minutes
    limit = (f"changes by more than {rule.tolerance:g} {ctx.parameter.unit} within {rule.minutes:g} min "
             f"(unchanged for {stuck_minutes:g} min, {run.count} readings)")
    return Verdict(holds, [_evidence(ctx, limit)], run=run)


def silence_evidence(station_id: str, silent_minutes: float, after_minutes: float, at: dt.datetime) -> Evidence:
    return Evidence(station_id=station_id, parameter="station_report", parameter_name="无数据时长", value=round(silent_minutes, 3), unit="min",
                    limit=describe(None, after_minutes, "min", "time without a report"), observed_at=at)
