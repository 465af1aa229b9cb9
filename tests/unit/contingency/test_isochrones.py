"""The depots' 2-hour reach (contingency/isochrones.py) on the coverage tests' hand graph (answers worked out below)
and on the Arxan data, where every source's arrival must equal the coverage report's.

Hand graph on the meridian lon 120 (DEG = km per degree of latitude):

    A(47.0) ==30== B(47.5) ==30== C(48.0) --120-- D(49.0)      == primary 30 min per 0.5 deg, -- track 120 min per deg

Depot dA at A, mobilisation 30: A 30, B 60, C 90; C->D has 30 of its 120 minutes left: cut at a quarter (48.25).
Depot dB at B, mobilisation 0:  B 0, A 30, C 30; C->D cut at 90/120 (48.75).
Depot dD at D, mobilisation 100: D 100; D->C 20 of 120 minutes (48.8333).
"""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from contingency import Plan, load_roster
from contingency.coverage import depot_arrivals
from contingency.isochrones import convex_hull, depot_isochrones, reached_segments
from contingency.plan import Depot, Location
from contingency.roads import RoadGraph
from contingency.station_status import station_statuses
from contingency_helpers import DEG, REPO, hand_road_graph
from handlers.road_files import load_road_file
from schemas.incident_states import IncidentFacts, IncidentState
from schemas.incidents import WarningLevel


@pytest.fixture()
def graph() -> RoadGraph:
    return hand_road_graph()


def _depot(depot_id: str, lat: float, mobilisation: float) -> Depot:
    return Depot(id=depot_id, name=depot_id, location=Location(lat=lat, lon=120.0), mobilisation_minutes=mobilisation)


def _node(graph: RoadGraph, lat: float) -> int:
    return graph.join((lat, 120.0)).node


def _ends(segments) -> list[tuple[float, float]]:
    return sorted(round(p[0], 4) for segment in segments for p in segment)


def test_the_reach_stops_where_the_window_runs_out(graph: RoadGraph) -> None:
    reach = depot_isochrones([_depot("dA", 47.0, 30), _depot("dB", 47.5, 0), _depot("dD", 49.0, 100)], graph)
    a, b, d = reach["dA"], reach["dB"], reach["dD"]
    assert {round(graph.position(n)[0], 1): round(m, 6) for n, m in a.arrivals.items()} == {47.0: 30, 47.5: 60,
                                                                                            48.0: 90}
    assert _ends(a.segments) == [47.0, 47.5, 47.5, 48.0, 48.0, 48.25]
    assert _ends(b.segments) == [47.0, 47.5, 47.5, 48.0, 48.0, 48.75]
    assert {round(graph.position(n)[0], 1) for n in d.arrivals} == {49.0}
    assert _ends(d.segments) == [48.8333, 49.0]
    # off the roads: what is left of the window, at offroad_kmh, divided by the detour factor
    assert a.offroad_radius_km == pytest.approx(90 / 60 * 0.3 * DEG / 1.5)
    assert a.hull == () and d.hull == (), "all on one meridian: no area"


def test_a_depot_that_cannot_leave_in_time_reaches_nothing(graph: RoadGraph) -> None:
    late = depot_isochrones([_depot("late", 47.0, 150)], graph)["late"]
    assert late.arrivals == {} and late.segments == () and late.offroad_radius_km == 0
    assert late.arrival_at(graph, (47.0, 120.0)) is None


def test_an_end_exactly_at_the_window_is_reached(graph: RoadGraph) -> None:
    reach = depot_isochrones([_depot("dA", 47.0, 60)], graph)["dA"]  # C at exactly 120
    assert reach.arrivals[_node(graph, 48.0)] == pytest.approx(120)
    assert reach.arrival_at(graph, (48.0, 120.0)) == pytest.approx(120)
    assert _ends(reach.segments) == [47.0, 47.5, 47.5, 48.0]


def test_a_wider_window_reaches_further(graph: RoadGraph) -> None:
    depots = [_depot("dA", 47.0, 30)]
    assert len(depot_isochrones(depots, graph, 60)["dA"].arrivals) == 2
    assert len(depot_isochrones(depots, graph, 300)["dA"].arrivals) == 4


def test_reached_segments_cuts_an_edge_from_its_reached_end(graph: RoadGraph) -> None:
    c, d = _node(graph, 48.0), _node(graph, 49.0)
    assert _ends(reached_segments(graph, {d: 60.0}, 120.0)) == [48.5, 49.0]
    assert _ends(reached_segments(graph, {c: 120.0}, 120.0)) == [], "no time left: nothing drawn"


def test_convex_hull_is_a_closed_counter_clockwise_ring_around_the_points() -> None:
    points = [(0.0, 0.0), (0.0, 2.0), (2.0, 2.0), (2.0, 0.0), (1.0, 1.0), (1.0, 0.0)]
    ring = convex_hull(points)
    assert ring[0] == ring[-1] and set(ring) == {(0.0, 0.0), (0.0, 2.0), (2.0, 2.0), (2.0, 0.0)} and len(ring) == 5
    area = sum(a[1] * b[0] - b[1] * a[0] for a, b in zip(ring, ring[1:])) / 2  # shoelace in (x=lon, y=lat)
    assert area == pytest.approx(4)
    assert convex_hull([(0.0, 0.0), (1.0, 1.0)]) == () and convex_hull([(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)]) == ()


