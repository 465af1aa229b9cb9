"""Helpers for the contingency unit tests (a uniquely named module: other test folders have their own conftest)."""
from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from contingency.roads import RoadGraph, haversine_km, load_road_graph
from schemas.readings import Measurement, QualityFlag, StationReport

REPO = Path(__file__).resolve().parents[3]
ARXAN = REPO / "plans" / "arxan.yaml"
ARXAN_TEXT = ARXAN.read_text(encoding="utf-8")
T0 = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def report(station: str, at: dt.datetime, *values: tuple, event: int | None = None,
           drill_id: str | None = None) -> StationReport:
    """values: (parameter, value, unit) or (parameter, value, unit, flag)."""
    measurements = [Measurement(parameter=v[0], value=v[1], unit=v[2],
                                flag=v[3] if len(v) > 3 else QualityFlag.NORMAL) for v in values]
    event_id = uuid.uuid5(uuid.NAMESPACE_URL, f"test:{station}:{at.isoformat()}:{event}")
    return StationReport(event_id=event_id, station_id=station, observed_at=at, measurements=measurements,
                         drill_id=drill_id)


def arxan_variant(tmp_path: Path, old: str, new: str, count: int = 1) -> Path:
    """A copy of the Arxan plan with `old` (which must be in it) replaced by `new`, as a file."""
    assert old in ARXAN_TEXT, old
    path = tmp_path / "variant.yaml"
    path.write_text(ARXAN_TEXT.replace(old, new, count), encoding="utf-8")
    return path


def variant_problems(tmp_path: Path, old: str, new: str) -> list[str]:
    """`field: message` of each problem `ers plan check` finds in that copy."""
    from contingency import check_plan

    return [f"{p.field}: {p.message}" for p in check_plan(arxan_variant(tmp_path, old, new))]


def hours(n: float) -> dt.timedelta:
    return dt.timedelta(hours=n)


def minutes(n: float) -> dt.timedelta:
    return dt.timedelta(minutes=n)


DEG = haversine_km((0.0, 0.0), (1.0, 0.0))  # km per degree of latitude


def road_line(coords: list[tuple[float, float]], highway: str) -> dict:
    return {"type": "Feature", "properties": {"highway": highway},
            "geometry": {"type": "LineString", "coordinates": [[lon, lat] for lat, lon in coords]}}


def hand_road_graph() -> RoadGraph:
    """On the meridian lon 120, so lengths are exact multiples of DEG: primary 47-48 at DEG km/h (0.5 deg = 30 min),
    track 48-49 at DEG/2 km/h (1 deg = 120 min); off the graph at 0.3*DEG km/h with a 1.5 detour."""
    roads = {"type": "FeatureCollection", "features": [
        road_line([(47.0, 120.0), (47.5, 120.0), (48.0, 120.0)], "primary"),
        road_line([(48.0, 120.0), (49.0, 120.0)], "track")]}
    return load_road_graph(roads, {"primary": DEG, "track": DEG / 2}, detour_factor=1.5, offroad_kmh=0.3 * DEG)
