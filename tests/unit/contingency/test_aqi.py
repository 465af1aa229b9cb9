"""Issue 15 item 8: the AQI as HJ 633 computes it: rounded concentrations, IAQI rounded up, SO2 1-h and O3 8-h
above 800 ug/m3 switched to the index of the 24-h and 1-h values."""
from __future__ import annotations

import pytest

from contingency import evaluate, load_standards, plan_warnings
from contingency.aqi import reported
from contingency.standards import StandardLookupError
from contingency_helpers import ARXAN, T0, report

STD = load_standards()


@pytest.mark.parametrize("value, decimals, expected", [
    (150.4, 0, 150), (150.5, 0, 150), (151.5, 0, 152), (150.6, 0, 151),   # half to even (GB/T 8170)
    (4.35, 1, 4.4), (4.25, 1, 4.2), (4.349, 1, 4.3),                      # on the decimal digits, not binary's
    (1e27, 0, 1e27),                                                      # nothing left to round
])
def test_concentrations_are_rounded_to_their_reporting_precision(value, decimals, expected) -> None:
    assert reported(value, decimals) == expected


@pytest.mark.parametrize("item, concentration, index", [
    ("pm25_24h", 75, 100), ("pm25_24h", 55, 75), ("pm25_24h", 36, 52),   # 51.25 rounded up
    ("pm25_24h", 150.4, 200), ("pm25_24h", 150.6, 201),                # rounded to 150 / 151 first
    ("co_1h", 5.04, 50), ("co_1h", 5.06, 51),                          # CO to 0.1 mg/m3: 5.0 / 5.1
    ("so2_1h", 800, 200), ("so2_1h", 801, None), ("pm25_24h", 501, None),
])
def test_individual_indexes(item, concentration, index) -> None:
    assert STD.iaqi(item, concentration) == index


def test_so2_above_800_takes_its_24_hour_index_and_o3_8_hour_its_1_hour_one() -> None:
    index = STD.air_quality_index({"so2_1h": 900, "so2_24h": 200, "pm25_24h": 60})
    assert index.iaqi == {"so2_24h": 108, "pm25_24h": 82} and index.aqi == 108 and index.primary == ("so2_24h",)
    index = STD.air_quality_index({"o3_8h": 850, "o3_1h": 700})
    assert index.iaqi == {"o3_1h": 275} and index.aqi == 275 and index.beyond == ()
    index = STD.air_quality_index({"so2_1h": 900, "pm25_24h": 20})
    assert index.beyond == ("so2_1h",) and index.aqi == 29, "nothing to switch to: said, not hidden"
    assert STD.air_quality_index({"pm25_24h": 20, "pm10_24h": 30}).primary == (), "no primary pollutant at AQI <= 50"


def test_a_limit_above_an_items_table_says_what_the_standard_reports_instead() -> None:
    with pytest.raises(StandardLookupError, match="reports the index of so2_24h instead .*use item so2_24h"):
        STD.aqi_bound("so2_1h", 300)


def test_a_rule_judges_the_reported_value_and_shows_its_index(arxan) -> None:
    def fired(value: float, at=T0) -> dict[str, str]:
        _, detections = evaluate(arxan, None, report("city_air_auto", at, ("pm25", value, "ug/m3")), at)
        return {d.rule_id: d.evidence[0].limit for d in detections}
    assert fired(150.4) == {}, "reported as 150: IAQI 200, not above it"
    assert fired(150.6) == {"air_pm25_heavy": "<= 150 ug/m3 (HJ 633-2012 pm25_24h IAQI 200); IAQI 201"}
    assert fired(600)["air_pm25_severe"].endswith("IAQI beyond the table (> 500)")


def test_rules_on_the_replaced_standard_are_warned_about() -> None:
    warned = {w.path[1] for w in plan_warnings(ARXAN) if "HJ 633—2026" in w.message}
    assert warned == {"air_pm25_heavy", "air_pm25_severe", "air_pm25_heavy_day", "air_pm10_heavy", "air_so2_1h",
                      "air_no2_1h", "air_o3_1h", "air_co_1h"}
