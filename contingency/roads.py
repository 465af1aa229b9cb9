"""Road graph for the emergency circle: travel minutes between places over roads, from a GeoJSON road export.

Pure: `load_road_graph` takes the parsed GeoJSON mapping (an OpenStreetMap-like FeatureCollection of LineStrings with
`highway` and optional `maxspeed` properties); reading the file is `read_geojson`'s job, kept apart.

Model:
  - every LineString vertex is a node; consecutive vertices are joined by an undirected edge whose travel time is
    haversine length / speed (the feature's `maxspeed` when it parses, else `speeds_by_class[highway]`, else
    `speeds_by_class["*"]`); `oneway` is ignored (emergency vehicles);
  - only the largest connected component is kept, so no place is joined to a stray fragment;
  - a place off the graph (a source, a depot) joins its nearest node by straight line x `detour_factor` driven at
    `offroad_kmh`; two places may also be joined directly by that rule when it is quicker than the roads.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import dijkstra

EARTH_RADIUS_KM = 6371.0088
LatLon = tuple[float, float]
BOUNDARY_EPSILON_MINUTES = 1e-6  # float noise allowed when comparing a computed time with a limit


def haversine_km(a: LatLon, b: LatLon) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


_MAXSPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph)?\s*$", re.IGNORECASE)


def parse_maxspeed(value: Any) -> float | None:
    """km/h from an OSM maxspeed ("60", "60 km/h", "30 mph", 60); None for "none", "signals", "CN:urban", ..."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) if value > 0 else None
    match = _MAXSPEED.match(str(value).split(";")[0])
    if not match:
        return None
    kmh = float(match.group(1)) * (1.609344 if (match.group(2) or "").lower() == "mph" else 1.0)
    return kmh if kmh > 0 else None


class GridIndex:
    """Nearest node by a bucket grid over an equirectangular projection (km); exact for the projection."""

    def __init__(self, points: Mapping[int, LatLon], cell_km: float = 2.0) -> None:
        if not points:
            raise ValueError("no nodes to index")
        self._lat0 = math.radians(sum(p[0] for p in points.values()) / len(points))
        self._cell = cell_km
        self._buckets: dict[tuple[int, int], list[tuple[float, float, int]]] = {}
        for node, p in points.items():
            x, y = self._xy(p)
            self._buckets.setdefault(self._key(x, y), []).append((x, y, node))

    def _xy(self, p: LatLon) -> tuple[float, float]:
        return (math.radians(p[1]) * math.cos(self._lat0) * EARTH_RADIUS_KM, math.radians(p[0]) * EARTH_RADIUS_KM)

    def _key(self, x: float, y: float) -> tuple[int, int]:
        return (math.floor(x / self._cell), math.floor(y / self._cell))

    def nearest(self, p: LatLon) -> int:
        x, y = self._xy(p)
        cx, cy = self._key(x, y)
        best: tuple[float, int] | None = None
        ring = 0
        while True:
            for key in _ring(cx, cy, ring):
                for bx, by, node in self._buckets.get(key, ()):
                    d = (bx - x) ** 2 + (by - y) ** 2
                    if best is None or d < best[0] or (d == best[0] and node < best[1]):
                        best = (d, node)
            # every point in ring r+1 or further is at least r * cell away
            if best is not None and math.sqrt(best[0]) <= ring * self._cell:
                return best[1]
            ring += 1


def _ring(cx: int, cy: int, r: int) -> Iterable[tuple[int, int]]:
    if r == 0:
        yield (cx, cy)
        return
    for dx in range(-r, r + 1):
        yield (cx + dx, cy - r)
        yield (cx + dx, cy + r)
    for dy in range(-r + 1, r):
        yield (cx - r, cy + dy)
        yield (cx + r, cy + dy)


@dataclass(frozen=True)
class Join:
    """How a place reaches the road graph: its nearest node and the off-road minutes to it."""

    node: int
    offroad_minutes: float
    offroad_km: float


