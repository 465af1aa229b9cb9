"""The per-station rule engine: (plan, state, report, now) -> (state, detections). Pure and deterministic.

Detections are transitions: a rule emits `firing` when its condition starts to hold and `cleared` when it stops.
Ordering policy for reports that arrive late (observed before a newer reading of the same parameter):
a late reading may make a rule fire (an exceedance is never dropped), but only the newest reading can clear one.
"""
from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import functools
import math

from schemas.detections import Detection
from schemas.incidents import Evidence
from schemas.readings import Measurement, StationReport

from contingency import judges
from contingency import seasons
from contingency.ids import derive
from contingency.limits import normal_unit
from contingency.compiled import CompiledPlan, HistoryNeed, PointsJudge, require_compiled
from contingency.plan import BoundRule, Parameter, Plan, PointsRule, StationSilenceRule
from contingency.state import MAX_HISTORY, RECENT_REPORTS, Firing, Reading, Run, StationState, utc


def evaluate(plan: CompiledPlan, state: StationState | None, report: StationReport,
             now: dt.datetime) -> tuple[StationState, list[Detection]]:
    plan = require_compiled(plan)
    station_id = report.station_id
    now = utc(now)
    if state is None:
        state = StationState.initial(station_id, now)
    station = plan.stations.get(station_id)
    event_id, observed_at = str(report.event_id), utc(report.observed_at)
    if station is None or state.has_seen(event_id, observed_at):
        return state, []

    index = plan.index
    measured = index.measured.get(station_id, {})
    needs = index.needs.get(station_id, {})
    history = dict(state.history)
    latest = dict(state.latest)
    runs = state.runs
    windows = state.windows
    firing = dict(state.firing)
    fired: Verdicts = []
    cleared: Verdicts = []
    if firing:
        for bound_rule in index.silence.get(station_id, ()):
            rule = bound_rule.rule
            if rule.id in firing:  # the station is heard again
                assert isinstance(rule, StationSilenceRule)
                silent = (now - (state.last_heard_at or state.watch_since or now)).total_seconds() / 60
                cleared.append((bound_rule, [judges.silence_evidence(station_id, silent, rule.after_minutes, now)]))
                del firing[rule.id]

    judged_now = _judged_measurements(plan, station_id, report.measurements)
    asked = index.conditions.get(station_id)
    conditions = judges.NO_CONDITIONS if asked is None else _conditions(asked, judged_now, state, observed_at)
    for parameter, measurement in judged_now.items():
        reading = Reading(observed_at, measurement.value)
        previous = latest.get(parameter)
        newest = previous is None or observed_at >= previous.at
        if newest:
            latest[parameter] = previous = reading
        kept = _keep(needs.get(parameter), history.get(parameter, ()), reading, previous.at)
        history[parameter] = kept
        rules = measured.get(parameter)
        if rules is None:
            continue
        # The newest reading is the last of what the history keeps; a late one may lie before all it keeps.
        judged = kept if newest and kept else _with(kept, reading)
        ctx = judges.Context(station_id, parameter, reading, station.parameters[parameter], judged, newest, conditions)
        for bound_rule, rule_id, decide in rules.decided:
            holds = decide(ctx)
            if holds or rule_id in firing:
                _transition(bound_rule, rule_id, holds, ctx, None, firing, fired, cleared)
        for bound_rule, rule_id, slide in rules.windowed:
            holds, extremes = slide(ctx, windows.get(rule_id))
            if windows is state.windows:
                windows = dict(windows)
            if extremes is None:
                windows.pop(rule_id, None)
            else:
                windows[rule_id] = extremes
            if holds or rule_id in firing:
                _transition(bound_rule, rule_id, holds, ctx, None, firing, fired, cleared)
        for bound_rule, rule_id, _ in rules.flatlines:  # judged on the run of stuck values each keeps
            holds, run = judges.flatline(bound_rule, ctx, runs.get(rule_id))
            if run is None:  # a late reading
                continue
            if runs is state.runs:
                runs = dict(runs)
            runs[rule_id] = run
            if holds or rule_id in firing:
                _transition(bound_rule, rule_id, holds, ctx, run, firing, fired, cleared)

    for judge in index.points.get(station_id, ()):
        if any(parameter in judged_now for parameter in judge.parameters):
            _judge_points(judge, station_id, station.parameters, latest, observed_at, firing, fired, cleared)

    heard, latest_observed = state.last_heard_at, state.latest_observed_at
    new_state = StationState(  # positional, in field order: this is built for every reading
        state.station_id, state.watch_since,
        now if heard is None or now > heard else heard,
        observed_at if latest_observed is None or observed_at > latest_observed else latest_observed,
        report.drill_id, event_id,
        (state.recent_event_ids + (event_id,))[-RECENT_REPORTS:],
        (state.recent_observed + (observed_at,))[-RECENT_REPORTS:],
        history, latest, dict(runs) if runs is state.runs else runs, firing,
        windows)  # shared while unchanged: a state is never changed in place
    if not fired and not cleared:
        return new_state, []
    observed = report.observed_at  # as the report gave it
    detections = [_detection(plan, b, station_id, status, event_id, observed, ev, report)
                  for status, verdicts in (("firing", fired), ("cleared", cleared)) for b, ev in _ranked(verdicts)]
    return new_state, detections