def _inside(ring, point) -> bool:
    """Inside or on a counter-clockwise convex ring of (lat, lon)."""
    x, y = point[1], point[0]
    return all((b[1] - a[1]) * (y - a[0]) - (b[0] - a[0]) * (x - a[1]) >= -1e-9 for a, b in zip(ring, ring[1:]))


def test_on_the_arxan_data_every_arrival_is_the_coverage_reports(arxan: Plan) -> None:
    graph = load_road_file(REPO / "plans" / "arxan-roads.geojson")
    reach = depot_isochrones(list(arxan.depots.values()), graph)
    arrivals = depot_arrivals(arxan, graph, list(arxan.sources), cutoff=120)
    assert set(reach) == set(arxan.depots)
    compared = 0
    for depot_id, iso in reach.items():
        for source_id, source in arxan.sources.items():
            mine = iso.arrival_at(graph, (source.location.lat, source.location.lon))
            theirs = arrivals[depot_id].get(source_id)
            assert (mine is None) == (theirs is None), (depot_id, source_id, mine, theirs)
            if mine is not None:
                assert mine == pytest.approx(theirs, abs=1e-9)
                compared += 1
        assert all(m <= 120 + 1e-6 for m in iso.arrivals.values())
        if iso.hull:
            assert all(_inside(iso.hull, graph.position(n)) for n in iso.arrivals)
            assert _inside(iso.hull, iso.place)
    assert compared > 0, "some source is reached by some depot on the shipped data"
    print(f"arxan: {compared} depot->source arrivals within 120 min agree with the coverage report")


T0 = dt.datetime(2026, 7, 3, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def _incident(source_id: str, rule_id: str, kind: str, stations: tuple[str, ...] = ()) -> IncidentState:
    incident = uuid.uuid4()
    facts = IncidentFacts(incident_id=incident, code="ABC", level=WarningLevel.BLUE, source_id=source_id,
                          place=source_id, observed_at=T0)
    return IncidentState(incident_id=incident, code="ABC", source_id=source_id, kind=kind, rule_id=rule_id,
                         level=WarningLevel.BLUE, stage="paging", facts=facts, opened_at=T0, changed_at=T0,
                         stations=list(stations))


def test_station_states_from_maintenance_windows_and_open_incidents(arxan: Plan) -> None:
    roster = load_roster(REPO / "plans" / "arxan-roster.yaml", arxan)
    quiet = station_statuses(arxan, roster, [], T0 - dt.timedelta(days=1))
    assert set(quiet) == set(arxan.stations) and set(quiet.values()) == {"normal"}
    # the roster's calibration window of hlh_dsk_auto covers 2026-07-03 09:00-12:00 (Asia/Shanghai)
    opened = [_incident("yirshi_wwtp_outfall", "water_station_silent", "station_silence"),
              _incident("tailings_example", "tailings_phreatic_stuck", "flatline"),
              _incident("arxan_city_air", "air_station_silent", "station_silence"),
              _incident("arxan_city_air", "air_station_silent_unknown_rule", "flatline"),  # not a rule: by kind
              _incident("arxan_city_drinking_source", "some_threshold", "threshold")]
    states = station_statuses(arxan, roster, opened, T0)
    assert states == {"hlh_dsk_auto": "calibrating", "yirshi_wwtp_online": "silent",
                      "tailings_example_online": "fault", "city_air_auto": "silent", "city_source_auto": "normal"}
    assert station_statuses(arxan, roster, opened, T0 + dt.timedelta(hours=3))["hlh_dsk_auto"] == "normal"


def test_a_station_named_by_its_incident_is_marked_and_not_the_other_stations_of_its_source(arxan: Plan) -> None:
    roster = load_roster(REPO / "plans" / "arxan-roster.yaml", arxan)
    two = arxan.model_copy(update={"stations": {
        **arxan.stations,
        "yirshi_wwtp_second": arxan.stations["yirshi_wwtp_online"].model_copy(update={"name": "second analyser"})}})
    silent = [_incident("yirshi_wwtp_outfall", "water_station_silent", "station_silence", ("yirshi_wwtp_second",))]
    states = station_statuses(two, roster, silent, T0 - dt.timedelta(days=1))
    assert (states["yirshi_wwtp_second"], states["yirshi_wwtp_online"]) == ("silent", "normal")
    unnamed = [_incident("yirshi_wwtp_outfall", "water_station_silent", "station_silence")]
    states = station_statuses(two, roster, unnamed, T0 - dt.timedelta(days=1))
    assert (states["yirshi_wwtp_second"], states["yirshi_wwtp_online"]) == ("silent", "silent"), \
        "a state from before incidents named their stations: every station of the source"
