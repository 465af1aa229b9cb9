"""The per-station rule engine: (plan, state, report, now) -> (state, detections). Pure and deterministic.

Detections are transitions: a rule emits `firing` when its condition starts to hold and `cleared` when it stops.
Ordering policy for reports that arrive late (observed before a newer reading of the same parameter):
a late reading may make a rule fire (an exceedance is never dropped), but only the newest reading can clear one.
"""
from __future__ import annotations

import bisect
import datetime as dt

from schemas.detections import Detection
from schemas.incidents import Evidence
from schemas.readings import Measurement, StationReport

from . import judges
from zoneinfo import ZoneInfo

from contingency.ids import derive
from contingency.seasons import in_season, last_end
from contingency.limits import same_unit
from contingency.compiled import CompiledPlan, require_compiled
from contingency.bounds import describe
from contingency.plan import BoundRule, Plan, PointsRule, StationSilenceRule
from schemas.incidents import WarningLevel
from .state import MAX_HISTORY, RECENT_REPORTS, Firing, Reading, StationState

_JUDGES = {"threshold": judges.threshold, "sustained": judges.sustained, "rate_of_change": judges.rate_of_change}


def evaluate(plan: CompiledPlan, state: StationState | None, report: StationReport,
             now: dt.datetime) -> tuple[StationState, list[Detection]]:
    plan = require_compiled(plan)
    station_id = report.station_id
    if state is None:
        state = StationState.initial(station_id, now)
    station = plan.stations.get(station_id)
    if station is None or state.has_seen(str(report.event_id), report.observed_at):
        return state, []

    judged = _judged_measurements(plan, station_id, report.measurements)
    history = dict(state.history)
    latest = dict(state.latest)
    runs = dict(state.runs)
    firing = dict(state.firing)
    contexts: dict[str, judges.Context] = {}
    known = {**state.latest, **{p: Reading(at=report.observed_at, value=m.value) for p, m in judged.items()}}
    for parameter, measurement in judged.items():
        reading = Reading(at=report.observed_at, value=measurement.value)
        newest = parameter not in latest or reading.at >= latest[parameter].at
        if newest:
            latest[parameter] = reading
        history[parameter] = _keep(plan, station_id, parameter, history.get(parameter, ()), reading,
                                   latest[parameter].at)
        contexts[parameter] = judges.Context(station_id, parameter, reading, station.parameters[parameter],
                                             _with(history.get(parameter, ()), reading), newest, known)

    fired: list[tuple[BoundRule, list[Evidence]]] = []
    cleared: list[tuple[BoundRule, list[Evidence]]] = []
    for bound_rule in plan.rules_for(station_id):
        rule = bound_rule.rule
        if isinstance(rule, StationSilenceRule):
            if rule.id in firing:  # the station is heard again
                silent = (now - (state.last_heard_at or state.watch_since or now)).total_seconds() / 60
                cleared.append((bound_rule, [judges.silence_evidence(station_id, silent, rule.after_minutes, now)]))
                del firing[rule.id]
            continue
        if isinstance(rule, PointsRule):
            if any(p in judged for p in rule.parameters):
                _points(rule, station_id, station.parameters, latest, report.observed_at, firing, fired, cleared)
            continue
        ctx = contexts.get(rule.parameter)
        if ctx is None:
            continue
        if rule.kind == "flatline":
            verdict = judges.flatline(bound_rule, ctx, runs.get(rule.id))
            if verdict.run is not None:
                runs[rule.id] = verdict.run
        else:
            verdict = _JUDGES[rule.kind](bound_rule, ctx)
            if rule.season is not None and verdict.holds and not in_season(plan.seasons[rule.season], ctx.reading.at,
                                                                           ZoneInfo(plan.timezone)):
                verdict = judges.Verdict(False, verdict.evidence)
        if verdict.holds and rule.id not in firing:
            firing[rule.id] = Firing(since=report.observed_at,
                                     level=plan.level_at(rule, plan.stations[report.station_id].source))
            fired.append((bound_rule, verdict.evidence))
        elif verdict.holds is False and rule.id in firing and ctx.newest:
            del firing[rule.id]
            cleared.append((bound_rule, verdict.evidence))

    new_state = state.model_copy(update={
        "last_heard_at": now if state.last_heard_at is None else max(state.last_heard_at, now),
        "latest_observed_at": report.observed_at if state.latest_observed_at is None
        else max(state.latest_observed_at, report.observed_at),
        "drill_id": report.drill_id,
        "last_report_id": str(report.event_id),
        "recent_event_ids": (state.recent_event_ids + (str(report.event_id),))[-RECENT_REPORTS:],
        "recent_observed": (state.recent_observed + (report.observed_at,))[-RECENT_REPORTS:],
        "history": history, "latest": latest, "runs": runs, "firing": firing,
    })
    cause = str(report.event_id)
    detections = [_detection(plan, b, station_id, "firing", cause, report.observed_at, ev, report) for b, ev in _ranked(fired)]
    detections += [_detection(plan, b, station_id, "cleared", cause, report.observed_at, ev, report) for b, ev in _ranked(cleared)]
    return new_state, detections


