"""Which stations a rule applies to: named stations, the stations of named sources, or of source kinds."""
from __future__ import annotations

from contingency.plan import Plan, Rule


def stations_for_rule(plan: Plan, rule: Rule) -> list[str]:
    chosen: dict[str, None] = {}
    for station_id in rule.stations:
        chosen[station_id] = None
    for station_id, station in plan.stations.items():
        source = plan.sources.get(station.source)
        if station.source in rule.sources or (source is not None and source.kind in rule.source_kinds):
            chosen[station_id] = None
    return list(chosen)


def stations_of_source(plan: Plan, source_id: str) -> list[str]:
    return [station_id for station_id, station in plan.stations.items() if station.source == source_id]
