"""Physical ranges (contingency.physical): a reading no instrument can truly make is refused, naming the range."""
from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from contingency import check_plan, load_plan
from contingency.physical import implausible_value, physical_ranges
from contingency_helpers import ARXAN
from schemas import StationReport

AT = dt.datetime(2026, 7, 1, 8, tzinfo=dt.timezone.utc)


def report(station: str, *measurements: tuple[str, float, str]) -> StationReport:
    return StationReport(event_id=uuid.uuid4(), station_id=station, observed_at=AT,
                         measurements=[{"parameter": p, "value": v, "unit": u} for p, v, u in measurements])


def test_ph_concentrations_and_temperature_have_built_in_ranges(arxan) -> None:
    ranges = physical_ranges(arxan)
    assert implausible_value(report("hlh_dsk_auto", ("pH", 14.0, "dimensionless"), ("pH", 0.0, "dimensionless"),
                                    ("cadmium", 0.0, "mg/L"), ("water_temperature", -5.0, "degC")), ranges) is None
    why = implausible_value(report("hlh_dsk_auto", ("cod", 3.0, "mg/L"), ("pH", 15.2, "dimensionless")), ranges)
    assert why == ("measurements[1].value: 15.2 dimensionless for pH is outside its physical range "
                   "0..14 dimensionless (physical range of pH)")
    why = implausible_value(report("hlh_dsk_auto", ("ammonia_nitrogen", -0.01, "mg/L")), ranges)
    assert why is not None and why.startswith("measurements[0].value: -0.01 mg/L for ammonia_nitrogen")
    assert "0..3e+06 mg/L (physical range of mg/L)" in why
    why = implausible_value(report("yirshi_wwtp_online", ("cod", 1e300, "mg/L")), ranges)
    assert why is not None and "1e+300 mg/L for cod is outside its physical range 0..3e+06 mg/L" in why, \
        "more dissolved than a solution weighs"
    assert implausible_value(report("city_air_auto", ("no2", 2e10, "ug/m3")), ranges) is not None
    assert implausible_value(report("city_air_auto", ("no2", 5000.0, "ug/m3")), ranges) is None
    assert "physical range of degC" in implausible_value(
        report("hlh_dsk_auto", ("water_temperature", 120.0, "degC")), ranges)


def test_a_measurement_in_another_unit_or_of_an_unknown_parameter_is_not_checked(arxan) -> None:
    ranges = physical_ranges(arxan)
    assert implausible_value(report("hlh_dsk_auto", ("cadmium", -1.0, "ug/m3"), ("no_such", -5.0, "mg/L")),
                             ranges) is None


def test_the_plan_may_set_a_parameter_s_range(tmp_path: Path) -> None:
    text = ARXAN.read_text(encoding="utf-8")
    old = "dissolved_oxygen: {name: 溶解氧, unit: mg/L, hj212_code: w01009}"
    assert old in text
    path = tmp_path / "plan.yaml"
    path.write_text(text.replace(old, "dissolved_oxygen: {name: 溶解氧, unit: mg/L, hj212_code: w01009, "
                                      "physical: [0, 25]}", 1), encoding="utf-8")
    ranges = physical_ranges(load_plan(path))
    why = implausible_value(report("hlh_dsk_auto", ("dissolved_oxygen", 30.0, "mg/L")), ranges)
    assert why is not None and "0..25 mg/L (plan: stations.hlh_dsk_auto.parameters.dissolved_oxygen.physical)" in why
    # the other station's dissolved oxygen keeps the built-in range
    assert implausible_value(report("city_source_auto", ("dissolved_oxygen", 30.0, "mg/L")), ranges) is None


def test_a_range_upside_down_is_a_plan_error(tmp_path: Path) -> None:
    text = ARXAN.read_text(encoding="utf-8")
    path = tmp_path / "plan.yaml"
    path.write_text(text.replace("cadmium: {name: 镉, unit: mg/L}", "cadmium: {name: 镉, unit: mg/L, physical: [1, 0]}",
                                 1), encoding="utf-8")
    [problem] = check_plan(path)
    assert "cadmium" in str(problem) and "low 1 must be below high 0" in str(problem)