_RANKS = ["blue", "yellow", "orange", "red"]


def _points(rule: PointsRule, station_id: str, parameters, latest, at, firing, fired, cleared) -> None:
    """GB 39496-2020 5.5.4, written out: each point at the highest level it breaks; N points at a level or above
    raise the item one level."""
    def breaks(spec, value):
        if spec.upper is not None:
            return value > spec.upper
        if spec.lower is not None:
            return value < spec.lower
        return value < spec.range[0] or value > spec.range[1]

    def text(spec, unit):
        return describe(spec.lower if spec.range is None else spec.range[0],
                        spec.upper if spec.range is None else spec.range[1], unit)

    unit = parameters[rule.parameters[0]].unit
    levels = sorted(rule.levels, key=_RANKS.index, reverse=True)
    at_level = []
    for p in rule.parameters:
        if p not in latest:
            continue
        level = next((level for level in levels if breaks(rule.levels[level], latest[p].value)), None)
        if level is not None:
            at_level.append((p, level))
    item, why = None, ""
    if at_level:
        item = max((level for _, level in at_level), key=_RANKS.index)
        for level in sorted(rule.raise_at, key=_RANKS.index, reverse=True):
            count = sum(1 for _, point in at_level if _RANKS.index(point) >= _RANKS.index(level))
            if count >= rule.raise_at[level]:
                raised = _RANKS[_RANKS.index(level) + 1]
                if _RANKS.index(raised) > _RANKS.index(item):
                    item = raised
                    why = f"; {count} points at {level.value} or above: the item {raised} (GB 39496-2020 5.5.4)"
                break

    def evidence(p, limit):
        return Evidence(station_id=station_id, parameter=p, parameter_name=parameters[p].name,
                        value=latest[p].value, unit=parameters[p].unit, limit=limit, observed_at=latest[p].at)

    was = firing.get(rule.id)
    if item is None:
        if was is not None:
            del firing[rule.id]
            lowest = levels[-1]
            cleared.append((BoundRule(rule), [evidence(p, f"within {lowest.value} {text(rule.levels[lowest], unit)}")
                                              for p in rule.parameters if p in latest]))
        return
    item = WarningLevel(item)
    if was is None or item.rank > was.level.rank:
        firing[rule.id] = Firing(since=was.since if was is not None else at, level=item)
        fired.append((BoundRule(rule, None, item), [evidence(p, f"{level.value}: {text(rule.levels[level], unit)}{why}")
                                                    for p, level in at_level]))
    elif item != was.level:
        firing[rule.id] = Firing(since=was.since, level=item)


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
    heard = state.last_heard_at or state.watch_since
    if heard is None:
        return state, []
    pauses, tz = [plan.seasons[name] for name in plan.stations[station_id].paused_in], ZoneInfo(plan.timezone)
    if any(in_season(season, now, tz) for season in pauses):
        return state, []
    for season in pauses:
        heard = max(heard, last_end(season, now, tz))
    firing = dict(state.firing)
    detections = []
    for bound_rule in plan.rules_for(station_id):
        rule = bound_rule.rule
        if not isinstance(rule, StationSilenceRule) or rule.id in firing:
            continue
        silent_since = heard + dt.timedelta(minutes=rule.after_minutes)
        if now <= silent_since:
            continue
        firing[rule.id] = Firing(since=silent_since, level=rule.level)
        evidence = [judges.silence_evidence(station_id, rule.after_minutes, rule.after_minutes, silent_since)]
        detections.append(_detection(plan, bound_rule, station_id, "firing", f"silence:{station_id}:{heard.isoformat()}:{state.last_report_id}",
                                     silent_since, evidence, None, state.drill_id))
    if not detections:
        return state, []
    return state.model_copy(update={"firing": firing}), detections