@dataclass(frozen=True)
class _RoadMatrix:
    """`graph`'s edge minutes as a symmetric CSR matrix; `column` maps a node id to its row/column."""

    graph: nx.Graph
    minutes: csr_array
    column: dict[int, int]

    @classmethod
    def of(cls, graph: nx.Graph) -> _RoadMatrix:
        column = {node: i for i, node in enumerate(graph.nodes)}
        rows: list[int] = []
        cols: list[int] = []
        minutes: list[float] = []
        for u, v, m in graph.edges(data="minutes"):
            rows += [column[u], column[v]]
            cols += [column[v], column[u]]
            minutes += [m, m]
        n = len(column)
        return cls(graph, csr_array((np.array(minutes, dtype=float), (rows, cols)), shape=(n, n)), column)


@dataclass
class RoadGraph:
    """Replace `graph` rather than mutate it: the routing matrix is cached per graph object."""

    graph: nx.Graph  # nodes: int with lat, lon; edges: minutes, km, highway
    index: GridIndex
    detour_factor: float
    offroad_kmh: float
    metadata: dict[str, Any] = field(default_factory=dict)
    _matrix: _RoadMatrix | None = field(default=None, init=False, repr=False, compare=False)

    def position(self, node: int) -> LatLon:
        data = self.graph.nodes[node]
        return (data["lat"], data["lon"])

    def offroad_minutes(self, a: LatLon, b: LatLon) -> float:
        return haversine_km(a, b) * self.detour_factor / self.offroad_kmh * 60.0

    def join(self, place: LatLon) -> Join:
        node = self.index.nearest(place)
        km = haversine_km(place, self.position(node)) * self.detour_factor
        return Join(node, km / self.offroad_kmh * 60.0, km)

    def road_minutes(self, origins: Sequence[int], targets: Sequence[int],
                     cutoffs: Sequence[float] | None = None) -> np.ndarray:
        """Minutes over the roads from each origin node (rows) to each target node (columns), all origins in one
        scipy Dijkstra; inf where a target is further than that origin's cutoff (a target at the cutoff is kept)."""
        if self._matrix is None or self._matrix.graph is not self.graph:
            self._matrix = _RoadMatrix.of(self.graph)
        matrix = self._matrix
        limit = np.inf if cutoffs is None else max(cutoffs, default=-np.inf)
        if not origins or limit < 0:
            return np.full((len(origins), len(targets)), np.inf)
        # just above the widest cutoff, so a node exactly at it is found; the mask below applies each origin's own
        minutes = dijkstra(matrix.minutes, indices=[matrix.column[n] for n in origins],
                           limit=np.nextafter(limit, np.inf))
        minutes = np.atleast_2d(minutes)[:, [matrix.column[n] for n in targets]]
        if cutoffs is not None:
            minutes[minutes > np.asarray(cutoffs, dtype=float)[:, None]] = np.inf
        return minutes


