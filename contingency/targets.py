"""Which stations a rule applies to: named stations, the stations of named sources, or of source kinds."""
from __future__ import annotations

from collections.abc import Iterable

from contingency.plan import Plan, Rule


class Targets:
    """The plan's stations by source and by source kind, worked out once: a province plan has tens of thousands of
    stations, and asking each rule to look through all of them costs rules x stations."""

    def __init__(self, plan: Plan) -> None:
        self._position = {station_id: n for n, station_id in enumerate(plan.stations)}
        self._by_source: dict[str, list[str]] = {}
        self._by_kind: dict[str, list[str]] = {}
        for station_id, station in plan.stations.items():
            self._by_source.setdefault(station.source, []).append(station_id)
            source = plan.sources.get(station.source)
            if source is not None:
                self._by_kind.setdefault(source.kind, []).append(station_id)

    def of_rule(self, rule: Rule) -> list[str]:
        """The named stations, then those of the named sources and kinds in the plan's order."""
        chosen = dict.fromkeys(rule.stations)
        matched = set(self._all(self._by_source, rule.sources)) | set(self._all(self._by_kind, rule.source_kinds))
        chosen.update(dict.fromkeys(sorted(matched, key=self._position.__getitem__)))
        return list(chosen)

    def of_source(self, source_id: str) -> list[str]:
        return list(self._by_source.get(source_id, ()))

    @staticmethod
    def _all(index: dict[str, list[str]], keys: Iterable[str]) -> Iterable[str]:
        for key in keys:
            yield from index.get(key, ())
