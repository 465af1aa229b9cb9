"""The 2-hour reach of each depot (等时圈): the road pieces a vehicle leaving the depot drives within the window, by
the very travel times the coverage report uses (`contingency.coverage.depot_arrivals`): mobilisation, off-road to the
depot's join node, then `RoadGraph.road_minutes` over the roads.

Pure: a plan's depots and a road graph in, geometry (lat, lon) out. What is drawn:
  - every road edge whose both ends are reached in time, whole (any point of it is reached by then from one end);
  - an edge with one end reached, cut where the time runs out (linear along the edge);
  - the convex hull of the depot and those pieces' ends, as a closed ring (none when they are fewer than 3 points
    or all in a line);
  - the off-road radius: a place is also reached by the straight line x detour_factor at offroad_kmh.
A place's arrival (`Isochrone.arrival_at`) is the coverage report's arrival at a source, to the minute.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from contingency.plan import Depot
from contingency.roads import BOUNDARY_EPSILON_MINUTES, Join, LatLon, RoadGraph, travel_minutes_from_join

Segment = tuple[LatLon, LatLon]


@dataclass(frozen=True)
class Isochrone:
    depot_id: str
    place: LatLon
    window_minutes: float
    mobilisation_minutes: float
    start: Join
    arrivals: Mapping[int, float]  # road node -> arrival minutes (mobilisation included), only those <= window
    segments: tuple[Segment, ...]
    hull: tuple[LatLon, ...]  # closed ring (first == last) or empty
    offroad_radius_km: float  # straight-line distance reached off the roads within the window (0 if none)

    def arrival_at(self, graph: RoadGraph, place: LatLon) -> float | None:
        """Arrival minutes at `place` (roads or the direct off-road line, as the coverage report counts them);
        None when beyond the window."""
        join = graph.join(place)
        road = self.arrivals.get(join.node)
        via = math.inf if road is None else road - self.mobilisation_minutes - self.start.offroad_minutes
        minutes = self.mobilisation_minutes + travel_minutes_from_join(graph, self.place, self.start, via, place, join)
        return minutes if minutes <= self.window_minutes + BOUNDARY_EPSILON_MINUTES else None


def depot_isochrones(depots: Sequence[Depot], graph: RoadGraph, window_minutes: float = 120) -> dict[str, Isochrone]:
    """Each depot's reach within `window_minutes` of the alarm; one Dijkstra from all depots at once."""
    if not depots:
        return {}
    nodes = list(graph.graph.nodes)
    places = [(d.location.lat, d.location.lon) for d in depots]
    starts = [graph.join(place) for place in places]
    budgets = [window_minutes - d.mobilisation_minutes - s.offroad_minutes for d, s in zip(depots, starts)]
    road = graph.road_minutes([s.node for s in starts], nodes, [b + BOUNDARY_EPSILON_MINUTES for b in budgets])
    out: dict[str, Isochrone] = {}
    for depot, place, start, budget, row in zip(depots, places, starts, budgets, road):
        offset = depot.mobilisation_minutes + start.offroad_minutes
        arrivals = {node: offset + float(m) for node, m in zip(nodes, row) if not math.isinf(m)}
        segments = reached_segments(graph, arrivals, window_minutes)
        spare = max(0.0, window_minutes - depot.mobilisation_minutes)
        out[depot.id] = Isochrone(
            depot_id=depot.id, place=place, window_minutes=window_minutes,
            mobilisation_minutes=depot.mobilisation_minutes, start=start, arrivals=arrivals, segments=segments,
            hull=convex_hull([place] + [p for segment in segments for p in segment]),
            offroad_radius_km=spare / 60.0 * graph.offroad_kmh / graph.detour_factor)
    return out


def reached_segments(graph: RoadGraph, arrivals: Mapping[int, float], window_minutes: float) -> tuple[Segment, ...]:
    """The road pieces driven by `window_minutes`, given the arrival at each reached node."""
    pieces: list[Segment] = []
    for u, v, minutes in graph.graph.edges(data="minutes"):
        tu, tv = arrivals.get(u, math.inf), arrivals.get(v, math.inf)
        a, b = graph.position(u), graph.position(v)
        if not math.isinf(tu) and not math.isinf(tv):
            pieces.append((a, b))
            continue
        if math.isinf(tu) and math.isinf(tv):
            continue
        if math.isinf(tu):  # from the reached end
            a, b, tu = b, a, tv
        fraction = min(1.0, (window_minutes - tu) / minutes) if minutes > 0 else 1.0
        if fraction > 0:
            pieces.append((a, (a[0] + (b[0] - a[0]) * fraction, a[1] + (b[1] - a[1]) * fraction)))
    return tuple(pieces)


def convex_hull(points: Sequence[LatLon]) -> tuple[LatLon, ...]:
    """The convex hull as a closed ring, counter-clockwise in (lon, lat); empty when the points span no area."""
    unique = sorted(set(points))
    if len(unique) < 3:
        return ()
    xy = np.array([(lon, lat) for lat, lon in unique], dtype=float)
    try:
        hull = ConvexHull(xy)
    except QhullError:  # all in a line
        return ()
    ring = [unique[i] for i in hull.vertices]
    return tuple(ring + ring[:1])