def load_road_graph(geojson: Mapping[str, Any], speeds_by_class: Mapping[str, float], detour_factor: float,
                    offroad_kmh: float) -> RoadGraph:
    if detour_factor < 1 or offroad_kmh <= 0:
        raise ValueError("detour_factor must be >= 1 and offroad_kmh > 0")
    if geojson.get("type") != "FeatureCollection":
        raise ValueError("expected a GeoJSON FeatureCollection")
    graph = nx.Graph()
    node_of: dict[tuple[float, float], int] = {}
    problems: list[str] = []
    used_maxspeed = 0

    def node(lon: float, lat: float) -> int:
        key = (round(lat, 7), round(lon, 7))
        if key not in node_of:
            node_of[key] = len(node_of)
            graph.add_node(node_of[key], lat=key[0], lon=key[1])
        return node_of[key]

    for i, feature in enumerate(geojson.get("features", [])):
        geometry = feature.get("geometry") or {}
        props = feature.get("properties") or {}
        if geometry.get("type") == "LineString":
            lines = [geometry.get("coordinates", [])]
        elif geometry.get("type") == "MultiLineString":
            lines = geometry.get("coordinates", [])
        else:
            continue  # points (e.g. labelled places) and polygons are not roads
        highway = props.get("highway")
        speed = parse_maxspeed(props.get("maxspeed"))
        if speed is not None:
            used_maxspeed += 1
        else:
            speed = speeds_by_class.get(str(highway), speeds_by_class.get("*"))
        if speed is None or speed <= 0:
            problems.append(f"features[{i}]: no speed for highway class {highway!r} and no usable maxspeed")
            continue
        for coords in lines:
            ids = [node(float(c[0]), float(c[1])) for c in coords]
            for u, v in zip(ids, ids[1:]):
                if u == v:
                    continue
                km = haversine_km((graph.nodes[u]["lat"], graph.nodes[u]["lon"]),
                                  (graph.nodes[v]["lat"], graph.nodes[v]["lon"]))
                minutes = km / speed * 60.0
                if not graph.has_edge(u, v) or graph.edges[u, v]["minutes"] > minutes:
                    graph.add_edge(u, v, minutes=minutes, km=km, highway=highway)
    if problems:
        raise ValueError("; ".join(problems))
    if graph.number_of_nodes() == 0:
        raise ValueError("no LineString roads in the GeoJSON")
    largest = max(nx.connected_components(graph), key=len)
    dropped = graph.number_of_nodes() - len(largest)
    if dropped:
        graph = graph.subgraph(largest).copy()
    index = GridIndex({n: (d["lat"], d["lon"]) for n, d in graph.nodes(data=True)})
    metadata = {"detour_factor": detour_factor, "offroad_kmh": offroad_kmh,
                "offroad_rule": "place -> nearest node: straight line x detour_factor at offroad_kmh",
                "nodes": graph.number_of_nodes(), "edges": graph.number_of_edges(),
                "dropped_nodes_outside_largest_component": dropped, "edges_with_maxspeed_features": used_maxspeed,
                "speeds_by_class": dict(speeds_by_class), "note": geojson.get("note", "")}
    return RoadGraph(graph, index, detour_factor, offroad_kmh, metadata)


def read_geojson(path: str | Path) -> dict[str, Any]:
    """The one I/O helper: parse a GeoJSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def travel_minutes_from_join(graph: RoadGraph, origin: LatLon, origin_join: Join, road_minutes: float,
                             destination: LatLon, destination_join: Join) -> float:
    """Minutes origin -> destination given the road minutes between their join nodes (inf when not reached): the
    quicker of the roads and the direct off-road line. When the road search was cut off, a result above the
    cutoff is not the true minimum."""
    direct = graph.offroad_minutes(origin, destination)
    if math.isinf(road_minutes):
        return direct
    return min(direct, origin_join.offroad_minutes + float(road_minutes) + destination_join.offroad_minutes)


def travel_minutes(graph: RoadGraph, origin: LatLon, destinations: Sequence[LatLon],
                   cutoff: float | None = None) -> list[float | None]:
    """Minutes from origin to each destination (one Dijkstra); None beyond `cutoff`. Every place can be reached
    off-road (straight line x detour_factor at offroad_kmh), so without a cutoff the answer is never None."""
    start = graph.join(origin)
    joins = [graph.join(dest) for dest in destinations]
    road_cutoffs = None if cutoff is None else [cutoff - start.offroad_minutes + BOUNDARY_EPSILON_MINUTES]
    (road,) = graph.road_minutes([start.node], [j.node for j in joins], road_cutoffs)
    out: list[float | None] = []
    for dest, join, via in zip(destinations, joins, road):
        minutes = travel_minutes_from_join(graph, origin, start, via, dest, join)
        out.append(None if cutoff is not None and minutes > cutoff + BOUNDARY_EPSILON_MINUTES else minutes)
    return out
