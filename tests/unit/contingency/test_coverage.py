"""The 2-hour emergency circle on a hand-made graph (answers worked out in the comments) and on the Arxan data.

Hand graph, all on the meridian lon 120 so lengths are exact multiples of DEG (km per degree of latitude):

    S(46.9) ...off-road... A(47.0) ==30== B(47.5) ==30== C(48.0) --120-- D(49.0)

  == primary at DEG km/h: 0.5 deg = 30 min;  -- track at DEG/2 km/h: 1 deg = 120 min.
  S, an outfall, is off the graph: it joins A, 0.1 deg away, by 0.1*DEG km x 1.5 detour at 0.3*DEG km/h = 30 min.

Depots (mobilisation + travel to S = arrival):
  dA at A: 30 + 30           = 60   carbon 1
  dB at B: 30 + 30 + 30      = 90   carbon 3
  dC at C: 30 + 60 + 30      = 120  quicklime 1       (exactly the window: in time)
  dD at D:  0 + 120 + 60 + 30 = 210  quicklime 10, carbon 100   (outside the window)
  dE at B:  0 + 30 + 30      = 60   nothing (in range but empty)
Requirement (outfall, within 120): carbon 2 t, quicklime 2 t.
  carbon: dA 1 @60 + dB 3 @90 = 4 in window, no shortfall, earliest 60.
  quicklime: dC 1 @120 only (dD is too far) -> shortfall 1, earliest 120.  => not covered.
"""
from __future__ import annotations

import json

import pytest

from contingency import Plan
from contingency.coverage import coverage, dispatch_proposal, proposal_line
from contingency.plan import Depot, Location, MaterialRequirement, RequiredItem, RiskSource
from contingency.roads import RoadGraph, load_road_graph, read_geojson
from contingency_helpers import REPO, hand_road_graph

STOCK = {("dA", "activated_carbon"): 1, ("dB", "activated_carbon"): 3, ("dC", "quicklime"): 1,
         ("dD", "quicklime"): 10, ("dD", "activated_carbon"): 100}


def available(depot_id: str, item_id: str) -> float:
    return STOCK.get((depot_id, item_id), 0)


@pytest.fixture()
def graph() -> RoadGraph:
    return hand_road_graph()


def _depot(depot_id: str, name: str, lat: float, mobilisation: float) -> Depot:
    return Depot(id=depot_id, name=f"{name}环境应急物资储备点", location=Location(lat=lat, lon=120.0),
                 mobilisation_minutes=mobilisation)


@pytest.fixture()
def plan(arxan: Plan) -> Plan:
    source = RiskSource(id="S", name="试验排污口", kind="outfall", location=Location(lat=46.9, lon=120.0))
    depots = [_depot("dA", "甲", 47.0, 30), _depot("dB", "乙", 47.5, 30), _depot("dC", "丙", 48.0, 30),
              _depot("dD", "丁", 49.0, 0), _depot("dE", "戊", 47.5, 0)]
    need = MaterialRequirement(scenario="排污口超标排放", source_kinds=["outfall"], within_minutes=120,
                               items=[RequiredItem(item="activated_carbon", quantity=2, unit="t"),
                                      RequiredItem(item="quicklime", quantity=2, unit="t")])
    return arxan.model_copy(update={"sources": {"S": source}, "depots": {d.id: d for d in depots},
                                    "materials": [need]})


def test_hand_graph_coverage(plan: Plan, graph: RoadGraph) -> None:
    report = coverage(plan, graph, available)
    carbon, lime = report.items
    assert (carbon.item_id, lime.item_id) == ("activated_carbon", "quicklime")
    assert [(c.depot_id, c.quantity) for c in carbon.contributions] == [("dA", 1), ("dB", 3)]
    assert [c.arrival_minutes for c in carbon.contributions] == [pytest.approx(60), pytest.approx(90)]
    assert carbon.in_window == 4 and carbon.shortfall == 0 and carbon.covered
    assert carbon.earliest_arrival_minutes == pytest.approx(60)
    # dC arrives at exactly 120 = the window: counts. dD holds plenty but arrives at 210: shortfall.
    assert [(c.depot_id, c.quantity) for c in lime.contributions] == [("dC", 1)]
    assert lime.earliest_arrival_minutes == pytest.approx(120)
    assert lime.in_window == 1 and lime.shortfall == 1 and not lime.covered
    # dE is in range (60 min) but empty: it contributes nothing anywhere.
    assert all(c.depot_id != "dE" for entry in report.items for c in entry.contributions)
    assert not report.covered and report.shortfalls() == [lime]


