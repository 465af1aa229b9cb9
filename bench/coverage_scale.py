"""Scale of the 2-hour-circle check: a synthetic county of 1,000 risk sources and 100 depots on a ~100,000-edge
grid-like road graph spread over Arxan's extent (E119.47-121.38, N46.65-47.65, ~145 x 111 km).

Times `contingency.coverage.coverage` (target < 2 s) against a baseline measured in the same run: one networkx
single-source Dijkstra (no cutoff) over the same graph from each of the 100 depots.

    .venv/bin/python bench/coverage_scale.py [--side 224] [--sources 1000] [--depots 100]
"""
from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
import sys

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import networkx as nx  # noqa: E402

from contingency import load_plan  # noqa: E402
from contingency.coverage import coverage  # noqa: E402
from contingency.plan import Depot, Location, RiskSource  # noqa: E402
from contingency.roads import load_road_graph  # noqa: E402

LAT0, LAT1, LON0, LON1 = 46.65, 47.65, 119.47, 121.38
SPEEDS = {"primary": 60.0, "tertiary": 30.0}


def grid_geojson(side: int) -> dict:
    """side x side vertices; rows and columns are LineStrings; every 16th line is a primary road."""
    lats = [LAT0 + (LAT1 - LAT0) * i / (side - 1) for i in range(side)]
    lons = [LON0 + (LON1 - LON0) * j / (side - 1) for j in range(side)]
    features = []
    for i, lat in enumerate(lats):
        features.append({"type": "Feature", "properties": {"highway": "primary" if i % 16 == 0 else "tertiary"},
                         "geometry": {"type": "LineString", "coordinates": [[lon, lat] for lon in lons]}})
    for j, lon in enumerate(lons):
        features.append({"type": "Feature", "properties": {"highway": "primary" if j % 16 == 0 else "tertiary"},
                         "geometry": {"type": "LineString", "coordinates": [[lon, lat] for lat in lats]}})
    return {"type": "FeatureCollection", "features": features}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=224, help="grid vertices per side (224 -> 99,904 edges)")
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--depots", type=int, default=100)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    def place() -> Location:
        return Location(lat=rng.uniform(LAT0, LAT1), lon=rng.uniform(LON0, LON1))

    t = time.perf_counter()
    graph = load_road_graph(grid_geojson(args.side), SPEEDS, detour_factor=1.3, offroad_kmh=20)
    load_s = time.perf_counter() - t

    base = load_plan(Path(__file__).resolve().parents[1] / "plans" / "arxan.yaml")
    kinds = [("outfall", None), ("tailings_pond", None), ("river_section", "III"), ("drinking_water_source", "II")]
    sources = {}
    for i in range(args.sources):
        kind, water_class = kinds[i % len(kinds)]
        sources[f"s{i}"] = RiskSource(id=f"s{i}", name=f"源{i}", kind=kind, water_class=water_class,
                                      location=place())
    depots = {f"d{i}": Depot(id=f"d{i}", name=f"库{i}", location=place(), mobilisation_minutes=rng.choice([30, 45, 60]))
              for i in range(args.depots)}
    plan = base.model_copy(update={"sources": sources, "depots": depots})
    items = list(plan.items)
    stock = {(d, it): rng.choice([0, 0, 1, 2, 5]) for d in depots for it in items}

    t = time.perf_counter()
    report = coverage(plan, graph, lambda d, it: stock[(d, it)])
    coverage_s = time.perf_counter() - t

    t = time.perf_counter()
    for depot in depots.values():
        nx.single_source_dijkstra_path_length(graph.graph, graph.join((depot.location.lat, depot.location.lon)).node,
                                              weight="minutes")
    baseline_s = time.perf_counter() - t

    covered = sum(e.covered for e in report.items)
    print(f"graph: {graph.metadata['nodes']:,} nodes, {graph.metadata['edges']:,} edges (loaded in {load_s:.2f} s)")
    print(f"county: {len(sources):,} sources, {len(depots)} depots, {len(report.items):,} source/item checks, "
          f"{covered:,} covered")
    print(f"coverage: {coverage_s:.2f} s (target < 2 s)")
    print(f"baseline: {baseline_s:.2f} s for {len(depots)} full networkx single-source Dijkstras")
    print(f"ratio coverage/baseline: {coverage_s / baseline_s:.2f}")


if __name__ == "__main__":
    main()