def _judged_measurements(plan: Plan, station_id: str, measurements: list[Measurement]) -> dict[str, Measurement]:
    """Measurements the rules may judge: a parameter the station has, in its unit, flagged as judged
    (HJ 212: calibration, maintenance, fault... are not). The first of repeated parameters wins."""
    station = plan.stations[station_id]
    judged_flags = set(plan.quality.judged_flags)
    chosen: dict[str, Measurement] = {}
    for measurement in measurements:
        parameter = station.parameters.get(measurement.parameter)
        if (parameter is None or measurement.parameter in chosen or measurement.flag.value not in judged_flags
                or not same_unit(measurement.unit, parameter.unit)):
            continue
        chosen[measurement.parameter] = measurement
    return chosen


def _with(readings: tuple[Reading, ...], reading: Reading) -> tuple[Reading, ...]:
    """`readings` (sorted by time) with `reading` in its place, as judges see it even when history keeps none."""
    position = bisect.bisect_right(readings, reading.at, key=_at)
    same_time = position
    while same_time > 0 and readings[same_time - 1].at == reading.at:  # an equal reading is only among these
        same_time -= 1
        if readings[same_time].value == reading.value:
            return readings
    return readings[:position] + (reading,) + readings[position:]


def _at(reading: Reading) -> dt.datetime:
    return reading.at


def _keep(plan: CompiledPlan, station_id: str, parameter: str, readings: tuple[Reading, ...], reading: Reading,
          newest_at: dt.datetime) -> tuple[Reading, ...]:
    need = plan.index.needs.get(station_id, {}).get(parameter)
    if need is None or (need.readings == 0 and need.minutes == 0):
        return ()
    merged = _with(readings, reading)
    horizon = newest_at - dt.timedelta(minutes=need.minutes)
    keep_from = max(0, len(merged) - max(need.readings, 1))
    kept = tuple(r for i, r in enumerate(merged) if i >= keep_from or r.at >= horizon)
    return kept[-MAX_HISTORY:]


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
        family=plan.family_of(rule), level=bound_rule.level or plan.level_at(rule, station.source), title=rule.title or _title(plan, bound_rule, station_id),
        evidence=evidence, observed_at=observed_at,
        caused_by=report.event_id if report is not None else None,
        drill_id=report.drill_id if report is not None else drill_id)


def _title(plan: Plan, bound_rule: BoundRule, station_id: str) -> str:
    rule = bound_rule.rule
    station = plan.stations[station_id]
    where = plan.sources[station.source].name
    if isinstance(rule, StationSilenceRule):
        return f"{station.name} 超过 {rule.after_minutes:g} 分钟无数据"
    name = station.parameters[rule.parameter].name
    if bound_rule.bound is not None:
        return f"{where} {name} 超出限值 {bound_rule.limit.text}"
    return f"{where} {name} {rule.kind}"