def test_requirement_window_and_default_window(plan: Plan, graph: RoadGraph) -> None:
    # Without within_minutes the window argument applies: at 89 min only dA's carbon (60) is in time.
    loose = plan.materials[0].model_copy(update={"within_minutes": None})
    report = coverage(plan.model_copy(update={"materials": [loose]}), graph, available, window_minutes=89)
    assert report.items[0].in_window == 1 and report.items[0].shortfall == 1
    assert report.items[1].contributions == ()  and report.items[1].earliest_arrival_minutes is None


def test_everything_covered_when_stock_is_close(plan: Plan, graph: RoadGraph) -> None:
    report = coverage(plan, graph, lambda depot, item: 5 if depot == "dA" else 0)
    assert report.covered and all(e.earliest_arrival_minutes == pytest.approx(60) for e in report.items)


def test_proposal_fills_earliest_first(plan: Plan, graph: RoadGraph) -> None:
    proposal = dispatch_proposal(plan, graph, available, "S", plan.materials[0].items)
    # carbon: dA (60) then dE (60, empty) then dB (90); quicklime: dC (120) then dD (210, late).
    assert [(a.item_id, a.depot_id, a.quantity) for a in proposal.allocations] == [
        ("activated_carbon", "dA", 1), ("activated_carbon", "dB", 1), ("quicklime", "dC", 1), ("quicklime", "dD", 1)]
    assert [a.in_window for a in proposal.allocations] == [True, True, True, False]
    assert proposal.last_arrival_minutes == pytest.approx(210) and proposal.missing == {}
    assert proposal_line(proposal) == ("物资: 活性炭1t 甲库 60分钟; 活性炭1t 乙库 90分钟; 生石灰1t 丙库 120分钟; "
                                       "生石灰1t 丁库 210分钟(超时)")


def test_proposal_reports_what_nobody_has(plan: Plan, graph: RoadGraph) -> None:
    proposal = dispatch_proposal(plan, graph, available, "S", [RequiredItem(item="quicklime", quantity=20, unit="t"),
                                                               RequiredItem(item="pumps", quantity=2, unit="台")])
    assert [(a.depot_id, a.quantity) for a in proposal.allocations] == [("dC", 1), ("dD", 10)]
    assert proposal.missing == {"quicklime": 9, "pumps": 2}
    assert proposal_line(proposal).endswith("缺生石灰9t; 缺潜水泵2台")
    assert proposal_line(dispatch_proposal(plan, graph, available, "S", [])) == "物资: 无需求"


def test_arxan_coverage_runs_on_shipped_data(arxan: Plan) -> None:
    data = read_geojson(REPO / "plans" / "arxan-roads.geojson")
    graph = load_road_graph(data, data["speeds_by_class_kmh"], data["detour_factor"], data["offroad_kmh"])
    report = coverage(arxan, graph, lambda depot, item: 1.0)
    needing = {s for s in arxan.sources if arxan.materials_for(s)}
    assert {e.source_id for e in report.items} == needing
    for entry in report.items:
        assert entry.window_minutes == 120
        assert entry.in_window == sum(c.quantity for c in entry.contributions)
        assert entry.shortfall == max(0.0, entry.required - entry.in_window)
        assert all(c.arrival_minutes <= 120 + 1e-6 for c in entry.contributions)
        assert all(c.depot_id != "ulanhot_league_reserve" for c in entry.contributions)  # hours away
    parsed = json.loads(report.to_json())
    assert parsed["covered"] == report.covered and len(parsed["items"]) == len(report.items)
    assert parsed["road"]["detour_factor"] == 1.3
    line = proposal_line(dispatch_proposal(arxan, graph, lambda depot, item: 1.0, "yirshi_wwtp_outfall",
                                           arxan.materials_for("yirshi_wwtp_outfall")[0].items))
    assert line.startswith("物资: ") and "伊尔施库" in line
