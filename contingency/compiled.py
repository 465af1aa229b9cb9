"""What the engine needs from a valid plan, worked out once: each station's rules with numeric limits,
how much history each parameter must keep, and travel times between sources.

A `CompiledPlan` is a `Plan` with these indexes; the engine and the incident book take one. Only
`compile_plan` makes one (through contingency.loader: `load_plan`, `plan_from_text`)."""
from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from pydantic import ConfigDict

from schemas.incidents import WarningLevel

from contingency import judges, seasons
from contingency.bounds import Bound
from contingency.limits import normal_unit, resolve_bound, resolve_fixed
from contingency.plan import (BoundRule, FlatlineRule, Plan, PointsRule, RateOfChangeRule, Rule, Season,
                             StationSilenceRule, SustainedRule, ThresholdRule)
from contingency.rivers import upstream_travel
from contingency.standards import Standards
from contingency.targets import Targets


@dataclass(frozen=True)
class HistoryNeed:
    readings: int = 0
    minutes: float = 0.0

    @property
    def span(self) -> dt.timedelta:
        return _span(self.minutes)


@functools.lru_cache(maxsize=256)
def _span(minutes: float) -> dt.timedelta:
    return dt.timedelta(minutes=minutes)


@dataclass
class PlanIndex:
    rules_by_station: dict[str, list[BoundRule]] = field(default_factory=dict)
    upstream: dict[str, dict[str, float]] = field(default_factory=dict)
    # What the engine looks up for every reading, worked out once: a station's measured rules by parameter, its
    # silence rules, its parameters' units as compared, and the data flags that are judged.
    measured: dict[str, dict[str, ParameterRules]] = field(default_factory=dict)
    silence: dict[str, list[BoundRule]] = field(default_factory=dict)
    units: dict[str, dict[str, str]] = field(default_factory=dict)
    needs: dict[str, dict[str, HistoryNeed]] = field(default_factory=dict)  # history by station, then parameter
    judged_flags: frozenset[str] = frozenset()
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))  # the plan's local calendar
    pauses: dict[str, tuple[Season, ...]] = field(default_factory=dict)  # seasons a station does not run in
    conditions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # parameters relaxed limits ask about
    points: dict[str, tuple[PointsJudge, ...]] = field(default_factory=dict)  # rules over several points


@dataclass(frozen=True)
class PointsJudge:
    """A points rule as the engine runs it: each level's limit, highest level first, and the roll-up counts."""

    bound_rule: BoundRule
    parameters: tuple[str, ...]
    limits: tuple[tuple[WarningLevel, Bound], ...]
    raise_at: tuple[tuple[WarningLevel, int], ...]  # highest level first


class Judged(NamedTuple):
    """A measured rule as the engine runs it: its id and its judge (none for flatline: `judges.flatline`)."""

    bound_rule: BoundRule
    rule_id: str
    judge: judges.Decide | judges.Slide | None


class ParameterRules(NamedTuple):
    """A station parameter's measured rules by what their judges need besides the readings: nothing (threshold,
    sustained), the window's extremes (rate of change), the run of stuck values (flatline)."""

    decided: tuple[Judged, ...] = ()
    windowed: tuple[Judged, ...] = ()
    flatlines: tuple[Judged, ...] = ()


class CompiledPlan(Plan):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: PlanIndex

    def rules_for(self, station_id: str) -> list[BoundRule]:
        return list(self.index.rules_by_station.get(station_id, ()))  # the index's lists are shared by stations


