"""Field and public reports -> detections -> incidents: attaching to a source, levels per category, ids, drills,
folding a second report, the `reports` plan section and its checks, and what the duty officer's SMS says."""
from __future__ import annotations

import uuid

import pytest

from contingency import IncidentBook, PagingBook, PlanError, on_detection, on_incident_event, plan_from_text
from contingency.reports import FAMILY, RULE_ID, STATION_ID, attach, distance_km, report_detection
from contingency_helpers import T0, minutes
from schemas.incidents import IncidentOpened, IncidentUpdated
from schemas.reports import GeoPoint, IncidentReport
from test_paging import TEST_ROSTER
from test_plan_loading import MINIMAL

# The diesel-tanker drill: a tanker overturned east of the Yirshi Halaha bridge, ~0.5 km from the Halaha section.
BRIDGE = GeoPoint(lat=47.2915, lon=119.8462)
CITY = GeoPoint(lat=47.176, lon=119.941)
HALAHA = "halaha_dashankuang"


def incident_report(n: int = 0, *, category: str = "oil_spill", location: GeoPoint = BRIDGE,
                    source_id: str | None = None, drill_id: str | None = None, at=T0,
                    description: str = "群众拨打12369:一辆柴油罐车在伊尔施哈拉哈河大桥东侧公路侧翻,罐体破损,柴油流入路边排水沟。",
                    place_name: str = "伊尔施哈拉哈河大桥东侧公路", reporter: str = "公众(12369热线)") -> IncidentReport:
    return IncidentReport(event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"test:report:{n}"), reported_at=at,
                          category=category, description=description, location=location, place_name=place_name,
                          source_id=source_id, reporter=reporter, drill_id=drill_id)


def mini(reports_section: str = "") -> str:
    """MINIMAL with a second source ~111 km north of the first, and an optional reports section."""
    text = MINIMAL.replace("sources:\n", "sources:\n  north: {name: 北部排污口, kind: outfall, "
                                         "location: {lat: 48, lon: 120}}\n")
    return text + reports_section


# --- attaching a report to a source ----------------------------------------------------------------------------

def test_nearest_source_when_none_named(arxan):
    detection = report_detection(arxan, incident_report(category="odor", location=CITY))
    # Odour lists no source_kinds. The drinking-water source and the city air zone share a point: the tie goes
    # to the smaller id.
    assert detection.source_id == "arxan_city_air"
    detection = report_detection(arxan, incident_report())
    assert detection.source_id == HALAHA  # yirshi_wwtp_outfall has the same coordinates in the plan
    assert detection.evidence[0].value == pytest.approx(0.50, abs=0.01)


def test_category_source_kinds_choose_among_sources(arxan):
    # At the city point the air zone ties with the drinking-water source; a fish kill belongs to water.
    assert report_detection(arxan, incident_report(category="fish_kill", location=CITY)).source_id == (
        "arxan_city_drinking_source")
    near_yirshi = GeoPoint(lat=47.28, lon=119.80)
    assert report_detection(arxan, incident_report(category="tailings_leak", location=near_yirshi)).source_id == (
        "tailings_example")
    assert report_detection(arxan, incident_report(category="odor", location=near_yirshi)).source_id == HALAHA


def test_source_kinds_without_such_a_source_falls_back_to_any():
    plan = plan_from_text(mini("reports:\n  categories:\n    fish_kill: {name: 死鱼, level: blue, "
                               "source_kinds: [outfall]}\n"))
    tailings = report_detection(plan, incident_report(category="fish_kill", location=GeoPoint(lat=47, lon=120)))
    assert tailings.source_id == "north"


def test_nearest_source_by_great_circle_distance():
    plan = plan_from_text(mini())
    near_north = GeoPoint(lat=47.8, lon=120.0)
    source, km, named_unknown = attach(plan, incident_report(location=near_north))
    assert source.id == "north" and km == pytest.approx(22.24, abs=0.05) and not named_unknown
    assert distance_km(GeoPoint(lat=47, lon=120), plan.sources["north"]) == pytest.approx(111.2, abs=0.1)


def test_named_source_wins_over_the_nearest(arxan):
    detection = report_detection(arxan, incident_report(location=CITY, source_id="tailings_example"))
    assert detection.source_id == "tailings_example"
    assert "不在预案中" not in detection.title


def test_unknown_named_source_falls_back_to_the_nearest(arxan):
    detection = report_detection(arxan, incident_report(category="odor", location=CITY, source_id="no_such_source"))
    assert detection.source_id == "arxan_city_air"
    assert "所报风险源 no_such_source 不在预案中" in detection.title


def test_far_report_is_still_attached_and_says_how_far():
    plan = plan_from_text(mini())
    far_away = GeoPoint(lat=46.5, lon=120.0)  # ~55.6 km south of `river`, the nearest
    detection = report_detection(plan, incident_report(location=far_away))
    assert detection.source_id == "river"
    assert "距最近风险源某河断面 55.6 km,超出 10 km" in detection.title
    assert detection.evidence[0].value == pytest.approx(55.6, abs=0.05)
    assert detection.evidence[0].unit == "km" and detection.evidence[0].limit.startswith("<= 10 km")