Verdicts = list[tuple[BoundRule, list[Evidence]]]


def _conditions(asked: tuple[str, ...], judged: dict[str, Measurement], state: StationState,
                observed_at: dt.datetime) -> dict[str, Reading]:
    """The readings relaxed limits' conditions are judged on: the report's own, else the latest known."""
    known = {}
    for parameter in asked:
        measurement = judged.get(parameter)
        reading = Reading(observed_at, measurement.value) if measurement is not None else state.latest.get(parameter)
        if reading is not None:
            known[parameter] = reading
    return known


def _judge_points(judge: PointsJudge, station_id: str, parameters: dict[str, Parameter], latest: dict[str, Reading],
                  at: dt.datetime, firing: dict[str, Firing], fired: Verdicts, cleared: Verdicts) -> None:
    """A points rule fires at the item's level, fires again when the level rises (the incident is raised), and
    clears when every point is within its limits."""
    level, evidence = judges.points(judge, station_id, parameters, latest)
    rule = judge.bound_rule.rule
    was = firing.get(rule.id)
    if level is None:
        if was is not None:
            del firing[rule.id]
            cleared.append((judge.bound_rule, evidence))
    elif was is None or level.rank > was.level.rank:
        firing[rule.id] = Firing(was.since if was is not None else at, level)
        fired.append((BoundRule(rule, None, level), evidence))
    elif level != was.level:
        firing[rule.id] = Firing(was.since, level)  # lower, still firing: a rise from here raises again


def _transition(bound_rule: BoundRule, rule_id: str, holds: bool, ctx: judges.Context, run: Run | None,
                firing: dict[str, Firing], fired: Verdicts, cleared: Verdicts) -> None:
    """A rule that holds starts firing unless it fires already; one that no longer holds clears, on the newest
    reading only (see the module's ordering policy). Called only when it holds or fires: most readings skip it."""
    if holds:
        if rule_id not in firing:
            firing[rule_id] = Firing(ctx.reading.at, bound_rule.opens_at)
            fired.append((bound_rule, judges.explain(bound_rule, ctx, run)))
    elif ctx.newest:
        del firing[rule_id]
        cleared.append((bound_rule, judges.explain(bound_rule, ctx, run)))


def tick(plan: CompiledPlan, state: StationState, station_id: str,
         now: dt.datetime) -> tuple[StationState, list[Detection]]:
    """Time-driven rules. Station silence fires once the station has not been heard for `after_minutes`.
    The detection is dated when the silence began to count, so any tick after that gives the same event.
    Flatline is judged in `evaluate`, on the readings' own times: without new readings a value is not
    "stuck", the station is silent, which is this rule's business. For a station never heard, start from
    `StationState.initial(station_id, now)` so that it, too, can be found silent."""
    plan = require_compiled(plan)
    if station_id not in plan.stations:
        return state, []
    now = utc(now)
    heard = state.last_heard_at or state.watch_since
    if heard is None:
        return state, []
    pauses = plan.index.pauses.get(station_id)
    if pauses:  # not silent while paused; silent again `after_minutes` after the pause ends
        tz = plan.index.tz
        if any(seasons.in_season(season, now, tz) for season in pauses):
            return state, []
        heard = max(heard, *(seasons.last_end(season, now, tz) for season in pauses))
    firing = dict(state.firing)
    detections = []
    for bound_rule in plan.index.silence.get(station_id, ()):
        rule = bound_rule.rule
        assert isinstance(rule, StationSilenceRule)
        if rule.id in firing:
            continue
        silent_since = heard + dt.timedelta(minutes=rule.after_minutes)
        if now <= silent_since:
            continue
        firing[rule.id] = Firing(silent_since, rule.level)
        evidence = [judges.silence_evidence(station_id, rule.after_minutes, rule.after_minutes, silent_since)]
        detections.append(_detection(plan, bound_rule, station_id, "firing", f"silence:{station_id}:{heard.isoformat()}:{state.last_report_id}",
                                     silent_since, evidence, None, state.drill_id))
    if not detections:
        return state, []
    return dataclasses.replace(state, firing=firing), detections


