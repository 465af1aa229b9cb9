"""The 2-hour emergency circle: can what each risk source's plan requires reach it in time?

Pure: the plan, a road graph (`contingency.roads`) and `available(depot_id, item_id)` — the usable quantity at a depot
(the ledger's business: expired lots and minimum levels already taken out) — go in; a report comes out.

Arrival at a source = depot mobilisation_minutes + travel minutes over the road graph. A depot counts for a window
when its arrival <= the window (equality is in time; float noise of 1e-6 min allowed). The window of a requirement is
its own `within_minutes`, else the `window_minutes` argument (120: 2小时应急圈).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import takewhile
from typing import Any

from contingency.plan import Plan, RequiredItem
from contingency.roads import BOUNDARY_EPSILON_MINUTES, RoadGraph, travel_minutes_from_join

Available = Callable[[str, str], float]


@dataclass(frozen=True)
class Contribution:
    depot_id: str
    quantity: float
    arrival_minutes: float


@dataclass(frozen=True)
class ItemCoverage:
    source_id: str
    scenario: str
    item_id: str
    unit: str
    required: float
    window_minutes: float
    in_window: float                      # quantity arriving within the window
    shortfall: float
    earliest_arrival_minutes: float | None  # first depot in the window holding any of the item
    contributions: tuple[Contribution, ...]

    @property
    def covered(self) -> bool:
        return self.shortfall <= 0


@dataclass(frozen=True)
class CoverageReport:
    plan_id: str
    default_window_minutes: float
    items: tuple[ItemCoverage, ...]
    road_metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def covered(self) -> bool:
        return all(entry.covered for entry in self.items)

    def shortfalls(self) -> list[ItemCoverage]:
        return [entry for entry in self.items if not entry.covered]

    def to_dict(self) -> dict[str, Any]:
        return {"plan_id": self.plan_id, "covered": self.covered,
                "default_window_minutes": self.default_window_minutes,
                "items": [{**asdict(entry), "covered": entry.covered} for entry in self.items],
                "road": dict(self.road_metadata)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)


@dataclass(frozen=True)
class Allocation:
    item_id: str
    depot_id: str
    quantity: float
    arrival_minutes: float
    in_window: bool


@dataclass(frozen=True)
class Proposal:
    source_id: str
    allocations: tuple[Allocation, ...]
    missing: Mapping[str, float]          # item -> quantity no depot can supply
    last_arrival_minutes: float | None    # arrival of the last unit proposed
    item_names: Mapping[str, str] = field(default_factory=dict)
    item_units: Mapping[str, str] = field(default_factory=dict)
    depot_names: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"source_id": self.source_id, "allocations": [asdict(a) for a in self.allocations],
                "missing": dict(self.missing), "last_arrival_minutes": self.last_arrival_minutes}


def depot_arrivals(plan: Plan, graph: RoadGraph, source_ids: Sequence[str],
                   cutoff: float | None = None) -> dict[str, dict[str, float]]:
    """depot -> source -> arrival minutes (mobilisation + travel); one Dijkstra from all depots at once. With
    `cutoff`, arrivals above it are left out (the search stops there)."""
    sources = [(s, _pos(plan.sources[s].location)) for s in source_ids]
    source_joins = [graph.join(place) for _, place in sources]
    depots = [(depot, _pos(depot.location)) for depot in plan.depots.values()]
    depot_joins = [graph.join(place) for _, place in depots]
    road_cutoffs = None if cutoff is None else [
        cutoff - depot.mobilisation_minutes - join.offroad_minutes + BOUNDARY_EPSILON_MINUTES
        for (depot, _), join in zip(depots, depot_joins)]
    road = graph.road_minutes([j.node for j in depot_joins], [j.node for j in source_joins], road_cutoffs)
    out: dict[str, dict[str, float]] = {}
    for (depot, start), start_join, road_from_depot in zip(depots, depot_joins, road):
        arrivals: dict[str, float] = {}
        for (source_id, place), join, via in zip(sources, source_joins, road_from_depot):
            arrival = depot.mobilisation_minutes + travel_minutes_from_join(graph, start, start_join, via, place, join)
            if cutoff is None or arrival <= cutoff + BOUNDARY_EPSILON_MINUTES:
                arrivals[source_id] = arrival
        out[depot.id] = arrivals
    return out


def coverage(plan: Plan, graph: RoadGraph, available: Available, window_minutes: float = 120) -> CoverageReport:
    requirements = [(source_id, m) for source_id in plan.sources for m in plan.materials_for(source_id)]
    widest = max([m.within_minutes or window_minutes for _, m in requirements], default=window_minutes)
    reach: dict[str, list[tuple[float, str]]] = {source_id: [] for source_id in plan.sources}  # earliest first
    for depot_id, by_source in depot_arrivals(plan, graph, list(plan.sources), cutoff=widest).items():
        for source_id, arrival in by_source.items():
            reach[source_id].append((arrival, depot_id))
    for depots in reach.values():
        depots.sort()
    stock = _StockCache(available)
    entries: list[ItemCoverage] = []
    for source_id, requirement in requirements:
        window = requirement.within_minutes or window_minutes
        in_time = list(takewhile(lambda a: a[0] <= window + BOUNDARY_EPSILON_MINUTES, reach[source_id]))
        for need in requirement.items:
            contributions = [Contribution(depot_id, quantity, arrival) for arrival, depot_id in in_time
                             if (quantity := stock(depot_id, need.item)) > 0]
            in_window = sum(c.quantity for c in contributions)
            entries.append(ItemCoverage(
                source_id=source_id, scenario=requirement.scenario, item_id=need.item, unit=need.unit,
                required=need.quantity, window_minutes=window, in_window=in_window,
                shortfall=max(0.0, need.quantity - in_window),
                earliest_arrival_minutes=contributions[0].arrival_minutes if contributions else None,
                contributions=tuple(contributions)))
    return CoverageReport(plan.id, window_minutes, tuple(entries), dict(graph.metadata))


def dispatch_proposal(plan: Plan, graph: RoadGraph, available: Available, source_id: str,
                      requirements: Sequence[RequiredItem], window_minutes: float = 120) -> Proposal:
    """Fill each required item from the earliest-arriving depots first (any distance: late help is still help;
    `in_window` marks what arrives within the window)."""
    arrivals = depot_arrivals(plan, graph, [source_id])
    order = sorted(((arr[source_id], depot_id) for depot_id, arr in arrivals.items() if source_id in arr))
    stock = _StockCache(available)
    allocations: list[Allocation] = []
    missing: dict[str, float] = {}
    for need in requirements:
        left = need.quantity
        for arrival, depot_id in order:
            if left <= 0:
                break
            take = min(left, stock(depot_id, need.item))
            if take > 0:
                allocations.append(Allocation(need.item, depot_id, take, arrival,
                                              arrival <= window_minutes + BOUNDARY_EPSILON_MINUTES))
                stock.take(depot_id, need.item, take)
                left -= take
        if left > 0:
            missing[need.item] = missing.get(need.item, 0.0) + left
    return Proposal(
        source_id=source_id, allocations=tuple(allocations), missing=missing,
        last_arrival_minutes=max((a.arrival_minutes for a in allocations), default=None),
        item_names={k: v.name for k, v in plan.items.items()},
        item_units={k: v.unit for k, v in plan.items.items()},
        depot_names={k: v.name for k, v in plan.depots.items()})


def proposal_line(proposal: Proposal) -> str:
    """One line for the duty officer, e.g. `物资: 活性炭2t 伊尔施库 35分钟; 缺生石灰1t`."""
    parts = [f"{_short_item(proposal.item_names.get(a.item_id, a.item_id))}{_qty(a.quantity)}"
             f"{proposal.item_units.get(a.item_id, '')} {_short_depot(proposal.depot_names.get(a.depot_id, a.depot_id))}"
             f" {round(a.arrival_minutes)}分钟{'' if a.in_window else '(超时)'}" for a in proposal.allocations]
    parts += [f"缺{_short_item(proposal.item_names.get(item, item))}{_qty(qty)}{proposal.item_units.get(item, '')}"
              for item, qty in proposal.missing.items()]
    return "物资: " + ("; ".join(parts) if parts else "无需求")


class _StockCache:
    """Asks `available` once per (depot, item); proposals draw down a private copy."""

    def __init__(self, available: Available) -> None:
        self._available = available
        self._left: dict[tuple[str, str], float] = {}

    def __call__(self, depot_id: str, item_id: str) -> float:
        key = (depot_id, item_id)
        if key not in self._left:
            self._left[key] = max(0.0, float(self._available(depot_id, item_id)))
        return self._left[key]

    def take(self, depot_id: str, item_id: str, quantity: float) -> None:
        self._left[(depot_id, item_id)] = self(depot_id, item_id) - quantity


def _pos(location: Any) -> tuple[float, float]:
    return (location.lat, location.lon)


def _qty(value: float) -> str:
    return f"{value:g}"


def _short_item(name: str) -> str:
    return name.split("(")[0].split("/")[0] or name


def _short_depot(name: str) -> str:
    head = name.split("环境应急")[0]
    return f"{head}库" if head and head != name else name
