"""The console's map (issue 16, item 4): the page, and the GeoJSON its script draws with Leaflet — risk sources with
their 2-hour verdict (the numbers of `ers inventory coverage`), monitoring stations and their state, depots and their
stock, rivers (the sources' downstream links), the road graph, and each depot's 2-hour reach. All from the plan, the
road file and the ledger: nothing from the internet. Coordinates are GeoJSON's [lon, lat]."""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from contingency.coverage import CoverageReport
from contingency.isochrones import Isochrone
from contingency.ledger import StockLine
from contingency.plan import Plan
from contingency.roads import LatLon, RoadGraph
from streams.views.console_pages import _e, page, words

LAYERS = ("road", "reach_area", "reach", "river", "depot", "station", "source")  # drawn bottom to top


def map_features(plan: Plan, graph: RoadGraph | None, report: CoverageReport | None, stock: Iterable[StockLine],
                 isochrones: Mapping[str, Isochrone], stations: Mapping[str, str]) -> dict[str, Any]:
    """A FeatureCollection; each feature's `layer` property says what it is. Without a road graph (its file cannot
    be read) there are no roads, reaches or verdicts: sources say `unknown`."""
    features: list[dict[str, Any]] = []
    if graph is not None:
        features += _roads(graph)
    for depot_id, iso in isochrones.items():
        features += _reach(plan, depot_id, iso)
    features += _rivers(plan)
    features += _depots(plan, stock, isochrones)
    features += _stations(plan, stations)
    features += _sources(plan, report)
    meta = {"plan": plan.id, "window_minutes": report.default_window_minutes if report else None,
            "covered": report.covered if report else None, "roads": graph is not None}
    return {"type": "FeatureCollection", "features": features, "properties": meta}


def _point(place: LatLon) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [place[1], place[0]]}


