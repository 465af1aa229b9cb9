"""Threshold rules: fixed values and GB 3838 / HJ 633 limits; upper, lower, range; inclusive; quality gating."""
from __future__ import annotations

import pytest

from contingency import evaluate
from contingency_helpers import T0, hours, report
from schemas.readings import QualityFlag

SECTION = "hlh_dsk_auto"


def fired(plan, station, *values, state=None, at=T0):
    state, detections = evaluate(plan, state, report(station, at, *values), at)
    return state, {d.rule_id for d in detections if d.status == "firing"}, detections


@pytest.mark.parametrize("value, expected", [
    (1.0, set()),                                               # exactly at class III: complies
    (1.0000001, {"section_nh3_over_iii"}),
    (2.0, {"section_nh3_over_iii"}),                            # exactly at class V
    (2.01, {"section_nh3_over_iii", "section_nh3_over_v"}),
    (0.0, set()),
])
def test_upper_class_limit_is_inclusive(arxan, value, expected):
    _, rules, _ = fired(arxan, SECTION, ("ammonia_nitrogen", value, "mg/L"))
    assert rules == expected


@pytest.mark.parametrize("value, fires", [(5.0, False), (4.99, True), (12.0, False)])
def test_lower_class_limit(arxan, value, fires):
    _, rules, _ = fired(arxan, SECTION, ("dissolved_oxygen", value, "mg/L"))
    assert ("section_do_below_iii" in rules) is fires


@pytest.mark.parametrize("value, fires", [(6.0, False), (9.0, False), (5.99, True), (9.01, True), (7.2, False)])
def test_range_limit(arxan, value, fires):
    _, rules, _ = fired(arxan, SECTION, ("pH", value, "dimensionless"))
    assert ("section_ph_out_of_range" in rules) is fires
    _, rules, _ = fired(arxan, "yirshi_wwtp_online", ("pH", value, "dimensionless"))
    assert ("outfall_ph" in rules) is fires  # fixed range [6, 9]


def test_fixed_upper_limit(arxan):
    assert fired(arxan, "yirshi_wwtp_online", ("cod", 50.0, "mg/L"))[1] == set()
    assert fired(arxan, "yirshi_wwtp_online", ("cod", 50.5, "mg/L"))[1] == {"outfall_cod"}
    assert fired(arxan, "yirshi_wwtp_online", ("cod", 100.5, "mg/L"))[1] == {"outfall_cod", "outfall_cod_double"}


def test_fixed_lower_limit_for_tailings(arxan):
    station = "tailings_example_online"
    assert fired(arxan, station, ("dry_beach_length", 60.0, "m"))[1] == set()
    assert fired(arxan, station, ("dry_beach_length", 55.0, "m"))[1] == {"tailings_beach_orange"}
    assert fired(arxan, station, ("dry_beach_length", 49.0, "m"))[1] == {"tailings_beach_orange", "tailings_beach_red"}


def test_table2_and_aqi_limits(arxan):
    assert fired(arxan, "city_source_auto", ("iron", 0.3, "mg/L"))[1] == set()
    assert fired(arxan, "city_source_auto", ("manganese", 0.11, "mg/L"))[1] == {"drinking_manganese"}
    assert fired(arxan, "city_air_auto", ("pm25", 150.0, "ug/m3"))[1] == set()
    assert fired(arxan, "city_air_auto", ("pm25", 151.0, "μg/m³"))[1] == {"air_pm25_heavy"}
    assert fired(arxan, "city_air_auto", ("co", 61.0, "mg/m3"))[1] == {"air_co_1h"}


def test_detection_carries_evidence_and_highest_level_first(arxan):
    _, _, detections = fired(arxan, SECTION, ("ammonia_nitrogen", 2.5, "mg/L"))
    assert [d.rule_id for d in detections] == ["section_nh3_over_v", "section_nh3_over_iii"]
    first = detections[0]
    assert first.level == "yellow" and first.family == "exceedance" and first.source_id == "halaha_dashankuang"
    assert first.title == "哈拉哈河大山矿断面氨氮超过Ⅴ类标准(劣Ⅴ类)"
    assert first.evidence[0].parameter == "ammonia_nitrogen" and first.evidence[0].parameter_name == "氨氮"
    assert first.evidence[0].value == 2.5
    assert first.evidence[0].limit == "<= 2 mg/L (GB 3838-2002 V)"


@pytest.mark.parametrize("flag", [QualityFlag.CALIBRATION, QualityFlag.MAINTENANCE, QualityFlag.FAULT,
                                  QualityFlag.STOPPED, QualityFlag.COMMS_FAULT])
def test_flagged_measurements_are_not_judged(arxan, flag):
    state, rules, _ = fired(arxan, SECTION, ("ammonia_nitrogen", 9.0, "mg/L", flag))
    assert rules == set() and state.firing == {}


def test_calibration_window_does_not_open_or_clear(arxan):
    state, rules, _ = fired(arxan, SECTION, ("ammonia_nitrogen", 1.5, "mg/L"))
    assert rules == {"section_nh3_over_iii"}
    # calibration with a standard solution: a low value that must not clear, then a high one that must not fire
    state, detections = evaluate(arxan, state, report(SECTION, T0 + hours(4), ("ammonia_nitrogen", 0.1, "mg/L",
                                                                                QualityFlag.CALIBRATION)), T0)
    assert detections == [] and "section_nh3_over_iii" in state.firing
    state, detections = evaluate(arxan, state, report(SECTION, T0 + hours(5), ("ammonia_nitrogen", 5.0, "mg/L",
                                                                                QualityFlag.CALIBRATION)), T0)
    assert detections == [] and "section_nh3_over_v" not in state.firing


def test_wrong_unit_or_unknown_parameter_is_not_judged(arxan):
    assert fired(arxan, SECTION, ("ammonia_nitrogen", 900.0, "ug/L"))[1] == set()
    assert fired(arxan, SECTION, ("benzene", 900.0, "mg/L"))[1] == set()


def test_unknown_station_is_ignored(arxan):
    state, detections = evaluate(arxan, None, report("nowhere", T0, ("cod", 1e9, "mg/L")), T0)
    assert detections == [] and state.station_id == "nowhere"


def test_fires_once_then_clears_on_compliance(arxan):
    state, rules, _ = fired(arxan, SECTION, ("ammonia_nitrogen", 1.5, "mg/L"))
    state, rules, _ = fired(arxan, SECTION, ("ammonia_nitrogen", 1.6, "mg/L"), state=state, at=T0 + hours(4))
    assert rules == set()  # still firing: no new detection
    state, detections = evaluate(arxan, state, report(SECTION, T0 + hours(8), ("ammonia_nitrogen", 1.0, "mg/L")),
                                 T0 + hours(8))
    assert [(d.rule_id, d.status) for d in detections] == [("section_nh3_over_iii", "cleared")]
    assert "section_nh3_over_iii" not in state.firing
