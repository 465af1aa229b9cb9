"""What the engine needs from a valid plan, worked out once: each station's rules with numeric limits,
how much history each parameter must keep, and travel times between sources."""
from __future__ import annotations

from dataclasses import dataclass, field

from contingency.limits import resolve_bound
from contingency.plan import BoundRule, FlatlineRule, Plan, RateOfChangeRule, SustainedRule, ThresholdRule
from contingency.rivers import upstream_travel
from contingency.standards import Standards
from contingency.targets import stations_for_rule


@dataclass(frozen=True)
class HistoryNeed:
    readings: int = 0
    minutes: float = 0.0


@dataclass
class CompiledPlan:
    rules_by_station: dict[str, list[BoundRule]] = field(default_factory=dict)
    history: dict[tuple[str, str], HistoryNeed] = field(default_factory=dict)
    upstream: dict[str, dict[str, float]] = field(default_factory=dict)


def compile_plan(plan: Plan, standards: Standards) -> Plan:
    """Attach the compiled indexes to a plan that passed `check_references`; returns the same plan."""
    compiled = CompiledPlan(upstream=upstream_travel(plan.sources))
    for rule in plan.rules.values():
        for station_id in stations_for_rule(plan, rule):
            station = plan.stations[station_id]
            bound = None
            if isinstance(rule, (ThresholdRule, SustainedRule, RateOfChangeRule, FlatlineRule)):
                if rule.parameter not in station.parameters:
                    continue  # a rule for a source kind skips stations that do not measure its parameter
                if isinstance(rule, (ThresholdRule, SustainedRule)):
                    bound = resolve_bound(rule.limit, rule.parameter, station.parameters[rule.parameter].unit,
                                          plan.sources[station.source], standards)
                _need_history(compiled, station_id, rule)
            compiled.rules_by_station.setdefault(station_id, []).append(
                BoundRule(rule=rule, station_id=station_id, bound=bound))
    plan._compiled = compiled
    return plan


def _need_history(compiled: CompiledPlan, station_id: str, rule: object) -> None:
    key = (station_id, rule.parameter)  # type: ignore[attr-defined]
    need = compiled.history.get(key, HistoryNeed())
    if isinstance(rule, SustainedRule):
        need = HistoryNeed(max(need.readings, rule.n), need.minutes)
    elif isinstance(rule, RateOfChangeRule):
        need = HistoryNeed(max(need.readings, 2), max(need.minutes, rule.window_minutes))
    compiled.history[key] = need