def _feature(layer: str, geometry: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": {"layer": layer, **properties}}


def _roads(graph: RoadGraph) -> list[dict[str, Any]]:
    by_class: dict[str, list[list[list[float]]]] = {}
    for u, v, highway in graph.graph.edges(data="highway"):
        (lat_a, lon_a), (lat_b, lon_b) = graph.position(u), graph.position(v)
        by_class.setdefault(str(highway), []).append([[lon_a, lat_a], [lon_b, lat_b]])
    return [_feature("road", {"type": "MultiLineString", "coordinates": lines}, highway=highway, edges=len(lines))
            for highway, lines in sorted(by_class.items())]


def _reach(plan: Plan, depot_id: str, iso: Isochrone) -> list[dict[str, Any]]:
    name = plan.depots[depot_id].name if depot_id in plan.depots else depot_id
    common = {"depot": depot_id, "name": name, "window_minutes": iso.window_minutes,
              "mobilisation_minutes": iso.mobilisation_minutes, "offroad_radius_km": round(iso.offroad_radius_km, 3),
              "nodes": len(iso.arrivals)}
    out = [_feature("reach", {"type": "MultiLineString", "coordinates": [
        [[a[1], a[0]], [b[1], b[0]]] for a, b in iso.segments]}, segments=len(iso.segments), **common)]
    if iso.hull:
        out.append(_feature("reach_area", {"type": "Polygon", "coordinates": [[[p[1], p[0]] for p in iso.hull]]},
                            **common))
    return out


def _rivers(plan: Plan) -> list[dict[str, Any]]:
    out = []
    for source_id, source in plan.sources.items():
        for link in source.downstream:
            if link.source not in plan.sources:
                continue
            target = plan.sources[link.source]
            out.append(_feature("river", {"type": "LineString", "coordinates": [
                [source.location.lon, source.location.lat], [target.location.lon, target.location.lat]]},
                upstream=source_id, downstream=link.source, name=f"{source.name} → {target.name}",
                travel_minutes=link.travel_minutes))
    return out


def _depots(plan: Plan, stock: Iterable[StockLine], isochrones: Mapping[str, Isochrone]) -> list[dict[str, Any]]:
    lines: dict[str, list[dict[str, Any]]] = {}
    for line in stock:
        item = plan.items.get(line.item)
        lines.setdefault(line.depot, []).append({
            "item": line.item, "name": item.name if item else line.item, "unit": item.unit if item else "",
            "on_hand": line.on_hand, "available": line.available, "expired": line.expired})
    return [_feature("depot", _point((d.location.lat, d.location.lon)), id=depot_id, name=d.name,
                     mobilisation_minutes=d.mobilisation_minutes, stock=lines.get(depot_id, []),
                     reach_nodes=len(isochrones[depot_id].arrivals) if depot_id in isochrones else None)
            for depot_id, d in plan.depots.items()]


def _stations(plan: Plan, states: Mapping[str, str]) -> list[dict[str, Any]]:
    out = []
    for station_id, station in plan.stations.items():
        source = plan.sources[station.source]
        located = station.location is not None
        where = station.location if station.location is not None else source.location
        out.append(_feature("station", _point((where.lat, where.lon)), id=station_id, name=station.name,
                            source=station.source, state=states.get(station_id, "unknown"),
                            at_source=not located))
    return out


def _sources(plan: Plan, report: CoverageReport | None) -> list[dict[str, Any]]:
    by_source: dict[str, list[Any]] = {}
    for entry in report.items if report else ():
        by_source.setdefault(entry.source_id, []).append(entry)
    out = []
    for source_id, source in plan.sources.items():
        entries = by_source.get(source_id, [])
        if report is None:
            verdict = "unknown"
        elif not entries:
            verdict = "none"  # the plan requires no materials here
        else:
            verdict = "covered" if all(e.covered for e in entries) else "shortfall"
        items = [{
            "item": e.item_id, "name": _name(plan.items, e.item_id), "unit": e.unit, "scenario": e.scenario,
            "required": e.required, "in_window": e.in_window, "shortfall": e.shortfall,
            "window_minutes": e.window_minutes, "covered": e.covered,
            "reaches": [{"depot": c.depot_id, "name": _name(plan.depots, c.depot_id), "quantity": c.quantity,
                         "minutes": round(c.arrival_minutes, 1)} for c in e.contributions]} for e in entries]
        out.append(_feature("source", _point((source.location.lat, source.location.lon)), id=source_id,
                            name=source.name, kind=source.kind, verdict=verdict, items=items,
                            short=[i["item"] for i in items if not i["covered"]]))
    return out


def _name(collection: Mapping[str, Any], key: str) -> str:
    return collection[key].name if key in collection else key


MAP_WORDS = ("map", "map_sources", "map_stations", "map_depots", "map_rivers", "map_roads", "map_reach",
             "map_covered", "map_shortfall", "map_none", "map_unknown", "map_reaches", "map_short", "map_stock",
             "map_minutes", "map_required", "map_in_window", "map_normal", "map_silent", "map_fault",
             "map_calibrating", "map_mobilise", "map_no_roads", "map_empty", "map_legend")


def map_page(language: str, tiles: str | None, user: str = "", role: str = "", csrf: str = "") -> str:
    w = words(language)
    labels = json.dumps({k: w[k] for k in MAP_WORDS}, ensure_ascii=False)
    legend = "".join(f'<li><span class="swatch {cls}"></span>{_e(w[key])}</li>' for cls, key in (
        ("source covered", "map_covered"), ("source shortfall", "map_shortfall"), ("source none", "map_none"),
        ("depot", "map_depots"), ("station normal", "map_normal"), ("station silent", "map_silent"),
        ("station fault", "map_fault"), ("station calibrating", "map_calibrating"), ("reach", "map_reach"),
        ("river", "map_rivers"), ("road", "map_roads")))
    body = (f'<link rel="stylesheet" href="/static/vendor/leaflet/leaflet.css">'
            f'<link rel="stylesheet" href="/static/console_map.css">'
            f'<h1>{_e(w["map"])} <span id="map-status" class="map-status"></span></h1>'
            f'<div id="map" class="map" data-features="/map/features.geojson" data-tiles="{_e(tiles or "")}" '
            f'data-words="{_e(labels)}"></div>'
            f'<ul class="map-legend" aria-label="{_e(w["map_legend"])}">{legend}</ul>'
            f'<script src="/static/vendor/leaflet/leaflet.js"></script>'
            f'<script src="/static/console_map.js"></script>')
    return page(w["map"], body, language, user, role, csrf)
