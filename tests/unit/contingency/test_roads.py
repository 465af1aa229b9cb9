"""Road graph: lengths, speeds, the off-road join rule, nearest-node search and the removal property."""
from __future__ import annotations

import math
import random

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contingency.roads import GridIndex, haversine_km, load_road_graph, parse_maxspeed, read_geojson, travel_minutes
from contingency_helpers import REPO

DEG = haversine_km((0.0, 0.0), (1.0, 0.0))  # km per degree along a meridian


def line(coords: list[tuple[float, float]], highway: str = "primary", **props: object) -> dict:
    """coords as (lat, lon); GeoJSON wants [lon, lat]."""
    return {"type": "Feature", "properties": {"highway": highway, **props},
            "geometry": {"type": "LineString", "coordinates": [[lon, lat] for lat, lon in coords]}}


def collection(*features: dict) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def test_haversine_one_degree_of_meridian() -> None:
    assert DEG == pytest.approx(111.195, abs=0.001)
    assert haversine_km((47.0, 120.0), (47.0, 120.0)) == 0


@pytest.mark.parametrize("raw, kmh", [("60", 60), ("60 km/h", 60), (" 30 mph", 30 * 1.609344), (80, 80),
                                      ("none", None), ("CN:urban", None), ("", None), (None, None), ("40;60", 40)])
def test_maxspeed(raw: object, kmh: float | None) -> None:
    assert parse_maxspeed(raw) == (pytest.approx(kmh) if kmh is not None else None)


def test_edge_time_from_class_or_maxspeed() -> None:
    # 0.5 deg of meridian at DEG km/h (1 deg per hour) is 30 min; with maxspeed = DEG/2 it is 60 min.
    g = load_road_graph(collection(line([(47.0, 120.0), (47.5, 120.0)]),
                                   line([(47.5, 120.0), (48.0, 120.0)], "track", maxspeed=str(DEG / 2))),
                        {"primary": DEG, "track": 1000.0}, detour_factor=1.5, offroad_kmh=30)
    assert travel_minutes(g, (47.0, 120.0), [(47.5, 120.0), (48.0, 120.0)]) == [pytest.approx(30),
                                                                                pytest.approx(90)]
    assert g.metadata["detour_factor"] == 1.5 and g.metadata["offroad_kmh"] == 30


def test_unknown_class_without_default_is_an_error() -> None:
    with pytest.raises(ValueError, match="residential"):
        load_road_graph(collection(line([(47.0, 120.0), (47.1, 120.0)], "residential")), {"primary": 60}, 1.3, 20)
    g = load_road_graph(collection(line([(47.0, 120.0), (47.1, 120.0)], "residential")), {"*": 20}, 1.3, 20)
    assert g.graph.number_of_edges() == 1


def test_off_graph_place_joins_nearest_node_by_detour_rule() -> None:
    # Road A(47.0)-B(47.5) at 1 deg/h. Place P at 46.9 (0.1 deg south of A, off the road):
    # off-road = 0.1*DEG km x 1.5 detour at 0.3*DEG km/h = 0.5 h = 30 min; then A->B 30 min: 60 min in all.
    g = load_road_graph(collection(line([(47.0, 120.0), (47.5, 120.0)])), {"primary": DEG},
                        detour_factor=1.5, offroad_kmh=0.3 * DEG)
    join = g.join((46.9, 120.0))
    assert g.position(join.node) == (47.0, 120.0) and join.offroad_minutes == pytest.approx(30)
    assert travel_minutes(g, (46.9, 120.0), [(47.5, 120.0)]) == [pytest.approx(60)]
    assert travel_minutes(g, (47.5, 120.0), [(46.9, 120.0)]) == [pytest.approx(60)]  # roads are two-way
    assert travel_minutes(g, (46.9, 120.0), [(47.5, 120.0)], cutoff=59) == [None]


def test_stray_fragments_are_dropped() -> None:
    g = load_road_graph(collection(line([(47.0, 120.0), (47.5, 120.0), (48.0, 120.0)]),
                                   line([(47.0, 121.0), (47.01, 121.0)])), {"primary": 60}, 1.2, 20)
    assert g.metadata["dropped_nodes_outside_largest_component"] == 2
    assert g.position(g.join((47.0, 121.0)).node) in {(47.0, 120.0), (47.5, 120.0)}


def test_grid_index_matches_brute_force() -> None:
    rng = random.Random(7)
    points = {i: (47 + rng.random(), 120 + rng.random() * 1.5) for i in range(500)}
    index = GridIndex(points, cell_km=3.0)
    for _ in range(200):
        q = (46.5 + rng.random() * 2, 119.5 + rng.random() * 2.5)
        best = min(points, key=lambda n: (index._xy(points[n])[0] - index._xy(q)[0]) ** 2
                   + (index._xy(points[n])[1] - index._xy(q)[1]) ** 2)
        assert index.nearest(q) == best


@st.composite
def grids(draw: st.DrawFn) -> tuple[dict, list[tuple[float, float]], tuple[int, int]]:
    n = draw(st.integers(2, 4))
    features = []
    for i in range(n):
        for j in range(n):
            p = (47 + 0.1 * i, 120 + 0.1 * j)
            if i + 1 < n:
                features.append(line([p, (p[0] + 0.1, p[1])], draw(st.sampled_from(["primary", "track"]))))
            if j + 1 < n:
                features.append(line([p, (p[0], p[1] + 0.1)], draw(st.sampled_from(["primary", "track"]))))
    places = draw(st.lists(st.tuples(st.floats(46.95, 47.45), st.floats(119.95, 120.45)), min_size=2, max_size=5))
    edge = draw(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 10 ** 6)))
    return collection(*features), places, edge


@settings(max_examples=60, deadline=None)
@given(grids())
def test_removing_a_road_never_makes_arrival_earlier(case: tuple[dict, list, tuple[int, int]]) -> None:
    geojson, places, (pick, _) = case
    g = load_road_graph(geojson, {"primary": 60, "track": 15}, detour_factor=1.4, offroad_kmh=10)
    before = travel_minutes(g, places[0], places[1:])
    edges = sorted(g.graph.edges)
    cut = g.graph.copy()
    cut.remove_edge(*edges[pick % len(edges)])
    g.graph = cut
    after = travel_minutes(g, places[0], places[1:])
    for b, a in zip(before, after):
        assert b is not None and a is not None
        assert a >= b - 1e-9


def test_shipped_arxan_roads_connect_all_towns() -> None:
    g = load_road_graph(read_geojson(REPO / "plans" / "arxan-roads.geojson"),
                        {"trunk": 70, "primary": 60, "secondary": 50, "tertiary": 40, "*": 30},
                        detour_factor=1.3, offroad_kmh=20)
    assert g.metadata["dropped_nodes_outside_largest_component"] == 0
    assert nx.is_connected(g.graph)
    centre = (47.175, 119.94)
    yirshi, bailang, ulanhot = travel_minutes(g, centre, [(47.29, 119.84), (47.00, 120.12), (46.08, 122.07)])
    assert yirshi is not None and bailang is not None and ulanhot is not None
    assert yirshi < bailang < ulanhot
    assert not math.isinf(ulanhot)
