"""Issue 15 item 5: seasons (a river station that stops in the ice-covered winter, a rule of the flood season) and
limits that depend on another measurement (GB 18918 ammonia: 5 mg/L, 8 mg/L at water temperatures of 12 degC or less)."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from contingency import StationState, evaluate, tick
from contingency.plan import Season
from contingency.seasons import in_season, last_end
from contingency_helpers import report, variant_problems

CST = ZoneInfo("Asia/Shanghai")
ICE = Season.model_validate({"name": "冰封期", "from": "11-01", "to": "04-20"})


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=CST)


def fired(plan, station: str, at: dt.datetime, *values: tuple, state=None) -> tuple[StationState, dict[str, str]]:
    state, detections = evaluate(plan, state, report(station, at, *values), at)
    return state, {d.rule_id: (d.status, d.evidence[0].limit if d.evidence else "") for d in detections}


# --- the calendar ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("at, inside", [
    (local(2026, 11, 1, 0, 0), True), (local(2026, 12, 31, 23, 0), True), (local(2027, 1, 15, 12, 0), True),
    (local(2027, 4, 20, 23, 59), True), (local(2027, 4, 21, 0, 0), False), (local(2026, 10, 31, 23, 59), False),
    (local(2026, 7, 1, 12, 0), False),
    # the local calendar, not UTC's: 16:00 UTC on 20 April is already the 21st in Arxan
    (dt.datetime(2027, 4, 20, 16, 0, tzinfo=dt.timezone.utc), False),
])
def test_a_season_that_wraps_the_new_year(at, inside) -> None:
    assert in_season(ICE, at, CST) is inside


def test_the_last_end_of_a_season_is_the_midnight_after_its_last_day() -> None:
    assert last_end(ICE, local(2027, 7, 1, 9, 0), CST) == local(2027, 4, 21)
    assert last_end(ICE, local(2027, 2, 1, 9, 0), CST) == local(2026, 4, 21), "inside: the previous winter's end"
    leap = Season.model_validate({"name": "x", "from": "02-01", "to": "02-29"})
    assert last_end(leap, local(2027, 6, 1), CST) == local(2027, 3, 1), "29 February in a common year: the 28th"


# --- a station paused in a season ------------------------------------------------------------------------------

def silence(plan, station: str, heard: dt.datetime, now: dt.datetime) -> list[dt.datetime]:
    state, _ = evaluate(plan, None, report(station, heard, ("pH", 7.2, "dimensionless")), heard)
    _, detections = tick(plan, state, station, now)
    return [d.observed_at for d in detections]


def test_a_river_station_paused_in_the_ice_season_is_not_found_silent_while_it_lasts(arxan) -> None:
    heard = local(2026, 10, 31, 12, 0)  # its last report before the river froze
    assert arxan.stations["hlh_dsk_auto"].paused_in == ["ice"]
    assert silence(arxan, "hlh_dsk_auto", heard, local(2026, 12, 20, 3, 0)) == []
    assert silence(arxan, "hlh_dsk_auto", heard, local(2027, 4, 21, 10, 0)) == [], "600 min after the season ends"
    assert silence(arxan, "hlh_dsk_auto", heard, local(2027, 4, 21, 10, 1)) == [local(2027, 4, 21, 10, 0)]
    # the drinking-water station is not paused: its silence pages in winter too
    assert silence(arxan, "city_source_auto", heard, local(2026, 12, 20, 3, 0)) == [local(2026, 10, 31, 22, 0)]


def test_a_station_silent_before_its_pause_was_silent(arxan) -> None:
    heard = local(2026, 10, 20, 8, 0)
    assert silence(arxan, "hlh_dsk_auto", heard, local(2026, 10, 25, 8, 0)) == [local(2026, 10, 20, 18, 0)]


# --- a rule bound to a season ----------------------------------------------------------------------------------

def test_a_flood_season_rule_fires_only_in_the_flood_season(arxan) -> None:
    level = ("pond_water_level", 1000.7, "m")
    assert "tailings_level_flood_season" not in fired(arxan, "tailings_example_online", local(2026, 5, 20, 8), level)[1]
    state, out = fired(arxan, "tailings_example_online", local(2026, 7, 1, 8), level)
    assert out["tailings_level_flood_season"][0] == "firing"
    _, out = fired(arxan, "tailings_example_online", local(2026, 10, 1, 8), level, state=state)
    assert out["tailings_level_flood_season"][0] == "cleared", "the season ended: the rule clears"
    assert "tailings_level_production" not in out, "the rule of every season keeps firing"


# --- a limit that depends on another measurement ---------------------------------------------------------------

def test_the_outfall_ammonia_limit_is_8_in_cold_water_and_5_otherwise(arxan) -> None:
    at, wwtp = local(2026, 12, 1, 8), "yirshi_wwtp_online"
    assert fired(arxan, wwtp, at, ("ammonia_nitrogen", 6.0, "mg/L"), ("water_temperature", 10.0, "degC"))[1] == {}
    _, out = fired(arxan, wwtp, at, ("ammonia_nitrogen", 6.0, "mg/L"), ("water_temperature", 15.0, "degC"))
    assert out == {"outfall_nh3": ("firing", "<= 5 mg/L")}
    _, out = fired(arxan, wwtp, at, ("ammonia_nitrogen", 8.5, "mg/L"), ("water_temperature", 10.0, "degC"))
    assert out == {"outfall_nh3": ("firing", "<= 8 mg/L while water_temperature <= 12 (10)")}
    # the temperature of an earlier report counts while it is recent; unknown or stale: the stricter limit
    state, _ = fired(arxan, wwtp, at, ("water_temperature", 9.0, "degC"))
    assert fired(arxan, wwtp, at + dt.timedelta(hours=1), ("ammonia_nitrogen", 6.0, "mg/L"), state=state)[1] == {}
    _, out = fired(arxan, wwtp, at + dt.timedelta(hours=4), ("ammonia_nitrogen", 6.0, "mg/L"), state=state)
    assert out == {"outfall_nh3": ("firing", "<= 5 mg/L")}
    assert fired(arxan, wwtp, at, ("ammonia_nitrogen", 6.0, "mg/L"))[1] == {"outfall_nh3": ("firing", "<= 5 mg/L")}


# --- what a bad plan is told -----------------------------------------------------------------------------------

def test_bad_seasons_and_conditions_are_named(tmp_path) -> None:
    assert variant_problems(tmp_path, "    paused_in: [ice]", "    paused_in: [winter]") == [
        "stations.hlh_dsk_auto.paused_in.0: unknown season 'winter' (seasons: flood, ice)"]
    assert variant_problems(tmp_path, "    season: flood\n", "    season: summer\n") == [
        "rules.tailings_level_flood_season.season: unknown season 'summer' (seasons: flood, ice)"]
    assert variant_problems(tmp_path, "    after_minutes: 600\n", "    after_minutes: 600\n    season: flood\n") == [
        "rules.water_station_silent.season: a station_silence rule cannot be bound to a season (threshold, "
        "sustained and rate_of_change can; a station that stops in a season is paused_in it)"]
    assert variant_problems(tmp_path, "timezone: Asia/Shanghai", "timezone: Asia/Arxan") == [
        "timezone: unknown time zone 'Asia/Arxan' (an IANA name, e.g. Asia/Shanghai)"]
    assert variant_problems(tmp_path, '    to: "04-20"', '    to: "04-31"') == [
        "seasons.ice: to: 04-31 is not a day of the year"]
    assert variant_problems(tmp_path, "      when: {parameter: water_temperature, at_most: 12}",
                    "      when: {parameter: temperature, at_most: 12}") == [
        "rules.outfall_nh3.relaxed.when.parameter: station yirshi_wwtp_online has no parameter 'temperature' (it has: "
        "water_temperature, pH, cod, ammonia_nitrogen, total_phosphorus, total_nitrogen)"]
    assert variant_problems(tmp_path, "      when: {parameter: water_temperature, at_most: 12}",
                    "      when: {parameter: water_temperature}")[0].startswith("rules.outfall_nh3.relaxed.when")