def _judged_measurements(plan: CompiledPlan, station_id: str,
                         measurements: list[Measurement]) -> dict[str, Measurement]:
    """Measurements the rules may judge: a parameter the station has, in its unit, flagged as judged
    (HJ 212: calibration, maintenance, fault... are not). The first of repeated parameters wins."""
    units = plan.index.units.get(station_id, {})
    judged_flags = plan.index.judged_flags
    chosen: dict[str, Measurement] = {}
    for measurement in measurements:
        parameter = measurement.parameter
        unit = units.get(parameter)
        if (unit is None or parameter in chosen or measurement.flag not in judged_flags  # a StrEnum
                or _normal_unit(measurement.unit) != unit):
            continue
        chosen[parameter] = measurement
    return chosen


@functools.lru_cache(maxsize=1024)
def _normal_unit(unit: str) -> str:
    return normal_unit(unit)


def _with(readings: tuple[Reading, ...], reading: Reading) -> tuple[Reading, ...]:
    """`readings` (sorted by time) with `reading` in its place, as judges see it even when history keeps none.
    A Reading is a tuple (at, value): a probe (at,) sorts before every reading at `at`, (at, inf) after them."""
    if not readings or readings[-1].at < reading.at:  # the usual case: the newest reading
        return readings + (reading,)
    if readings[-1] is reading:
        return readings
    position = bisect.bisect_left(readings, (reading.at, math.inf))  # past every reading at the same time
    same_time = position
    while same_time > 0 and readings[same_time - 1].at == reading.at:  # an equal reading is only among these
        same_time -= 1
        if readings[same_time].value == reading.value:
            return readings
    return readings[:position] + (reading,) + readings[position:]


def _keep(need: HistoryNeed | None, readings: tuple[Reading, ...], reading: Reading,
          newest_at: dt.datetime) -> tuple[Reading, ...]:
    """What a parameter's history keeps after `reading`: the last `need.readings` and all within `need.minutes`
    of the newest, at most MAX_HISTORY; nothing when no rule looks back."""
    if need is None or (need.readings == 0 and need.minutes == 0):
        return ()
    merged = _with(readings, reading)
    keep_from = len(merged) - (need.readings or 1)
    if keep_from <= 0:
        return merged
    # older readings stay only while within the time horizon
    keep_from = bisect.bisect_left(merged, (newest_at - need.span,), 0, keep_from)
    return merged[keep_from:] if len(merged) - keep_from <= MAX_HISTORY else merged[-MAX_HISTORY:]


def _ranked(items: list[tuple[BoundRule, list[Evidence]]]) -> list[tuple[BoundRule, list[Evidence]]]:
    """Highest warning level first, so the incident book opens at the level that wins."""
    return sorted(items, key=lambda item: (-item[0].opens_at.rank, item[0].rule.id))


def _detection(plan: Plan, bound_rule: BoundRule, station_id: str, status: str, cause: str, observed_at: dt.datetime,
               evidence: list[Evidence], report: StationReport | None, drill_id: str | None = None) -> Detection:
    rule = bound_rule.rule
    station = plan.stations[station_id]
    return Detection(
        event_id=derive("detection", cause, rule.id, station_id, status),
        status=status, source_id=station.source, station_id=station_id, rule_id=rule.id,
        family=plan.family_of(rule), level=bound_rule.opens_at, title=rule.title or _title(plan, bound_rule, station_id),
        evidence=evidence, observed_at=observed_at,
        caused_by=report.event_id if report is not None else None,
        drill_id=report.drill_id if report is not None else drill_id)


def _title(plan: Plan, bound_rule: BoundRule, station_id: str) -> str:
    rule = bound_rule.rule
    station = plan.stations[station_id]
    where = plan.sources[station.source].name
    if isinstance(rule, StationSilenceRule):
        return f"{station.name} 超过 {rule.after_minutes:g} 分钟无数据"
    if isinstance(rule, PointsRule):
        return f"{where} {len(rule.parameters)}个监测点预警"
    name = station.parameters[rule.parameter].name
    if bound_rule.bound is not None:
        return f"{where} {name} 超出限值 {bound_rule.limit.text}"
    return f"{where} {name} {rule.kind}"