def test_far_from_the_named_source_says_so(arxan):
    detection = report_detection(arxan, incident_report(location=GeoPoint(lat=46.9, lon=119.84), source_id=HALAHA))
    assert detection.source_id == HALAHA and "(距所报风险源哈拉哈河大山矿断面 43.4 km,超出 10 km)" in detection.title


def test_near_report_title_has_no_distance_note(arxan):
    detection = report_detection(arxan, incident_report(source_id=HALAHA))
    assert detection.title.startswith("群众举报: 油类泄漏 — 伊尔施哈拉哈河大桥东侧公路: 群众拨打12369")
    assert "km" not in detection.title and detection.title.endswith("…")


def test_title_without_place_name_or_description_uses_the_position(arxan):
    detection = report_detection(arxan, incident_report(place_name="", description=""))
    assert detection.title == "群众举报: 油类泄漏 — 47.2915N 119.8462E"


# --- the detection --------------------------------------------------------------------------------------------

def test_detection_fields(arxan):
    report = incident_report(source_id=HALAHA)
    detection = report_detection(arxan, report)
    assert (detection.status, detection.family, detection.rule_id, detection.station_id) == (
        "firing", FAMILY, RULE_ID, STATION_ID)
    assert detection.observed_at == report.reported_at and detection.caused_by == report.event_id
    evidence = detection.evidence[0]
    assert (evidence.station_id, evidence.parameter, evidence.parameter_name) == ("report", "oil_spill", "油类泄漏,举报点距此")
    assert "举报人 公众(12369热线)" in evidence.limit and "位置 47.29150,119.84620" in evidence.limit
    assert evidence.observed_at == report.reported_at


def test_levels_per_category(arxan):
    levels = {category: report_detection(arxan, incident_report(category=category)).level
              for category in ("oil_spill", "tailings_leak", "fish_kill", "odor", "something_new")}
    assert levels == {"oil_spill": "yellow", "tailings_leak": "orange", "fish_kill": "yellow", "odor": "blue",
                      "something_new": "blue"}
    unknown = report_detection(arxan, incident_report(category="something_new"))
    assert unknown.title.startswith("群众举报: something_new — ")


def test_defaults_without_a_reports_section():
    plan = plan_from_text(mini())
    assert plan.reports.default_level == "blue" and plan.reports.attach_within_km == 10
    assert report_detection(plan, incident_report(location=GeoPoint(lat=47.05, lon=120))).level == "blue"


def test_plan_section_sets_levels_radius_and_names():
    plan = plan_from_text(mini("reports:\n  default_level: blue\n  attach_within_km: 2\n  categories:\n"
                               "    fish_kill: {name: 死鱼, level: blue}\n    oil: {name: 油, level: blue}\n"))
    detection = report_detection(plan, incident_report(category="fish_kill", location=GeoPoint(lat=47.05, lon=120)))
    assert detection.title.startswith("群众举报: 死鱼 — ") and "超出 2 km" in detection.title


def test_ids_are_deterministic(arxan):
    first = report_detection(arxan, incident_report(3))
    assert report_detection(arxan, incident_report(3)) == first
    assert report_detection(arxan, incident_report(4)).event_id != first.event_id


def test_drill_id_is_carried(arxan):
    detection = report_detection(arxan, incident_report(drill_id="drill-2026-09"))
    assert detection.drill_id == "drill-2026-09"
    assert report_detection(arxan, incident_report()).drill_id is None


# --- incidents ------------------------------------------------------------------------------------------------

def test_report_opens_an_incident(arxan):
    book, events = on_detection(arxan, IncidentBook(), report_detection(arxan, incident_report(source_id=HALAHA)), T0)
    assert len(events) == 1 and isinstance(events[0], IncidentOpened)
    opened = events[0]
    assert (opened.kind, opened.rule_id, opened.level, opened.source_id) == ("report", RULE_ID, "yellow", HALAHA)
    assert opened.caused_by == incident_report().event_id and opened.title.startswith("群众举报: 油类泄漏")
    assert len(book.open) == 1


def test_second_report_of_the_source_folds_into_the_open_incident(arxan):
    book, first = on_detection(arxan, IncidentBook(), report_detection(arxan, incident_report(0, source_id=HALAHA)), T0)
    second = report_detection(arxan, incident_report(1, category="fish_kill", source_id=HALAHA, at=T0 + minutes(20)))
    book, events = on_detection(arxan, book, second, T0 + minutes(20))
    assert events == []  # same level: the open incident covers it
    assert len(book.open) == 1
    incident = next(iter(book.open.values()))
    assert incident.incident_id == first[0].incident_id and incident.last_observed_at == T0 + minutes(20)


def test_higher_second_report_raises_the_open_incident(arxan):
    book, first = on_detection(arxan, IncidentBook(), report_detection(arxan, incident_report(0, source_id=HALAHA)), T0)
    tailings = report_detection(arxan, incident_report(1, category="tailings_leak", source_id=HALAHA))
    book, events = on_detection(arxan, book, tailings, T0 + minutes(5))
    assert len(events) == 1 and isinstance(events[0], IncidentUpdated)
    assert (events[0].incident_id, events[0].previous_level, events[0].level) == (
        first[0].incident_id, "yellow", "orange")
    assert len(book.open) == 1


