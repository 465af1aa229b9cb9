"""GB 3838-2002 and HJ 633-2012 as data: every item is there and lookups give the standard's numbers."""
from __future__ import annotations

import pytest

from contingency import load_standards
from contingency.standards import StandardLookupError

STD = load_standards()
TABLE1 = ["water_temperature", "pH", "dissolved_oxygen", "permanganate_index", "cod", "bod5", "ammonia_nitrogen",
          "total_phosphorus", "total_nitrogen", "copper", "zinc", "fluoride", "selenium", "arsenic", "mercury",
          "cadmium", "chromium_vi", "lead", "cyanide", "volatile_phenol", "petroleum", "anionic_surfactant_las",
          "sulfide", "fecal_coliform"]


def test_all_24_basic_and_5_supplementary_items():
    assert sorted(i for i, item in STD.water.items() if item.table == 1) == sorted(TABLE1)
    assert sorted(i for i, item in STD.water.items() if item.table == 2) == [
        "chloride", "iron", "manganese", "nitrate", "sulfate"]


@pytest.mark.parametrize("item, water_class, body, lower, upper", [
    ("ammonia_nitrogen", "I", None, None, 0.15),
    ("ammonia_nitrogen", "III", None, None, 1.0),
    ("dissolved_oxygen", "I", None, 7.5, None),
    ("dissolved_oxygen", "V", None, 2.0, None),
    ("pH", "II", None, 6.0, 9.0),
    ("total_phosphorus", "III", "river", None, 0.2),
    ("total_phosphorus", "III", "lake_reservoir", None, 0.05),
    ("total_nitrogen", "III", "lake_reservoir", None, 1.0),
    ("mercury", "III", None, None, 0.0001),
    ("fecal_coliform", "III", None, None, 10000.0),
    ("iron", None, None, None, 0.3),
])
def test_water_limits(item, water_class, body, lower, upper):
    bound = STD.water_bound(item, water_class, body)
    assert (bound.lower, bound.upper) == (lower, upper)
    assert bound.complies(upper if upper is not None else lower)  # inclusive


@pytest.mark.parametrize("item, water_class, body, message", [
    ("water_temperature", "III", None, "no numeric limit"),
    ("total_nitrogen", "III", "river", "lake_reservoir only"),
    ("total_phosphorus", "III", None, "set the source's water_body"),
    ("iron", "III", None, "drop 'class'"),
    ("ammonia_nitrogen", None, None, "needs a water class"),
    ("ammonia", "III", None, "has no item"),
])
def test_water_lookup_errors(item, water_class, body, message):
    with pytest.raises(StandardLookupError, match=message):
        STD.water_bound(item, water_class, body)


def test_aqi_breakpoints_and_index():
    assert STD.aqi_bound("pm25_24h", 100).upper == 75
    assert STD.aqi_bound("co_1h", 200).upper == 60 and STD.aqi["co_1h"].unit == "mg/m3"
    assert STD.iaqi("pm25_24h", 75) == 100
    assert STD.iaqi("pm25_24h", 55) == pytest.approx(75.0)  # halfway between 35 (50) and 75 (100)
    assert STD.iaqi("pm25_24h", 501) is None
    with pytest.raises(StandardLookupError, match="only up to IAQI 200"):
        STD.aqi_bound("so2_1h", 300)
    with pytest.raises(StandardLookupError, match="not a breakpoint"):
        STD.aqi_bound("pm25_24h", 120)