def compile_plan(plan: Plan, standards: Standards) -> CompiledPlan:
    """The plan with its indexes, for a plan that passed `check_references`."""
    compiled = PlanIndex(upstream=upstream_travel(plan.sources), tz=ZoneInfo(plan.timezone))
    compiled.pauses = {station_id: tuple(plan.seasons[name] for name in station.paused_in)
                       for station_id, station in plan.stations.items() if station.paused_in}
    targets = Targets(plan)
    measured: dict[tuple[str, str], tuple[list[Judged], list[Judged], list[Judged]]] = {}
    # A judge depends only on the rule and its numbers: stations sharing them share one (a province has thousands).
    # So do equal limits, history needs, unit tables and the rules of alike stations (`shared`): a province's index
    # then grows with how many kinds of station it has, not with copies of the same few values (issue 14).
    shared: dict[object, object] = {}
    history: dict[tuple[str, str], HistoryNeed] = {}
    for rule in plan.rules.values():
        for station_id in targets.of_rule(rule):
            station = plan.stations[station_id]
            if isinstance(rule, PointsRule):
                if all(p in station.parameters for p in rule.parameters):
                    unit = station.parameters[rule.parameters[0]].unit
                    judge = _one(shared, ("points", rule.id, unit), lambda: _points_judge(rule, unit))
                    compiled.points[station_id] = (*compiled.points.get(station_id, ()), judge)
                    compiled.rules_by_station.setdefault(station_id, []).append(judge.bound_rule)
                continue
            bound = relaxed = None
            if isinstance(rule, (ThresholdRule, SustainedRule, RateOfChangeRule, FlatlineRule)):
                if rule.parameter not in station.parameters:
                    continue  # a rule for a source kind skips stations that do not measure its parameter
                if isinstance(rule, (ThresholdRule, SustainedRule)):
                    bound = resolve_bound(rule.limit, rule.parameter, station.parameters[rule.parameter].unit,
                                          plan.sources[station.source], standards)
                    bound = shared.setdefault(bound, bound)  # type: ignore[assignment]
                if isinstance(rule, ThresholdRule) and rule.relaxed is not None:
                    relaxed = resolve_bound(rule.relaxed.limit, rule.parameter,
                                            station.parameters[rule.parameter].unit, plan.sources[station.source],
                                            standards)
                    asked = compiled.conditions.get(station_id, ())
                    if rule.relaxed.when.parameter not in asked:
                        compiled.conditions[station_id] = (*asked, rule.relaxed.when.parameter)
                _need_history(history, shared, station_id, rule)
            level = plan.level_at(rule, station.source)
            level = None if level == rule.level else level
            bound_rule = _one(shared, ("bound rule", rule.id, bound, level, relaxed),
                              lambda: BoundRule(rule, bound, level, relaxed))
            compiled.rules_by_station.setdefault(station_id, []).append(bound_rule)
            if isinstance(rule, StationSilenceRule):
                compiled.silence.setdefault(station_id, []).append(bound_rule)
            else:
                decided, windowed, flatlines = measured.setdefault((station_id, rule.parameter), ([], [], []))
                if isinstance(rule, FlatlineRule):
                    flatlines.append(_one(shared, ("judged", rule.id, bound, level, relaxed),
                                          lambda: Judged(bound_rule, rule.id, None)))
                elif isinstance(rule, RateOfChangeRule):
                    windowed.append(_one(shared, ("judged", rule.id, bound, level, relaxed), lambda: Judged(
                        bound_rule, rule.id, _in_season(plan, compiled, rule, judges.slider(bound_rule), True))))
                else:
                    decided.append(_one(shared, ("judged", rule.id, bound, level, relaxed), lambda: Judged(
                        bound_rule, rule.id, _in_season(plan, compiled, rule, judges.decider(bound_rule), False))))
    # Containers made of shared values are shared too when equal: keyed by their members' identities.
    for station_id, rules in compiled.rules_by_station.items():
        compiled.rules_by_station[station_id] = _same(shared, rules)
    for station_id, rules in compiled.silence.items():
        compiled.silence[station_id] = _same(shared, rules)
    by_station: dict[str, dict[str, ParameterRules]] = {}
    for (station_id, parameter), lists in measured.items():
        by_station.setdefault(station_id, {})[parameter] = _one(
            shared, ("rules",) + tuple(tuple(map(id, judged)) for judged in lists),
            lambda: ParameterRules(*(tuple(judged) for judged in lists)))
    compiled.measured = {station_id: _same_map(shared, rules) for station_id, rules in by_station.items()}
    for station_id, station in plan.stations.items():
        units = {p: normal_unit(parameter.unit) for p, parameter in station.parameters.items()}
        compiled.units[station_id] = shared.setdefault(tuple(units.items()), units)  # type: ignore[assignment]
    compiled.judged_flags = frozenset(plan.quality.judged_flags)
    needs: dict[str, dict[str, HistoryNeed]] = {}
    for (station_id, parameter), need in history.items():
        needs.setdefault(station_id, {})[parameter] = need
    compiled.needs = {station_id: _same_map(shared, by) for station_id, by in needs.items()}
    fields = {name: getattr(plan, name) for name in Plan.model_fields}
    return CompiledPlan.model_construct(_fields_set=plan.model_fields_set, index=compiled, **fields)


def _points_judge(rule: PointsRule, unit: str) -> PointsJudge:
    by_rank = sorted(rule.levels.items(), key=lambda item: -item[0].rank)
    limits = tuple((level, resolve_fixed(spec, unit)) for level, spec in by_rank)
    raise_at = tuple(sorted(rule.raise_at.items(), key=lambda item: -item[0].rank))
    return PointsJudge(BoundRule(rule), tuple(rule.parameters), limits, raise_at)


_J = TypeVar("_J")


def _in_season(plan: Plan, index: PlanIndex, rule: Rule, judge: _J, windowed: bool) -> _J:
    """The judge, or for a rule bound to a season, the judge that holds only on readings within it."""
    if rule.season is None:
        return judge
    return seasons.bound_to(plan.seasons[rule.season], index.tz, judge, windowed)


_T = TypeVar("_T")


def _one(shared: dict[object, object], key: object, make: Callable[[], _T]) -> _T:
    """The value shared under `key`, made by `make` the first time."""
    found = shared.get(key)
    if found is None:
        found = shared[key] = make()
    return found  # type: ignore[return-value]


def _same(shared: dict[object, object], items: list[_T]) -> list[_T]:
    """One list for every equal list of shared values (never changed after compiling)."""
    return _one(shared, ("list",) + tuple(map(id, items)), lambda: items)


def _same_map(shared: dict[object, object], by: dict[str, _T]) -> dict[str, _T]:
    """One mapping for every equal mapping of names to shared values (never changed after compiling)."""
    return _one(shared, ("map",) + tuple((name, id(value)) for name, value in by.items()), lambda: by)


def require_compiled(plan: Plan) -> CompiledPlan:
    """The plan, if compiled; a TypeError saying how to get one otherwise."""
    if not isinstance(plan, CompiledPlan):
        raise TypeError("the rule engine needs a compiled plan: load it with contingency.load_plan or "
                        "contingency.plan_from_text (or pass a checked Plan to contingency.compiled.compile_plan)")
    return plan


def _need_history(history: dict[tuple[str, str], HistoryNeed], shared: dict[object, object], station_id: str,
                  rule: object) -> None:
    key = (station_id, rule.parameter)  # type: ignore[attr-defined]
    need = history.get(key, HistoryNeed())
    if isinstance(rule, SustainedRule):
        need = HistoryNeed(max(need.readings, rule.n), need.minutes)
    elif isinstance(rule, RateOfChangeRule):
        need = HistoryNeed(max(need.readings, 2), max(need.minutes, rule.window_minutes))
    history[key] = shared.setdefault(need, need)  # type: ignore[assignment]