def test_redelivered_report_changes_nothing(arxan):
    detection = report_detection(arxan, incident_report(source_id=HALAHA))
    book, _ = on_detection(arxan, IncidentBook(), detection, T0)
    again, events = on_detection(arxan, book, detection, T0 + minutes(1))
    assert events == [] and again.open == book.open


def test_report_and_threshold_incidents_stay_apart(arxan):
    book, _ = on_detection(arxan, IncidentBook(), report_detection(arxan, incident_report(source_id=HALAHA)), T0)
    assert book.find(None, HALAHA, "report") is not None and book.find(None, HALAHA, "threshold") is None


def test_drill_report_does_not_join_a_live_incident(arxan):
    book, _ = on_detection(arxan, IncidentBook(), report_detection(arxan, incident_report(0, source_id=HALAHA)), T0)
    drill = report_detection(arxan, incident_report(1, source_id=HALAHA, drill_id="d1"))
    book, events = on_detection(arxan, book, drill, T0)
    assert len(events) == 1 and isinstance(events[0], IncidentOpened) and events[0].drill_id == "d1"


# --- paging ---------------------------------------------------------------------------------------------------

def test_report_incident_pages_with_the_category_despite_station_maintenance(arxan):
    """The roster puts city_source_auto under maintenance at T0; a report at its source still pages."""
    from contingency import roster_from_text

    roster = roster_from_text(TEST_ROSTER, arxan)
    detection = report_detection(arxan, incident_report(category="odor", location=CITY,
                                                        source_id="arxan_city_drinking_source", place_name="市区"))
    _, events = on_detection(arxan, IncidentBook(), detection, T0)
    _, notifications = on_incident_event(arxan, roster, PagingBook(), events[0], T0)
    assert notifications, "a report incident must not be held back by a station's maintenance window"
    assert "异味" in notifications[0].body and events[0].code in notifications[0].body
    assert "群众举报" in notifications[0].body and "市区" in notifications[0].body, "the report's title, with the place"
    assert "限值" not in notifications[0].body, "a distance is not a limit the duty officer needs"


# --- plan checks ----------------------------------------------------------------------------------------------

def test_undefined_level_in_reports_is_reported_at_its_line():
    text = mini("reports:\n  default_level: blue\n  categories:\n    oil_spill: {name: 油类泄漏, level: red}\n")
    with pytest.raises(PlanError) as info:
        plan_from_text(text, file="mini.yaml")
    line = len(text.splitlines())
    assert [str(p) for p in info.value.problems] == [
        f"mini.yaml:{line}: reports.categories.oil_spill.level: level red is not defined under levels"]


def test_default_level_must_be_defined():
    text = mini("reports: {default_level: yellow}\n")
    with pytest.raises(PlanError) as info:
        plan_from_text(text, file="mini.yaml")
    assert [p.field for p in info.value.problems] == ["reports.default_level"]
    assert info.value.problems[0].message == "level yellow is not defined under levels"


def test_implicit_default_level_missing_from_levels_says_how_to_fix():
    text = mini().replace("  blue: {name: 蓝色预警, grade: IV}", "  yellow: {name: 黄色预警, grade: III}").replace(
        "  blue: {tiers:", "  yellow: {tiers:").replace("level: blue", "level: yellow")
    with pytest.raises(PlanError) as info:
        plan_from_text(text)
    assert [p.message for p in info.value.problems] == [
        "level blue is not defined under levels (it is the default: set reports.default_level)"]


def test_source_kinds_no_source_has():
    with pytest.raises(PlanError) as info:
        plan_from_text(mini("reports:\n  categories:\n    tailings_leak: {name: 尾矿泄漏, level: blue, "
                            "source_kinds: [tailings_pond]}\n"), file="mini.yaml")
    assert [(p.field, p.message) for p in info.value.problems] == [
        ("reports.categories.tailings_leak.source_kinds",
         "no source of kind tailings_pond in the plan (kinds: outfall, river_section)")]


def test_bad_shapes_in_reports():
    with pytest.raises(PlanError) as info:
        plan_from_text(mini("reports:\n  attach_within_km: 0\n  categories:\n    odor: {level: purple}\n"
                            "  colour: blue\n"), file="mini.yaml")
    fields = sorted(p.field for p in info.value.problems)
    assert fields == ["reports.attach_within_km", "reports.categories.odor.level", "reports.categories.odor.name",
                      "reports.colour"]


def test_reserved_ids():
    text = mini().replace("  nh3: {kind", "  public_report: {kind").replace(
        "  s1: {name", "  report: {name")
    with pytest.raises(PlanError) as info:
        plan_from_text(text)
    assert sorted(p.field for p in info.value.problems) == ["rules.public_report", "stations.report"]


def test_report_family_may_be_correlated():
    plan = plan_from_text(mini("correlation: {families: [threshold, report]}\n"))
    assert plan.correlation.families == ["threshold", "report"]
