"""Reading a road graph file: GeoJSON LineStrings plus the speeds and detour rule it states."""
from __future__ import annotations

import threading
from pathlib import Path

from contingency.roads import RoadGraph, load_road_graph, read_geojson


class RoadFileError(ValueError):
    pass


def load_road_file(path: Path) -> RoadGraph:
    try:
        data = read_geojson(path)
    except (OSError, ValueError) as exc:
        raise RoadFileError(f"{path}: cannot read a GeoJSON road file: {exc}") from exc
    missing = [k for k in ("speeds_by_class_kmh", "detour_factor", "offroad_kmh") if k not in data]
    if missing:
        raise RoadFileError(f"{path}: {', '.join(missing)}: required top-level field(s) missing "
                            "(class speeds in km/h, the straight-line detour factor and the off-road speed)")
    try:
        return load_road_graph(data, data["speeds_by_class_kmh"], float(data["detour_factor"]),
                               float(data["offroad_kmh"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise RoadFileError(f"{path}: {exc}") from exc


class RoadFileCache:
    """A road file read at its first use and kept (it changes with a deploy): one per long-running process, for all
    the pages that need travel times. A file that cannot be read is read again at the next use."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._graph: RoadGraph | None = None
        self._lock = threading.Lock()

    def graph(self) -> RoadGraph:
        with self._lock:
            if self._graph is None:
                if self._path is None:
                    raise RoadFileError("no road graph configured (ERS_ROADS)")
                self._graph = load_road_file(self._path)
            return self._graph
