"""The console map's GeoJSON (streams/views/console_map_page.py) from the Arxan plan and road file, and its page."""
from __future__ import annotations

import html
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from contingency import Plan, load_plan
from contingency.coverage import coverage
from contingency.isochrones import depot_isochrones
from contingency.ledger import StockLine
from contingency.roads import RoadGraph
from handlers.road_files import load_road_file
from streams.console_map import tile_origin
from streams.views.console_map_page import MAP_WORDS, map_features, map_page
from streams.views.console_pages import words

REPO = Path(__file__).resolve().parents[2]
STOCK = {("yirshi", "activated_carbon"): 3.0, ("city_centre", "quicklime"): 1.0}


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_plan(REPO / "plans" / "arxan.yaml")


@pytest.fixture(scope="module")
def graph() -> RoadGraph:
    return load_road_file(REPO / "plans" / "arxan-roads.geojson")


def _stock() -> list[StockLine]:
    return [StockLine(depot=d, item=i, on_hand=q + 1, expired=0, minimum=1, available=q, next_expiry=None)
            for (d, i), q in STOCK.items()]


def _of(data: dict, layer: str) -> list[dict]:
    return [f for f in data["features"] if f["properties"]["layer"] == layer]


def test_the_features_hold_the_plan_the_roads_and_each_depots_reach(plan: Plan, graph: RoadGraph) -> None:
    report = coverage(plan, graph, lambda depot, item: STOCK.get((depot, item), 0.0))
    reach = depot_isochrones(list(plan.depots.values()), graph)
    data = json.loads(json.dumps(map_features(plan, graph, report, _stock(), reach,
                                              {"hlh_dsk_auto": "calibrating"})))  # JSON-ready
    counts = Counter(f["properties"]["layer"] for f in data["features"])
    assert counts["source"] == len(plan.sources) and counts["depot"] == len(plan.depots)
    assert counts["station"] == len(plan.stations) and counts["reach"] == len(plan.depots)
    assert counts["river"] == sum(len(s.downstream) for s in plan.sources.values()) > 0
    assert sum(f["properties"]["edges"] for f in _of(data, "road")) == graph.graph.number_of_edges()
    assert sum(len(f["geometry"]["coordinates"]) for f in _of(data, "road")) == graph.graph.number_of_edges()
    assert data["properties"]["covered"] is False

    for feature in _of(data, "source"):  # the popup's numbers are the coverage report's
        p = feature["properties"]
        entries = [e for e in report.items if e.source_id == p["id"]]
        assert [i["item"] for i in p["items"]] == [e.item_id for e in entries]
        for item, entry in zip(p["items"], entries):
            assert (item["required"], item["in_window"], item["shortfall"]) == (
                entry.required, entry.in_window, entry.shortfall)
            assert [(r["depot"], r["quantity"]) for r in item["reaches"]] == [
                (c.depot_id, c.quantity) for c in entry.contributions]
        expected = "none" if not entries else ("covered" if all(e.covered for e in entries) else "shortfall")
        assert p["verdict"] == expected
        assert p["short"] == [e.item_id for e in entries if not e.covered]
        source = plan.sources[p["id"]]
        assert feature["geometry"]["coordinates"] == [source.location.lon, source.location.lat]
    assert {f["properties"]["verdict"] for f in _of(data, "source")} >= {"shortfall"}

    yirshi = next(f["properties"] for f in _of(data, "depot") if f["properties"]["id"] == "yirshi")
    assert yirshi["stock"] == [{"item": "activated_carbon", "name": plan.items["activated_carbon"].name,
                                "unit": plan.items["activated_carbon"].unit, "on_hand": 4.0, "available": 3.0,
                                "expired": 0}]
    assert next(f for f in _of(data, "depot") if f["properties"]["id"] == "bailang")["properties"]["stock"] == []

    states = {f["properties"]["id"]: f["properties"]["state"] for f in _of(data, "station")}
    assert states["hlh_dsk_auto"] == "calibrating" and states["city_air_auto"] == "unknown"

    for feature in _of(data, "reach"):
        iso = reach[feature["properties"]["depot"]]
        assert len(feature["geometry"]["coordinates"]) == len(iso.segments) > 0
    for feature in _of(data, "reach_area"):
        ring = feature["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) >= 4


def test_without_a_road_graph_sources_are_unknown_and_nothing_is_reached(plan: Plan) -> None:
    data = map_features(plan, None, None, [], {}, {})
    counts = Counter(f["properties"]["layer"] for f in data["features"])
    assert counts["road"] == counts["reach"] == 0 and counts["source"] == len(plan.sources)
    assert {f["properties"]["verdict"] for f in _of(data, "source")} == {"unknown"}


def test_the_page_has_no_inline_script_or_style_and_carries_its_words_and_tiles() -> None:
    text = map_page("en", "https://{s}.tiles.example.org/{z}/{x}/{y}.png?a=1&b=2", "Viewer", "viewer", "tok")
    assert not re.search(r"<script(?![^>]*\bsrc=)", text) and " style=" not in text
    assert not re.search(r"\son[a-z]+=", text), "no inline event handlers"
    assert 'src="/static/vendor/leaflet/leaflet.js"' in text and 'src="/static/console_map.js"' in text
    assert 'data-tiles="https://{s}.tiles.example.org/{z}/{x}/{y}.png?a=1&amp;b=2"' in text
    labels = json.loads(html.unescape(re.search(r'data-words="([^"]*)"', text).group(1)))
    assert labels["map"] == "Map" and set(labels) == set(MAP_WORDS)
    assert 'data-tiles=""' in map_page("zh-CN", None)
    for language in ("zh-CN", "en"):
        assert all(words(language)[k] for k in MAP_WORDS)


def test_only_a_tile_server_elsewhere_widens_the_image_policy() -> None:
    assert tile_origin(None) is None and tile_origin("/tiles/{z}/{x}/{y}.png") is None
    assert tile_origin("https://{s}.tile.example.org/{z}/{x}/{y}.png") == "https://*.tile.example.org"
    assert tile_origin("http://10.0.0.5:8081/{z}/{x}/{y}.png") == "http://10.0.0.5:8081"
